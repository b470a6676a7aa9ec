//! One prepared ONNX Runtime session per model: opened once, checked against its contract, run
//! per frame.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use image::RgbImage;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::{
    session::{Session, SessionInputValue, builder::GraphOptimizationLevel},
    value::{
        DynValue, PrimitiveTensorElementType, Tensor, TensorElementType, TensorRef, ValueType,
    },
};

use super::{
    graph_cut, preprocess,
    providers::{self, NoProviderError, Provider, ProviderReport},
    remote::{
        CallStats, RemoteConfig, RemoteError, RemoteModel,
        protocol::{DataType, RawTensor},
    },
    run_failure::RunFailure,
    runtime::{self, RuntimeError},
};
use crate::store::{
    Precision, ResolvedModel,
    manifest::{Contract, Layout},
};

/// How sessions are created.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Providers to try in order; empty means every accelerator compiled in, then the CPU.
    pub providers: Vec<Provider>,
    /// Intra-op threads per session.
    pub threads: usize,
    /// The inference server for the models it selects; `None` keeps everything local (and
    /// then no model opens a network connection).
    pub remote: Option<Arc<RemoteConfig>>,
    /// How a segmentation model reads each frame.
    pub segmentation_passes: SegmentationPasses,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            threads: default_threads(),
            remote: None,
            segmentation_passes: SegmentationPasses::default(),
        }
    }
}

/// How a segmentation model reads a frame. A graph that gives class ids only (one served whole
/// by an inference server, head included) is read once either way: ids cannot be averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SegmentationPasses {
    /// The frame as it is: the model's own answer, at the model's cost.
    Once,
    /// The frame and its mirror image, their class scores averaged: cleaner region borders
    /// (the model's left-right biases cancel) at twice the model's time.
    #[default]
    Mirrored,
}

impl SessionOptions {
    /// True when `model_id` runs on the inference server.
    pub fn serves_remotely(&self, model_id: &str) -> bool {
        self.remote.as_ref().is_some_and(|remote| remote.serves(model_id))
    }
}

/// All cores, capped: models here are small and extra threads mostly spin.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Why a model could not be opened or run.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// ONNX Runtime itself is missing or wrong.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// No usable execution provider.
    #[error("model `{model}`: {cause}")]
    Provider {
        /// Model id.
        model: String,
        /// The provider failure.
        cause: NoProviderError,
    },
    /// The file is not a loadable ONNX graph (truncated, not ONNX, unsupported operator).
    #[error(
        "model `{model}`: cannot load {path} as an ONNX model: {cause}. Re-fetch it with `dreamlens models fetch {model}`"
    )]
    Load {
        /// Model id.
        model: String,
        /// The file.
        path: PathBuf,
        /// ONNX Runtime's account.
        cause: ort::Error,
    },
    /// The graph does not match the manifest contract.
    #[error("model `{model}` at {path} does not match its manifest contract: {cause}")]
    Contract {
        /// Model id.
        model: String,
        /// The file.
        path: PathBuf,
        /// What differs (boxed: it is large, and rare).
        cause: Box<ContractMismatch>,
    },
    /// The model ran, but its output is not what its contract says.
    #[error("model `{model}`: its output does not match its manifest contract: {cause}")]
    Output {
        /// Model id.
        model: String,
        /// What differs.
        cause: super::decode::DecodeError,
    },
    /// Running the model failed.
    #[error("model `{model}`: inference failed: {cause}")]
    Run {
        /// Model id.
        model: String,
        /// What failed.
        cause: RunFailure,
    },
    /// The inference server failed or does not serve the model as needed.
    #[error("model `{model}`: {cause}")]
    Remote {
        /// Model id.
        model: String,
        /// What the server did.
        cause: RemoteError,
    },
}

/// Where a session's model runs.
enum Backend {
    /// ONNX Runtime in this process.
    Local(Session),
    /// An inference server; `local` is the model file to continue with if the server fails
    /// and the user allowed it.
    Remote { model: Box<RemoteModel>, local: Option<(PathBuf, SessionOptions)> },
}

