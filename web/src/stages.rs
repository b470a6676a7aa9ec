//! Model stages on the page's event loop: the same contract as native stage threads (offer a
//! frame when the stage is free, take its newest result when it has one; never a queue), with
//! each run awaited in its own task so the frame loop never waits for a model.

pub use dreamlens::stages::{STYLE_SKIP_LEVELS, StageKind};
use std::{cell::RefCell, rc::Rc, sync::Arc, time::Duration};

use dreamlens::{effects::StyleWeight, style_transfer};
use dreamlens::{
    inference::{
        run_failure::RunFailure,
        web::{WebInferenceError, WebSession},
    },
    projection::Thumbnail,
    scene::{ClassMap, ScalarMap},
    stages::StageStats,
};
use image::{RgbImage, RgbaImage};
use wasm_bindgen_futures::spawn_local;

/// One stage's newest result.
#[derive(Debug, Clone)]
pub enum StageOutput {
    /// Class ids.
    Classes(ClassMap),
    /// A person mask or depth.
    Map(ScalarMap),
    /// The frame stylized (at the style network's size).
    Picture(Arc<RgbaImage>),
}

/// A stage's result with the frame it was made from.
#[derive(Debug, Clone)]
pub struct StageResult {
    /// The frame's index.
    pub index: u64,
    /// The frame's motion thumbnail, to carry the result onto later frames.
    pub source: Rc<Thumbnail>,
    /// What the model made of it.
    pub output: Rc<StageOutput>,
}

struct StageState {
    /// The session while the stage is free; taken by the running task.
    session: Option<WebSession>,
    /// When the last result came, on the page's clock.
    last_result_ms: Option<f64>,
    newest: Option<StageResult>,
    stats: StageStats,
    /// A style stage's blend of built-in styles; a new prompt can change it between runs.
    styles: Option<Rc<[StyleWeight]>>,
}

/// One model stage.
#[derive(Clone)]
pub struct Stage {
    /// What it computes.
    pub kind: StageKind,
    /// The model's id.
    pub model: String,
    /// The provider it runs on.
    pub provider: &'static str,
    state: Rc<RefCell<StageState>>,
}

impl Stage {
    /// A segmentation, person or depth stage running `session`.
    pub fn new(kind: StageKind, session: WebSession) -> Self {
        Self::with_styles(kind, session, None)
    }

    /// A style stage: `session`'s multistyle network blending the built-in `styles`.
    pub fn styling(session: WebSession, styles: Vec<StyleWeight>) -> Self {
        Self::with_styles(StageKind::Style, session, Some(styles.into()))
    }

    fn with_styles(
        kind: StageKind,
        session: WebSession,
        styles: Option<Rc<[StyleWeight]>>,
    ) -> Self {
        Self {
            kind,
            model: session.model_id().to_owned(),
            provider: session.provider().name(),
            state: Rc::new(RefCell::new(StageState {
                session: Some(session),
                last_result_ms: None,
                newest: None,
                stats: StageStats::default(),
                styles,
            })),
        }
    }

    /// Offers a frame: it runs now if the stage is free, else it is skipped (the stage takes the
    /// newest frame when it is done, never a backlog). `now_ms` reads the page's clock. A run
    /// never holds the page's thread: WebGPU work is awaited between frames, and wasm kernels
    /// run in onnxruntime-web's own worker.
    pub fn offer(
        &self,
        frame: Rc<RgbImage>,
        source: Rc<Thumbnail>,
        index: u64,
        captured_ms: f64,
        now_ms: fn() -> f64,
    ) {
        let mut state = self.state.borrow_mut();
        let Some(mut session) = state.session.take() else {
            state.stats.skipped += 1;
            return;
        };
        let styles = state.styles.clone();
        drop(state);
        let (kind, state) = (self.kind, Rc::clone(&self.state));
        spawn_local(async move {
            let result = match (kind, styles) {
                (StageKind::Segmentation, _) => {
                    session.segment(&frame).await.map(StageOutput::Classes)
                }
                (StageKind::Person, _) => session.person(&frame).await.map(StageOutput::Map),
                (StageKind::Depth, _) => session.depth(&frame).await.map(StageOutput::Map),
                (StageKind::Style, Some(styles)) => {
                    let input = style_transfer::network_input(&frame, session.input_contract());
                    let weights = style_transfer::style_weights(&styles);
                    let picture = session.run_picture(input.into_dyn(), weights).await;
                    picture.map(|picture| StageOutput::Picture(Arc::new(picture)))
                }
                (StageKind::Style, None) => Err(WebInferenceError::Run {
                    model: session.model_id().to_owned(),
                    cause: RunFailure::NoStyles,
                }),
            };
            let ended = now_ms();
            let mut state = state.borrow_mut();
            state.session = Some(session);
            match result {
                Ok(output) => {
                    state.newest = Some(StageResult { index, source, output: Rc::new(output) });
                    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
                    let since_last = state.last_result_ms.map(|last| ms(ended - last));
                    state.stats.count_result(ms(ended - captured_ms), since_last);
                    state.last_result_ms = Some(ended);
                }
                Err(error) => state.stats.error = Some(error.to_string()),
            }
        });
    }

    /// A style stage's styles as a label reads them ("built-in style 19+5").
    pub fn style_label(&self) -> String {
        self.state.borrow().styles.as_deref().map_or_else(String::new, |styles| {
            style_transfer::StyleChoice::Builtin(styles.to_vec()).describe()
        })
    }

    /// Gives a style stage another blend of styles for its next run (a run going on keeps the
    /// blend it started with). False when the blend is the one it has.
    pub fn set_styles(&self, styles: Vec<StyleWeight>) -> bool {
        let mut state = self.state.borrow_mut();
        if state.styles.as_deref() == Some(&styles[..]) {
            return false;
        }
        state.styles = Some(styles.into());
        true
    }

    /// True while a run is going.
    pub fn running(&self) -> bool {
        self.state.borrow().session.is_none()
    }

    /// The newest result.
    pub fn newest(&self) -> Option<StageResult> {
        self.state.borrow().newest.clone()
    }

    /// Its counters, as a native stage keeps them.
    pub fn stats(&self) -> StageStats {
        self.state.borrow().stats.clone()
    }
}
