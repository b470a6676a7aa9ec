//! Command-line interface definition (clap derive). Parsing only; `commands` does the work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use dreamlens::{
    inference::{Provider, SegmentationPasses},
    store::manifest::DEFAULT_SEGMENTATION_MODEL,
};

/// dreamlens: restyle a room live with on-device models, or process photos headless.
///
/// Without a command, opens the live window: the camera (or the demo room) restyled live.
#[derive(Debug, Parser)]
#[command(name = "dreamlens", version, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalOptions,
    /// Options of the live window.
    #[command(flatten)]
    pub live: LiveArgs,
    /// What to do (default: the live window).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the live window (no command).
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// A video file or photos to use as the camera (looped), or `demo`.
    #[arg(long)]
    pub input: Option<String>,
    /// Preset name or file (default: the last one used).
    #[arg(long)]
    pub preset: Option<String>,
    /// Window size, WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size)]
    pub window_size: Option<(u32, u32)>,
    /// After `--quit-after-frames` frames, save what the window shows to this PNG.
    #[arg(long, requires = "quit_after_frames")]
    pub screenshot_to: Option<PathBuf>,
    /// Exit after this many displayed frames.
    #[arg(long)]
    pub quit_after_frames: Option<u64>,
    /// At exit, write the session's numbers here as JSON: frames, seconds, display_fps,
    /// window_thread_cpu_ms_per_frame, max_frame_gap_ms and each stage's rate and latency.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Start recording to this .mp4 at once (space toggles recording too).
    #[arg(long)]
    pub record_to: Option<PathBuf>,
    /// Offer only every Nth camera frame to the models.
    #[arg(long, default_value_t = 1)]
    pub model_every: u32,
    /// Skip frames that changed less than this since the models last saw one (mean absolute
    /// difference of a thumbnail in 0..255 levels; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub skip_similar: f32,
    /// Restyle the picture from this prompt (sets the preset's restyle layer, or adds one).
    #[arg(long)]
    pub restyle: Option<String>,
    /// The segmentation model region layers read (`dreamlens models list` names them; default:
    /// the one the preset names, else ade20k-mosaic).
    #[arg(long)]
    pub segmentation_model: Option<String>,
    /// Which camera (`dreamlens doctor` lists them).
    #[arg(long, default_value_t = 0)]
    pub camera: u32,
    /// Picture size wanted from the camera, WIDTHxHEIGHT (the closest it offers is used).
    #[arg(long, value_parser = parse_size)]
    pub camera_size: Option<(u32, u32)>,
    /// Frame rate wanted from the camera (the closest it offers is used; default: its highest).
    #[arg(long)]
    pub camera_fps: Option<u32>,
    /// Audio input recordings take their sound from (a device name or part of one, as
    /// `dreamlens doctor` lists them; `none` for no sound). Default: the default input.
    #[arg(long)]
    pub microphone: Option<String>,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Execution providers to try, in order (comma-separated). Without `cpu` in the list, a
    /// failure to use the accelerator is an error instead of a CPU fallback. Default: every
    /// accelerator the ONNX Runtime library has, then the CPU.
    #[arg(long, global = true, value_delimiter = ',', env = "DREAMLENS_PROVIDERS")]
    pub providers: Vec<Provider>,
    /// Threads per model session (default: the number of cores, at most 8).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// How the segmentation model reads a frame: `mirrored` also reads its mirror image and
    /// averages the two (cleaner region borders, twice the model's time); `once` gives the
    /// model's own answer.
    #[arg(long, global = true, value_enum, default_value_t = SegmentationPasses::Mirrored)]
    pub segmentation_passes: SegmentationPasses,
    /// Model precision: `fp32` runs the manifest's files, `int8` only int8 variants made by
    /// `dreamlens models quantize` (a model without one is an error). Default: the int8 variant
    /// where one exists.
    #[arg(long, global = true, env = "DREAMLENS_PRECISION")]
    pub precision: Option<dreamlens::store::Precision>,
    /// A diffusion pipeline folder (Optimum ONNX layout) for restyling. Default: the first of
    /// sd-turbo, sdxs in the model store, else style transfer (which ignores the prompt).
    #[arg(long, global = true, env = "DREAMLENS_DIFFUSION_MODEL")]
    pub diffusion_model: Option<PathBuf>,
    /// A TAESD folder (encoder.onnx, decoder.onnx) used instead of the pipeline's VAE: several
    /// times faster, slightly softer.
    #[arg(long, global = true)]
    pub taesd: Option<PathBuf>,
    /// The diffusion model works on about SIZE x SIZE pixels, in the picture's aspect
    /// (default 512).
    #[arg(long, global = true)]
    pub restyle_size: Option<u32>,
    /// Run the heavy models on this inference server (Triton, KServe or MLServer; Open
    /// Inference Protocol over HTTP or HTTPS), e.g. `http://gpu-box:8000`. Nothing leaves the
    /// device without it.
    #[arg(long, global = true, env = "DREAMLENS_REMOTE")]
    pub remote: Option<String>,
    /// Which models run on the server: comma-separated model ids, `diffusion` (the restyler's
    /// text_encoder, unet, vae_encoder, vae_decoder and TAESD parts) or `all`.
    #[arg(long, global = true, default_value = "diffusion")]
    pub remote_models: String,
    /// Prefix of every model name on the server (`sdturbo-` serves `sdturbo-unet`).
    #[arg(long, global = true, default_value = "")]
    pub remote_prefix: String,
    /// Model version to ask the server for (default: the server's choice).
    #[arg(long, global = true)]
    pub remote_version: Option<String>,
    /// What to do when the server fails mid-run: `stop` with an error, or continue `local`ly
    /// (reported once; needs the model files on this device).
    #[arg(long, global = true, value_enum, default_value_t = RemoteFallback::Stop)]
    pub remote_fallback: RemoteFallback,
    /// Seconds one request to the server may take.
    #[arg(long, global = true, default_value_t = 60.0)]
    pub remote_timeout: f64,
    /// More log output (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `serve` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServeAction {
    /// Write a Triton model repository (config.pbtxt + 1/model.onnx per model) for the
    /// diffusion pipeline (--diffusion-model, or the installed one; --taesd adds TAESD) and the
    /// model ids given. Names get --remote-prefix.
    Export(ServeExportArgs),
}

