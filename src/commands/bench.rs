//! `dreamlens bench models|stages|diffusion`: medians of model inference, of every pipeline
//! stage, and of each part of a diffusion pipeline.

use std::{process::ExitCode, time::Instant};

use dreamlens::{
    capture::{self, FrameSource},
    diffusion::{DiffusionOptions, DiffusionPipeline, Img2Img},
    effects::preset::Preset,
    inference::{
        AnalysisModels, ModelSession, SessionOptions, analysis, preprocess, remote::CallStats,
    },
    projection::{Thumbnail, estimate_flow},
    record::{EncoderSettings, H264Encoder, I420},
    render::{
        AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, readback,
        yuv::I420Converter,
    },
    restyle::EngineChoice,
    scene::{MapMotions, SceneAnalysis, Stylized},
    store::ModelStore,
};
use ndarray::ArrayD;

use crate::cli::{BenchArgs, DiffusionBenchArgs, StagesArgs};

/// Median inference time of each model at its own input size.
pub fn models(
    store: &ModelStore,
    options: &SessionOptions,
    args: &BenchArgs,
) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if args.ids.is_empty() {
        store
            .manifest()
            .models
            .iter()
            .filter(|m| m.contract.is_some() && store.locate(&m.id).is_ok())
            .map(|m| m.id.clone())
            .collect()
    } else {
        args.ids.clone()
    };
    println!(
        "{:<26} {:>11} {:>10} {:>10} {:>10}  provider",
        "model", "input", "median ms", "min ms", "max ms"
    );
    for id in ids {
        let model = store.locate(&id)?;
        let mut session = ModelSession::open(&model, options)?;
        let contract = session.contract()?.clone();
        // Free-size models are measured at 512x384, a typical preview size.
        let (width, height) = preprocess::input_size(&contract.input, 512, 384);
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let input = preprocess::to_tensor(&image, &contract.input).into_dyn();
        let extra = extra_inputs(&contract.extra_inputs);
        let mut times = Vec::with_capacity(args.runs as usize);
        for run in 0..args.runs + 2 {
            let started = Instant::now();
            session.run_tensor(input.clone(), extra.clone())?;
            if run >= 2 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<26} {:>11} {:>10.1} {:>10.1} {:>10.1}  {}",
            id,
            format!("{width}x{height}"),
            median(&times),
            times.first().copied().unwrap_or(f64::NAN),
            times.last().copied().unwrap_or(f64::NAN),
            session.providers()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Neutral values for the extra inputs of the style models.
fn extra_inputs(names: &[String]) -> Vec<(String, ArrayD<f32>)> {
    names
        .iter()
        .map(|name| {
            let value = if name == "style_weights" {
                let mut w = ArrayD::zeros(vec![26]);
                w[[0]] = 1.0;
                w
            } else {
                ArrayD::from_elem(vec![1, 1, 1, 100], 0.1)
            };
            (name.clone(), value)
        })
        .collect()
}

/// The median, or NaN (printed as such) when nothing was timed.
fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times `run` once per frame (after a warm-up on the first) and returns the median in ms.
fn time_per_frame(
    frames: &[image::RgbImage],
    mut run: impl FnMut(&image::RgbImage) -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    run(&frames[0])?;
    let mut times = Vec::with_capacity(frames.len());
    for frame in frames {
        let started = Instant::now();
        run(frame)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&times))
}

/// Median time of each pipeline stage on real frames.
pub fn stages(
    store: &ModelStore,
    options: &SessionOptions,
    args: &StagesArgs,
) -> anyhow::Result<ExitCode> {
    let (frames, decode_times) = stage_frames(args)?;
    let (width, height) = frames[0].dimensions();
    let context = RenderContext::headless()?;
    println!(
        "stage timings, {width}x{height}, median of {} frames; GPU: {} ({:?})",
        frames.len(),
        context.adapter_info.name,
        context.adapter_info.device_type
    );
    let source_name =
        if args.video.is_some() { "decode (H.264, FFmpeg)" } else { "demo scene render (CPU)" };
    println!("{source_name:<40} {:>8.1} ms", median(&decode_times));
    let scenes = time_models(store, options, &frames)?;
    let to_rgba = time_per_frame(&frames, |frame| {
        std::hint::black_box(dreamlens::render::rgba_bytes(frame));
        Ok(())
    })?;
    println!("{:<40} {to_rgba:>8.1} ms", "RGB to RGBA (CPU)");
    let gpu = GpuStages::new(context, frames, scenes);
    gpu.time_effects()?;
    gpu.time_temporal_filter()?;
    gpu.time_carry()?;
    gpu.time_output()?;
    Ok(ExitCode::SUCCESS)
}

