//! Few-step diffusion img2img (SD-Turbo / SDXS / LCM class) over a pipeline folder in the Optimum
//! ONNX layout: `model_index.json`, `tokenizer/`, `text_encoder/model.onnx`, `unet/model.onnx`,
//! `vae_encoder/model.onnx`, `vae_decoder/model.onnx`, `scheduler/scheduler_config.json`, and
//! optionally a TAESD pair in place of the VAE.
//!
//! The sampling follows diffusers' `StableDiffusionImg2ImgPipeline` step for step (the tests hold
//! it to diffusers' own output). Sessions are opened once; prompt embeddings are cached per prompt.

mod autoencoder;
pub mod noise;
pub mod scheduler;
mod tokenizer;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use image::RgbImage;
use ndarray::{Array1, Array3, Array4, ArrayView4, Axis, Ix3, Ix4, concatenate, s};

use autoencoder::Autoencoder;
pub use autoencoder::AutoencoderChoice;
pub use noise::{NoiseSource, RecordedNoise, SeededNoise};
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerError};
use tokenizer::ClipTokenizer;

use crate::inference::{
    ElementType, Feed, InferenceError, ModelSession, ProviderReport, SessionOptions,
};

/// Why a diffusion pipeline could not be opened or run.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// The folder lacks a part of the layout.
    #[error(
        "{dir} is not a diffusion pipeline folder: {missing} is missing. Export one with `optimum-cli export onnx --model stabilityai/sd-turbo {dir}`, or fetch one with `dreamlens models fetch sd-turbo --allow-unverified`"
    )]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// The missing file, relative to it.
        missing: String,
    },
    /// The TAESD folder lacks a file.
    #[error(
        "{dir} is not a TAESD folder: {missing} is missing. It needs encoder.onnx and decoder.onnx (madebyollin/taesd exported with diffusers' AutoencoderTiny)"
    )]
    MissingTaesd {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        missing: String,
    },
    /// A file of the pipeline is unreadable or wrong.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A graph does not have the inputs or outputs its part needs.
    #[error("{part} model: {problem}")]
    Graph {
        /// Which part (unet, text encoder, ...).
        part: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The request cannot run (strength, steps, size).
    #[error("{0}")]
    Request(String),
    /// The scheduler cannot be built, or cannot make the schedule asked for.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// The pipeline's scheduler config cannot be used.
    #[error("{path}: {cause}")]
    SchedulerFile {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        cause: SchedulerError,
    },
    /// The prompt cannot be tokenized.
    #[error("{0}")]
    Prompt(String),
    /// ONNX Runtime failed.
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

impl DiffusionError {
    fn file(path: &Path, problem: impl Into<String>) -> Self {
        Self::File { path: path.to_owned(), problem: problem.into() }
    }
}

/// How to open a pipeline.
#[derive(Debug, Clone, Default)]
pub struct DiffusionOptions {
    /// Execution providers and threads for every part.
    pub session: SessionOptions,
    /// The full VAE or a TAESD pair.
    pub autoencoder: AutoencoderChoice,
    /// A scheduler config to use instead of the folder's.
    pub scheduler: Option<SchedulerConfig>,
}

/// One img2img request.
#[derive(Debug, Clone, PartialEq)]
pub struct Img2Img {
    /// What the picture should become.
    pub prompt: String,
    /// What to steer away from (used with classifier-free guidance only).
    pub negative_prompt: String,
    /// How much of the picture is re-imagined, 0..1.
    pub strength: f32,
    /// Steps of the full schedule; `floor(steps * strength)` of them run.
    pub steps: usize,
    /// Classifier-free guidance scale; at most 1 turns guidance off (turbo models).
    pub guidance_scale: f32,
}

impl Default for Img2Img {
    /// SD-Turbo's img2img recipe: two scheduled steps at strength 0.5 (one UNet run), no guidance.
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            strength: 0.5,
            steps: 2,
            guidance_scale: 0.0,
        }
    }
}

