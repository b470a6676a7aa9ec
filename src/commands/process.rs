//! `dreamlens process` (headless effects over photos, videos or the demo) and `presets list`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::mpsc,
    thread,
};

use anyhow::{Context as _, bail};
use dreamlens::{
    capture,
    effects::preset::Preset,
    inference::{AnalysisModels, SessionOptions},
    pipeline::EffectPipeline,
    render::RenderContext,
    store::ModelStore,
};

use crate::cli::ProcessArgs;

pub fn list_presets() -> anyhow::Result<ExitCode> {
    for name in Preset::builtin_names() {
        let preset = Preset::load(name)?;
        println!("{name:<14} {}", preset.description);
    }
    Ok(ExitCode::SUCCESS)
}

/// Where frames go.
enum Sink {
    /// One picture to this file.
    File(PathBuf),
    /// `frame_NNNNNN.png` in this folder.
    Folder(PathBuf),
}

fn sink_for(output: &Path, frames: Option<u64>) -> anyhow::Result<Sink> {
    if capture::is_image_path(output) {
        if frames != Some(1) {
            bail!(
                "output {} is one image file, but the input has {} frames; give a folder instead",
                output.display(),
                frames.map_or("many".into(), |n| n.to_string())
            );
        }
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
        }
        return Ok(Sink::File(output.to_owned()));
    }
    if output.extension().is_some_and(|e| e == "mp4") {
        bail!("MP4 output is not available yet; write PNG frames to a folder instead");
    }
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create output folder {}", output.display()))?;
    Ok(Sink::Folder(output.to_owned()))
}

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    args: &ProcessArgs,
) -> anyhow::Result<ExitCode> {
    let preset = Preset::load(&args.preset)?;
    let demo_frames = args.max_frames.unwrap_or(300);
    let mut source = capture::open_input(&args.input, args.demo_size, demo_frames)?;
    let total = match (source.frame_count(), args.max_frames) {
        (Some(n), Some(max)) => Some(n.min(max)),
        (n, max) => n.or(max),
    };
    let sink = sink_for(&args.output, total)?;
    let context = RenderContext::headless()?;
    if context.is_software() {
        eprintln!("note: no GPU found; compositing on {} (CPU)", context.adapter_info.name);
    }
    let (mut pipeline, dropped) =
        EffectPipeline::new(store, options, &preset, &AnalysisModels::default())?;
    for layer in &dropped {
        eprintln!("note: the {} layer is off: {}", layer.effect, layer.reason);
    }
    for session in pipeline.sessions() {
        let report = session.providers();
        eprintln!("{}: runs on {}", session.model_id(), report.active);
        for (provider, reason) in &report.failures {
            eprintln!(
                "warning: {}: execution provider {provider} failed: {reason}",
                session.model_id()
            );
        }
    }
    pipeline.set_temporal(source.is_sequence());

    // PNG encoding runs on its own thread so the next frame's inference overlaps it.
    let (sender, receiver) = mpsc::sync_channel::<(u64, image::RgbaImage)>(2);
    let writer = {
        let sink = match &sink {
            Sink::File(p) => Sink::File(p.clone()),
            Sink::Folder(p) => Sink::Folder(p.clone()),
        };
        thread::Builder::new().name("png-writer".into()).spawn(move || -> anyhow::Result<u64> {
            let mut written = 0;
            for (index, picture) in receiver {
                let path = match &sink {
                    Sink::File(path) => path.clone(),
                    Sink::Folder(folder) => folder.join(format!("frame_{index:06}.png")),
                };
                let rgb = image::DynamicImage::ImageRgba8(picture).to_rgb8();
                rgb.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
                written += 1;
            }
            Ok(written)
        })?
    };

    let progress = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} frames, {per_sec}, eta {eta}")
    {
        progress.set_style(style);
    }
    let mut processed = 0u64;
    let mut failure = None;
    while total.is_none_or(|n| processed < n) {
        let frame = match source.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                failure = Some(anyhow::Error::from(error));
                break;
            }
        };
        match pipeline.process(&context, &frame.image) {
            Ok(picture) => {
                if sender.send((processed, picture)).is_err() {
                    break;
                }
            }
            Err(error) => {
                failure =
                    Some(anyhow::Error::from(error).context(format!("frame {}", frame.index)));
                break;
            }
        }
        processed += 1;
        progress.inc(1);
    }
    drop(sender);
    progress.finish_and_clear();
    let written =
        writer.join().map_err(|_| anyhow::anyhow!("the PNG writer thread panicked"))??;
    if let Some(error) = failure {
        return Err(error.context(format!("stopped after {written} frames were written")));
    }
    let place = match &sink {
        Sink::File(p) | Sink::Folder(p) => p.display().to_string(),
    };
    eprintln!("{written} frames written to {place}");
    Ok(ExitCode::SUCCESS)
}
