//! One frame through the whole effect pipeline: the models a preset needs (`FrameAnalyzer`),
//! then the GPU compositor (`EffectRenderer`). The two halves are separate so batch processing
//! can analyse several frames in parallel and composite them in order, and the live app can run
//! analysis on worker threads.
//!
//! A model that cannot be found turns off only the layers that need it; each such layer is
//! reported once. The plan and the renderer are portable (the browser build composites with
//! them too); the analyzer runs native sessions.

#[cfg(not(target_family = "wasm"))]
mod analyzer;
mod carried;
mod plan;
mod renderer;

#[cfg(not(target_family = "wasm"))]
pub use analyzer::FrameAnalyzer;
pub use carried::CarriedMaps;
pub use plan::{DroppedLayer, LayerPlan};
pub use renderer::EffectRenderer;

use crate::{
    render::RenderError,
    scene::{MapMotions, SceneAnalysis, Stylized},
};

/// Why a frame could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A model failed.
    #[cfg(not(target_family = "wasm"))]
    #[error(transparent)]
    Inference(#[from] crate::inference::InferenceError),
    /// Restyling failed.
    #[cfg(not(target_family = "wasm"))]
    #[error(transparent)]
    Restyle(#[from] crate::restyle::RestyleError),
    /// The GPU failed.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Everything the models produced for one frame.
#[derive(Debug, Clone, Default)]
pub struct FrameAnalysis {
    /// Segmentation, person mask and depth.
    pub scene: SceneAnalysis,
    /// How the maps' frames moved to the frame shown (live: maps lag behind the camera).
    pub motions: MapMotions,
    /// The stylized keyframes for `style` and `restyle` layers.
    pub stylized: Option<Stylized>,
}
