//! `window.dreamlens.summary()`: the native `--summary-json` numbers, plus what only the page
//! knows (each model's execution provider, the saved clip).

use std::collections::BTreeMap;

use serde::Serialize;

/// One stage's numbers.
#[derive(Debug, Serialize)]
pub struct StageSummary {
    /// Runs completed.
    pub runs: u64,
    /// Runs per second over the session.
    pub runs_per_second: f64,
    /// Capture-to-result time of the last run.
    pub latency_ms: f64,
    /// Frames offered while it was busy.
    pub skipped: u64,
    /// The model's id.
    pub model: String,
    /// Where it really runs (`webgpu` or `wasm`).
    pub execution_provider: String,
    /// The last run's failure.
    pub error: Option<String>,
}

/// The page's numbers.
#[derive(Debug, Serialize)]
pub struct PageSummary {
    /// Frames shown.
    pub frames: u64,
    /// Seconds since the frame loop started.
    pub seconds: f64,
    /// Frames shown per second.
    pub display_fps: f64,
    /// The longest gap between two shown frames.
    pub max_frame_gap_ms: f64,
    /// Frames shown while a model run was going: none where runs held the page's thread.
    pub frames_beside_model_runs: u64,
    /// Per stage.
    pub stages: BTreeMap<String, StageSummary>,
    /// The GPU adapter.
    pub adapter: String,
    /// How camera frames reach the GPU: `gpu` (the browser's copy) or `cpu` (read and uploaded).
    pub frame_copy: &'static str,
    /// The composited picture's size.
    pub picture_size: [u32; 2],
    /// Layers turned off, with the reason.
    pub layers_off: Vec<String>,
    /// The panel's restyle prompt, as typed so far.
    pub restyle_prompt: String,
    /// What makes a `restyle` layer's picture here, and why (the HUD's line).
    pub restyle_engine: Option<String>,
    /// True once `quit-after-frames` was reached.
    pub finished: bool,
    /// True while a clip is being recorded.
    pub recording: bool,
    /// The saved clip, once saved.
    pub clip: Option<crate::recording::SavedClip>,
    /// Each layer's region, as picked.
    pub regions: Vec<String>,
    /// The last snapshot's file name (PNG).
    pub snapshot: Option<String>,
    /// Where the picture is on the page, `[x0, y0, x1, y1]` in CSS pixels from the canvas's
    /// top-left corner (the controls take the rest).
    pub picture_rect: [f64; 4],
    /// Where the restyle prompt's field is, as `picture_rect`, while the panel shows one.
    pub prompt_field: Option<[f64; 4]>,
}
