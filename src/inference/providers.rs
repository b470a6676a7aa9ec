//! Execution providers: which accelerator ONNX Runtime runs a model on.
//!
//! ONNX Runtime silently falls back to the CPU when an accelerator fails to register. dreamlens
//! never does: every failure is reported, and a list without `cpu` that registers nothing is an
//! error rather than a quiet CPU run.

use ort::{
    ep::{self, ExecutionProvider as _, ExecutionProviderDispatch},
    session::builder::SessionBuilder,
};

/// An execution provider a user can ask for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// NVIDIA CUDA.
    Cuda,
    /// NVIDIA TensorRT.
    Tensorrt,
    /// DirectML (Windows GPUs of any vendor).
    Directml,
    /// Apple Core ML (GPU and Neural Engine).
    Coreml,
    /// Android NNAPI.
    Nnapi,
    /// Qualcomm QNN (Hexagon NPU).
    Qnn,
    /// Intel OpenVINO.
    Openvino,
    /// XNNPACK optimised CPU kernels (mobile).
    Xnnpack,
    /// The default CPU provider.
    Cpu,
    /// An inference server (`--remote`), not an ONNX Runtime provider: never asked for in
    /// `--providers`, only reported.
    #[value(skip)]
    Remote,
}

/// Preference order used when the user names no providers.
const AUTO_ORDER: [Provider; 9] = [
    Provider::Tensorrt,
    Provider::Cuda,
    Provider::Directml,
    Provider::Coreml,
    Provider::Qnn,
    Provider::Nnapi,
    Provider::Openvino,
    Provider::Xnnpack,
    Provider::Cpu,
];

impl Provider {
    /// The short name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cuda => "cuda",
            Self::Tensorrt => "tensorrt",
            Self::Directml => "directml",
            Self::Coreml => "coreml",
            Self::Nnapi => "nnapi",
            Self::Qnn => "qnn",
            Self::Openvino => "openvino",
            Self::Xnnpack => "xnnpack",
            Self::Cpu => "cpu",
            Self::Remote => "remote",
        }
    }

    /// Whether the loaded ONNX Runtime was built with this provider.
    pub fn is_compiled_in(self) -> bool {
        let available = match self {
            Self::Cuda => ep::CUDA::is_available(),
            Self::Tensorrt => ep::TensorRT::is_available(),
            Self::Directml => ep::DirectML::is_available(),
            Self::Coreml => ep::CoreML::is_available(),
            Self::Nnapi => ep::NNAPI::is_available(),
            Self::Qnn => ep::QNN::is_available(),
            Self::Openvino => ep::OpenVINO::is_available(),
            Self::Xnnpack => ep::XNNPACK::is_available(),
            Self::Cpu => return true,
            Self::Remote => return false,
        };
        available.unwrap_or(false)
    }

    /// The ONNX Runtime provider; `None` for the CPU (always present) and a server.
    fn dispatch(self) -> Option<ExecutionProviderDispatch> {
        Some(match self {
            Self::Cuda => ep::CUDA::default().build(),
            Self::Tensorrt => ep::TensorRT::default().build(),
            Self::Directml => ep::DirectML::default().build(),
            Self::Coreml => ep::CoreML::default().build(),
            Self::Nnapi => ep::NNAPI::default().build(),
            Self::Qnn => ep::QNN::default().build(),
            Self::Openvino => ep::OpenVINO::default().build(),
            Self::Xnnpack => ep::XNNPACK::default().build(),
            Self::Cpu | Self::Remote => return None,
        })
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Providers compiled into the loaded ONNX Runtime, in preference order.
pub fn compiled_in() -> Vec<Provider> {
    AUTO_ORDER.into_iter().filter(|p| p.is_compiled_in()).collect()
}

/// The order used when the user names nothing: every compiled-in accelerator, then the CPU.
pub fn auto_order() -> Vec<Provider> {
    compiled_in()
}

/// What a session asked for and what it got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderReport {
    /// The list that was tried, in order.
    pub requested: Vec<Provider>,
    /// The provider that runs the model (the first one that registered).
    pub active: Provider,
    /// Providers that failed to register, with ONNX Runtime's reason.
    pub failures: Vec<(Provider, String)>,
    /// The server's URL when the model runs on an inference server.
    pub remote_url: Option<String>,
    /// The precision of a manifest model's file (an int8 variant or the manifest's own);
    /// `None` for parts of a model folder.
    pub precision: Option<crate::store::Precision>,
}

impl std::fmt::Display for ProviderReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.remote_url {
            Some(url) => write!(f, "remote ({url})")?,
            None => write!(f, "{}", self.active)?,
        }
        match self.precision {
            Some(precision) => write!(f, ", {precision}"),
            None => Ok(()),
        }
    }
}

impl ProviderReport {
    /// A model served by the inference server at `url`.
    pub fn remote(url: &str) -> Self {
        Self {
            requested: Vec::new(),
            active: Provider::Remote,
            failures: Vec::new(),
            remote_url: Some(url.to_owned()),
            precision: None,
        }
    }

    /// True when an accelerator was asked for but the model runs on the CPU.
    pub fn fell_back_to_cpu(&self) -> bool {
        self.active == Provider::Cpu && self.requested.iter().any(|p| *p != Provider::Cpu)
    }
}

/// Every requested provider failed and the list did not allow the CPU.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "none of the requested execution providers ({requested}) could be used: {reasons}. Install an \
     ONNX Runtime build with one of them, or add `cpu` to the list to allow running on the CPU"
)]
pub struct NoProviderError {
    /// Comma-separated requested providers.
    pub requested: String,
    /// Each failure and its reason.
    pub reasons: String,
}

/// Registers `requested` (or the automatic order when empty) on `builder`, in order.
pub fn register(
    builder: &mut SessionBuilder,
    requested: &[Provider],
) -> Result<ProviderReport, NoProviderError> {
    let requested = if requested.is_empty() { auto_order() } else { requested.to_vec() };
    let mut active = None;
    let mut failures = Vec::new();
    for &provider in &requested {
        if provider == Provider::Cpu {
            active.get_or_insert(Provider::Cpu);
            break;
        }
        let outcome = match provider.dispatch().filter(|_| provider.is_compiled_in()) {
            Some(dispatch) => dispatch.register(builder).map_err(|e| e.to_string()),
            None => Err("not compiled into the loaded ONNX Runtime library".to_owned()),
        };
        match outcome {
            Ok(()) => {
                active.get_or_insert(provider);
            }
            Err(reason) => {
                tracing::warn!(%provider, reason, "execution provider failed to register");
                failures.push((provider, reason));
            }
        }
    }
    match active {
        Some(active) => {
            Ok(ProviderReport { requested, active, failures, remote_url: None, precision: None })
        }
        None => Err(NoProviderError {
            requested: requested.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
            reasons: failures
                .iter()
                .map(|(p, reason)| format!("{p}: {reason}"))
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}
