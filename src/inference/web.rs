//! Model sessions in the browser: onnxruntime-web behind ort's alternative-backend seam
//! (`ort-web`), with the same contract, graph cut, preprocessing and decoding as native. Runs are
//! awaited on the page's event loop instead of blocking a worker thread.
//!
//! Each session asks for exactly one execution provider. onnxruntime-web then either runs the
//! model there or refuses to open it, so the provider a session reports is the one that runs:
//! never a silent fallback to the CPU.

use image::{RgbImage, RgbaImage};
use ndarray::ArrayD;
use ort::{session::Session, value::Tensor};

use super::{
    decode::{self, DecodeError},
    graph_cut, preprocess,
    run_failure::RunFailure,
};
use crate::{
    scene::{ClassMap, ScalarMap, Upsampling},
    store::manifest::{CoarseLogits, Contract, InputContract, ModelEntry, OutputKind},
};

/// Where a model runs in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebProvider {
    /// onnxruntime-web's WebGPU execution provider (the phone's GPU).
    WebGpu,
    /// onnxruntime-web's WebAssembly CPU kernels (SIMD, and threads when the page is
    /// cross-origin isolated).
    Wasm,
}

impl WebProvider {
    /// Its name in the HUD and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::Wasm => "wasm",
        }
    }

    /// Reads a provider name as the URL parameters spell it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "webgpu" => Some(Self::WebGpu),
            "wasm" => Some(Self::Wasm),
            _ => None,
        }
    }
}

/// Why a model cannot run in the browser. Every variant names the model.
#[derive(Debug, thiserror::Error)]
pub enum WebInferenceError {
    /// onnxruntime-web's scripts could not be loaded.
    #[error(
        "ONNX Runtime for the web could not be loaded from {url}: {cause}. The page serves it \
         itself; rebuild the site with scripts/build-web.sh"
    )]
    Runtime {
        /// Where its scripts were looked for.
        url: String,
        /// What failed.
        cause: ort_web::Error,
    },
    /// The model's manifest entry has no contract to run it by.
    #[error("model `{model}` has no input/output contract in the manifest")]
    NoContract {
        /// Model id.
        model: String,
    },
    /// The model could not be opened on the provider asked for.
    #[error("model `{model}` cannot run on {provider}: {cause}")]
    Open {
        /// Model id.
        model: String,
        /// The provider asked for.
        provider: &'static str,
        /// ONNX Runtime's error.
        cause: ort::Error,
    },
    /// A run's output breaks the contract.
    #[error("model `{model}`: its output does not match its manifest contract: {cause}")]
    Output {
        /// Model id.
        model: String,
        /// What differs.
        cause: DecodeError,
    },
    /// A run's outputs could not be brought back from where the provider wrote them.
    #[error("model `{model}`: its outputs could not be read back: {cause}")]
    Sync {
        /// Model id.
        model: String,
        /// onnxruntime-web's error.
        cause: ort_web::Error,
    },
    /// A run failed.
    #[error("model `{model}` failed on a frame: {cause}")]
    Run {
        /// Model id.
        model: String,
        /// What failed.
        cause: RunFailure,
    },
}

/// Loads onnxruntime-web from `base_url` (a folder of the page's own origin holding the npm
/// package's `dist/` files) and installs it as ort's backend, with telemetry off. Call once
/// before opening sessions.
pub async fn load_runtime(base_url: &str, script_name: &str) -> Result<(), WebInferenceError> {
    let dist = ort_web::Dist::new(base_url).with_script_name(script_name);
    let api = ort_web::api(dist)
        .await
        .map_err(|cause| WebInferenceError::Runtime { url: base_url.to_owned(), cause })?;
    ort::set_api(api);
    Ok(())
}

