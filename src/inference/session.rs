//! One prepared ONNX Runtime session per model: opened once, checked against its contract, run
//! per frame.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::{
    session::{Session, SessionInputValue, builder::GraphOptimizationLevel},
    value::{PrimitiveTensorElementType, Tensor, TensorElementType, TensorRef, ValueType},
};

use super::{
    preprocess,
    providers::{self, NoProviderError, Provider, ProviderReport},
    runtime::{self, RuntimeError},
};
use crate::store::{
    ResolvedModel,
    manifest::{Contract, Layout},
};

/// How sessions are created.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Providers to try in order; empty means every accelerator compiled in, then the CPU.
    pub providers: Vec<Provider>,
    /// Intra-op threads per session.
    pub threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { providers: Vec::new(), threads: default_threads() }
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
    #[error("model `{model}`: {source}")]
    Provider {
        /// Model id.
        model: String,
        /// The provider failure.
        source: NoProviderError,
    },
    /// The file is not a loadable ONNX graph (truncated, not ONNX, unsupported operator).
    #[error(
        "model `{model}`: cannot load {path} as an ONNX model: {reason}. Re-fetch it with `dreamlens models fetch {model}`"
    )]
    Load {
        /// Model id.
        model: String,
        /// The file.
        path: PathBuf,
        /// ONNX Runtime's reason.
        reason: String,
    },
    /// The graph does not match the manifest contract.
    #[error("model `{model}` at {path} does not match its manifest contract: {problem}")]
    Contract {
        /// Model id.
        model: String,
        /// The file.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// Running the model failed.
    #[error("model `{model}`: inference failed: {reason}")]
    Run {
        /// Model id.
        model: String,
        /// ONNX Runtime's reason.
        reason: String,
    },
}

