//! Restyling a picture from a text prompt: a few-step diffusion pipeline when one is installed,
//! else the style-transfer networks. Style transfer cannot read a prompt, so the engine's label
//! says which one runs and why; an explicitly named diffusion model that fails is an error, never
//! a quiet fallback.

use std::path::{Path, PathBuf};

use image::{RgbImage, RgbaImage};

use crate::{
    diffusion::{AutoencoderChoice, DiffusionError, DiffusionOptions, DiffusionPipeline, Img2Img},
    effects::{Effect, StyleWeight},
    inference::{InferenceError, ModelSession, SessionOptions, remote::CallStats},
    store::{ModelFile, ModelStore},
    style_transfer::{StyleChoice, StyleEngine, StyleError},
};

/// Why restyling cannot open or run.
#[derive(Debug, thiserror::Error)]
pub enum RestyleError {
    /// The diffusion pipeline failed.
    #[error(transparent)]
    Diffusion(#[from] DiffusionError),
    /// The style-transfer fallback cannot open.
    #[error(transparent)]
    Style(#[from] StyleError),
    /// The style-transfer fallback failed on a frame.
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

/// Diffusion pipelines the store is searched for, best first.
pub const DIFFUSION_MODELS: [&str; 2] = ["sd-turbo", "sdxs"];
/// The diffusion model works on about this many pixels squared, in the picture's aspect
/// (SD-Turbo was trained at 512x512).
pub const DEFAULT_WORKING_SIZE: u32 = 512;

/// Where the diffusion pipeline comes from.
#[derive(Debug, Clone, Default)]
pub struct EngineChoice {
    /// A pipeline folder to use (an error if it cannot be opened); `None` searches the store.
    pub diffusion_dir: Option<PathBuf>,
    /// The autoencoder: the pipeline's VAE, or a TAESD folder.
    pub autoencoder: AutoencoderChoice,
    /// Working size of the diffusion model (see [`DEFAULT_WORKING_SIZE`]).
    pub working_size: Option<u32>,
}

/// What one restyle layer asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RestyleRequest {
    /// The img2img parameters.
    pub img2img: Img2Img,
    /// Noise seed.
    pub seed: u64,
    /// Fallback built-in styles.
    pub styles: Vec<StyleWeight>,
    /// Fallback style image.
    pub style_image: Option<String>,
}

impl RestyleRequest {
    /// The style transfer's style where no diffusion model runs.
    fn fallback_style(&self) -> StyleChoice {
        StyleChoice::restyle_fallback(
            &self.styles,
            self.style_image.as_deref(),
            &self.img2img.prompt,
        )
    }

    /// The request of a `restyle` layer; `None` for other effects.
    pub fn of(effect: &Effect) -> Option<Self> {
        let Effect::Restyle {
            prompt,
            negative_prompt,
            denoise,
            steps,
            guidance,
            seed,
            styles,
            image,
            ..
        } = effect
        else {
            return None;
        };
        Some(Self {
            img2img: Img2Img {
                prompt: prompt.clone(),
                negative_prompt: negative_prompt.clone(),
                strength: *denoise,
                steps: *steps,
                guidance_scale: *guidance,
            },
            seed: *seed,
            styles: styles.clone(),
            style_image: image.clone(),
        })
    }
}

enum Engine {
    Diffusion { pipeline: Box<DiffusionPipeline>, working_size: u32 },
    StyleTransfer(Box<StyleEngine>),
}

/// A restyle engine, opened once.
pub struct Restyler {
    engine: Engine,
    request: RestyleRequest,
    label: String,
}

impl std::fmt::Debug for Restyler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restyler").field("label", &self.label).finish_non_exhaustive()
    }
}

impl Restyler {
    /// Opens the diffusion pipeline `choice` names or the store holds, else style transfer.
    pub fn open(
        store: &ModelStore,
        options: &SessionOptions,
        request: &RestyleRequest,
        choice: &EngineChoice,
    ) -> Result<Self, RestyleError> {
        let diffusion_options = DiffusionOptions {
            session: options.clone(),
            autoencoder: choice.autoencoder.clone(),
            scheduler: None,
        };
        let working_size = choice.working_size.unwrap_or(DEFAULT_WORKING_SIZE);
        let installed = match &choice.diffusion_dir {
            Some(dir) => Some((dir.clone(), dir.display().to_string())),
            None => installed_pipeline(store, options),
        };
        if let Some((dir, name)) = installed {
            let pipeline = DiffusionPipeline::open(&dir, &diffusion_options)?;
            let label = format!(
                "diffusion: {name} ({} scheduler, {}) on {}",
                pipeline.scheduler_name(),
                pipeline.autoencoder_name(),
                pipeline.providers()
            );
            return Ok(Self {
                engine: Engine::Diffusion { pipeline: Box::new(pipeline), working_size },
                request: request.clone(),
                label,
            });
        }
        let choice = request.fallback_style();
        let engine = StyleEngine::open(store, options, &choice)?;
        let label = fallback_label(&choice, &engine);
        Ok(Self {
            engine: Engine::StyleTransfer(Box::new(engine)),
            request: request.clone(),
            label,
        })
    }