/// The frames `bench stages` times, one more than asked (the first warms up), and how long each
/// took to decode or render.
fn stage_frames(args: &StagesArgs) -> anyhow::Result<(Vec<image::RgbImage>, Vec<f64>)> {
    let count = args.frames as usize;
    let mut source: Box<dyn FrameSource> = match &args.video {
        Some(path) => Box::new(capture::VideoFile::open(path)?),
        None => Box::new(capture::DemoScene::new(args.size.0, args.size.1, 30.0, count as u64 + 1)),
    };
    let mut frames = Vec::with_capacity(count + 1);
    let mut decode_times = Vec::with_capacity(count);
    while frames.len() <= count {
        let started = Instant::now();
        let Some(frame) = source.next_frame()? else { break };
        decode_times.push(started.elapsed().as_secs_f64() * 1e3);
        frames.push(frame.image);
    }
    anyhow::ensure!(
        frames.len() >= 3,
        "the input has {} frames; `bench stages` needs at least 3 (one warm-up, two timed)",
        frames.len()
    );
    Ok((frames, decode_times))
}

/// Times each default analysis model on the frames (preprocessing included) and returns each
/// frame's analysis, the three models' maps together.
fn time_models(
    store: &ModelStore,
    options: &SessionOptions,
    frames: &[image::RgbImage],
) -> anyhow::Result<Vec<SceneAnalysis>> {
    let models = AnalysisModels::default();
    let mut scenes = vec![SceneAnalysis::default(); frames.len()];
    for (stage, id) in [
        ("segmentation", &models.segmentation),
        ("person", &models.person),
        ("depth", &models.depth),
    ] {
        let Some(id) = id else { continue };
        let mut session = ModelSession::open(&store.locate(id)?, options)?;
        let mut outputs = Vec::new();
        let ms = time_per_frame(frames, |frame| {
            let mut scene = SceneAnalysis::default();
            match stage {
                "segmentation" => {
                    let passes = options.segmentation_passes;
                    scene.classes = Some(analysis::run_segmentation(&mut session, frame, passes)?)
                }
                "person" => scene.person = Some(analysis::run_person(&mut session, frame)?),
                _ => scene.depth = Some(analysis::run_depth(&mut session, frame)?),
            }
            outputs.push(scene);
            Ok(())
        })?;
        println!("{:<40} {ms:>8.1} ms", format!("model {id} (with preprocessing)"));
        // The first output is the warm-up's, on frame 0 again.
        for (scene, part) in scenes.iter_mut().zip(outputs.into_iter().skip(1)) {
            scene.classes = scene.classes.take().or(part.classes);
            scene.person = scene.person.take().or(part.person);
            scene.depth = scene.depth.take().or(part.depth);
        }
    }
    Ok(scenes)
}

/// The GPU side of `bench stages`: the frames with their analyses, composited frame by frame
/// with and without each part, side by side so the machine's noise cancels.
struct GpuStages {
    context: RenderContext,
    frames: Vec<image::RgbImage>,
    rgba: Vec<Vec<u8>>,
    scenes: Vec<SceneAnalysis>,
    stylized: Stylized,
}

impl GpuStages {
    fn new(
        context: RenderContext,
        frames: Vec<image::RgbImage>,
        scenes: Vec<SceneAnalysis>,
    ) -> Self {
        let rgba = frames.iter().map(dreamlens::render::rgba_bytes).collect();
        let stylized = Stylized::still(image::RgbaImage::from_pixel(
            512,
            288,
            image::Rgba([128, 100, 90, 255]),
        ));
        Self { context, frames, rgba, scenes, stylized }
    }

    fn size(&self) -> (u32, u32) {
        self.frames[0].dimensions()
    }

    fn compositor(&self, preset: Option<&Preset>) -> anyhow::Result<Compositor> {
        let (width, height) = self.size();
        let (layers, luts) = preset.map_or((&[][..], &[][..]), |p| (&p.layers[..], &p.luts[..]));
        Ok(Compositor::new(&self.context, width, height, layers, luts)?)
    }

    /// Frame `i` composited with its analysis (the maps carried by `motions` when given);
    /// returns the milliseconds it took, the GPU's work included.
    fn render(
        &self,
        compositor: &mut Compositor,
        i: usize,
        motions: Option<&MapMotions>,
    ) -> anyhow::Result<f64> {
        let scene = &self.scenes[i];
        let started = Instant::now();
        compositor.render(
            &self.context,
            &CompositorInput {
                pixels: FramePixels::Rgba(&self.rgba[i]),
                classes: scene.classes.as_ref(),
                person: scene.person.as_ref(),
                depth: scene.depth.as_ref(),
                motions,
                stylized: Some(&self.stylized),
            },
        )?;
        self.context.wait_idle()?;
        Ok(started.elapsed().as_secs_f64() * 1e3)
    }