/// `serve export` options.
#[derive(Debug, Args)]
pub struct ServeExportArgs {
    /// The repository folder to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Model ids from the store to add (e.g. ade20k-deeplabv3-mnv2).
    pub ids: Vec<String>,
    /// Ask Triton to build TensorRT engines (FP16) for the graphs.
    #[arg(long)]
    pub tensorrt: bool,
    /// Model instances per server.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
    /// CPU instances instead of GPU ones (a server without a GPU).
    #[arg(long)]
    pub cpu: bool,
}

/// What a run does when the inference server fails mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RemoteFallback {
    /// Stop with an error (what was written so far stays valid).
    Stop,
    /// Continue on this device.
    Local,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the heavy graphs from a GPU server: write a Triton model repository.
    Serve {
        /// What to do.
        #[command(subcommand)]
        action: ServeAction,
    },
    /// Check the installation: ONNX Runtime, execution providers, models, GPUs and cameras.
    Doctor {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// List, download or verify models.
    Models {
        /// What to do with the models.
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Segment, find people and estimate depth in photos; write the maps as PNG files.
    Analyze(AnalyzeArgs),
    /// Apply a preset to photos, a video or the demo scene, headless, and write the result.
    Process(ProcessArgs),
    /// Restyle one picture from a text prompt (few-step diffusion, or style transfer when no
    /// diffusion model is installed).
    Restyle(RestyleArgs),
    /// List the effect presets.
    Presets {
        /// What to do with the presets.
        #[command(subcommand)]
        action: PresetsAction,
    },
    /// Measure speed: per-model inference, or every stage of the effect pipeline.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        what: BenchWhat,
    },
}

/// `presets` subcommands.
#[derive(Debug, Subcommand)]
pub enum PresetsAction {
    /// List the built-in presets and what they do.
    List,
}