    /// Which engine runs, on which provider, and why.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The execution provider the engine's main model (the UNet, or the style network) runs on.
    pub fn provider(&self) -> String {
        match &self.engine {
            Engine::Diffusion { pipeline, .. } => pipeline.providers().to_string(),
            Engine::StyleTransfer(engine) => engine.session().providers().to_string(),
        }
    }

    /// Every model session of the engine, for provider reports.
    pub fn sessions(&self) -> Box<dyn Iterator<Item = &ModelSession> + '_> {
        match &self.engine {
            Engine::Diffusion { pipeline, .. } => Box::new(pipeline.sessions()),
            Engine::StyleTransfer(engine) => Box::new(std::iter::once(engine.session())),
        }
    }

    /// Per model served remotely: its id and what its calls cost so far.
    pub fn remote_stats(&self) -> Vec<(String, CallStats)> {
        self.sessions()
            .filter_map(|s| s.remote_stats().map(|stats| (s.model_id().to_owned(), stats)))
            .collect()
    }

    /// Changes the prompt (cheap: embeddings are cached per prompt). Without a diffusion model
    /// the prompt picks the built-in style its words name, and the label says which.
    pub fn set_prompt(&mut self, prompt: &str) {
        self.request.img2img.prompt = prompt.to_owned();
        if let Engine::StyleTransfer(engine) = &mut self.engine {
            let choice = self.request.fallback_style();
            if let StyleChoice::Builtin(styles) = &choice {
                engine.set_styles(styles);
            }
            self.label = fallback_label(&choice, engine);
        }
    }

    /// The restyled picture at the engine's working size (same aspect as `frame`).
    pub fn restyle(&mut self, frame: &RgbImage) -> Result<RgbaImage, RestyleError> {
        match &mut self.engine {
            Engine::Diffusion { pipeline, working_size } => {
                let picture = pipeline.restyle(
                    frame,
                    &self.request.img2img,
                    self.request.seed,
                    *working_size,
                )?;
                Ok(image::DynamicImage::ImageRgb8(picture).to_rgba8())
            }
            Engine::StyleTransfer(engine) => Ok(engine.stylize(frame)?),
        }
    }
}

/// The label of the style-transfer fallback.
fn fallback_label(choice: &StyleChoice, engine: &StyleEngine) -> String {
    format!(
        "style transfer ({}) on {}: no diffusion model is installed, so the prompt only chooses among the built-in styles (`dreamlens models fetch sd-turbo --allow-unverified`, or --diffusion-model DIR)",
        choice.describe(),
        engine.session().providers()
    )
}

/// The first diffusion model with files to download, on a device that holds none: every file
/// but the graphs an inference server runs for `options` (hybrid mode needs only the pipeline's
/// small files here).
pub fn downloadable_pipeline(store: &ModelStore, options: &SessionOptions) -> Option<&'static str> {
    if installed_pipeline(store, options).is_some() {
        return None;
    }
    DIFFUSION_MODELS.into_iter().find(|id| {
        let entry = store.manifest().get(id);
        entry.is_some_and(|e| e.files.iter().all(ModelFile::has_public_source))
    })
}

/// True when `file` is a pipeline graph (`PART/model.onnx`) that `options` sends to the
/// inference server, so it need not be on this device.
pub fn served_remotely(file: &ModelFile, options: &SessionOptions) -> bool {
    let path = Path::new(&file.path);
    let part = path.parent().and_then(Path::file_name).and_then(|name| name.to_str());
    path.extension().is_some_and(|e| e == "onnx")
        && part.is_some_and(|p| options.serves_remotely(p))
}

/// The folder and id of the first diffusion pipeline the store holds: all of it, or, in hybrid
/// mode, all but the graphs the server runs.
pub fn installed_pipeline(
    store: &ModelStore,
    options: &SessionOptions,
) -> Option<(PathBuf, String)> {
    DIFFUSION_MODELS.iter().find_map(|id| {
        let model = store.locate_except(id, &|file| served_remotely(file, options)).ok()?;
        let index = model.paths.iter().find(|p| p.ends_with("model_index.json"))?;
        Some((index.parent()?.to_owned(), (*id).to_owned()))
    })
}