/// A model ready to run on images.
pub struct ModelSession {
    session: Session,
    model_id: String,
    contract: Option<Contract>,
    providers: ProviderReport,
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
        let mut opened = Self::open_file(path, &model.entry.id, options)?;
        if let Some(contract) = &model.entry.contract {
            check_contract(&opened.session, contract).map_err(|problem| {
                InferenceError::Contract {
                    model: model.entry.id.clone(),
                    path: path.to_owned(),
                    problem,
                }
            })?;
        }
        opened.contract = model.entry.contract.clone();
        Ok(opened)
    }

    /// Opens one ONNX file with no manifest contract (parts of a model folder such as a
    /// diffusion pipeline); `model_id` names it in errors and reports.
    pub fn open_file(
        path: &Path,
        model_id: &str,
        options: &SessionOptions,
    ) -> Result<Self, InferenceError> {
        let runtime = runtime::load()?;
        let load_error = |reason: String| InferenceError::Load {
            model: model_id.to_owned(),
            path: path.to_owned(),
            reason,
        };
        let mut builder = Session::builder(&runtime.env)
            .map_err(|e| load_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(options.threads.max(1))
            .map_err(|e| load_error(e.to_string()))?;
        let providers = providers::register(&mut builder, &options.providers)
            .map_err(|source| InferenceError::Provider { model: model_id.to_owned(), source })?;
        let session = builder.commit_from_file(path).map_err(|e| load_error(e.to_string()))?;
        if providers.fell_back_to_cpu() {
            tracing::warn!(
                model = model_id,
                "runs on the CPU: no requested accelerator registered"
            );
        }
        Ok(Self { session, model_id: model_id.to_owned(), contract: None, providers })
    }

    /// The model id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The contract this session follows, or an error naming the model when it has none.
    pub fn contract(&self) -> Result<&Contract, InferenceError> {
        self.contract.as_ref().ok_or_else(|| InferenceError::Run {
            model: self.model_id.clone(),
            reason: "the manifest gives this model no image contract".into(),
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
        let resized = preprocess::resize(image, width, height);
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
            preprocess::to_tensor(&preprocess::resize(image, width, height), &contract.input);
        Ok(self.run(&[(contract.input.name, input.into_dyn())], &[output])?.remove(0))
    }

    /// Runs with named inputs and returns the named outputs (all of element type `T`), in the
    /// order asked. Outputs not asked for are never copied out of ONNX Runtime.
    pub fn run<T: PrimitiveTensorElementType + Clone + std::fmt::Debug>(
        &mut self,
        inputs: &[(String, ArrayD<f32>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        let feeds: Vec<(String, Feed<'_>)> =
            inputs.iter().map(|(name, value)| (name.clone(), Feed::F32(value.view()))).collect();
        self.run_feeds(&feeds, outputs)
    }

    /// [`ModelSession::run`] with inputs of mixed element types (token ids, integer timesteps).
    pub fn run_feeds<T: PrimitiveTensorElementType + Clone + std::fmt::Debug>(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        self.run_with(inputs, outputs, false, |value| {
            value.try_extract_array::<T>().map(|view| view.to_owned())
        })
    }

    /// [`ModelSession::run_feeds`] for float graphs of either precision: float inputs are
    /// converted to half precision where the graph declares it, and half outputs come back as
    /// f32 (fp16 exports such as SD-Turbo's take and give half floats).
    pub fn run_f32(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
    ) -> Result<Vec<ArrayD<f32>>, InferenceError> {
        self.run_with(inputs, outputs, true, |value| match value.try_extract_array::<f32>() {
            Ok(view) => Ok(view.to_owned()),
            Err(_) => {
                value.try_extract_array::<half::f16>().map(|view| view.mapv(half::f16::to_f32))
            }
        })
    }

    /// Runs with `inputs` (float ones converted to half where the graph wants half, when
    /// `to_half`) and turns each named output into an array with `extract`.
    fn run_with<T>(
        &mut self,
        inputs: &[(String, Feed<'_>)],
        outputs: &[&str],
        to_half: bool,
        extract: impl Fn(&ort::value::DynValue) -> ort::Result<ArrayD<T>>,
    ) -> Result<Vec<ArrayD<T>>, InferenceError> {
        let model_id = self.model_id.clone();
        let run_error = |reason: String| InferenceError::Run { model: model_id.clone(), reason };
        let half_inputs: Vec<String> = if to_half {
            let inputs = self.inputs().into_iter();
            inputs.filter(|i| i.element == ElementType::F16).map(|i| i.name).collect()
        } else {
            Vec::new()
        };
        let mut feeds: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, value) in inputs {
            let value: SessionInputValue<'_> = match value {
                Feed::F32(a) if half_inputs.contains(name) => {
                    Tensor::from_array(a.mapv(half::f16::from_f32)).map(Into::into)
                }
                Feed::F32(a) => TensorRef::from_array_view(a.view()).map(Into::into),
                Feed::I64(a) => TensorRef::from_array_view(a.view()).map(Into::into),
                Feed::I32(a) => TensorRef::from_array_view(a.view()).map(Into::into),
            }
            .map_err(|e| run_error(e.to_string()))?;
            feeds.push((name.clone(), value));
        }
        let results = self.session.run(feeds).map_err(|e| run_error(e.to_string()))?;
        outputs
            .iter()
            .map(|name| {
                let value = results
                    .get(*name)
                    .ok_or_else(|| run_error(format!("the model has no output named `{name}`")))?;
                let array = extract(value).map_err(|e| run_error(e.to_string()))?;
                Ok(array.into_dimensionality::<IxDyn>().expect("dynamic"))
            })
            .collect()
    }

    /// The graph's inputs: name and element type.
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.session.inputs().iter().map(|o| TensorInfo::of(o.name(), o.dtype())).collect()
    }

    /// The graph's outputs: name and element type.
    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.session.outputs().iter().map(|o| TensorInfo::of(o.name(), o.dtype())).collect()
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
}

impl TensorInfo {
    fn of(name: &str, dtype: &ValueType) -> Self {
        let element = match dtype {
            ValueType::Tensor { ty: TensorElementType::Float32, .. } => ElementType::F32,
            ValueType::Tensor { ty: TensorElementType::Float16, .. } => ElementType::F16,
            ValueType::Tensor { ty: TensorElementType::Int64, .. } => ElementType::I64,
            ValueType::Tensor { ty: TensorElementType::Int32, .. } => ElementType::I32,
            _ => ElementType::Other,
        };
        Self { name: name.to_owned(), element }
    }
}

/// Checks names, rank, channel position and fixed sizes of the image input and the output.
fn check_contract(session: &Session, contract: &Contract) -> Result<(), String> {
    let input = &contract.input;
    let outlet = session.inputs().iter().find(|i| i.name() == input.name).ok_or_else(|| {
        let names: Vec<_> = session.inputs().iter().map(|i| i.name().to_owned()).collect();
        format!("no input named `{}` (the graph has {names:?})", input.name)
    })?;
    let ValueType::Tensor { shape, .. } = outlet.dtype() else {
        return Err(format!("input `{}` is not a tensor", input.name));
    };
    if shape.len() != 4 {
        return Err(format!("input `{}` has rank {}, expected 4", input.name, shape.len()));
    }
    let (channel_axis, height_axis, width_axis) = match input.layout {
        Layout::Nchw => (1, 2, 3),
        Layout::Nhwc => (3, 1, 2),
    };
    let fixed = |axis: usize| (shape[axis] > 0).then_some(shape[axis]);
    if fixed(channel_axis).is_some_and(|c| c != 3) {
        return Err(format!(
            "input `{}` shape {:?} has no 3-channel axis where layout {:?} puts it",
            input.name,
            &shape[..],
            input.layout
        ));
    }
    for (axis, want, what) in
        [(height_axis, input.height, "height"), (width_axis, input.width, "width")]
    {
        if let (Some(got), Some(want)) = (fixed(axis), want)
            && got != i64::from(want)
        {
            return Err(format!(
                "input `{}` shape {:?}: {what} is {got}, the manifest says {want}",
                input.name,
                &shape[..]
            ));
        }
    }
    for name in std::iter::once(&contract.output.name) {
        if !session.outputs().iter().any(|o| o.name() == name) {
            let names: Vec<_> = session.outputs().iter().map(|o| o.name().to_owned()).collect();
            return Err(format!("no output named `{name}` (the graph has {names:?})"));
        }
    }
    for name in &contract.extra_inputs {
        if !session.inputs().iter().any(|i| i.name() == name) {
            return Err(format!("no extra input named `{name}`"));
        }
    }
    Ok(())
}