/// An img2img result with the intermediate values a reference run can be checked against.
#[derive(Debug, Clone)]
pub struct Restyled {
    /// The picture, [1, 3, H, W] RGB in 0..1.
    pub image: Array4<f32>,
    /// The prompt's token ids.
    pub token_ids: Vec<u32>,
    /// The timesteps that ran.
    pub timesteps: Vec<f64>,
    /// The encoded picture, scaled into the UNet's latent space.
    pub image_latents: Array4<f32>,
    /// The latents after noising to the first timestep.
    pub noisy_latents: Array4<f32>,
    /// The latents after the last step.
    pub final_latents: Array4<f32>,
}

/// A diffusion pipeline ready to restyle pictures.
pub struct DiffusionPipeline {
    tokenizer: ClipTokenizer,
    text_encoder: ModelSession,
    unet: ModelSession,
    autoencoder: Autoencoder,
    scheduler: Scheduler,
    embeddings: HashMap<String, (Vec<u32>, Array3<f32>)>,
    ids_type: ElementType,
    timestep_type: ElementType,
    unet_output: String,
    hidden_output: String,
}

impl std::fmt::Debug for DiffusionPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionPipeline")
            .field("scheduler", &self.scheduler.name())
            .field("autoencoder", &self.autoencoder.name())
            .finish_non_exhaustive()
    }
}

/// Prompts kept with their embeddings; a live prompt box makes a new one per edit.
const EMBEDDING_CACHE: usize = 32;

impl DiffusionPipeline {
    /// Opens every part of the pipeline in `dir` once.
    pub fn open(dir: &Path, options: &DiffusionOptions) -> Result<Self, DiffusionError> {
        let require = |relative: &str| {
            let path = dir.join(relative);
            if path.exists() {
                Ok(path)
            } else {
                Err(DiffusionError::Missing { dir: dir.to_owned(), missing: relative.into() })
            }
        };
        let scheduler = match &options.scheduler {
            Some(config) => Scheduler::new(config)?,
            None => {
                let path = require("scheduler/scheduler_config.json")?;
                Scheduler::new(&SchedulerConfig::load(&path)?)
                    .map_err(|cause| DiffusionError::SchedulerFile { path, cause })?
            }
        };
        let tokenizer = ClipTokenizer::load(&require("tokenizer")?)?;
        // A graph the server runs needs no local file (it is used for a local fallback only).
        let graph = |part: &str| {
            let relative = format!("{part}/model.onnx");
            if options.session.serves_remotely(part) {
                Ok(dir.join(relative))
            } else {
                require(&relative)
            }
        };
        let text_encoder =
            ModelSession::open_file(&graph("text_encoder")?, "text_encoder", &options.session)?;
        let unet = ModelSession::open_file(&graph("unet")?, "unet", &options.session)?;
        let autoencoder = Autoencoder::open(dir, &options.autoencoder, &options.session)?;

        let ids = text_encoder.inputs().into_iter().find(|i| i.name == "input_ids").ok_or(
            DiffusionError::Graph { part: "text encoder", problem: "no `input_ids` input".into() },
        )?;
        let hidden_output = text_encoder
            .outputs()
            .into_iter()
            .map(|o| o.name)
            .find(|n| n == "last_hidden_state")
            .ok_or(DiffusionError::Graph {
                part: "text encoder",
                problem: "no `last_hidden_state` output".into(),
            })?;
        let unet_inputs = unet.inputs();
        for name in ["sample", "timestep", "encoder_hidden_states"] {
            if !unet_inputs.iter().any(|i| i.name == name) {
                return Err(DiffusionError::Graph {
                    part: "unet",
                    problem: format!("no `{name}` input"),
                });
            }
        }
        if let Some(extra) = unet_inputs
            .iter()
            .find(|i| !["sample", "timestep", "encoder_hidden_states"].contains(&i.name.as_str()))
        {
            return Err(DiffusionError::Graph {
                part: "unet",
                problem: format!(
                    "input `{}` (guidance-embedded or SDXL UNets) is not supported",
                    extra.name
                ),
            });
        }
        let timestep_type = unet_inputs
            .iter()
            .find(|i| i.name == "timestep")
            .map_or(ElementType::F32, |i| i.element);
        let unet_output = unet
            .outputs()
            .first()
            .map(|o| o.name.clone())
            .ok_or(DiffusionError::Graph { part: "unet", problem: "no output".into() })?;
        if ![ElementType::I64, ElementType::I32].contains(&ids.element) {
            return Err(DiffusionError::Graph {
                part: "text encoder",
                problem: "token ids must be int32 or int64".into(),
            });
        }
        if ![ElementType::F32, ElementType::F16, ElementType::I64].contains(&timestep_type) {
            return Err(DiffusionError::Graph {
                part: "unet",
                problem: "the timestep must be a float or int64 tensor".into(),
            });
        }
        Ok(Self {
            tokenizer,
            text_encoder,
            unet,
            autoencoder,
            scheduler,
            embeddings: HashMap::new(),
            ids_type: ids.element,
            timestep_type,
            unet_output,
            hidden_output,
        })
    }