/// The ort environment every session shares, made once (ort allows one per page): telemetry
/// off, as nothing may leave the device.
fn environment() -> ort::Result<&'static ort::environment::Environment> {
    static ENVIRONMENT: std::sync::OnceLock<ort::environment::Environment> =
        std::sync::OnceLock::new();
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let env = ort::init().with_name("dreamlens").with_telemetry(false).build()?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Asks onnxruntime-web for exactly `provider`. ort's own `ep::WebGPU` registers under the
/// canonical name (`WebGpuExecutionProvider`), which ort-web 0.5 does not know, and the
/// session would then open on the CPU without a word; ort-web knows the short names.
#[allow(unsafe_code)]
fn append_provider(
    builder: &mut ort::session::builder::SessionBuilder,
    provider: WebProvider,
) -> ort::Result<()> {
    use ort::AsPointer as _;
    let name = match provider {
        WebProvider::WebGpu => c"WebGPU",
        WebProvider::Wasm => c"WASM",
    };
    // SAFETY: the builder's pointer is a live session-options object for the duration of the
    // call, `name` is NUL-terminated and static, and zero options are passed with null arrays,
    // as the C API allows; the returned status is owned and consumed by `result_from_status`.
    unsafe {
        let status = (ort::api().SessionOptionsAppendExecutionProvider)(
            builder.ptr_mut(),
            name.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
        );
        ort::Error::result_from_status(status)
    }
}

/// One model opened on onnxruntime-web.
pub struct WebSession {
    model_id: String,
    contract: Contract,
    provider: WebProvider,
    session: Session,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("model", &self.model_id)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl WebSession {
    /// Opens `entry`'s graph from `bytes` (already checked against the manifest's sha256) on
    /// `provider`. A segmentation graph is cut before its upsampling head where the manifest
    /// names one, as natively.
    pub async fn open(
        entry: &ModelEntry,
        bytes: &[u8],
        provider: WebProvider,
    ) -> Result<Self, WebInferenceError> {
        let model = entry.id.clone();
        let mut contract = entry
            .contract
            .clone()
            .ok_or_else(|| WebInferenceError::NoContract { model: model.clone() })?;
        let open_failed = |cause| WebInferenceError::Open {
            model: model.clone(),
            provider: provider.name(),
            cause,
        };
        let cut = contract
            .output
            .coarse_logits
            .as_ref()
            .and_then(|head| graph_cut::cut_at(bytes, &head.tensor).ok());
        match &cut {
            Some(_) => contract.output.argmax = None,
            None => contract.output.coarse_logits = None,
        }
        let env = environment().map_err(open_failed)?;
        let mut builder = Session::builder(env).map_err(open_failed)?;
        append_provider(&mut builder, provider).map_err(open_failed)?;
        let session = builder
            .commit_from_memory(cut.as_deref().unwrap_or(bytes))
            .await
            .map_err(open_failed)?;
        Ok(Self { model_id: model, contract, provider, session })
    }

    /// The model's id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The provider the model runs on.
    pub fn provider(&self) -> WebProvider {
        self.provider
    }

    fn output_failed(&self, cause: DecodeError) -> WebInferenceError {
        WebInferenceError::Output { model: self.model_id.clone(), cause }
    }

    /// Resizes, normalises and lays out `frame` as the contract says, runs the graph and returns
    /// its main output (the coarse scores where the graph was cut).
    pub async fn run_image(&mut self, frame: &RgbImage) -> Result<ArrayD<f32>, WebInferenceError> {
        let output_name = match &self.contract.output.coarse_logits {
            Some(head) => head.tensor.clone(),
            None => self.contract.output.name.clone(),
        };
        self.run_output(frame, &output_name).await
    }

    /// Runs the graph on `frame` and reads the output `output_name`.
    async fn run_output<T: ort::value::PrimitiveTensorElementType + Clone + 'static>(
        &mut self,
        frame: &RgbImage,
        output_name: &str,
    ) -> Result<ArrayD<T>, WebInferenceError> {
        let input = &self.contract.input;
        let (width, height) = preprocess::input_size(input, frame.width(), frame.height());
        let tensor = preprocess::to_tensor(&crate::resize::rgb(frame, width, height), input);
        self.run_tensors(tensor.into_dyn(), None, output_name).await
    }

