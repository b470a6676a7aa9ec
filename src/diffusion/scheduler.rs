//! Noise schedulers for img2img, following diffusers' definitions exactly: the schedule a
//! `scheduler_config.json` names, how a strength cuts it, how the image latents are noised, how the
//! model input is scaled, and one denoising step.

use std::path::Path;

use ndarray::{Array4, ArrayView4, Zip};
use serde::Deserialize;

use super::DiffusionError;

/// `scheduler_config.json` as diffusers writes it; absent fields take the scheduler's defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerConfig {
    /// diffusers class name: `EulerDiscreteScheduler` or `LCMScheduler`.
    #[serde(rename = "_class_name")]
    pub class_name: String,
    /// Training timesteps (1000 for Stable Diffusion).
    #[serde(default = "default_train_timesteps")]
    pub num_train_timesteps: usize,
    /// First beta.
    pub beta_start: Option<f64>,
    /// Last beta.
    pub beta_end: Option<f64>,
    /// `linear` or `scaled_linear`.
    pub beta_schedule: Option<String>,
    /// What the UNet predicts: `epsilon`, `v_prediction` or `sample`.
    #[serde(default = "default_prediction")]
    pub prediction_type: String,
    /// `linspace`, `leading` or `trailing`.
    pub timestep_spacing: Option<String>,
    /// Added to `leading` timesteps.
    #[serde(default)]
    pub steps_offset: usize,
    /// Euler: how sigmas are interpolated (only `linear`).
    pub interpolation_type: Option<String>,
    /// Euler: the last sigma, `zero` or `sigma_min`.
    pub final_sigmas_type: Option<String>,
    /// Euler: `discrete` (the only kind supported).
    pub timestep_type: Option<String>,
    /// LCM: the distillation schedule length.
    pub original_inference_steps: Option<usize>,
    /// LCM: boundary-condition timestep scale.
    pub timestep_scaling: Option<f64>,
    /// LCM: clip the predicted clean sample.
    #[serde(default)]
    pub clip_sample: bool,
    /// LCM: the clip range.
    pub clip_sample_range: Option<f64>,
    /// LCM: alpha product past the last step is 1.
    pub set_alpha_to_one: Option<bool>,
    /// Options whose presence with a non-default value this implementation refuses.
    #[serde(default)]
    pub use_karras_sigmas: Option<bool>,
    /// See `use_karras_sigmas`.
    #[serde(default)]
    pub use_exponential_sigmas: Option<bool>,
    /// See `use_karras_sigmas`.
    #[serde(default)]
    pub use_beta_sigmas: Option<bool>,
    /// See `use_karras_sigmas`.
    #[serde(default)]
    pub thresholding: Option<bool>,
    /// See `use_karras_sigmas`.
    #[serde(default)]
    pub rescale_betas_zero_snr: Option<bool>,
    /// See `use_karras_sigmas`.
    pub trained_betas: Option<Vec<f64>>,
}

fn default_train_timesteps() -> usize {
    1000
}

fn default_prediction() -> String {
    "epsilon".into()
}

/// A scheduler config or request this implementation does not follow, named.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Not JSON of a diffusers scheduler config.
    #[error("not a diffusers scheduler config: {0}")]
    NotAConfig(serde_json::Error),
    /// Another scheduler class.
    #[error("scheduler `{0}` is not supported (EulerDiscreteScheduler and LCMScheduler are)")]
    Class(String),
    /// An option that is switched on and not implemented.
    #[error("scheduler option `{0}` is not supported")]
    Option(&'static str),
    /// A setting with a value not implemented.
    #[error("{setting} `{value}` is not supported")]
    Value {
        /// The config key.
        setting: &'static str,
        /// Its value.
        value: String,
    },
    /// Too short a training schedule to sample.
    #[error("num_train_timesteps {0} is too small")]
    TrainSteps(usize),
    /// LCM's distillation schedule does not fit the training schedule.
    #[error("original_inference_steps {steps} must be within 1..={train} (num_train_timesteps)")]
    OriginalSteps {
        /// `original_inference_steps`.
        steps: usize,
        /// `num_train_timesteps`.
        train: usize,
    },
    /// LCM with a prediction type it does not define.
    #[error("prediction_type `original_sample` is not supported by LCM")]
    LcmPrediction,
    /// No steps asked for.
    #[error("steps must be at least 1")]
    NoSteps,
    /// A strength outside 0..1.
    #[error("strength {0} is outside 0..1")]
    Strength(f32),
    /// More steps than LCM was distilled for.
    #[error("LCM takes at most {0} steps (its distillation schedule)")]
    LcmSteps(usize),
    /// A strength so low that no step runs.
    #[error(
        "strength {strength} with {steps} steps leaves no denoising step; raise the strength or the steps"
    )]
    NothingToDenoise {
        /// The strength asked for.
        strength: f32,
        /// The steps asked for.
        steps: usize,
    },
}