    /// The scheduler in use, for reports.
    pub fn scheduler_name(&self) -> &'static str {
        self.scheduler.name()
    }

    /// The autoencoder in use, for reports.
    pub fn autoencoder_name(&self) -> &'static str {
        self.autoencoder.name()
    }

    /// Which execution provider runs the UNet (the part that costs).
    pub fn providers(&self) -> &ProviderReport {
        self.unet.providers()
    }

    /// Every graph of the pipeline, for reports: text encoder, UNet, encoder, decoder.
    pub fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        [&self.text_encoder, &self.unet].into_iter().chain(self.autoencoder.sessions())
    }

    /// Restyles `image` (any size): scaled to about `working_size` x `working_size` pixels in
    /// area, same aspect, sides in multiples of 64, and restyled with noise from `seed`. The result stays at the working size
    /// (callers scale it where they need it: the compositor samples it at any size).
    pub fn restyle(
        &mut self,
        image: &RgbImage,
        request: &Img2Img,
        seed: u64,
        working_size: u32,
    ) -> Result<RgbImage, DiffusionError> {
        let (width, height) = working_dimensions(image.width(), image.height(), working_size)?;
        let resized = crate::resize::rgb(image, width, height);
        let tensor =
            Array4::from_shape_fn((1, 3, height as usize, width as usize), |(_, c, y, x)| {
                f32::from(resized.get_pixel(x as u32, y as u32)[c]) / 255.0
            });
        let result = self.img2img(tensor.view(), request, &mut SeededNoise::new(seed))?;
        Ok(RgbImage::from_fn(width, height, |x, y| {
            let v = |c: usize| {
                (result.image[[0, c, y as usize, x as usize]] * 255.0).round().clamp(0.0, 255.0)
                    as u8
            };
            image::Rgb([v(0), v(1), v(2)])
        }))
    }

    /// img2img on a [1, 3, H, W] picture in 0..1 (H and W multiples of the autoencoder's
    /// factor), as diffusers' `StableDiffusionImg2ImgPipeline` does it.
    pub fn img2img(
        &mut self,
        image: ArrayView4<f32>,
        request: &Img2Img,
        noise: &mut dyn NoiseSource,
    ) -> Result<Restyled, DiffusionError> {
        let plan = self.scheduler.plan(request.steps, request.strength)?;
        let guided = request.guidance_scale > 1.0;
        let (token_ids, mut embeddings) = self.embed(&request.prompt)?;
        if guided {
            let (_, negative) = self.embed(&request.negative_prompt)?;
            embeddings = concatenate(Axis(0), &[negative.view(), embeddings.view()])
                .expect("prompt embeddings share a shape");
        }
        let pixels = image.mapv(|v| v * 2.0 - 1.0);
        let image_latents = self.autoencoder.encode(pixels.view())?;
        let shape = image_latents.dim();
        let start_noise = noise.normal([shape.0, shape.1, shape.2, shape.3]);
        let noisy_latents =
            self.scheduler.add_noise(&plan, image_latents.view(), start_noise.view());
        let mut latents = noisy_latents.clone();
        for (index, &timestep) in plan.timesteps.iter().enumerate() {
            let input = self.scheduler.scale_model_input(&plan, index, &latents);
            let input = if guided {
                concatenate(Axis(0), &[input.view(), input.view()]).expect("same shapes")
            } else {
                input
            };
            let prediction = self.predict(&input, timestep, &embeddings)?;
            let prediction = if guided {
                let uncond = prediction.slice(s![0..1, .., .., ..]);
                let cond = prediction.slice(s![1..2, .., .., ..]);
                &uncond + &((&cond - &uncond) * request.guidance_scale)
            } else {
                prediction
            };
            let step_noise = self
                .scheduler
                .step_needs_noise(&plan, index)
                .then(|| noise.normal([shape.0, shape.1, shape.2, shape.3]));
            latents = self.scheduler.step(&plan, index, &prediction, &latents, step_noise.as_ref());
        }
        let decoded = self.autoencoder.decode(latents.view())?;
        Ok(Restyled {
            image: decoded.mapv(|v| (v / 2.0 + 0.5).clamp(0.0, 1.0)),
            token_ids,
            timesteps: plan.timesteps,
            image_latents,
            noisy_latents,
            final_latents: latents,
        })
    }

    /// Median milliseconds of each part at `width` x `height` over `runs` runs (after one
    /// warm-up): text encoding, image encoding, one UNet step (batch 1, and batch 2 as
    /// classifier-free guidance runs it), and decoding.
    pub fn profile(
        &mut self,
        width: u32,
        height: u32,
        runs: usize,
    ) -> Result<Vec<(&'static str, f64)>, DiffusionError> {
        let (width, height) = (width as usize, height as usize);
        let mut noise = SeededNoise::new(0);
        let pixels = noise.normal([1, 3, height, width]).mapv(|v| v.clamp(-1.0, 1.0));
        let latents = self.autoencoder.encode(pixels.view())?;
        let batch2 = concatenate(Axis(0), &[latents.view(), latents.view()]).expect("same");
        let (_, text) = self.embed("profile")?;
        let text2 = concatenate(Axis(0), &[text.view(), text.view()]).expect("same");
        let mut parts: Vec<(&'static str, f64)> = Vec::new();
        let mut time = |name: &'static str,
                        work: &mut dyn FnMut(&mut Self) -> Result<(), DiffusionError>,
                        this: &mut Self|
         -> Result<(), DiffusionError> {
            work(this)?;
            let mut samples = Vec::with_capacity(runs.max(1));
            for _ in 0..runs.max(1) {
                let started = std::time::Instant::now();
                work(this)?;
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            samples.sort_by(f64::total_cmp);
            parts.push((name, samples[samples.len() / 2]));
            Ok(())
        };
        time(
            "text encoder (uncached)",
            &mut |this| {
                this.embeddings.clear();
                this.embed("profile").map(drop)
            },
            self,
        )?;
        time("encode", &mut |this| this.autoencoder.encode(pixels.view()).map(drop), self)?;
        time("unet step", &mut |this| this.predict(&latents, 999.0, &text).map(drop), self)?;
        time(
            "unet step, guided (batch 2)",
            &mut |this| this.predict(&batch2, 999.0, &text2).map(drop),
            self,
        )?;
        time("decode", &mut |this| this.autoencoder.decode(latents.view()).map(drop), self)?;
        Ok(parts)
    }

    /// The token ids of `prompt` and the text encoder's hidden states for them, [1, tokens,
    /// width]; cached per prompt.
    fn embed(&mut self, prompt: &str) -> Result<(Vec<u32>, Array3<f32>), DiffusionError> {
        if let Some(cached) = self.embeddings.get(prompt) {
            return Ok(cached.clone());
        }
        let ids = self.tokenizer.encode(prompt)?;
        let n = ids.len();
        let outputs = match self.ids_type {
            ElementType::I32 => {
                let ids = Array1::from_iter(ids.iter().map(|&i| i as i32))
                    .into_shape_with_order((1, n))
                    .expect("one row")
                    .into_dyn();
                self.text_encoder.run_f32(
                    &[("input_ids".into(), Feed::I32(ids.view()))],
                    &[&self.hidden_output],
                )?
            }
            _ => {
                let ids = Array1::from_iter(ids.iter().map(|&i| i64::from(i)))
                    .into_shape_with_order((1, n))
                    .expect("one row")
                    .into_dyn();
                self.text_encoder.run_f32(
                    &[("input_ids".into(), Feed::I64(ids.view()))],
                    &[&self.hidden_output],
                )?
            }
        };
        let hidden = outputs
            .into_iter()
            .next()
            .expect("one output asked")
            .into_dimensionality::<Ix3>()
            .map_err(|e| DiffusionError::Graph {
                part: "text encoder",
                problem: format!("last_hidden_state is not [batch, tokens, width]: {e}"),
            })?;
        if self.embeddings.len() >= EMBEDDING_CACHE {
            self.embeddings.clear();
        }
        self.embeddings.insert(prompt.to_owned(), (ids.clone(), hidden.clone()));
        Ok((ids, hidden))
    }

    /// The UNet's prediction for a batch of latents at `timestep`.
    fn predict(
        &mut self,
        latents: &Array4<f32>,
        timestep: f64,
        embeddings: &Array3<f32>,
    ) -> Result<Array4<f32>, DiffusionError> {
        let batch = latents.dim().0;
        let sample = latents.view().into_dyn();
        let hidden = embeddings.view().into_dyn();
        let float_t = Array1::from_elem(batch, timestep as f32).into_dyn();
        // diffusers' ONNX pipeline casts the timestep to the graph's type: truncation for ints.
        let int_t = Array1::from_elem(batch, timestep as i64).into_dyn();
        let t = match self.timestep_type {
            ElementType::I64 => Feed::I64(int_t.view()),
            _ => Feed::F32(float_t.view()),
        };
        let out = self.unet.run_f32(
            &[
                ("sample".into(), Feed::F32(sample)),
                ("timestep".into(), t),
                ("encoder_hidden_states".into(), Feed::F32(hidden)),
            ],
            &[&self.unet_output],
        )?;
        out.into_iter().next().expect("one output asked").into_dimensionality::<Ix4>().map_err(
            |e| DiffusionError::Graph { part: "unet", problem: format!("output is not 4-D: {e}") },
        )
    }
}

/// The working size for a picture: about `size` x `size` pixels in area with the picture's
/// aspect, each side a multiple of 64 (what the UNet's down-sampling needs) and at least 64.
pub fn working_dimensions(
    width: u32,
    height: u32,
    size: u32,
) -> Result<(u32, u32), DiffusionError> {
    if width == 0 || height == 0 {
        return Err(DiffusionError::Request("the picture is empty".into()));
    }
    if size < 64 {
        return Err(DiffusionError::Request(format!(
            "working size {size} is below 64 pixels; use 256 or more"
        )));
    }
    let scale = (f64::from(size) * f64::from(size) / (f64::from(width) * f64::from(height))).sqrt();
    let side = |v: u32| (((f64::from(v) * scale) / 64.0).round().max(1.0) as u32) * 64;
    Ok((side(width), side(height)))
}
