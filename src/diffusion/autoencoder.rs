//! The pipeline's autoencoder: the full KL VAE (`vae_encoder/`, `vae_decoder/`) or TAESD, with
//! the latent scaling each uses.

use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayView4, Ix4, s};
use serde_json::Value;

use super::DiffusionError;
use crate::inference::{Feed, ModelSession, SessionOptions};

/// Which autoencoder turns pictures into latents and back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AutoencoderChoice {
    /// The pipeline's own VAE: best quality.
    #[default]
    Full,
    /// A TAESD folder (`encoder.onnx`, `decoder.onnx`, optional `config.json`): much faster,
    /// slightly softer.
    Tiny(PathBuf),
}

/// An opened encoder/decoder pair.
pub(super) struct Autoencoder {
    encoder: ModelSession,
    decoder: ModelSession,
    encoder_io: (String, String),
    decoder_io: (String, String),
    scaling: f32,
    latent_channels: usize,
    tiny: bool,
}

impl Autoencoder {
    /// The encoder and decoder sessions.
    pub(super) fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        [&self.encoder, &self.decoder].into_iter()
    }

    pub(super) fn open(
        dir: &Path,
        choice: &AutoencoderChoice,
        options: &SessionOptions,
    ) -> Result<Self, DiffusionError> {
        let (encoder_path, decoder_path, config_path, default_scaling, tiny) = match choice {
            AutoencoderChoice::Full => (
                dir.join("vae_encoder/model.onnx"),
                dir.join("vae_decoder/model.onnx"),
                dir.join("vae_decoder/config.json"),
                0.18215,
                false,
            ),
            AutoencoderChoice::Tiny(folder) => (
                folder.join("encoder.onnx"),
                folder.join("decoder.onnx"),
                folder.join("config.json"),
                1.0,
                true,
            ),
        };
        let names =
            if tiny { ["taesd_encoder", "taesd_decoder"] } else { ["vae_encoder", "vae_decoder"] };
        for (path, name) in [(&encoder_path, names[0]), (&decoder_path, names[1])] {
            // A part the server runs needs no local file.
            if path.is_file() || options.serves_remotely(name) {
                continue;
            }
            let file = |base: &Path| path.strip_prefix(base).unwrap_or(path).display().to_string();
            return Err(match choice {
                AutoencoderChoice::Tiny(folder) => {
                    DiffusionError::MissingTaesd { dir: folder.clone(), missing: file(folder) }
                }
                AutoencoderChoice::Full => {
                    DiffusionError::Missing { dir: dir.to_owned(), missing: file(dir) }
                }
            });
        }
        let config: Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| DiffusionError::file(&config_path, format!("not JSON: {e}")))?,
            Err(_) => Value::Null,
        };
        let scaling = config["scaling_factor"].as_f64().unwrap_or(default_scaling) as f32;
        if config["shift_factor"].as_f64().is_some_and(|shift| shift != 0.0) {
            return Err(DiffusionError::file(
                &config_path,
                "latent shift_factor (SD3/Flux autoencoders) is not supported",
            ));
        }
        let latent_channels = config["latent_channels"].as_u64().unwrap_or(4) as usize;
        let encoder = ModelSession::open_file(&encoder_path, names[0], options)?;
        let decoder = ModelSession::open_file(&decoder_path, names[1], options)?;
        let io = |session: &ModelSession, part: &'static str| {
            let input = session.inputs().first().map(|i| i.name.clone());
            let output = session.outputs().first().map(|o| o.name.clone());
            input.zip(output).ok_or(DiffusionError::Graph {
                part,
                problem: "needs one input and one output".into(),
            })
        };
        Ok(Self {
            encoder_io: io(&encoder, "autoencoder encoder")?,
            decoder_io: io(&decoder, "autoencoder decoder")?,
            encoder,
            decoder,
            scaling,
            latent_channels,
            tiny,
        })
    }

    pub(super) fn name(&self) -> &'static str {
        if self.tiny { "TAESD" } else { "VAE" }
    }

    /// Picture in -1..1 to scaled latents. An encoder that returns the Gaussian's parameters
    /// (mean and log-variance, as Optimum exports it) is read at its mean.
    pub(super) fn encode(
        &mut self,
        pixels: ArrayView4<f32>,
    ) -> Result<Array4<f32>, DiffusionError> {
        let (input, output) = self.encoder_io.clone();
        let pixels = pixels.into_dyn();
        let out = self.encoder.run_f32(&[(input, Feed::F32(pixels))], &[&output])?;
        let latents = four_d(out, "autoencoder encoder")?;
        let channels = latents.dim().1;
        let mean = if channels == 2 * self.latent_channels {
            latents.slice(s![.., 0..self.latent_channels, .., ..]).to_owned()
        } else if channels == self.latent_channels {
            latents
        } else {
            return Err(DiffusionError::Graph {
                part: "autoencoder encoder",
                problem: format!(
                    "returns {channels} channels; the config says {} latent channels",
                    self.latent_channels
                ),
            });
        };
        Ok(mean * self.scaling)
    }

    /// Scaled latents to a picture in -1..1.
    pub(super) fn decode(
        &mut self,
        latents: ArrayView4<f32>,
    ) -> Result<Array4<f32>, DiffusionError> {
        let (input, output) = self.decoder_io.clone();
        let unscaled = latents.mapv(|v| v / self.scaling).into_dyn();
        let out = self.decoder.run_f32(&[(input, Feed::F32(unscaled.view()))], &[&output])?;
        four_d(out, "autoencoder decoder")
    }
}

fn four_d(
    outputs: Vec<ndarray::ArrayD<f32>>,
    part: &'static str,
) -> Result<Array4<f32>, DiffusionError> {
    outputs
        .into_iter()
        .next()
        .expect("one output asked")
        .into_dimensionality::<Ix4>()
        .map_err(|e| DiffusionError::Graph { part, problem: format!("output is not 4-D: {e}") })
}