/// `process` options.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// An image, a folder of images, a video file (MP4/H.264 and whatever FFmpeg reads), or
    /// `demo` for the built-in scene.
    #[arg(long, short)]
    pub input: String,
    /// An image file (for a single input picture), an `.mp4` file (H.264, fragmented so a
    /// crash keeps what was recorded), or a folder that receives PNGs: named as the input's
    /// photos (`kitchen.jpg` gives `kitchen.png`), or `frame_000000.png`, ... for a video.
    #[arg(long, short)]
    pub output: PathBuf,
    /// A built-in preset name (see `dreamlens presets list`) or a preset TOML file. Default:
    /// wall-paint, or restyle with `--restyle`.
    #[arg(long)]
    pub preset: Option<String>,
    /// Stop after this many frames (the demo runs 300 frames by default).
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Size of the demo scene, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub demo_size: (u32, u32),
    /// Frames analysed in parallel (each with its own model sessions). Output is identical
    /// whatever the number. Default: one per core, at most 4 (one when restyling: each worker
    /// would hold its own copy of the diffusion model).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// MP4 output: target bit rate in kbit/s (default: from the frame size).
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// MP4 output: seconds between keyframes, also the most a crash can lose.
    #[arg(long, default_value_t = 1.0)]
    pub keyframe_interval: f64,
    /// MP4 output: stop after this many seconds of video.
    #[arg(long)]
    pub max_duration: Option<f64>,
    /// MP4 output: scale the video to WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size)]
    pub output_size: Option<(u32, u32)>,
    /// Restyle from this prompt (sets the preset's restyle layer, or adds a full-frame one).
    #[arg(long)]
    pub restyle: Option<String>,
    /// The segmentation model region layers read (`dreamlens models list` names them; default:
    /// the one the preset names, else ade20k-mosaic).
    #[arg(long)]
    pub segmentation_model: Option<String>,
    /// Write the frames even when a layer's model is missing, with that layer off (by default a
    /// missing model stops the run before anything is written, naming it and how to get it).
    #[arg(long)]
    pub allow_missing_models: bool,
    /// Restyle (or stylize) only every Nth frame; the frames between get the last result
    /// carried along by the measured motion. 1 restyles every frame.
    #[arg(long, default_value_t = 1)]
    pub restyle_every: u64,
    /// Run the region models (segmentation, person, depth) only on every Nth frame of a video;
    /// the frames between get their maps carried along by the measured motion, as the live
    /// window does. 1 analyses every frame. BENCHMARKS.md has the agreement and the speed-up.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub segment_every: u64,
}

/// `restyle` options.
#[derive(Debug, Args)]
pub struct RestyleArgs {
    /// The picture to restyle.
    #[arg(long, short)]
    pub input: PathBuf,
    /// What the picture should become.
    #[arg(long, short)]
    pub prompt: String,
    /// Where to write the restyled picture (PNG or JPEG).
    #[arg(long, short)]
    pub output: PathBuf,
    /// How much of the picture is re-imagined, 0..1.
    #[arg(long, default_value_t = 0.5)]
    pub strength: f32,
    /// Scheduled steps; floor(steps * strength) of them run.
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Noise seed: the same seed gives the same picture.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Classifier-free guidance scale (at most 1 is off, right for turbo models).
    #[arg(long, default_value_t = 0.0)]
    pub guidance: f32,
    /// What to steer away from (with guidance).
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    /// Without a diffusion model: built-in style (0..25) for the style-transfer fallback.
    #[arg(long)]
    pub style: Option<usize>,
    /// Without a diffusion model: any picture as the style.
    #[arg(long, conflicts_with = "style")]
    pub style_image: Option<PathBuf>,
}

/// Parses `WIDTHxHEIGHT`.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) =
        text.split_once(['x', 'X']).ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|v| *v > 0 && *v <= 16384);
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("`{text}` is not WIDTHxHEIGHT with sizes 1..16384")),
    }
}

/// Parses a share between 0 and 1.
fn parse_share(text: &str) -> Result<f32, String> {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("`{text}` is not a number between 0 and 1"))
}