/// A model ready to run on images, in this process or on an inference server.
pub struct ModelSession {
    backend: Backend,
    model_id: String,
    contract: Option<Contract>,
    providers: ProviderReport,
    signature: Signature,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession")
            .field("model_id", &self.model_id)
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl ModelSession {
    /// Opens the model's main file and checks it against the manifest contract, when the manifest
    /// gives one (models without one are run by name with [`ModelSession::run`]).
    pub fn open(model: &ResolvedModel, options: &SessionOptions) -> Result<Self, InferenceError> {
        let path = model.main_path();
        // A manifest model at fp32 may store its weights quantized (DequantizeLinear over
        // constant weights, as the ADE20K model does). ONNX Runtime keeps such nodes for QDQ
        // fusion, and then runs every convolution on weights dequantized per run; without QDQ
        // handling they fold into plain float weights once, at load: the same numbers, measured
        // 103 -> 69 ms for that model. An int8 variant needs its QDQ nodes fused, so keeps them.
        let fold = model.precision == Precision::Fp32;
        let mut contract = model.entry.contract.clone();
        let head = contract.as_ref().and_then(|c| c.output.coarse_logits.clone());
        let (mut opened, cut) = Self::open_local_or_remote(
            path,
            &model.entry.id,
            options,
            fold,
            head.as_ref().map(|h| h.tensor.as_str()),
        )?;
        if let Some(contract) = &mut contract {
            // The contract says what this graph gives: the coarse scores when it was cut, the
            // graph's own head otherwise.
            match head.filter(|_| cut) {
                Some(head) => {
                    contract.output.name = head.tensor;
                    contract.output.argmax = None;
                }
                None => contract.output.coarse_logits = None,
            }
            check_contract(&opened.signature, contract).map_err(|source| {
                InferenceError::Contract {
                    model: model.entry.id.clone(),
                    path: path.to_owned(),
                    cause: Box::new(source),
                }
            })?;
        }
        opened.contract = contract;
        opened.providers.precision = Some(model.precision);
        Ok(opened)
    }

    /// Opens one ONNX file with no manifest contract (parts of a model folder such as a
    /// diffusion pipeline); `model_id` names it in errors and reports. A model the options
    /// send to an inference server is opened there instead (the file is then only needed for a
    /// local fallback).
    pub fn open_file(
        path: &Path,
        model_id: &str,
        options: &SessionOptions,
    ) -> Result<Self, InferenceError> {
        Ok(Self::open_local_or_remote(path, model_id, options, false, None)?.0)
    }

    /// [`ModelSession::open_file`]; `fold_dequantize` turns QDQ handling off so dequantized
    /// constant weights fold into float weights at load. A local graph is cut short at
    /// `cut_at` when it has that tensor; the flag says whether it was.
    fn open_local_or_remote(
        path: &Path,
        model_id: &str,
        options: &SessionOptions,
        fold_dequantize: bool,
        cut_at: Option<&str>,
    ) -> Result<(Self, bool), InferenceError> {
        if let Some(remote) = options.remote.as_ref().filter(|r| r.serves(model_id)) {
            let model = RemoteModel::open(remote, model_id)
                .map_err(|cause| InferenceError::Remote { model: model_id.to_owned(), cause })?;
            let signature = Signature::of_remote(&model);
            let local = (remote.fallback_local && path.is_file())
                .then(|| (path.to_owned(), SessionOptions { remote: None, ..options.clone() }));
            let opened = Self {
                providers: ProviderReport::remote(model.url()),
                backend: Backend::Remote { model: Box::new(model), local },
                model_id: model_id.to_owned(),
                contract: None,
                signature,
            };
            return Ok((opened, false));
        }
        let runtime = runtime::load()?;
        let load_error = |cause: ort::Error| InferenceError::Load {
            model: model_id.to_owned(),
            path: path.to_owned(),
            cause,
        };
        let mut builder = Session::builder(&runtime.env)
            .map_err(load_error)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| load_error(e.into()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| load_error(e.into()))?;
        if fold_dequantize {
            builder = builder
                .with_config_entry("session.disable_quant_qdq", "1")
                .map_err(|e| load_error(e.into()))?;
        }
        let providers = providers::register(&mut builder, &options.providers)
            .map_err(|cause| InferenceError::Provider { model: model_id.to_owned(), cause })?;
        // A graph another tool rewrote (an int8 variant, say) may have lost the tensor; then
        // its own head runs.
        let own_head = |error: &dyn std::fmt::Display| {
            tracing::warn!(model = model_id, %error, "runs the graph's own head");
        };
        let cut = cut_at.and_then(|tensor| {
            let bytes = std::fs::read(path).inspect_err(|e| own_head(e)).ok()?;
            graph_cut::cut_at(&bytes, tensor).inspect_err(|e| own_head(e)).ok()
        });
        let session = match &cut {
            Some(bytes) => builder.commit_from_memory(bytes),
            None => builder.commit_from_file(path),
        }
        .map_err(load_error)?;
        if providers.fell_back_to_cpu() {
            tracing::warn!(
                model = model_id,
                "runs on the CPU: no requested accelerator registered"
            );
        }
        let signature = Signature::of_local(&session);
        let opened = Self {
            backend: Backend::Local(session),
            model_id: model_id.to_owned(),
            contract: None,
            providers,
            signature,
        };
        Ok((opened, cut.is_some()))
    }

    /// The model id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The contract this session follows, or an error naming the model when it has none.
    pub fn contract(&self) -> Result<&Contract, InferenceError> {
        self.contract.as_ref().ok_or_else(|| InferenceError::Run {
            model: self.model_id.clone(),
            cause: RunFailure::NoContract,
        })
    }

    /// Which execution provider runs this model.
    pub fn providers(&self) -> &ProviderReport {
        &self.providers
    }

    /// The input size used for an image of this size.
    pub fn input_size(
        &self,
        image_width: u32,
        image_height: u32,
    ) -> Result<(u32, u32), InferenceError> {
        Ok(preprocess::input_size(&self.contract()?.input, image_width, image_height))
    }

    /// Resizes and normalises `image` per the contract and returns the main output.
    pub fn run_image(&mut self, image: &RgbImage) -> Result<ArrayD<f32>, InferenceError> {
        let (width, height) = self.input_size(image.width(), image.height())?;
        let resized = crate::resize::rgb(image, width, height);
        let input = preprocess::to_tensor(&resized, &self.contract()?.input);
        self.run_tensor(input.into_dyn(), Vec::new())
    }

    /// Runs with an already-built image tensor plus the contract's extra inputs; returns the
    /// contract's main output.
    pub fn run_tensor(
        &mut self,
        input: ArrayD<f32>,
        extra: Vec<(String, ArrayD<f32>)>,
    ) -> Result<ArrayD<f32>, InferenceError> {
        let contract = self.contract()?;
        let output = contract.output.name.clone();
        let mut inputs = vec![(contract.input.name.clone(), input)];
        inputs.extend(extra);
        Ok(self.run(&inputs, &[output.as_str()])?.remove(0))
    }

    /// Resizes and normalises `image` per the contract and returns the named integer output
    /// (class ids computed inside the graph).
    pub fn run_image_i64(
        &mut self,
        image: &RgbImage,
        output: &str,
    ) -> Result<ArrayD<i64>, InferenceError> {
        let contract = self.contract()?.clone();
        let (width, height) =
            preprocess::input_size(&contract.input, image.width(), image.height());
        let input =
            preprocess::to_tensor(&crate::resize::rgb(image, width, height), &contract.input);
        Ok(self.run(&[(contract.input.name, input.into_dyn())], &[output])?.remove(0))
    }

    /// Runs with named inputs and returns the named outputs (all of element type `T`), in the
    /// order asked. Outputs not asked for are never copied out of ONNX Runtime.
    pub fn run<T: OutputElement>(
        &mut self,
        inputs: &[(String, ArrayD<f32>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        let feeds: Vec<(String, Feed<'_>)> =
            inputs.iter().map(|(name, value)| (name.clone(), Feed::F32(value.view()))).collect();
        self.run_feeds(&feeds, outputs)
    }

    /// [`ModelSession::run`] with inputs of mixed element types (token ids, integer timesteps).
    pub fn run_feeds<T: OutputElement>(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        let results = self.run_with(inputs, outputs, false)?;
        self.convert(results, false)
    }

    /// [`ModelSession::run_feeds`] for float graphs of either precision: float inputs are
    /// converted to half precision where the graph declares it, and half outputs come back as
    /// f32 (fp16 exports such as SD-Turbo's take and give half floats).
    pub fn run_f32(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<f32>>, InferenceError> {
        let results = self.run_with(inputs, outputs, true)?;
        self.convert(results, true)
    }

    fn convert<T: OutputElement>(
        &self,
        results: Vec<(String, OutputTensor)>,
        widen_half: bool,
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        results
            .into_iter()
            .map(|(name, output)| T::from_output(name, output, widen_half))
            .collect::<Result<_, _>>()
            .map_err(|cause| InferenceError::Run { model: self.model_id.clone(), cause })
    }

    /// Runs with `inputs` (float ones converted to half where the graph wants half, when
    /// `to_half`) and returns each named output as it came.
    fn run_with(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
        to_half: bool,
    ) -> Result<Vec<(String, OutputTensor)>, InferenceError> {
        let half_inputs: Vec<&str> = if to_half {
            let inputs = self.signature.inputs.iter();
            inputs.filter(|i| i.element == ElementType::F16).map(|i| i.name.as_str()).collect()
        } else {
            Vec::new()
        };
        let model_id = self.model_id.clone();
        let run_error = |cause: RunFailure| InferenceError::Run { model: model_id.clone(), cause };
        match &mut self.backend {
            Backend::Local(session) => {
                run_local(session, inputs, outputs, &half_inputs).map_err(run_error)
            }
            Backend::Remote { model, local } => {
                let raw: Vec<RawTensor> = inputs
                    .iter()
                    .map(|(name, feed)| {
                        raw_tensor(name, feed, half_inputs.contains(&name.as_str()))
                    })
                    .collect();
                match model.infer(&raw, outputs) {
                    Ok(results) => results
                        .into_iter()
                        .map(|raw| Ok((raw.name.clone(), OutputTensor::from_raw(raw)?)))
                        .collect::<Result<_, _>>()
                        .map_err(run_error),
                    Err(error) if error.is_server_failure() && local.is_some() => {
                        let Some((path, options)) = local.take() else {
                            unreachable!("checked just above")
                        };
                        tracing::warn!(
                            model = %self.model_id,
                            "{error}; continuing on this device (--remote-fallback local)"
                        );
                        eprintln!(
                            "warning: {error}\nwarning: model `{}` continues on this device (--remote-fallback local)",
                            self.model_id
                        );
                        let fallback = Self::open_file(&path, &self.model_id, &options)?;
                        *self = Self { contract: self.contract.take(), ..fallback };
                        self.run_with(inputs, outputs, to_half)
                    }
                    Err(source) => {
                        Err(InferenceError::Remote { model: self.model_id.clone(), cause: source })
                    }
                }
            }
        }
    }

    /// What the calls to the server cost so far; `None` for a local model.
    pub fn remote_stats(&self) -> Option<CallStats> {
        match &self.backend {
            Backend::Remote { model, .. } => Some(model.stats()),
            Backend::Local(_) => None,
        }
    }

    /// The graph's inputs: name, element type and shape.
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.signature.inputs.clone()
    }

    /// The graph's outputs: name, element type and shape.
    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.signature.outputs.clone()
    }
}

/// Runs an ONNX Runtime session and copies the named outputs out.
fn run_local(
    session: &mut Session,
    inputs: &[(String, Feed<'_>)],
    outputs: &[&str],
    half_inputs: &[&str],
) -> Result<Vec<(String, OutputTensor)>, RunFailure> {
    let mut feeds: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
    for (name, value) in inputs {
        let value: SessionInputValue<'_> = match value {
            Feed::F32(a) if half_inputs.contains(&name.as_str()) => {
                Tensor::from_array(a.mapv(half::f16::from_f32)).map(Into::into)
            }
            Feed::F32(a) => TensorRef::from_array_view(a.view()).map(Into::into),
            Feed::I64(a) => TensorRef::from_array_view(a.view()).map(Into::into),
            Feed::I32(a) => TensorRef::from_array_view(a.view()).map(Into::into),
        }
        .map_err(RunFailure::runtime)?;
        feeds.push((name.clone(), value));
    }
    let results = session.run(feeds).map_err(RunFailure::runtime)?;
    outputs
        .iter()
        .map(|&name| {
            let value =
                results.get(name).ok_or_else(|| RunFailure::NoOutput { name: name.to_owned() })?;
            Ok((name.to_owned(), OutputTensor::from_value(name, value)?))
        })
        .collect()
}

/// One input as the protocol sends it: little-endian bytes, float as half where the graph
/// takes half (never widened on the wire).
fn raw_tensor(name: &str, feed: &Feed<'_>, as_half: bool) -> RawTensor {
    fn bytes<T: Copy, const N: usize>(
        values: impl Iterator<Item = T>,
        to_le: impl Fn(T) -> [u8; N],
    ) -> Vec<u8> {
        values.flat_map(to_le).collect()
    }
    let (datatype, shape, data) = match feed {
        Feed::F32(a) if as_half => (
            DataType::Fp16,
            a.shape().to_vec(),
            bytes(a.iter().map(|&v| half::f16::from_f32(v)), half::f16::to_le_bytes),
        ),
        Feed::F32(a) => {
            (DataType::Fp32, a.shape().to_vec(), bytes(a.iter().copied(), f32::to_le_bytes))
        }
        Feed::I64(a) => {
            (DataType::Int64, a.shape().to_vec(), bytes(a.iter().copied(), i64::to_le_bytes))
        }
        Feed::I32(a) => {
            (DataType::Int32, a.shape().to_vec(), bytes(a.iter().copied(), i32::to_le_bytes))
        }
    };
    RawTensor { name: name.to_owned(), datatype, shape, data }
}

/// An output as a model gave it, before conversion to what the caller asked for.
#[derive(Debug)]
pub enum OutputTensor {
    /// f32 values.
    F32(ArrayD<f32>),
    /// f16 values.
    F16(ArrayD<half::f16>),
    /// i64 values.
    I64(ArrayD<i64>),
    /// i32 values.
    I32(ArrayD<i32>),
    /// u8 values.
    U8(ArrayD<u8>),
}

impl OutputTensor {
    fn from_value(name: &str, value: &DynValue) -> Result<Self, RunFailure> {
        fn owned<T: PrimitiveTensorElementType + Clone + std::fmt::Debug>(
            name: &str,
            value: &DynValue,
        ) -> Result<ArrayD<T>, RunFailure> {
            let view = value
                .try_extract_array::<T>()
                .map_err(|cause| RunFailure::Read { name: name.to_owned(), cause })?;
            Ok(view.to_owned().into_dyn())
        }
        match value.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, .. } => {
                owned(name, value).map(Self::F32)
            }
            ValueType::Tensor { ty: TensorElementType::Float16, .. } => {
                owned(name, value).map(Self::F16)
            }
            ValueType::Tensor { ty: TensorElementType::Int64, .. } => {
                owned(name, value).map(Self::I64)
            }
            ValueType::Tensor { ty: TensorElementType::Int32, .. } => {
                owned(name, value).map(Self::I32)
            }
            ValueType::Tensor { ty: TensorElementType::Uint8, .. } => {
                owned(name, value).map(Self::U8)
            }
            other => {
                Err(RunFailure::Unreadable { name: name.to_owned(), kind: format!("{other:?}") })
            }
        }
    }

    fn from_raw(raw: RawTensor) -> Result<Self, RunFailure> {
        fn values<T, const N: usize>(data: &[u8], from_le: impl Fn([u8; N]) -> T) -> Vec<T> {
            data.chunks_exact(N)
                .map(|c| from_le(c.try_into().expect("chunks_exact gives N bytes")))
                .collect()
        }
        let shape = IxDyn(&raw.shape);
        let shaped = |cause| RunFailure::Shape { name: raw.name.clone(), cause };
        Ok(match raw.datatype {
            DataType::Fp32 => Self::F32(
                ArrayD::from_shape_vec(shape, values(&raw.data, f32::from_le_bytes))
                    .map_err(shaped)?,
            ),
            DataType::Fp16 => Self::F16(
                ArrayD::from_shape_vec(shape, values(&raw.data, half::f16::from_le_bytes))
                    .map_err(shaped)?,
            ),
            DataType::Int64 => Self::I64(
                ArrayD::from_shape_vec(shape, values(&raw.data, i64::from_le_bytes))
                    .map_err(shaped)?,
            ),
            DataType::Int32 => Self::I32(
                ArrayD::from_shape_vec(shape, values(&raw.data, i32::from_le_bytes))
                    .map_err(shaped)?,
            ),
            DataType::Uint8 => Self::U8(ArrayD::from_shape_vec(shape, raw.data).map_err(shaped)?),
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::F32(_) => "f32",
            Self::F16(_) => "f16",
            Self::I64(_) => "i64",
            Self::I32(_) => "i32",
            Self::U8(_) => "u8",
        }
    }
}

/// Element types a caller can ask outputs as.
pub trait OutputElement: Sized {
    /// The output `name` as this type; half floats widen to f32 only when `widen_half`.
    fn from_output(
        name: String,
        output: OutputTensor,
        widen_half: bool,
    ) -> Result<ArrayD<Self>, RunFailure>;
}

impl OutputElement for f32 {
    fn from_output(
        name: String,
        output: OutputTensor,
        widen_half: bool,
    ) -> Result<ArrayD<Self>, RunFailure> {
        match output {
            OutputTensor::F32(a) => Ok(a),
            OutputTensor::F16(a) if widen_half => Ok(a.mapv(half::f16::to_f32)),
            other => Err(RunFailure::ElementType { name, found: other.kind(), wanted: "f32" }),
        }
    }
}

impl OutputElement for i64 {
    fn from_output(
        name: String,
        output: OutputTensor,
        _: bool,
    ) -> Result<ArrayD<Self>, RunFailure> {
        match output {
            OutputTensor::I64(a) => Ok(a),
            other => Err(RunFailure::ElementType { name, found: other.kind(), wanted: "i64" }),
        }
    }
}

/// What a graph takes and gives, from ONNX Runtime or from the server's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
}

impl Signature {
    fn of_local(session: &Session) -> Self {
        let spec = |name: &str, dtype: &ValueType| {
            let shape = match dtype {
                ValueType::Tensor { shape, .. } => shape.iter().copied().collect(),
                _ => Vec::new(),
            };
            TensorInfo { name: name.to_owned(), element: ElementType::of_ort(dtype), shape }
        };
        Self {
            inputs: session.inputs().iter().map(|i| spec(i.name(), i.dtype())).collect(),
            outputs: session.outputs().iter().map(|o| spec(o.name(), o.dtype())).collect(),
        }
    }

    fn of_remote(model: &RemoteModel) -> Self {
        let spec = |t: &super::remote::protocol::TensorMetadata| TensorInfo {
            name: t.name.clone(),
            element: match DataType::parse(&t.datatype) {
                Some(DataType::Fp32) => ElementType::F32,
                Some(DataType::Fp16) => ElementType::F16,
                Some(DataType::Int64) => ElementType::I64,
                Some(DataType::Int32) => ElementType::I32,
                Some(DataType::Uint8) => ElementType::U8,
                None => ElementType::Other,
            },
            shape: t.shape.clone(),
        };
        let metadata = model.metadata();
        Self {
            inputs: metadata.inputs.iter().map(spec).collect(),
            outputs: metadata.outputs.iter().map(spec).collect(),
        }
    }
}

/// One input tensor, borrowed, of an element type the models here take.
#[derive(Debug)]
pub enum Feed<'a> {
    /// 32-bit floats (images, latents, embeddings, float timesteps).
    F32(ArrayViewD<'a, f32>),
    /// 64-bit integers (token ids, integer timesteps).
    I64(ArrayViewD<'a, i64>),
    /// 32-bit integers (token ids in some exports).
    I32(ArrayViewD<'a, i32>),
}

/// Element types of graph inputs and outputs, as far as the app cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// f32.
    F32,
    /// f16.
    F16,
    /// i64.
    I64,
    /// i32.
    I32,
    /// u8.
    U8,
    /// Anything else (or not a tensor).
    Other,
}

/// A graph input or output as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Its shape; `-1` marks a free dimension.
    pub shape: Vec<i64>,
}

impl ElementType {
    fn of_ort(dtype: &ValueType) -> Self {
        match dtype {
            ValueType::Tensor { ty: TensorElementType::Float32, .. } => Self::F32,
            ValueType::Tensor { ty: TensorElementType::Float16, .. } => Self::F16,
            ValueType::Tensor { ty: TensorElementType::Int64, .. } => Self::I64,
            ValueType::Tensor { ty: TensorElementType::Int32, .. } => Self::I32,
            ValueType::Tensor { ty: TensorElementType::Uint8, .. } => Self::U8,
            _ => Self::Other,
        }
    }
}

/// How a graph differs from its manifest contract.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContractMismatch {
    /// The image input is missing.
    #[error("no input named `{name}` (the graph has {found:?})")]
    NoInput {
        /// The contract's input name.
        name: String,
        /// The graph's inputs.
        found: Vec<String>,
    },
    /// The image input is not float.
    #[error("input `{name}` is {element:?}, not a float image")]
    InputNotFloat {
        /// The input.
        name: String,
        /// Its element type.
        element: ElementType,
    },
    /// The image input is not four-dimensional.
    #[error("input `{name}` has rank {rank}, expected 4")]
    InputRank {
        /// The input.
        name: String,
        /// Its rank.
        rank: usize,
    },
    /// No three-channel axis where the layout puts it.
    #[error("input `{name}` shape {shape:?} has no 3-channel axis where layout {layout:?} puts it")]
    InputChannels {
        /// The input.
        name: String,
        /// Its shape.
        shape: Vec<i64>,
        /// The contract's layout.
        layout: Layout,
    },
    /// A fixed height or width other than the manifest's.
    #[error("input `{name}` shape {shape:?}: {axis} is {found}, the manifest says {expected}")]
    InputSize {
        /// The input.
        name: String,
        /// Its shape.
        shape: Vec<i64>,
        /// "height" or "width".
        axis: &'static str,
        /// The graph's size.
        found: i64,
        /// The manifest's.
        expected: u32,
    },
    /// The main output is missing.
    #[error("no output named `{name}` (the graph has {found:?})")]
    NoOutput {
        /// The contract's output name.
        name: String,
        /// The graph's outputs.
        found: Vec<String>,
    },
    /// An extra input the contract names is missing.
    #[error("no extra input named `{0}`")]
    NoExtraInput(String),
}

/// Checks names, element types, rank, channel position and fixed sizes of the image input and
/// the output.
fn check_contract(signature: &Signature, contract: &Contract) -> Result<(), ContractMismatch> {
    let input = &contract.input;
    let names = |specs: &[TensorInfo]| specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let outlet = signature.inputs.iter().find(|i| i.name == input.name).ok_or_else(|| {
        ContractMismatch::NoInput { name: input.name.clone(), found: names(&signature.inputs) }
    })?;
    if !matches!(outlet.element, ElementType::F32 | ElementType::F16) {
        return Err(ContractMismatch::InputNotFloat {
            name: input.name.clone(),
            element: outlet.element,
        });
    }
    let shape = &outlet.shape;
    if shape.len() != 4 {
        return Err(ContractMismatch::InputRank { name: input.name.clone(), rank: shape.len() });
    }
    let (channel_axis, height_axis, width_axis) = match input.layout {
        Layout::Nchw => (1, 2, 3),
        Layout::Nhwc => (3, 1, 2),
    };
    let fixed = |axis: usize| (shape[axis] > 0).then_some(shape[axis]);
    if fixed(channel_axis).is_some_and(|c| c != 3) {
        return Err(ContractMismatch::InputChannels {
            name: input.name.clone(),
            shape: shape.clone(),
            layout: input.layout,
        });
    }
    for (axis, want, what) in
        [(height_axis, input.height, "height"), (width_axis, input.width, "width")]
    {
        if let (Some(got), Some(want)) = (fixed(axis), want)
            && got != i64::from(want)
        {
            return Err(ContractMismatch::InputSize {
                name: input.name.clone(),
                shape: shape.clone(),
                axis: what,
                found: got,
                expected: want,
            });
        }
    }
    if !signature.outputs.iter().any(|o| o.name == contract.output.name) {
        return Err(ContractMismatch::NoOutput {
            name: contract.output.name.clone(),
            found: names(&signature.outputs),
        });
    }
    if let Some(name) =
        contract.extra_inputs.iter().find(|name| !signature.inputs.iter().any(|i| &i.name == *name))
    {
        return Err(ContractMismatch::NoExtraInput(name.clone()));
    }
    Ok(())
}
