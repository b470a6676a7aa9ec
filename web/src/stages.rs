//! Model stages on the page's event loop: the same contract as native stage threads (offer a
//! frame when the stage is free, take its newest result when it has one; never a queue), with
//! each run awaited in its own task so the frame loop never waits for a model.

pub use dreamlens::stages::{STYLE_SKIP_LEVELS, StageKind};
use std::{cell::RefCell, rc::Rc, sync::Arc, time::Duration};

use dreamlens::{
    effects::StyleWeight,
    style_transfer::{self, StyleChoice},
};
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
use ndarray::ArrayD;
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
    /// A style stage's style; a new prompt can change a blend of built-in styles between runs.
    style: Option<StyleInput>,
}

/// What a style stage gives its network beside the frame.
#[derive(Debug, Clone)]
enum StyleInput {
    /// multistyle26's built-in styles, blended.
    Builtin(Rc<[StyleWeight]>),
    /// The arbitrary-style transformer's style vector, predicted once from the picture `name`.
    Picture { vector: Rc<ArrayD<f32>>, name: String },
}

impl StyleInput {
    /// The network's second input.
    fn extra(&self) -> ArrayD<f32> {
        match self {
            Self::Builtin(styles) => style_transfer::style_weights(styles),
            Self::Picture { vector, .. } => ArrayD::clone(vector),
        }
    }

    /// How a label reads it: "built-in style 19 (swirling night)", "the style of NAME".
    fn describe(&self) -> String {
        match self {
            Self::Builtin(styles) => StyleChoice::Builtin(styles.to_vec()).describe(),
            Self::Picture { name, .. } => StyleChoice::Image(name.clone()).describe(),
        }
    }
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
        Self::with_style(kind, session, None)
    }

    /// A style stage: `session`'s multistyle network blending the built-in `styles`.
    pub fn styling(session: WebSession, styles: Vec<StyleWeight>) -> Self {
        Self::with_style(StageKind::Style, session, Some(StyleInput::Builtin(styles.into())))
    }

    /// A style stage in the style of a picture: `session` is the arbitrary-style transformer,
    /// `vector` the style its predictor read from the picture `name`.
    pub fn styling_as_picture(session: WebSession, vector: ArrayD<f32>, name: &str) -> Self {
        let style = StyleInput::Picture { vector: Rc::new(vector), name: name.to_owned() };
        Self::with_style(StageKind::Style, session, Some(style))
    }

    fn with_style(kind: StageKind, session: WebSession, style: Option<StyleInput>) -> Self {
        Self {
            kind,
            model: session.model_id().to_owned(),
            provider: session.provider().name(),
            state: Rc::new(RefCell::new(StageState {
                session: Some(session),
                last_result_ms: None,
                newest: None,
                stats: StageStats::default(),
                style,
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
        let style = state.style.clone();
        drop(state);
        let (kind, state) = (self.kind, Rc::clone(&self.state));
        spawn_local(async move {
            let result = match (kind, style) {
                (StageKind::Segmentation, _) => {
                    session.segment(&frame).await.map(StageOutput::Classes)
                }
                (StageKind::Person, _) => session.person(&frame).await.map(StageOutput::Map),
                (StageKind::Depth, _) => session.depth(&frame).await.map(StageOutput::Map),
                (StageKind::Style, Some(style)) => {
                    let input = style_transfer::network_input(&frame, session.input_contract());
                    let picture = session.run_picture(input.into_dyn(), style.extra()).await;
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

    /// A style stage's style as a label reads it ("built-in style 19+5", "the style of NAME").
    pub fn style_label(&self) -> String {
        self.state.borrow().style.as_ref().map_or_else(String::new, StyleInput::describe)
    }

    /// True for a style stage painting in a chosen picture's style.
    pub fn paints_a_picture(&self) -> bool {
        matches!(self.state.borrow().style, Some(StyleInput::Picture { .. }))
    }

    /// Gives a style stage of built-in styles another blend for its next run (a run going on
    /// keeps the blend it started with). False when the blend is the one it has, or when the
    /// stage paints in a picture's style, which keeps it.
    pub fn set_styles(&self, styles: Vec<StyleWeight>) -> bool {
        let mut state = self.state.borrow_mut();
        match &state.style {
            Some(StyleInput::Builtin(now)) if **now != styles[..] => {
                state.style = Some(StyleInput::Builtin(styles.into()));
                true
            }
            _ => false,
        }
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