    /// Runs the graph on the main input `tensor` (and `extra`, the contract's first extra
    /// input, where it has one) and reads the output `output_name`.
    async fn run_tensors<T: ort::value::PrimitiveTensorElementType + Clone + 'static>(
        &mut self,
        tensor: ArrayD<f32>,
        extra: Option<ArrayD<f32>>,
        output_name: &str,
    ) -> Result<ArrayD<T>, WebInferenceError> {
        let model = self.model_id.clone();
        let failed = |cause| WebInferenceError::Run { model: model.clone(), cause };
        let runtime = |cause| failed(RunFailure::runtime(cause));
        // Runs awaited on the page take owned inputs: the run may outlive this stack frame.
        let mut inputs = vec![(
            self.contract.input.name.clone(),
            Tensor::from_array(tensor).map_err(runtime)?.into_dyn(),
        )];
        if let Some(extra) = extra {
            let name = self
                .contract
                .extra_inputs
                .first()
                .ok_or_else(|| failed(RunFailure::NoExtraInput))?;
            inputs.push((name.clone(), Tensor::from_array(extra).map_err(runtime)?.into_dyn()));
        }
        let options = ort::session::RunOptions::new().map_err(runtime)?;
        let mut outputs = self.session.run_async(inputs, &options).await.map_err(runtime)?;
        // ort-web leaves outputs where the provider wrote them (the GPU for WebGPU).
        ort_web::sync_outputs(&mut outputs)
            .await
            .map_err(|cause| WebInferenceError::Sync { model: model.clone(), cause })?;
        let output = outputs
            .get(output_name)
            .ok_or_else(|| failed(RunFailure::NoOutput { name: output_name.to_owned() }))?;
        output.try_extract_array::<T>().map(|a| a.to_owned()).map_err(runtime)
    }

    /// Class ids at the model's resolution: the graph's own argmax when it was not cut, else
    /// the coarse scores upsampled and reduced to their argmax, as native
    /// `analysis::run_segmentation` does reading once (`SegmentationPasses::Once`; the page
    /// does not read the mirror image: its model time is its bottleneck).
    pub async fn segment(&mut self, frame: &RgbImage) -> Result<ClassMap, WebInferenceError> {
        let output = self.contract.output.clone();
        if output.kind != OutputKind::Logits {
            return Err(self.output_failed(DecodeError::NotLogits(output.kind)));
        }
        if let Some(argmax) = &output.argmax {
            let ids = self.run_output::<i64>(frame, argmax).await?;
            return decode::class_ids(&ids, &output).map_err(|e| self.output_failed(e));
        }
        let raw = self.run_image(frame).await?;
        let scores = decode::class_scores(&raw, &output).map_err(|e| self.output_failed(e))?;
        let upsampling =
            output.coarse_logits.as_ref().map_or(Upsampling::NONE, CoarseLogits::upsampling);
        Ok(scores.upsampled_argmax(upsampling).with_probabilities(scores.softmax()))
    }

    /// Normalised inverse depth (1 = closest) at the model's resolution.
    pub async fn depth(&mut self, frame: &RgbImage) -> Result<ScalarMap, WebInferenceError> {
        let raw = self.run_image(frame).await?;
        decode::inverse_depth(&raw).map_err(|e| self.output_failed(e))
    }

    /// The main input's contract, for callers that prepare their own input.
    pub fn input_contract(&self) -> &InputContract {
        &self.contract.input
    }

    /// Runs the graph on a prepared main input and the contract's extra input (a style
    /// network's weights), and decodes its picture output.
    pub async fn run_picture(
        &mut self,
        input: ArrayD<f32>,
        extra: ArrayD<f32>,
    ) -> Result<RgbaImage, WebInferenceError> {
        let output_name = self.contract.output.name.clone();
        let raw = self.run_tensors(input, Some(extra), &output_name).await?;
        decode::picture(&raw, &self.contract.output).map_err(|e| self.output_failed(e))
    }

    /// The person probability at the model's resolution.
    pub async fn person(&mut self, frame: &RgbImage) -> Result<ScalarMap, WebInferenceError> {
        let raw = self.run_image(frame).await?;
        decode::probability(&raw, &self.contract.output).map_err(|e| self.output_failed(e))
    }
}