    /// The analysis pass alone, then each preset's effects on top of it.
    fn time_effects(&self) -> anyhow::Result<()> {
        let mut base = self.compositor(None)?;
        let mut base_times = Vec::new();
        let mut effect_rows = Vec::new();
        for name in Preset::builtin_names() {
            let preset = Preset::load(name)?;
            let mut with = self.compositor(Some(&preset))?;
            let mut extra = Vec::new();
            for i in 0..self.frames.len() - 1 {
                let (b, w) = (self.render(&mut base, i, None)?, self.render(&mut with, i, None)?);
                if i > 0 {
                    base_times.push(b);
                    extra.push(w - b);
                }
            }
            effect_rows.push((name, median(&extra)));
        }
        let base_label = "upload + guides + edge-aware upsampling";
        println!("{base_label:<40} {:>8.1} ms", median(&base_times));
        for (name, ms) in effect_rows {
            println!("{:<40} {ms:>8.1} ms", format!("effect preset {name}"));
        }
        Ok(())
    }

    /// Video smooths the maps over time: the motion pass at a quarter of the frame's size and
    /// the blend with the previous result, timed against the same render without them.
    fn time_temporal_filter(&self) -> anyhow::Result<()> {
        let mut smoothed = self.compositor(None)?;
        smoothed.set_filter(AnalysisFilter { temporal: true, ..AnalysisFilter::default() });
        let mut plain = self.compositor(None)?;
        let mut temporal = Vec::new();
        for i in 0..self.frames.len() - 1 {
            let with = self.render(&mut smoothed, i, None)?;
            let without = self.render(&mut plain, i, None)?;
            if i > 1 {
                temporal.push(with - without);
            }
        }
        println!("{:<40} {:>8.1} ms", "temporal filter (motion pass + blend)", median(&temporal));
        Ok(())
    }

    /// Carrying maps made on the first frame onto the current one (live app): the motion is
    /// measured on thumbnails on the CPU, the maps are moved on the GPU; the GPU part is timed
    /// against the same render without motion, frame by frame.
    fn time_carry(&self) -> anyhow::Result<()> {
        let key = Thumbnail::of(&self.frames[0]);
        let flow_ms = time_per_frame(&self.frames[1..], |frame| {
            std::hint::black_box(estimate_flow(&Thumbnail::of(frame), &key).to_motion());
            Ok(())
        })?;
        println!("{:<40} {flow_ms:>8.1} ms", "motion estimate (CPU, thumbnails)");
        let mut carrying = self.compositor(None)?;
        let mut plain = self.compositor(None)?;
        let mut extra = Vec::new();
        for i in 1..self.frames.len() - 1 {
            let motion = estimate_flow(&Thumbnail::of(&self.frames[i]), &key).to_motion();
            let motions = MapMotions {
                classes: motion.clone(),
                person: motion.clone(),
                depth: motion,
                ..MapMotions::default()
            };
            let with = self.render(&mut carrying, i, Some(&motions))?;
            let without = self.render(&mut plain, i, None)?;
            if i > 1 {
                extra.push(with - without);
            }
        }
        println!("{:<40} {:>8.1} ms", "carry maps to the frame (GPU passes)", median(&extra));
        Ok(())
    }

