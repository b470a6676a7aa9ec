//! Why the live app could not start or had to stop. Each message carries its cause's text, so
//! the causes are not chained a second time.

use std::path::PathBuf;

use crate::{
    capture::CaptureError, effects::preset::PresetError, pipeline::PipelineError,
    render::RenderError,
};

/// Advice for a machine with no display.
const HEADLESS: &str =
    "To edit photos or videos without a window use `dreamlens process --input ... --output ...`";

/// What stopped the live app, or kept it from starting.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Neither X11 nor Wayland is there.
    #[error(
        "no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set). {HEADLESS}"
    )]
    NoDisplay,
    /// The display refused the connection.
    #[error("cannot connect to the display ({0}). {HEADLESS}")]
    Display(winit::error::EventLoopError),
    /// The window's event loop stopped with an error.
    #[error("the window's event loop failed: {0}")]
    EventLoop(winit::error::EventLoopError),
    /// The window could not be made.
    #[error("cannot open a window: {0}")]
    Window(winit::error::OsError),
    /// The GPU cannot draw into the window.
    #[error("cannot draw to the window: {0}")]
    Surface(wgpu::CreateSurfaceError),
    /// The frame source (a file, the demo, the camera's thread) could not start.
    #[error(transparent)]
    Source(#[from] CaptureError),
    /// The capture thread could not be started.
    #[error("cannot start the capture thread: {0}")]
    Thread(std::io::Error),
    /// The preset cannot be used.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// The GPU failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Compositing a frame failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A screenshot could not be written.
    #[error("cannot write screenshot {path}: {error}")]
    Screenshot {
        /// Where it was to go.
        path: PathBuf,
        /// Why it failed.
        error: image::ImageError,
    },
    /// The outputs folder cannot be written into.
    #[error("cannot write into {folder}: {error}")]
    Outputs {
        /// The folder.
        folder: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A snapshot could not be saved.
    #[error("cannot save the snapshot: {0}")]
    Snapshot(image::ImageError),
}
