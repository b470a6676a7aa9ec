//! The diffusion img2img pipeline against diffusers' own output on a tiny random-weight pipeline
//! (`tests/golden/make_tiny_diffusion.py`): same token ids, timesteps, noised latents, final
//! latents and picture, for Euler (turbo, multi-step, guided, leading spacing), LCM, and TAESD.
//! The diffusers run's noise is replayed, so any difference is the pipeline's.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use dreamlens::diffusion::{
    AutoencoderChoice, DiffusionOptions, DiffusionPipeline, Img2Img, RecordedNoise, Restyled,
    SchedulerConfig,
};
use dreamlens::inference::{ElementType, remote::RemoteConfig};
use ndarray::{Array4, ArrayD, IxDyn};
use serde_json::Value;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-sd")
}

fn npy(name: &str) -> ArrayD<f32> {
    let (shape, values) = common::golden_npy(&format!("diffusion/{name}"));
    ArrayD::from_shape_vec(IxDyn(&shape), values).expect("npy shape")
}

fn input_picture() -> Array4<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/diffusion/input.png");
    let image = image::open(path).expect("input picture").to_rgb8();
    let (w, h) = image.dimensions();
    Array4::from_shape_fn((1, 3, h as usize, w as usize), |(_, c, y, x)| {
        f32::from(image.get_pixel(x as u32, y as u32)[c]) / 255.0
    })
}

struct Case {
    json: Value,
    name: String,
}

impl Case {
    fn load(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/golden/diffusion/{name}.json"));
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("case")).expect("json");
        Self { json, name: name.into() }
    }

    fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig::parse(&self.json["scheduler"].to_string()).expect("scheduler config")
    }

    fn options(&self, scheduler: SchedulerConfig) -> DiffusionOptions {
        let autoencoder = match self.json["vae"].as_str() {
            Some("taesd") => AutoencoderChoice::Tiny(model_dir().join("taesd")),
            _ => AutoencoderChoice::Full,
        };
        DiffusionOptions { autoencoder, scheduler: Some(scheduler), ..Default::default() }
    }

    fn request(&self) -> Img2Img {
        Img2Img {
            prompt: self.json["prompt"].as_str().expect("prompt").into(),
            negative_prompt: self.json["negative_prompt"].as_str().unwrap_or("").into(),
            strength: self.json["strength"].as_f64().expect("strength") as f32,
            steps: self.json["steps"].as_u64().expect("steps") as usize,
            guidance_scale: self.json["guidance_scale"].as_f64().expect("guidance") as f32,
        }
    }

    fn noise(&self) -> RecordedNoise {
        let draws = self.json["noise_draws"].as_u64().expect("draws");
        RecordedNoise::new(
            (0..draws)
                .map(|i| {
                    npy(&format!("{}.noise{i}.npy", self.name))
                        .into_dimensionality()
                        .expect("4-D noise")
                })
                .collect(),
        )
    }

    fn run_with(&self, options: DiffusionOptions) -> Restyled {
        let mut pipeline = DiffusionPipeline::open(&model_dir(), &options).expect("pipeline opens");
        pipeline.img2img(input_picture().view(), &self.request(), &mut self.noise()).expect("runs")
    }

    fn run(&self) -> Restyled {
        self.run_with(self.options(self.scheduler()))
    }

    fn reference(&self, what: &str) -> ArrayD<f32> {
        npy(&format!("{}.{what}.npy", self.name))
    }
}

