//! Int8 variants made on the user's machine (`dreamlens models quantize`): ONNX Runtime's static
//! quantizer (pinned, installed like ONNX Runtime itself) runs on frames of the demo room the
//! app renders, then the variant is run beside its original on other demo frames and accepted
//! only when the two agree; an accepted variant goes into the cache with its sha256 pinned and a
//! record of how it was made ([`crate::store::variants`]). Calibration never uses the photos the
//! checks and tests use. A style model is calibrated and checked with one of its styles per
//! frame.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
};

use image::RgbImage;
use ndarray::{ArrayD, Axis};
use sha2::{Digest, Sha256};

use crate::{
    capture::demo,
    effects::StyleWeight,
    inference::{InferenceError, ModelSession, SessionOptions, preprocess},
    python,
    store::{
        ModelStore, Precision, ResolvedModel, StoreError,
        manifest::{Contract, Layout, OutputKind, Task},
        variants::{self, Agreement, Calibration, Speed, VariantRecord},
    },
};

/// The quantizer script, run with the pinned tools.
const SCRIPT: &str = include_str!("../assets/quantize/quantize.py");
/// The pinned tools: every wheel by sha256.
const TOOLS: &str = include_str!("../assets/quantize/requirements.txt");
/// What the script does, for the record.
const METHOD: &str = "onnxruntime.quantization.quantize_static: QDQ, int8 weights per channel, \
                      int8 activations, MinMax calibration";
/// Size of the demo frames calibration and checks render.
const FRAME_SIZE: (u32, u32) = (640, 360);

/// How a variant is made and judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeSettings {
    /// Demo frames the quantizer calibrates on.
    pub calibration_frames: u32,
    /// Other demo frames the variant is checked on.
    pub validation_frames: u32,
    /// The mean agreement with the original a variant must reach (0..1).
    pub min_agreement: f64,
    /// Keep a variant that runs no faster than its original here (for a device whose int8
    /// hardware this machine lacks).
    pub keep_slower: bool,
}

impl Default for QuantizeSettings {
    fn default() -> Self {
        Self {
            calibration_frames: 8,
            validation_frames: 6,
            min_agreement: 0.97,
            keep_slower: false,
        }
    }
}

/// What `quantize` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new variant was made, checked and pinned.
    Made(VariantRecord),
    /// A checked variant of the same original was already there.
    Reused(VariantRecord),
    /// The model was trained quantized: its own file is int8 already.
    TrainedInt8,
}

/// Why no variant was made. Every variant names the model.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The model cannot be quantized by this command.
    #[error("model `{id}` cannot be quantized: {why}")]
    Unsupported {
        /// Model id.
        id: String,
        /// Why.
        why: String,
    },
    /// The original could not be found or checked.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The original or the variant could not be run.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The pinned tools could not be installed or run.
    #[error("model `{id}`: the quantizer failed: {problem}")]
    Tool {
        /// Model id.
        id: String,
        /// What went wrong.
        problem: String,
    },
    /// The pinned tools could not be installed, or the quantizer script failed.
    #[error("model `{id}`: the quantizer failed: {problem}")]
    Python {
        /// Model id.
        id: String,
        /// What went wrong.
        problem: crate::python::PythonError,
    },
    /// The variant does not agree with its original closely enough.
    #[error(
        "model `{id}`: the int8 variant was refused: {measure} {mean:.4} on average (worst frame {worst:.4}), {threshold} needed; the model keeps running at fp32",
        measure = .agreement.measure,
        mean = .agreement.mean,
        worst = .agreement.worst,
        threshold = .agreement.threshold
    )]
    Refused {
        /// Model id.
        id: String,
        /// What was measured.
        agreement: Agreement,
    },
    /// The variant agrees but runs no faster than its original on this machine.
    #[error(
        "model `{id}`: the int8 variant was not kept: it runs in {variant_ms:.1} ms, the original in {original_ms:.1} ms on this machine (median per frame), so int8 does not pay here; --keep-slower keeps it for another device",
        variant_ms = .speed.variant_ms,
        original_ms = .speed.original_ms
    )]
    Slower {
        /// Model id.
        id: String,
        /// What was measured.
        speed: Speed,
    },
    /// A file could not be written.
    #[error("model `{id}`: cannot write {path}: {cause}")]
    Io {
        /// Model id.
        id: String,
        /// The file.
        path: String,
        /// The error.
        cause: std::io::Error,
    },
}

