//! Model stages on the page's event loop: the same contract as native stage threads (offer a
//! frame when the stage is free, take its newest result when it has one; never a queue), with
//! each run awaited in its own task so the frame loop never waits for a model.

pub use dreamlens::stages::StageKind;
use std::time::Duration;
use std::{cell::RefCell, rc::Rc};

use dreamlens::{
    inference::web::{WebInferenceError, WebProvider, WebSession},
    scene::{ClassMap, ScalarMap},
    stages::StageStats,
};
use image::RgbImage;
use wasm_bindgen_futures::spawn_local;

/// One stage's newest result.
#[derive(Debug, Clone)]
pub enum StageOutput {
    /// Class ids.
    Classes(ClassMap),
    /// A person mask or depth.
    Map(ScalarMap),
}

struct StageState {
    /// The session while the stage is free; taken by the running task.
    session: Option<WebSession>,
    /// When the last run ended and how long it took, on the page's clock.
    last_run_ms: Option<(f64, f64)>,
    /// When the last result came, on the page's clock.
    last_result_ms: Option<f64>,
    newest: Option<(u64, Rc<StageOutput>)>,
    stats: StageStats,
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
    /// A stage running `session`.
    pub fn new(kind: StageKind, session: WebSession) -> Self {
        Self {
            kind,
            model: session.model_id().to_owned(),
            provider: session.provider().name(),
            state: Rc::new(RefCell::new(StageState {
                session: Some(session),
                last_run_ms: None,
                last_result_ms: None,
                newest: None,
                stats: StageStats::default(),
            })),
        }
    }

    /// Offers a frame: it runs now if the stage is free, else it is skipped (the stage takes the
    /// newest frame when it is done, never a backlog). `now_ms` reads the page's clock.
    ///
    /// onnxruntime-web's wasm kernels run on the page's own thread, so a run there holds the
    /// frame loop for its whole length; such a stage rests as long as its last run took before
    /// it starts the next, which leaves the camera at least half of the time.
    pub fn offer(&self, frame: Rc<RgbImage>, index: u64, captured_ms: f64, now_ms: fn() -> f64) {
        let mut state = self.state.borrow_mut();
        let resting = self.provider == WebProvider::Wasm.name()
            && state.last_run_ms.is_some_and(|(ended, took)| captured_ms < ended + took);
        let session = if resting { None } else { state.session.take() };
        let Some(mut session) = session else {
            state.stats.skipped += 1;
            return;
        };
        drop(state);
        let (kind, state) = (self.kind, Rc::clone(&self.state));
        spawn_local(async move {
            let started = now_ms();
            let result = match kind {
                StageKind::Segmentation => session.segment(&frame).await.map(StageOutput::Classes),
                StageKind::Person => session.person(&frame).await.map(StageOutput::Map),
                StageKind::Depth => session.depth(&frame).await.map(StageOutput::Map),
                // The page opens no style stage: its layers are reported off at start-up.
                StageKind::Style => Err(WebInferenceError::Run {
                    model: session.model_id().to_owned(),
                    reason: "style stages do not run in the browser".into(),
                }),
            };
            let ended = now_ms();
            let mut state = state.borrow_mut();
            state.session = Some(session);
            state.last_run_ms = Some((ended, ended - started));
            match result {
                Ok(output) => {
                    state.newest = Some((index, Rc::new(output)));
                    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
                    let since_last = state.last_result_ms.map(|last| ms(ended - last));
                    state.stats.count_result(ms(ended - captured_ms), since_last);
                    state.last_result_ms = Some(ended);
                }
                Err(error) => state.stats.error = Some(error.to_string()),
            }
        });
    }

    /// The newest result and the index of the frame it was made from.
    pub fn newest(&self) -> Option<(u64, Rc<StageOutput>)> {
        self.state.borrow().newest.clone()
    }

    /// Its counters, as a native stage keeps them.
    pub fn stats(&self) -> StageStats {
        self.state.borrow().stats.clone()
    }
}
