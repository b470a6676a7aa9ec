//! Everything that touches ONNX Runtime: loading the library, choosing execution providers,
//! preparing sessions from the manifest contract, and decoding outputs into `scene` types.
//!
//! Architecture invariant: this is the only module that uses `ort` and the only one that
//! talks to an inference server (`remote`); its outputs are plain `scene` types.

pub mod analysis;
pub(crate) mod decode;
mod graph_cut;
pub mod preprocess;
pub mod providers;
pub mod remote;
pub mod run_failure;
pub mod runtime;
pub mod session;

pub use crate::scene::DisabledStage;
pub use analysis::{AnalysisModels, SceneAnalyzer};
pub use decode::DecodeError;
pub use providers::{Provider, ProviderReport};
pub use run_failure::RunFailure;
pub use session::{
    ContractMismatch, ElementType, Feed, InferenceError, ModelSession, SegmentationPasses,
    SessionOptions, TensorInfo,
};
