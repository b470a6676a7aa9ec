//! `dreamlens restyle`: one picture restyled from a prompt.

use std::{process::ExitCode, time::Instant};

use anyhow::Context;
use dreamlens::{
    diffusion::Img2Img,
    effects::StyleWeight,
    inference::SessionOptions,
    restyle::{EngineChoice, RestyleRequest, Restyler},
    store::ModelStore,
};

use crate::cli::RestyleArgs;

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    engine: &EngineChoice,
    args: &RestyleArgs,
) -> anyhow::Result<ExitCode> {
    let picture = dreamlens::capture::photo::read_photo_logged(&args.input)?;
    // Refused before the models load: a bad output path should not cost a restyle.
    let extension = args.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg")) {
        anyhow::bail!("--output {}: give a .png or .jpg file name", args.output.display());
    }
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let request = RestyleRequest {
        img2img: Img2Img {
            prompt: args.prompt.clone(),
            negative_prompt: args.negative_prompt.clone(),
            strength: args.strength,
            steps: args.steps,
            guidance_scale: args.guidance,
        },
        seed: args.seed,
        styles: args
            .style
            .map(|style| vec![StyleWeight { style, weight: 1.0 }])
            .unwrap_or_default(),
        style_image: args.style_image.as_ref().map(|p| p.display().to_string()),
    };
    if let Some(style) = args.style.filter(|s| *s >= 26) {
        anyhow::bail!("--style {style} does not exist; built-in styles are 0..25");
    }
    let mut restyler = Restyler::open(store, options, &request, engine)
        .map_err(|e| anyhow::anyhow!("cannot restyle: {e}"))?;
    eprintln!("engine: {}", restyler.label());
    super::report_providers(restyler.sessions());
    let started = Instant::now();
    let restyled =
        restyler.restyle(&picture).map_err(|e| anyhow::anyhow!("restyle failed: {e}"))?;
    let restyled = image::DynamicImage::ImageRgba8(restyled).to_rgb8();
    let restyled = dreamlens::resize::rgb(&restyled, picture.width(), picture.height());
    restyled
        .save(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {} ({}x{}) in {:.2} s",
        args.output.display(),
        restyled.width(),
        restyled.height(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