    /// What follows the picture: readback, PNG, YUV 4:2:0 on either side, and H.264.
    fn time_output(&self) -> anyhow::Result<()> {
        let (context, frames, (width, height)) = (&self.context, &self.frames, self.size());
        let compositor = self.compositor(None)?;
        let readback_ms = time_per_frame(frames, |_| {
            std::hint::black_box(readback::read_rgba8(context, compositor.output_texture())?);
            Ok(())
        })?;
        println!("{:<40} {readback_ms:>8.1} ms", "readback");
        let png_ms = time_per_frame(frames, |frame| {
            let mut bytes = Vec::new();
            frame.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
            Ok(())
        })?;
        println!("{:<40} {png_ms:>8.1} ms", "PNG encode (writer thread)");
        let yuv_ms = time_per_frame(frames, |frame| {
            let rgba = dreamlens::render::rgba_bytes(frame);
            std::hint::black_box(I420::from_rgba(&rgba, width, height));
            Ok(())
        })?;
        println!("{:<40} {yuv_ms:>8.1} ms", "RGBA to YUV 4:2:0 on the CPU");
        let converter = I420Converter::new(context, width, height);
        let view = compositor.output_texture().create_view(&Default::default());
        let gpu_yuv_ms = time_per_frame(frames, |_| {
            let mut encoder = context.device.create_command_encoder(&Default::default());
            converter.encode(context, &mut encoder, &view, (width, height));
            context.queue.submit([encoder.finish()]);
            std::hint::black_box(readback::read_texture(context, converter.target())?);
            Ok(())
        })?;
        println!("{:<40} {gpu_yuv_ms:>8.1} ms", "YUV 4:2:0 on the GPU + its readback (recording)");
        let settings = EncoderSettings {
            bitrate_bps: (f64::from(width * height) * 0.1 * 30.0) as u32,
            keyframe_interval: Some(30),
            frame_rate: 30.0,
        };
        let mut encoder = H264Encoder::new(width & !1, height & !1, settings)?;
        let pictures: Vec<_> =
            self.rgba.iter().map(|rgba| I420::from_rgba(rgba, width, height)).collect();
        let mut next = 0;
        let encode_ms = time_per_frame(frames, |_| {
            std::hint::black_box(encoder.encode(&pictures[next % pictures.len()])?);
            next += 1;
            Ok(())
        })?;
        println!("{:<40} {encode_ms:>8.1} ms", "H.264 encode (OpenH264, recorder thread)");
        Ok(())
    }
}

/// Median time of each part of a diffusion pipeline, then of whole restyles (one and two steps).
pub fn diffusion(
    store: &ModelStore,
    options: &SessionOptions,
    engine: &EngineChoice,
    args: &DiffusionBenchArgs,
) -> anyhow::Result<ExitCode> {
    let dir = match args.model.clone().or_else(|| engine.diffusion_dir.clone()) {
        Some(dir) => dir,
        None => dreamlens::restyle::installed_pipeline(store, options)
            .map(|(dir, _)| dir)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no diffusion pipeline to measure: give --model DIR (tests/data/tiny-sd is a tiny one)"
                )
            })?,
    };
    let diffusion_options = DiffusionOptions {
        session: options.clone(),
        autoencoder: engine.autoencoder.clone(),
        scheduler: None,
    };
    let mut pipeline = DiffusionPipeline::open(&dir, &diffusion_options)?;
    println!(
        "{} at {size}x{size}: {} scheduler, {}, on {}, {} threads",
        dir.display(),
        pipeline.scheduler_name(),
        pipeline.autoencoder_name(),
        pipeline.providers(),
        options.threads,
        size = args.size,
    );
    println!("{:<32} {:>10}", "part", "median ms");
    for (part, ms) in pipeline.profile(args.size, args.size, args.runs as usize)? {
        println!("{part:<32} {ms:>10.1}");
    }
    let picture = image::RgbImage::from_fn(args.size, args.size, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    for (steps, strength) in [(2, 0.5), (4, 0.5)] {
        let request =
            Img2Img { prompt: "a cozy living room".into(), strength, steps, ..Img2Img::default() };
        let mut times = Vec::with_capacity(args.runs as usize);
        for run in 0..=args.runs {
            let started = Instant::now();
            pipeline.restyle(&picture, &request, 0, args.size)?;
            if run > 0 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        let ran = ((steps as f32 * strength) as usize).max(1);
        println!(
            "{:<32} {:>10.1}",
            format!("restyle, {ran} UNet step{}", if ran == 1 { "" } else { "s" }),
            median(&times)
        );
    }
    // What one keyframe (SD-Turbo's recipe: 2 steps at 0.5, one UNet run, the prompt's
    // embedding cached) sends to and receives from a server, per graph.
    let counters = |pipeline: &DiffusionPipeline| -> Vec<(String, CallStats)> {
        pipeline
            .sessions()
            .filter_map(|s| Some((s.model_id().to_owned(), s.remote_stats()?)))
            .collect()
    };
    let before = counters(&pipeline);
    if !before.is_empty() {
        let request = Img2Img {
            prompt: "a cozy living room".into(),
            strength: 0.5,
            steps: 2,
            ..Img2Img::default()
        };
        pipeline.restyle(&picture, &request, 0, args.size)?;
        println!(
            "{:<32} {:>10} {:>12} {:>12}",
            "per keyframe, remote", "calls", "bytes sent", "received"
        );
        for ((part, after), (_, then)) in counters(&pipeline).iter().zip(&before) {
            println!(
                "{part:<32} {:>10} {:>12} {:>12}",
                after.calls - then.calls,
                after.bytes_sent - then.bytes_sent,
                after.bytes_received - then.bytes_received
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
