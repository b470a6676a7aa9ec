//! Why one run of a graph failed, beneath the error that names the model: shared by native
//! sessions (local and remote) and the browser's, so each failure reads the same everywhere.

/// What went wrong in a run, or in reading its outputs.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// ONNX Runtime refused an input or the run itself.
    #[error("ONNX Runtime: {cause}")]
    Runtime {
        /// ONNX Runtime's error.
        cause: ort::Error,
    },
    /// The graph gave no output of the name asked for.
    #[error("the model has no output named `{name}`")]
    NoOutput {
        /// The output asked for.
        name: String,
    },
    /// An output holds values of another element type than the caller reads.
    #[error("output `{name}` holds {found} values, not {wanted}")]
    ElementType {
        /// The output.
        name: String,
        /// What it holds.
        found: &'static str,
        /// What the caller reads.
        wanted: &'static str,
    },
    /// ONNX Runtime could not hand an output over.
    #[error("output `{name}` cannot be read: {cause}")]
    Read {
        /// The output.
        name: String,
        /// ONNX Runtime's error.
        cause: ort::Error,
    },
    /// An output of a kind the app does not read (not a tensor, or an unsupported element type).
    #[error("output `{name}` is a {kind}, which the app cannot read")]
    Unreadable {
        /// The output.
        name: String,
        /// Its type as ONNX Runtime names it.
        kind: String,
    },
    /// An output's values do not fill the shape it states.
    #[error("output `{name}`: {cause}")]
    Shape {
        /// The output.
        name: String,
        /// ndarray's account of the mismatch.
        cause: ndarray::ShapeError,
    },
    /// The manifest gives the model no image contract, so nothing can be fed to it.
    #[error("the manifest gives this model no image contract")]
    NoContract,
    /// The contract has no extra input for the style weights the caller passes.
    #[error("the contract names no extra input for the style weights")]
    NoExtraInput,
    /// A style stage was asked to run without the styles it blends.
    #[error("a style stage was opened without its styles")]
    NoStyles,
}

impl RunFailure {
    /// ONNX Runtime's error as a run failure.
    pub fn runtime(cause: ort::Error) -> Self {
        Self::Runtime { cause }
    }
}
