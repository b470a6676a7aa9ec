//! dreamlens: an on-device AR camera for generative effects.
//!
//! See `ARCHITECTURE.md` for the map of modules and threads.
//!
//! The browser build (`wasm32`, `web/`) compiles the portable part: presets, scene maps, the
//! controls, the compositor, motion, the fMP4 writer, the manifest, preprocessing and decoding, and
//! `inference::web`, and the stages' names (`stages::StageKind`; the page runs its stages as
//! tasks). Modules that run threads, load ONNX Runtime's library or speak HTTP are native only.

#[cfg(not(target_family = "wasm"))]
pub mod app;
pub mod capture;
pub mod controls;
#[cfg(not(target_family = "wasm"))]
pub mod diffusion;
pub mod effects;
#[cfg(not(target_family = "wasm"))]
pub mod export;
pub mod fusion;
#[cfg(not(target_family = "wasm"))]
mod http;
#[cfg(not(target_family = "wasm"))]
pub mod inference;
/// The browser's share of `inference`: the same preprocessing, graph cut and decoding as native,
/// and sessions on onnxruntime-web (`web`).
#[cfg(target_family = "wasm")]
pub mod inference {
    pub(crate) mod decode;
    pub mod graph_cut;
    pub mod preprocess;
    pub mod run_failure;
    pub mod web;
}
pub mod person_extent;
pub mod pipeline;
#[cfg(not(target_family = "wasm"))]
pub mod platform;
pub mod projection;
#[cfg(not(target_family = "wasm"))]
pub mod python;
#[cfg(not(target_family = "wasm"))]
pub mod quantize;
pub mod record;
pub mod region_colour;
pub mod render;
pub mod resize;
#[cfg(not(target_family = "wasm"))]
pub mod restyle;
pub mod scene;
pub mod stages;
#[cfg(not(target_family = "wasm"))]
pub mod store;
/// The browser's share of the store: the manifest (the page fetches and checks model files
/// itself, `inference::web`).
#[cfg(target_family = "wasm")]
pub mod store {
    pub mod manifest;
}
pub mod style_transfer;
#[cfg(not(target_family = "wasm"))]
pub mod upsample;