/// How the variant's output is compared with the original's, per output kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// Share of pixels whose most likely class is the same.
    ClassAgreement { class_axis: usize },
    /// One minus the mean absolute difference of the probabilities.
    Probability,
    /// One minus the mean absolute difference after scaling both by the original's range.
    NormalisedDepth,
    /// One minus the mean absolute difference of the pictures' 0..1 values.
    Picture,
}

impl Measure {
    fn of(kind: OutputKind, layout: Option<Layout>) -> Option<Self> {
        match kind {
            OutputKind::Logits => Some(Self::ClassAgreement {
                class_axis: if layout == Some(Layout::Nhwc) { 3 } else { 1 },
            }),
            OutputKind::Probability => Some(Self::Probability),
            OutputKind::InverseDepth => Some(Self::NormalisedDepth),
            OutputKind::Image => Some(Self::Picture),
            OutputKind::Tensor => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ClassAgreement { .. } => "class agreement",
            Self::Probability => "1 - mean |probability difference|",
            Self::NormalisedDepth => "1 - mean |normalised depth difference|",
            Self::Picture => "1 - mean |pixel difference|",
        }
    }

    /// Agreement of `variant` with `original` on one frame, 0..1.
    fn score(self, original: &ArrayD<f32>, variant: &ArrayD<f32>) -> f64 {
        if original.shape() != variant.shape() || original.is_empty() {
            return 0.0;
        }
        let mean_abs = |scale: f32, offset: f32| {
            let total: f64 = original
                .iter()
                .zip(variant)
                .map(|(a, b)| f64::from(((a - offset) / scale - (b - offset) / scale).abs()))
                .sum();
            total / original.len() as f64
        };
        match self {
            Self::ClassAgreement { class_axis } => {
                let axis = Axis(class_axis.min(original.ndim() - 1));
                let argmax =
                    |a: &ArrayD<f32>| {
                        a.map_axis(axis, |lane| {
                            lane.iter()
                                .enumerate()
                                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                                    if v > best.1 { (i, v) } else { best }
                                })
                                .0
                        })
                    };
                let (a, b) = (argmax(original), argmax(variant));
                let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
                same as f64 / a.len() as f64
            }
            Self::Probability | Self::Picture => 1.0 - mean_abs(1.0, 0.0),
            Self::NormalisedDepth => {
                let (low, high) = original
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
                1.0 - mean_abs((high - low).max(1e-6), low)
            }
        }
    }
}

/// Operator types quantized for a task (empty: all the quantizer handles). Style models
/// normalise their features per picture with elementwise operators (instance normalisation
/// written out): in int8 those lose the picture (0.958 agreement, 0.915 on the worst frame),
/// so only their convolutions are quantized.
fn quantized_ops(task: Task) -> &'static [&'static str] {
    match task {
        Task::StyleTransfer => &["Conv"],
        _ => &[],
    }
}

/// The style model's blend input, the one extra input calibration can feed.
const STYLE_WEIGHTS: &str = "style_weights";

/// `frame` as the model's input tensor, prepared as the app prepares it.
fn input_tensor(contract: &Contract, frame: &RgbImage) -> ArrayD<f32> {
    let (w, h) = preprocess::input_size(&contract.input, frame.width(), frame.height());
    preprocess::to_tensor(&crate::resize::rgb(frame, w, h), &contract.input).into_dyn()
}

/// Values for the contract's extra inputs on frame `index`: a style model gets one of its
/// styles per frame, so calibration sees them all.
fn extra_feeds(contract: &Contract, index: usize) -> impl Iterator<Item = (String, ArrayD<f32>)> {
    contract.extra_inputs.iter().map(move |name| {
        (
            name.clone(),
            crate::style_transfer::style_weights(&[StyleWeight {
                style: index % crate::style_transfer::STYLE_COUNT,
                weight: 1.0,
            }]),
        )
    })
}

/// Demo frames for calibration (`offset` 0) or checks (another offset): the camera's path
/// through the room sampled at spread-out times, so the two sets show different views.
fn demo_frames(count: u32, offset: f32) -> Vec<RgbImage> {
    (0..count).map(|i| demo::render(FRAME_SIZE.0, FRAME_SIZE.1, offset + i as f32 * 1.7)).collect()
}