/// Largest absolute difference; shapes must agree.
fn max_diff(actual: &ArrayD<f32>, expected: &ArrayD<f32>) -> f32 {
    assert_eq!(actual.shape(), expected.shape(), "shapes differ");
    actual.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// diffusers returns the picture as [H, W, 3]; the pipeline as [1, 3, H, W].
fn picture_hwc(result: &Restyled) -> ArrayD<f32> {
    result.image.index_axis(ndarray::Axis(0), 0).permuted_axes([1, 2, 0]).to_owned().into_dyn()
}

/// Tolerances. The reference runs the PyTorch modules, the pipeline their ONNX export on ONNX
/// Runtime: float32 kernels differ in summation order. Measured worst cases over all cases: 1.3e-5
/// on latents (which reach |x| ~ 10), 4.8e-7 on the picture. A wrong timestep, scaling factor or
/// noise formula moves them by 7e-2 to 4 (the `wrong_*` tests print it).
const LATENT_TOLERANCE: f32 = 2e-4;
const PICTURE_TOLERANCE: f32 = 5e-5;

fn check_case(name: &str) {
    let case = Case::load(name);
    check_result(&case, &case.run());
}

fn check_result(case: &Case, result: &Restyled) {
    let name = &case.name;
    let ids: Vec<u32> = case.json["token_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect();
    assert_eq!(result.token_ids, ids, "{name}: token ids");
    let timesteps: Vec<f64> = case.json["timesteps"]
        .as_array()
        .expect("timesteps")
        .iter()
        .map(|v| v.as_f64().expect("t"))
        .collect();
    assert_eq!(result.timesteps, timesteps, "{name}: timesteps");
    let checks = [
        ("image_latents", result.image_latents.clone().into_dyn(), LATENT_TOLERANCE),
        ("noisy_latents", result.noisy_latents.clone().into_dyn(), LATENT_TOLERANCE),
        ("final_latents", result.final_latents.clone().into_dyn(), LATENT_TOLERANCE),
        ("output", picture_hwc(result), PICTURE_TOLERANCE),
    ];
    for (what, actual, tolerance) in checks {
        let diff = max_diff(&actual, &case.reference(what));
        eprintln!("{name}: {what} max |diff| = {diff:.2e}");
        assert!(diff <= tolerance, "{name}: {what} differs from diffusers by {diff}");
    }
}

#[test]
fn euler_turbo_one_step_matches_diffusers() {
    check_case("euler_turbo");
}

#[test]
fn euler_three_steps_matches_diffusers() {
    check_case("euler_multi");
}

#[test]
fn euler_with_classifier_free_guidance_matches_diffusers() {
    check_case("euler_cfg");
}

#[test]
fn euler_leading_spacing_matches_diffusers() {
    check_case("euler_leading");
}

#[test]
fn lcm_matches_diffusers() {
    check_case("lcm");
}

#[test]
fn taesd_matches_diffusers() {
    check_case("euler_taesd");
}

fn output_diff(case: &Case, result: &Restyled) -> f32 {
    max_diff(&picture_hwc(result), &case.reference("output"))
        .max(max_diff(&result.final_latents.clone().into_dyn(), &case.reference("final_latents")))
}

#[test]
fn wrong_timestep_spacing_fails_the_comparison() {
    let case = Case::load("euler_multi");
    let mut scheduler = case.scheduler();
    scheduler.timestep_spacing = Some("linspace".into());
    let diff = output_diff(&case, &case.run_with(case.options(scheduler)));
    assert!(diff > 10.0 * LATENT_TOLERANCE, "a wrong schedule went unnoticed ({diff})");
    eprintln!("deliberate error moved the result by {diff}");
}

#[test]
fn wrong_latent_scaling_fails_the_comparison() {
    // The same pipeline with SDXL's scaling factor (0.13025) instead of SD's 0.18215.
    let case = Case::load("euler_turbo");
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_tree(&model_dir(), dir.path());
    let config_path = dir.path().join("vae_decoder/config.json");
    let config = std::fs::read_to_string(&config_path).expect("config");
    assert!(config.contains("0.18215"));
    std::fs::write(&config_path, config.replace("0.18215", "0.13025")).expect("write");
    let mut pipeline =
        DiffusionPipeline::open(dir.path(), &case.options(case.scheduler())).expect("opens");
    let result =
        pipeline.img2img(input_picture().view(), &case.request(), &mut case.noise()).expect("runs");
    let diff = output_diff(&case, &result);
    assert!(diff > 10.0 * LATENT_TOLERANCE, "a wrong scaling factor went unnoticed ({diff})");
    eprintln!("deliberate error moved the result by {diff}");
}

#[test]
fn wrong_noise_formula_fails_the_comparison() {
    // Noising the Euler way (x + sigma * n) is what diffusers does for Euler; the DDPM way
    // (sqrt(a) x + sqrt(1 - a) n, LCM's) on the same timesteps must not pass for it.
    let case = Case::load("euler_turbo");
    let mut scheduler = case.scheduler();
    scheduler.class_name = "LCMScheduler".into();
    scheduler.timestep_spacing = Some("leading".into());
    scheduler.steps_offset = 0;
    let result = case.run_with(case.options(scheduler));
    let diff = max_diff(&result.noisy_latents.clone().into_dyn(), &case.reference("noisy_latents"));
    assert!(diff > 10.0 * LATENT_TOLERANCE, "a wrong noise formula went unnoticed ({diff})");
    eprintln!("deliberate error moved the result by {diff}");
}

#[test]
fn prompts_steer_the_result() {
    // Guards against a pipeline that ignores its text: the same picture and noise with another
    // prompt gives another picture.
    let case = Case::load("euler_turbo");
    let mut pipeline =
        DiffusionPipeline::open(&model_dir(), &case.options(case.scheduler())).expect("opens");
    let mut request = case.request();
    let first = pipeline.img2img(input_picture().view(), &request, &mut case.noise()).expect("a");
    request.prompt = "a stone castle at night".into();
    let second = pipeline.img2img(input_picture().view(), &request, &mut case.noise()).expect("b");
    let diff = max_diff(&first.final_latents.into_dyn(), &second.final_latents.into_dyn());
    assert!(diff > 1e-3, "the prompt made no difference ({diff})");
}

#[test]
fn missing_parts_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_tree(&model_dir(), dir.path());
    std::fs::remove_file(dir.path().join("unet/model.onnx")).expect("remove");
    let err = DiffusionPipeline::open(dir.path(), &DiffusionOptions::default())
        .expect_err("no unet must fail")
        .to_string();
    assert!(err.contains("unet/model.onnx") && err.contains("optimum-cli"), "{err}");
}

#[test]
fn a_half_precision_unet_runs_and_stays_close() {
    // SD-Turbo's ONNX release is float16: the same tiny UNet converted to half precision must run
    // (inputs converted on the way in, outputs on the way out) and stay near the float32 result.
    let case = Case::load("euler_multi");
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_tree(&model_dir(), dir.path());
    std::fs::copy(
        model_dir().with_file_name("tiny-sd-unet-fp16.onnx"),
        dir.path().join("unet/model.onnx"),
    )
    .expect("fp16 unet");
    let mut pipeline =
        DiffusionPipeline::open(dir.path(), &case.options(case.scheduler())).expect("opens");
    let result =
        pipeline.img2img(input_picture().view(), &case.request(), &mut case.noise()).expect("runs");
    let latents =
        max_diff(&result.final_latents.clone().into_dyn(), &case.reference("final_latents"));
    let picture = max_diff(&picture_hwc(&result), &case.reference("output"));
    eprintln!("fp16 unet: final latents {latents:.2e}, picture {picture:.2e}");
    // Measured: 3.6e-3 on latents, 8e-5 on the picture (float16 keeps about 3 digits).
    assert!(latents < 2e-2 && picture < 1e-3, "fp16 drifted: {latents} {picture}");
}

/// The shared test server, with model names under `prefix`.
fn on_server(prefix: &str) -> Arc<RemoteConfig> {
    let mut config = RemoteConfig::new(&common::triton::shared().url).expect("url");
    config.prefix = prefix.into();
    Arc::new(config)
}

/// Every graph on a real Triton server (the tokenizer, scheduler and noise stay local): the
/// same computation, so diffusers' numbers hold with the same tolerances.
#[test]
fn every_case_on_a_triton_server_matches_diffusers() {
    for name in ["euler_turbo", "euler_multi", "euler_cfg", "euler_leading", "lcm", "euler_taesd"] {
        let case = Case::load(name);
        let mut options = case.options(case.scheduler());
        options.session.remote = Some(on_server(""));
        let mut pipeline = DiffusionPipeline::open(&model_dir(), &options).expect("opens remotely");
        assert!(
            pipeline
                .sessions()
                .all(|s| s.providers().to_string().starts_with("remote (http://127.0.0.1:")),
            "{name}: every graph runs on the server"
        );
        let result = pipeline
            .img2img(input_picture().view(), &case.request(), &mut case.noise())
            .expect("runs");
        check_result(&case, &result);
    }
}

/// SD-Turbo's ONNX release is float16: through the server the UNet's tensors go as FP16 (the
/// server declares FP16 and refuses anything else) and the result stays as close as locally.
#[test]
fn a_half_precision_unet_runs_on_the_server() {
    let case = Case::load("euler_multi");
    let half = common::triton::half_pipeline();
    let mut options = case.options(case.scheduler());
    options.session.remote = Some(on_server("half-"));
    let mut pipeline = DiffusionPipeline::open(half.path(), &options).expect("opens remotely");
    let unet = pipeline.sessions().find(|s| s.model_id() == "unet").expect("unet");
    assert!(unet.inputs().iter().any(|i| i.name == "sample" && i.element == ElementType::F16));
    let result =
        pipeline.img2img(input_picture().view(), &case.request(), &mut case.noise()).expect("runs");
    let latents =
        max_diff(&result.final_latents.clone().into_dyn(), &case.reference("final_latents"));
    let picture = max_diff(&picture_hwc(&result), &case.reference("output"));
    eprintln!("fp16 unet on the server: final latents {latents:.2e}, picture {picture:.2e}");
    assert!(latents < 2e-2 && picture < 1e-3, "fp16 drifted: {latents} {picture}");
}
