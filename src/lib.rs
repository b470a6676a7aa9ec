//! dreamlens: an on-device AR camera for generative effects.
//!
//! See `ARCHITECTURE.md` for the map of modules and threads.

pub mod app;
pub mod capture;
pub mod diffusion;
pub mod effects;
pub mod export;
pub mod fusion;
pub mod inference;
pub mod pipeline;
pub mod platform;
pub mod projection;
pub mod quantize;
pub mod record;
pub mod render;
pub mod restyle;
pub mod scene;
pub mod stages;
pub mod store;
pub mod style_transfer;
pub mod upsample;