/// A picture with the statistics of natural images and none of their content: colour noise
/// whose amplitude falls with frequency as 1/f, summed over octaves of smoothly interpolated
/// random grids, with its own brightness and contrast. The demo room alone is flatter than a
/// real room (few textures, no clutter), so activation ranges calibrated on it clip real
/// pictures; these frames widen them to what textured scenes produce.
fn natural_noise(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move || {
        // xorshift64*: deterministic, so the calibration set (and its hash) is the same each run.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    };
    let (w, h) = (width as usize, height as usize);
    let mut sum = vec![0f32; w * h * 3];
    let mut weight_total = 0.0;
    for octave in 0..7 {
        let cells = 2usize << octave;
        let (gw, gh) = (cells + 1, cells * h / w + 2);
        let grid: Vec<f32> = (0..gw * gh * 3).map(|_| random() - 0.5).collect();
        // Amplitude proportional to wavelength: 1/f.
        let weight = 1.0 / cells as f32;
        weight_total += weight;
        for y in 0..h {
            let gy = y as f32 * (cells as f32) / w as f32;
            let (y0, fy) = (gy.floor() as usize, gy.fract());
            for x in 0..w {
                let gx = x as f32 * (cells as f32) / w as f32;
                let (x0, fx) = (gx.floor() as usize, gx.fract());
                for c in 0..3 {
                    let at = |gx: usize, gy: usize| {
                        grid[((gy.min(gh - 1)) * gw + gx.min(gw - 1)) * 3 + c]
                    };
                    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
                    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
                    sum[(y * w + x) * 3 + c] += weight * (top * (1.0 - fy) + bottom * fy);
                }
            }
        }
    }
    let (brightness, contrast) = (60.0 + 130.0 * random(), 250.0 + 350.0 * random());
    let pixels = sum
        .iter()
        .map(|v| (brightness + contrast * v / weight_total).clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::from_raw(width, height, pixels).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Writes a float32 array as a NumPy `.npy` file (format 1.0).
fn write_npy(path: &Path, array: &ArrayD<f32>) -> std::io::Result<()> {
    let shape: Vec<String> = array.shape().iter().map(usize::to_string).collect();
    let shape = if shape.len() == 1 { format!("{},", shape[0]) } else { shape.join(", ") };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({shape}), }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
    // ending in a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    for value in array.iter() {
        file.write_all(&value.to_le_bytes())?;
    }
    file.flush()
}

/// The pinned tools' folder, installed on first use.
fn tools(id: &str) -> Result<PathBuf, QuantizeError> {
    let target = python::tools_dir("quantize", TOOLS);
    let complete = |dir: &Path| dir.join("onnxruntime").join("quantization").is_dir();
    if !complete(&target) {
        python::install_with_pip(&target, TOOLS, "the quantization tools", complete)
            .map_err(|problem| QuantizeError::Python { id: id.to_owned(), problem })?;
    }
    Ok(target)
}

/// Runs the quantizer script; returns the tool versions it reports.
fn run_quantizer(
    id: &str,
    tools: &Path,
    model: &Path,
    listing: &Path,
    output: &Path,
    op_types: &[&str],
) -> Result<BTreeMap<String, String>, QuantizeError> {
    let tool = |problem: String| QuantizeError::Tool { id: id.to_owned(), problem };
    let script = listing.with_file_name("quantize.py");
    std::fs::write(&script, SCRIPT).map_err(|e| tool(format!("cannot write the script: {e}")))?;
    let op_types = op_types.join(",");
    let args = [
        "--model".as_ref(),
        model.as_os_str(),
        "--calibration".as_ref(),
        listing.as_os_str(),
        "--output".as_ref(),
        output.as_os_str(),
        "--op-types".as_ref(),
        op_types.as_ref(),
    ];
    let versions = python::run_script(tools, &script, &args)
        .map_err(|problem| QuantizeError::Python { id: id.to_owned(), problem })?;
    serde_json::from_str(&versions)
        .map_err(|e| tool(format!("unreadable tool versions ({e}): {versions}")))
}

/// Makes, checks and pins the int8 variant of `id` (or reuses a checked one made from the same
/// original). `options` runs the checks (the CPU gives results independent of accelerators).
pub fn quantize(
    store: &ModelStore,
    id: &str,
    options: &SessionOptions,
    settings: &QuantizeSettings,
) -> Result<Outcome, QuantizeError> {
    let unsupported = |why: &str| QuantizeError::Unsupported { id: id.to_owned(), why: why.into() };
    let original = store.clone().with_precision(Some(Precision::Fp32)).locate(id)?;
    if original.precision == Precision::Int8 {
        return Ok(Outcome::TrainedInt8);
    }
    let contract =
        original.entry.contract.clone().ok_or_else(|| unsupported("it has no contract"))?;
    if let Some(name) = contract.extra_inputs.iter().find(|n| *n != STYLE_WEIGHTS) {
        return Err(unsupported(&format!(
            "its input `{name}` comes from another model, so there is nothing to calibrate it on"
        )));
    }
    let measure = Measure::of(contract.output.kind, contract.output.layout)
        .ok_or_else(|| unsupported("its output is a tensor with no agreement check"))?;
    let source_sha256 = original
        .entry
        .files
        .first()
        .and_then(|f| f.sha256.clone())
        .ok_or_else(|| unsupported("its file's sha256 is not pinned by the manifest"))?;
    let (variant_path, record_path) = variants::paths(store.cache_dir(), id, Precision::Int8);
    if store.variant(id).ok().flatten().is_some()
        && let Ok(Some(record)) = variants::read_record(&record_path)
    {
        return Ok(Outcome::Reused(record));
    }

    let io = |path: &Path, source: std::io::Error| QuantizeError::Io {
        id: id.to_owned(),
        path: path.display().to_string(),
        cause: source,
    };
    let scratch = tempfile::tempdir().map_err(|e| io(&std::env::temp_dir(), e))?;
    let (listing_path, calibration_sha256) =
        write_calibration(id, &contract, settings, scratch.path())?;
    let made = scratch.path().join("int8.onnx");
    let tools = tools(id)?;
    let op_types = quantized_ops(original.entry.task);
    let versions = run_quantizer(id, &tools, original.main_path(), &listing_path, &made, op_types)?;

    // The check: both models on other demo frames.
    let (agreement, speed) = check(&original, &made, measure, options, settings)?;
    if agreement.mean < settings.min_agreement {
        return Err(QuantizeError::Refused { id: id.to_owned(), agreement });
    }
    if speed.variant_ms >= speed.original_ms && !settings.keep_slower {
        return Err(QuantizeError::Slower { id: id.to_owned(), speed });
    }

    // Pinned into the cache: the file first (renamed into place), then its record.
    let folder = variant_path.parent().unwrap_or(store.cache_dir()).to_owned();
    std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
    let staged = folder.join(".int8.onnx.partial");
    std::fs::copy(&made, &staged).map_err(|e| io(&staged, e))?;
    std::fs::rename(&staged, &variant_path).map_err(|e| io(&variant_path, e))?;
    let (sha256, _) = crate::store::sha256_file(&variant_path).map_err(|e| io(&variant_path, e))?;
    let record = VariantRecord {
        model: id.to_owned(),
        precision: Precision::Int8,
        sha256,
        source_sha256,
        method: METHOD.to_owned(),
        tools: versions,
        calibration: Calibration {
            source: format!(
                "{} demo-room frames at {}x{}",
                settings.calibration_frames, FRAME_SIZE.0, FRAME_SIZE.1
            ),
            frames: settings.calibration_frames,
            sha256: calibration_sha256,
        },
        agreement,
        speed,
    };
    variants::write_record(&record_path, &record).map_err(|e| io(&record_path, e))?;
    Ok(Outcome::Made(record))
}

/// Writes the calibration inputs into `dir`, exactly as the app feeds the model (demo-room
/// frames and 1/f noise), with a listing for the quantizer; returns the listing's path and the
/// inputs' sha256.
fn write_calibration(
    id: &str,
    contract: &Contract,
    settings: &QuantizeSettings,
    dir: &Path,
) -> Result<(PathBuf, String), QuantizeError> {
    let io = |path: &Path, source: std::io::Error| QuantizeError::Io {
        id: id.to_owned(),
        path: path.display().to_string(),
        cause: source,
    };
    let mut listing = Vec::new();
    let mut hasher = Sha256::new();
    let mut frames = demo_frames(settings.calibration_frames, 0.0);
    frames.extend(
        (0..settings.calibration_frames)
            .map(|i| natural_noise(FRAME_SIZE.0, FRAME_SIZE.1, u64::from(i) + 1)),
    );
    for (index, frame) in frames.iter().enumerate() {
        let feeds = std::iter::once((contract.input.name.clone(), input_tensor(contract, frame)))
            .chain(extra_feeds(contract, index));
        let mut item = BTreeMap::new();
        for (slot, (name, tensor)) in feeds.enumerate() {
            for value in tensor.iter() {
                hasher.update(value.to_le_bytes());
            }
            let path = dir.join(format!("frame-{index}-{slot}.npy"));
            write_npy(&path, &tensor).map_err(|e| io(&path, e))?;
            item.insert(name, path);
        }
        listing.push(item);
    }
    let listing_path = dir.join("calibration.json");
    let listing_json = serde_json::to_vec(&listing).map_err(std::io::Error::other);
    listing_json
        .and_then(|json| std::fs::write(&listing_path, json))
        .map_err(|e| io(&listing_path, e))?;
    Ok((listing_path, hex::encode(hasher.finalize())))
}

/// Runs the original and the variant on the validation frames; measures their agreement and
/// their median time per frame (after one warm-up run each).
fn check(
    original: &ResolvedModel,
    variant: &Path,
    measure: Measure,
    options: &SessionOptions,
    settings: &QuantizeSettings,
) -> Result<(Agreement, Speed), QuantizeError> {
    let mut quantized = original.clone();
    quantized.paths[0] = variant.to_owned();
    quantized.precision = Precision::Int8;
    let mut reference = ModelSession::open(original, options)?;
    let mut candidate =
        ModelSession::open(&quantized, options).map_err(|e| QuantizeError::Tool {
            id: original.entry.id.clone(),
            problem: format!("it wrote a model ONNX Runtime cannot run: {e}"),
        })?;
    let frames = demo_frames(settings.validation_frames, 0.85);
    let contract = reference.contract()?.clone();
    // Other styles than the calibration's first ones, for a style model.
    let run = |session: &mut ModelSession, frame: &RgbImage, index: usize| {
        let extra = extra_feeds(&contract, index + 7).collect();
        session.run_tensor(input_tensor(&contract, frame), extra)
    };
    if let Some(first) = frames.first() {
        run(&mut reference, first, 0)?;
        run(&mut candidate, first, 0)?;
    }
    let mut scores = Vec::new();
    let (mut original_ms, mut variant_ms) = (Vec::new(), Vec::new());
    let timed = |session: &mut ModelSession, index: usize, times: &mut Vec<f64>| {
        let started = std::time::Instant::now();
        let output = run(session, &frames[index], index);
        times.push(started.elapsed().as_secs_f64() * 1e3);
        output
    };
    for index in 0..frames.len() {
        let expected = timed(&mut reference, index, &mut original_ms)?;
        let got = timed(&mut candidate, index, &mut variant_ms)?;
        scores.push(measure.score(&expected, &got));
    }
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times.get(times.len() / 2).copied().unwrap_or(0.0)
    };
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    let worst = scores.iter().copied().fold(1.0, f64::min);
    let agreement = Agreement {
        measure: measure.name().to_owned(),
        mean,
        worst,
        threshold: settings.min_agreement,
        frames: settings.validation_frames,
    };
    Ok((agreement, Speed { original_ms: median(original_ms), variant_ms: median(variant_ms) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(shape: &[usize], values: Vec<f32>) -> ArrayD<f32> {
        ArrayD::from_shape_vec(shape.to_vec(), values).expect("shape")
    }

    #[test]
    fn class_agreement_counts_pixels_with_the_same_top_class() {
        // Two classes over four pixels (NCHW); the variant flips one pixel's winner.
        let original = array(&[1, 2, 1, 4], vec![1.0, 0.0, 5.0, 2.0, 0.0, 1.0, 4.0, 3.0]);
        let variant = array(&[1, 2, 1, 4], vec![1.0, 0.0, 3.0, 2.0, 0.0, 1.0, 4.0, 3.0]);
        let measure = Measure::ClassAgreement { class_axis: 1 };
        assert_eq!(measure.score(&original, &original), 1.0);
        assert_eq!(measure.score(&original, &variant), 0.75);
    }

    #[test]
    fn depth_is_compared_on_the_original_scale() {
        let original = array(&[1, 4], vec![0.0, 10.0, 20.0, 40.0]);
        let shifted = array(&[1, 4], vec![4.0, 14.0, 24.0, 44.0]);
        let score = Measure::NormalisedDepth.score(&original, &shifted);
        assert!((score - 0.9).abs() < 1e-6, "{score}");
        assert_eq!(Measure::Probability.score(&original, &array(&[4], vec![0.0; 4])), 0.0);
    }

    #[test]
    fn npy_files_have_the_layout_numpy_reads() {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("a.npy");
        write_npy(&path, &array(&[1, 2], vec![1.5, -2.0])).expect("written");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "data starts 64-byte aligned");
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii");
        assert!(header.contains("'shape': (1, 2)") && header.ends_with('\n'), "{header}");
        assert_eq!(
            &bytes[10 + header_len..],
            [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
    }
}