impl SchedulerConfig {
    /// Reads a `scheduler_config.json`.
    pub fn load(path: &Path) -> Result<Self, DiffusionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DiffusionError::file(path, format!("cannot read it: {e}")))?;
        Self::parse(&text)
            .map_err(|cause| DiffusionError::SchedulerFile { path: path.to_owned(), cause })
    }

    /// Parses the JSON text of a scheduler config.
    pub fn parse(text: &str) -> Result<Self, SchedulerError> {
        serde_json::from_str(text).map_err(SchedulerError::NotAConfig)
    }
}

/// Which update rule, with its precomputed tables.
#[derive(Debug, Clone)]
enum Kind {
    Euler { final_sigma_zero: bool },
    Lcm { original_steps: usize, timestep_scaling: f64, clip: Option<f64>, final_alpha: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spacing {
    Linspace,
    Leading,
    Trailing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prediction {
    Epsilon,
    V,
    Sample,
}

/// A scheduler built from its config: betas and cumulative alphas for every training step.
#[derive(Debug, Clone)]
pub struct Scheduler {
    kind: Kind,
    spacing: Spacing,
    prediction: Prediction,
    steps_offset: usize,
    alphas_cumprod: Vec<f64>,
}

/// One img2img run's schedule: the timesteps left after the strength cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Timesteps to run, first (noisiest) first.
    pub timesteps: Vec<f64>,
    /// All steps of the full schedule (the strength cut keeps the last of them).
    total_steps: usize,
    /// Index of `timesteps[0]` in the full schedule.
    begin: usize,
    /// Euler: sigma per full-schedule step, plus the final one.
    sigmas: Vec<f64>,
    /// LCM: the full schedule's timesteps, for the step after the last kept one.
    full: Vec<f64>,
}

impl Scheduler {
    /// Builds the scheduler a config names; unsupported classes and options are refused by name.
    pub fn new(config: &SchedulerConfig) -> Result<Self, SchedulerError> {
        let refuse = |option| Err(SchedulerError::Option(option));
        if config.use_karras_sigmas == Some(true) {
            return refuse("use_karras_sigmas");
        }
        if config.use_exponential_sigmas == Some(true) {
            return refuse("use_exponential_sigmas");
        }
        if config.use_beta_sigmas == Some(true) {
            return refuse("use_beta_sigmas");
        }
        if config.thresholding == Some(true) {
            return refuse("thresholding");
        }
        if config.rescale_betas_zero_snr == Some(true) {
            return refuse("rescale_betas_zero_snr");
        }
        if config.trained_betas.is_some() {
            return refuse("trained_betas");
        }
        let lcm = match config.class_name.as_str() {
            "EulerDiscreteScheduler" => false,
            "LCMScheduler" => true,
            other => return Err(SchedulerError::Class(other.to_owned())),
        };
        let (beta_start, beta_end, schedule, spacing) = if lcm {
            (0.00085, 0.012, "scaled_linear", "leading")
        } else {
            (0.0001, 0.02, "linear", "linspace")
        };
        let beta_start = config.beta_start.unwrap_or(beta_start);
        let beta_end = config.beta_end.unwrap_or(beta_end);
        let n = config.num_train_timesteps;
        if n < 2 {
            return Err(SchedulerError::TrainSteps(n));
        }
        let betas: Vec<f64> = match config.beta_schedule.as_deref().unwrap_or(schedule) {
            "linear" => linspace(beta_start, beta_end, n),
            "scaled_linear" => {
                linspace(beta_start.sqrt(), beta_end.sqrt(), n).into_iter().map(|b| b * b).collect()
            }
            other => {
                return Err(SchedulerError::Value {
                    setting: "beta_schedule",
                    value: other.into(),
                });
            }
        };
        let mut product = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|beta| {
                product *= 1.0 - beta;
                product
            })
            .collect::<Vec<_>>();
        let spacing = match config.timestep_spacing.as_deref().unwrap_or(spacing) {
            "linspace" => Spacing::Linspace,
            "leading" => Spacing::Leading,
            "trailing" => Spacing::Trailing,
            other => {
                return Err(SchedulerError::Value {
                    setting: "timestep_spacing",
                    value: other.into(),
                });
            }
        };
        let prediction = match config.prediction_type.as_str() {
            "epsilon" => Prediction::Epsilon,
            "v_prediction" => Prediction::V,
            "sample" | "original_sample" => Prediction::Sample,
            other => {
                return Err(SchedulerError::Value {
                    setting: "prediction_type",
                    value: other.into(),
                });
            }
        };
        let kind = Self::kind(config, lcm, &alphas_cumprod)?;
        Ok(Self { kind, spacing, prediction, steps_offset: config.steps_offset, alphas_cumprod })
    }

    /// What differs between the two schedulers: LCM's own spacing and final alpha, or Euler's
    /// final sigma.
    fn kind(
        config: &SchedulerConfig,
        lcm: bool,
        alphas_cumprod: &[f64],
    ) -> Result<Kind, SchedulerError> {
        let refuse = |option| Err(SchedulerError::Option(option));
        let n = config.num_train_timesteps;
        Ok(if lcm {
            // LCM has its own spacing: diffusers ignores `timestep_spacing` for it.
            let original_steps = config.original_inference_steps.unwrap_or(50);
            if original_steps == 0 || original_steps > n {
                return Err(SchedulerError::OriginalSteps { steps: original_steps, train: n });
            }
            if config.prediction_type == "original_sample" {
                return Err(SchedulerError::LcmPrediction);
            }
            let final_alpha =
                if config.set_alpha_to_one.unwrap_or(true) { 1.0 } else { alphas_cumprod[0] };
            Kind::Lcm {
                original_steps,
                timestep_scaling: config.timestep_scaling.unwrap_or(10.0),
                clip: config.clip_sample.then(|| config.clip_sample_range.unwrap_or(1.0)),
                final_alpha,
            }
        } else {
            if config.interpolation_type.as_deref().is_some_and(|t| t != "linear") {
                return refuse("interpolation_type other than linear");
            }
            if config.timestep_type.as_deref().is_some_and(|t| t != "discrete") {
                return refuse("timestep_type other than discrete");
            }
            let final_sigma_zero = match config.final_sigmas_type.as_deref().unwrap_or("zero") {
                "zero" => true,
                "sigma_min" => false,
                other => {
                    return Err(SchedulerError::Value {
                        setting: "final_sigmas_type",
                        value: other.into(),
                    });
                }
            };
            Kind::Euler { final_sigma_zero }
        })
    }

    /// The scheduler's name for reports.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Euler { .. } => "Euler discrete",
            Kind::Lcm { .. } => "LCM",
        }
    }

    /// The full schedule of `steps` timesteps, then the img2img cut: with `strength` s only the
    /// last floor(steps * s) steps run, starting from the image noised to the first of them.
    pub fn plan(&self, steps: usize, strength: f32) -> Result<Plan, SchedulerError> {
        if steps == 0 {
            return Err(SchedulerError::NoSteps);
        }
        if !(0.0..=1.0).contains(&strength) || strength.is_nan() {
            return Err(SchedulerError::Strength(strength));
        }
        let train = self.alphas_cumprod.len();
        let full: Vec<f64> = match self.kind {
            Kind::Euler { .. } => self.euler_timesteps(steps),
            Kind::Lcm { original_steps, .. } => {
                if steps > original_steps {
                    return Err(SchedulerError::LcmSteps(original_steps));
                }
                let k = train / original_steps;
                let origin: Vec<usize> = (1..=original_steps).map(|i| i * k - 1).rev().collect();
                (0..steps)
                    .map(|i| {
                        origin[(i as f64 * origin.len() as f64 / steps as f64).floor() as usize]
                    })
                    .map(|t| t as f64)
                    .collect()
            }
        };
        // diffusers computes int(steps * strength) on a float32 strength promoted to double.
        let kept = ((steps as f64 * f64::from(strength)).floor() as usize).min(steps);
        if kept == 0 {
            return Err(SchedulerError::NothingToDenoise { strength, steps });
        }
        let begin = steps - kept;
        let sigmas = match self.kind {
            Kind::Euler { final_sigma_zero } => {
                let table: Vec<f64> =
                    self.alphas_cumprod.iter().map(|a| ((1.0 - a) / a).sqrt()).collect();
                let mut sigmas: Vec<f64> = full.iter().map(|&t| interpolate(&table, t)).collect();
                sigmas.push(if final_sigma_zero { 0.0 } else { table[0] });
                // diffusers keeps its sigmas in float32.
                sigmas.iter().map(|&s| f64::from(s as f32)).collect()
            }
            Kind::Lcm { .. } => Vec::new(),
        };
        Ok(Plan { timesteps: full[begin..].to_vec(), total_steps: steps, begin, sigmas, full })
    }

    fn euler_timesteps(&self, steps: usize) -> Vec<f64> {
        let train = self.alphas_cumprod.len();
        // Rounded and narrowed to float32 where diffusers does, so the same integers come out.
        let timesteps: Vec<f32> = match self.spacing {
            Spacing::Linspace => {
                // numpy's linspace: i * step in double precision, the end exact.
                let last = (train - 1) as f64;
                let step = if steps > 1 { last / (steps - 1) as f64 } else { 0.0 };
                (0..steps)
                    .rev()
                    .map(|i| if i + 1 == steps && steps > 1 { last } else { i as f64 * step })
                    .map(|t| t as f32)
                    .collect()
            }
            Spacing::Leading => {
                let ratio = train / steps;
                (0..steps).rev().map(|i| (i * ratio + self.steps_offset) as f32).collect()
            }
            Spacing::Trailing => {
                let ratio = train as f64 / steps as f64;
                (0..steps)
                    .map(|i| (train as f64 - i as f64 * ratio).round_ties_even() as f32 - 1.0)
                    .collect()
            }
        };
        timesteps.into_iter().map(f64::from).collect()
    }

    /// Noises the clean image latents to the plan's first timestep.
    pub fn add_noise(
        &self,
        plan: &Plan,
        latents: ArrayView4<f32>,
        noise: ArrayView4<f32>,
    ) -> Array4<f32> {
        let (keep, add) = match self.kind {
            Kind::Euler { .. } => (1.0, plan.sigmas[plan.begin]),
            Kind::Lcm { .. } => {
                let alpha = self.alpha_at(plan.timesteps[0]);
                (alpha.sqrt(), (1.0 - alpha).sqrt())
            }
        };
        let (keep, add) = (keep as f32, add as f32);
        Zip::from(&latents).and(&noise).map_collect(|&x, &n| keep * x + add * n)
    }

    /// Scales the latents before the UNet sees them at step `index` of the plan.
    pub fn scale_model_input(
        &self,
        plan: &Plan,
        index: usize,
        sample: &Array4<f32>,
    ) -> Array4<f32> {
        match self.kind {
            Kind::Euler { .. } => {
                let sigma = plan.sigmas[plan.begin + index];
                let scale = (1.0 / (sigma * sigma + 1.0).sqrt()) as f32;
                sample.mapv(|x| x * scale)
            }
            Kind::Lcm { .. } => sample.clone(),
        }
    }

    /// Whether step `index` of the plan draws fresh noise (LCM between steps).
    pub fn step_needs_noise(&self, plan: &Plan, index: usize) -> bool {
        matches!(self.kind, Kind::Lcm { .. }) && plan.begin + index + 1 != plan.total_steps
    }

    /// One denoising step from the UNet's output; `noise` is used when
    /// [`Scheduler::step_needs_noise`] says so.
    pub fn step(
        &self,
        plan: &Plan,
        index: usize,
        model_output: &Array4<f32>,
        sample: &Array4<f32>,
        noise: Option<&Array4<f32>>,
    ) -> Array4<f32> {
        let global = plan.begin + index;
        match &self.kind {
            Kind::Euler { .. } => {
                let sigma = plan.sigmas[global];
                let dt = (plan.sigmas[global + 1] - sigma) as f32;
                let s = sigma as f32;
                let c = (sigma * sigma + 1.0) as f32;
                let prediction = self.prediction;
                Zip::from(model_output).and(sample).map_collect(|&eps, &x| {
                    let original = match prediction {
                        Prediction::Epsilon => x - s * eps,
                        Prediction::V => eps * (-s / c.sqrt()) + x / c,
                        Prediction::Sample => eps,
                    };
                    let derivative = (x - original) / s;
                    x + derivative * dt
                })
            }
            Kind::Lcm { timestep_scaling, clip, final_alpha, .. } => {
                let t = plan.full[global];
                let next = plan.full.get(global + 1).copied().unwrap_or(t);
                let alpha = self.alpha_at(t);
                let alpha_next = if next >= 0.0 { self.alpha_at(next) } else { *final_alpha };
                let (a, b) = (alpha.sqrt() as f32, (1.0 - alpha).sqrt() as f32);
                let scaled = t * timestep_scaling;
                let sigma_data = 0.5f64;
                let c_skip = (sigma_data.powi(2) / (scaled.powi(2) + sigma_data.powi(2))) as f32;
                let c_out = (scaled / (scaled.powi(2) + sigma_data.powi(2)).sqrt()) as f32;
                let prediction = self.prediction;
                let clip = clip.map(|c| c as f32);
                let denoised = Zip::from(model_output).and(sample).map_collect(|&out, &x| {
                    let mut original = match prediction {
                        Prediction::Epsilon => (x - b * out) / a,
                        Prediction::Sample => out,
                        Prediction::V => a * x - b * out,
                    };
                    if let Some(c) = clip {
                        original = original.clamp(-c, c);
                    }
                    c_out * original + c_skip * x
                });
                match noise {
                    Some(noise) if self.step_needs_noise(plan, index) => {
                        let (keep, add) =
                            (alpha_next.sqrt() as f32, (1.0 - alpha_next).sqrt() as f32);
                        Zip::from(&denoised).and(noise).map_collect(|&d, &n| keep * d + add * n)
                    }
                    _ => denoised,
                }
            }
        }
    }

    fn alpha_at(&self, timestep: f64) -> f64 {
        self.alphas_cumprod[(timestep as usize).min(self.alphas_cumprod.len() - 1)]
    }
}