/// `models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// List every model the app knows.
    List {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put models into the cache, from a mirror folder or their public source (the models
    /// the built-in presets need when no id is given).
    Fetch {
        /// Model ids (see `dreamlens models list`).
        ids: Vec<String>,
        /// Also download files whose sha256 the manifest cannot pin; their hash is pinned locally.
        #[arg(long)]
        allow_unverified: bool,
    },
    /// Check every model file present against its sha256.
    Verify {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make int8 variants of models on this machine (static quantization calibrated on the
    /// demo room), each checked against its original before it is used; every model with a
    /// checkable output when no id is given. Later runs use them (see --precision).
    Quantize {
        /// Model ids (see `dreamlens models list`).
        ids: Vec<String>,
        /// Demo frames to calibrate on.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
        calibration_frames: u32,
        /// Other demo frames the variant is checked on.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=64))]
        validation_frames: u32,
        /// Mean agreement with the original a variant must reach (0..1): class agreement for
        /// segmentation, 1 - mean difference for masks, normalised depth and stylized pictures.
        #[arg(long, default_value_t = 0.97)]
        min_agreement: f64,
        /// Keep a variant even when it runs no faster than its original on this machine (to
        /// use on a device with int8 hardware this one lacks).
        #[arg(long)]
        keep_slower: bool,
    },
}

/// `analyze` options.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// An image (.jpg, .png) or a folder of images.
    #[arg(long, short)]
    pub input: PathBuf,
    /// Folder the maps are written to (created if needed).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Segmentation model id (`none` to skip).
    #[arg(long, default_value = DEFAULT_SEGMENTATION_MODEL)]
    pub segmentation: String,
    /// Person segmentation model id (`none` to skip).
    #[arg(long, default_value = "selfie-segmentation")]
    pub person: String,
    /// Depth model id (`none` to skip).
    #[arg(long, default_value = "tcmonodepth-small")]
    pub depth: String,
}

/// `bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Median inference time of each model at its own input size.
    Models(BenchArgs),
    /// Median time of each pipeline stage on real frames: decode, each model, upload and
    /// upsampling, each effect, readback, PNG encoding.
    Stages(StagesArgs),
    /// Median time of each part of a diffusion pipeline (text encoder, VAE or TAESD encode and
    /// decode, one UNet step) and of a whole restyle.
    Diffusion(DiffusionBenchArgs),
    /// Region quality on the demo room, whose ray caster knows every pixel's surface:
    /// intersection over union per region, and how much furniture a wall repaint would touch.
    Regions(RegionsArgs),
}

/// `bench regions` options.
#[derive(Debug, Args)]
pub struct RegionsArgs {
    /// Demo frames to analyse, spread over the camera's sweep.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub frames: u32,
    /// Frame size.
    #[arg(long, default_value = "640x360", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Segmentation model id.
    #[arg(long, default_value = DEFAULT_SEGMENTATION_MODEL)]
    pub segmentation: String,
    /// Fuse class probabilities over the frames before each measured one, as the live window
    /// does: this many, 0.1 s apart (0: each frame alone).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=30))]
    pub fused_frames: u32,
    /// The membership a pixel needs to belong to a region (default: the region layers' own).
    #[arg(long, value_parser = parse_share)]
    pub region_threshold: Option<f32>,
    /// Also measure region flicker over this many consecutive frames at 10 fps, each frame
    /// alone, fused, and fused as the window shows it (the compositor's temporal filter on the
    /// GPU): the share of pixels whose true surface stays but whose region changes.
    #[arg(long, default_value_t = 0)]
    pub flicker: u32,
    /// Also measure the regions as the window shows them while the person walks through (7 to
    /// 13.9 s, at 10 fps), with the segmentation map this many frames older than the frame
    /// shown and the person mask one frame older, each carried by the measured motion, as the
    /// live window's stages lag behind the camera.
    #[arg(long)]
    pub walking_lag: Option<u32>,
    /// Print `{"frames", "iou": {wall, floor, ceiling, furniture}, "furniture_painted",
    /// "person_painted"}` as JSON
    /// (with `"flicker": {"alone", "fused", "displayed"}` when measured, each `{"changed",
    /// "wall_iou"}`, and `"walking": {"wall_iou", "person_painted"}`).
    #[arg(long)]
    pub json: bool,
}

/// `bench diffusion` options.
#[derive(Debug, Args)]
pub struct DiffusionBenchArgs {
    /// The pipeline folder (default: --diffusion-model, else the model store's).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Picture side in pixels (square).
    #[arg(long, default_value_t = 512)]
    pub size: u32,
    /// Timed runs per part (after one warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
}

/// `bench stages` options.
#[derive(Debug, Args)]
pub struct StagesArgs {
    /// A video file to decode frames from (default: the demo scene).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Frame size of the demo scene.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Frames to time (after one warm-up frame); effects are timed against the frame before,
    /// so at least 2.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..))]
    pub frames: u32,
}

/// `bench models` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed runs per model (after two warm-up runs).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Only these model ids (default: every model with an image contract that is present).
    pub ids: Vec<String>,
}