/// `n` evenly spaced values from `start` to `end` inclusive.
fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    let step = (end - start) / (n - 1) as f64;
    (0..n).map(|i| start + step * i as f64).collect()
}

/// numpy's `interp(t, arange(len), table)`.
fn interpolate(table: &[f64], t: f64) -> f64 {
    let last = table.len() - 1;
    if t <= 0.0 {
        return table[0];
    }
    if t >= last as f64 {
        return table[last];
    }
    let low = t.floor() as usize;
    let w = t - low as f64;
    table[low] * (1.0 - w) + table[low + 1] * w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Scheduler {
        Scheduler::new(&SchedulerConfig::parse(json).expect("config")).expect("scheduler")
    }

    const EULER: &str = r#"{"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085,
        "beta_end": 0.012, "beta_schedule": "scaled_linear", "timestep_spacing": "trailing",
        "steps_offset": 1}"#;

    #[test]
    fn turbo_trailing_timesteps_match_diffusers() {
        let plan = config(EULER).plan(4, 1.0).expect("plan");
        assert_eq!(plan.timesteps, [999.0, 749.0, 499.0, 249.0]);
        let plan = config(EULER).plan(3, 1.0).expect("plan");
        assert_eq!(plan.timesteps, [999.0, 666.0, 332.0]);
        // SD-Turbo's one step: sigma at t=999 is 14.6146 in diffusers.
        assert!((plan.sigmas[0] - 14.6146).abs() < 1e-3, "{}", plan.sigmas[0]);
    }

    #[test]
    fn strength_keeps_the_last_steps() {
        let plan = config(EULER).plan(4, 0.5).expect("plan");
        assert_eq!(plan.timesteps, [499.0, 249.0]);
        assert!(config(EULER).plan(2, 0.4).is_err(), "no step left must be an error");
    }

    #[test]
    fn lcm_timesteps_match_diffusers() {
        let lcm = config(r#"{"_class_name": "LCMScheduler"}"#);
        assert_eq!(lcm.plan(4, 1.0).expect("plan").timesteps, [999.0, 759.0, 499.0, 259.0]);
        assert_eq!(lcm.plan(1, 1.0).expect("plan").timesteps, [999.0]);
    }

    #[test]
    fn unsupported_options_are_named() {
        let err = Scheduler::new(
            &SchedulerConfig::parse(
                r#"{"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": true}"#,
            )
            .expect("parse"),
        )
        .expect_err("karras must be refused");
        assert!(matches!(err, SchedulerError::Option("use_karras_sigmas")), "{err}");
        let err = Scheduler::new(
            &SchedulerConfig::parse(r#"{"_class_name": "DPMSolverMultistepScheduler"}"#)
                .expect("parse"),
        )
        .expect_err("unknown class");
        assert!(err.to_string().contains("DPMSolverMultistepScheduler"), "{err}");
        let err = Scheduler::new(
            &SchedulerConfig::parse(
                r#"{"_class_name": "LCMScheduler", "original_inference_steps": 0}"#,
            )
            .expect("parse"),
        )
        .expect_err("a zero-length distillation schedule");
        assert!(matches!(err, SchedulerError::OriginalSteps { steps: 0, .. }), "{err}");
    }
}
