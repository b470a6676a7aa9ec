//! `dreamlens process` (headless effects over photos, videos or the demo) and `presets list`.
//!
//! Threads: `frame-reader` decodes, `analysis-N` workers run the models on whole frames in
//! parallel, the calling thread composites on the GPU strictly in frame order (temporal
//! smoothing needs the order), and `output` encodes PNGs or records. Every frame gets its own fresh
//! analysis, so the output does not depend on timing or on the number of workers.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, Mutex, mpsc},
    thread,
};

use anyhow::{Context as _, bail};
use dreamlens::{
    capture::{self, Frame},
    effects::{Effect, preset::Preset},
    inference::{AnalysisModels, SessionOptions},
    pipeline::{CarriedMaps, EffectRenderer, FrameAnalysis, FrameAnalyzer, LayerPlan},
    projection::{DEFAULT_FADE_S, KeyframeProjector, Thumbnail},
    record::{Pixels, RecordFrame, RecordOptions, Recorder},
    render::{RenderContext, yuv::I420Converter},
    restyle::EngineChoice,
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
#[derive(Clone)]
enum Sink {
    /// One picture to this file.
    File(PathBuf),
    /// PNGs in this folder: named as the input photos they come from (`kitchen.jpg` gives
    /// `kitchen.png`), or `frame_NNNNNN.png` for a video's frames.
    Folder { folder: PathBuf, names: Vec<String> },
    /// An H.264 MP4 recording.
    Mp4(PathBuf),
}

impl Sink {
    fn for_output(output: &Path, input: &str, frames: Option<u64>) -> anyhow::Result<Self> {
        if capture::is_image_path(output) {
            if frames != Some(1) {
                bail!(
                    "output {} is one image file, but the input has {} frames; give a folder instead",
                    output.display(),
                    frames.map_or("many".into(), |n| n.to_string())
                );
            }
            if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
                super::create_folder(parent)?;
            }
            return Ok(Sink::File(output.to_owned()));
        }
        if output.extension().is_some_and(|e| e.eq_ignore_ascii_case("mp4")) {
            if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
                super::create_folder(parent)?;
            }
            return Ok(Sink::Mp4(output.to_owned()));
        }
        let input = Path::new(input);
        let names =
            if input.is_dir() { png_names(&capture::images_in(input)?) } else { Vec::new() };
        if !names.is_empty() && same_folder(input, output) {
            bail!(
                "output {} is the input folder: the edited photos would replace the originals; \
                 give another folder",
                output.display()
            );
        }
        super::create_folder(output)?;
        Ok(Sink::Folder { folder: output.to_owned(), names })
    }

    fn png_path(&self, index: u64) -> PathBuf {
        match self {
            Sink::File(path) | Sink::Mp4(path) => path.clone(),
            Sink::Folder { folder, names } => {
                match usize::try_from(index).ok().and_then(|i| names.get(i)) {
                    Some(name) => folder.join(name),
                    None => folder.join(format!("frame_{index:06}.png")),
                }
            }
        }
    }
}

/// The output names of a folder's photos, in the order they are read: each photo's name with
/// `.png`, or its whole file name with `.png` added when two photos share a stem (`a.jpg` and
/// `a.png` give `a.jpg.png` and `a.png.png`).
fn png_names(photos: &[PathBuf]) -> Vec<String> {
    let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let stems: Vec<String> = photos.iter().filter_map(stem).collect();
    let mut unique = stems.clone();
    unique.sort();
    unique.dedup();
    if stems.len() == photos.len() && unique.len() == stems.len() {
        return stems.into_iter().map(|s| format!("{s}.png")).collect();
    }
    photos
        .iter()
        .map(|p| format!("{}.png", p.file_name().unwrap_or_default().to_string_lossy()))
        .collect()
}

/// True when both paths name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

type Analysed = (Frame, anyhow::Result<FrameAnalysis>);

/// The input video's audio, to carry into the recording; says once why there is none.
fn input_audio(input: &str) -> Option<capture::audio::AudioTrack> {
    let path = Path::new(input);
    if input == "demo" || path.is_dir() || capture::is_image_path(path) {
        return None;
    }
    match capture::aac::read_audio(path) {
        Ok(Some(track)) => Some(track),
        Ok(None) => None,
        Err(error) => {
            eprintln!("note: the recording has no sound: {error}");
            None
        }
    }
}

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    engine: &EngineChoice,
    args: &ProcessArgs,
) -> anyhow::Result<ExitCode> {
    let default_preset = if args.restyle.is_some() { "restyle" } else { "wall-paint" };
    let mut preset = Preset::load(args.preset.as_deref().unwrap_or(default_preset))?;
    if let Some(prompt) = &args.restyle {
        preset = preset.with_restyle(prompt)?;
    }
    let reader = spawn_reader(args)?;
    let SourceInfo { total, is_sequence, size } = reader.info;
    let sink = Sink::for_output(&args.output, &args.input, total)?;
    let context = RenderContext::headless()?;
    if context.is_software() {
        eprintln!("note: no GPU found; compositing on {} (CPU)", context.adapter_info.name);
    }

    // One analyzer per worker, the cores shared between them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A diffusion model is gigabytes: one copy, not one per worker.
    let restyles = preset.layers.iter().any(|l| matches!(l.effect, Effect::Restyle { .. }));
    let default_jobs = if restyles { 1 } else { cores.min(4) };
    let jobs =
        args.jobs.unwrap_or(default_jobs).max(1).min(total.unwrap_or(u64::MAX).max(1) as usize);
    // Photos are unrelated pictures: each gets its own maps.
    let maps_every = if is_sequence { args.segment_every.max(1) } else { 1 };
    if maps_every != args.segment_every.max(1) {
        eprintln!("note: --segment-every applies to videos; each photo is analysed");
    }
    let (analyzers, plan) =
        open_analyzers(store, options, engine, &preset, args, jobs, maps_every)?;
    let carried = (maps_every > 1).then(|| CarriedMaps::new(maps_every));
    let keyframe_every = args.restyle_every.max(1);
    // Between keyframes (and across restyled frames, which would flicker), the stylized picture
    // is carried along by the measured motion and each new one fades in.
    let projector = (preset.needs_style() && is_sequence && (restyles || keyframe_every > 1))
        .then(|| KeyframeProjector::new(DEFAULT_FADE_S));
    let mut renderer = EffectRenderer::new(plan);
    renderer.set_temporal(is_sequence);
    let (workers, results) = spawn_workers(analyzers, reader.frames)?;

    // Output on its own thread: PNG encoding, or the recorder for MP4, so the next frame's
    // analysis overlaps it.
    let (picture_sender, picture_receiver) = mpsc::sync_channel::<(u64, RecordFrame)>(2);
    let record_options = RecordOptions {
        bitrate_bps: args.bitrate.map(|kbps| kbps.saturating_mul(1000)),
        keyframe_interval_s: args.keyframe_interval.max(0.1),
        max_duration_s: args.max_duration,
        output_size: args.output_size,
    };
    // The recording starts before the first frame, so an unwritable path is refused at once.
    let recorder = match &sink {
        Sink::Mp4(path) => {
            let audio = input_audio(&args.input).map(capture::audio::Sound::File);
            Some(Recorder::start(path, size.0, size.1, record_options, audio)?)
        }
        _ => None,
    };
    // MP4 on a real GPU: the picture goes to I420 (and to the output size) there. A software
    // adapter is slower at it than the recorder thread's CPU conversion (BENCHMARKS.md).
    let converter = recorder.as_ref().filter(|_| !context.is_software()).map(|_| {
        let (width, height) = args.output_size.unwrap_or(size);
        I420Converter::new(&context, width, height)
    });
    let writer = spawn_output(sink.clone(), recorder, picture_receiver)?;

    let progress = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} frames, {per_sec}, eta {eta}")
    {
        progress.set_style(style);
    }
    let mut compositing =
        Compositing { context, renderer, converter, projector, carried, is_sequence };
    let (next, failure) = compositing.in_order(results, &picture_sender, &progress);
    // Stop the output (its channel closes) before joining.
    drop(picture_sender);
    progress.finish_and_clear();
    let written =
        writer.join().map_err(|_| anyhow::anyhow!("the PNG writer thread panicked"))??;
    let stopped = join_all(reader.thread, workers, next).err();
    if let Some(error) = failure.or(stopped).or_else(|| reader.error.try_recv().ok()) {
        return Err(error.context(format!("stopped after {}", frames_written(written))));
    }
    let place = match &sink {
        Sink::File(p) | Sink::Folder { folder: p, .. } | Sink::Mp4(p) => p.display().to_string(),
    };
    eprintln!("{} to {place}", frames_written(written));
    Ok(ExitCode::SUCCESS)
}

/// What the frame reader says about its input before the first frame.
#[derive(Clone, Copy)]
struct SourceInfo {
    /// Frames it will send, when known.
    total: Option<u64>,
    /// A video or the demo (frames in time), not photos.
    is_sequence: bool,
    /// The first frame's size, which a recording keeps.
    size: (u32, u32),
}

/// The `frame-reader` thread and what it hands over.
struct Reader {
    thread: thread::JoinHandle<()>,
    frames: mpsc::Receiver<Frame>,
    /// Why it stopped early, if it did.
    error: mpsc::Receiver<anyhow::Error>,
    info: SourceInfo,
}

/// Opens the input on its own thread (decoders are not Send); returns once it has reported
/// what the input is.
fn spawn_reader(args: &ProcessArgs) -> anyhow::Result<Reader> {
    let (frame_sender, frames) = mpsc::sync_channel::<Frame>(4);
    let (info_sender, info_receiver) = mpsc::channel::<anyhow::Result<SourceInfo>>();
    let (error_sender, error) = mpsc::channel::<anyhow::Error>();
    let (input, demo_size, max_frames) = (args.input.clone(), args.demo_size, args.max_frames);
    // A recording has one picture size: photos of other sizes are scaled to the first one's.
    let one_size = args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
    let thread = thread::Builder::new().name("frame-reader".into()).spawn(move || {
        let mut source = match capture::open_input(&input, demo_size, max_frames.unwrap_or(300)) {
            Ok(source) => source,
            Err(error) => {
                let _ = info_sender.send(Err(error.into()));
                return;
            }
        };
        let total = match (source.frame_count(), max_frames) {
            (Some(n), Some(max)) => Some(n.min(max)),
            (n, max) => n.or(max),
        };
        let size = source.size();
        let is_sequence = source.is_sequence();
        let _ = info_sender.send(Ok(SourceInfo { total, is_sequence, size }));
        let mut sent = 0u64;
        let mut noticed_resize = false;
        while total.is_none_or(|n| sent < n) {
            match source.next_frame() {
                Ok(Some(mut frame)) => {
                    if one_size && frame.image.dimensions() != size {
                        if !noticed_resize {
                            eprintln!(
                                "note: frame {} is {}x{}; frames of other sizes are scaled to the first frame's {}x{} for the recording",
                                frame.index,
                                frame.image.width(),
                                frame.image.height(),
                                size.0,
                                size.1
                            );
                            noticed_resize = true;
                        }
                        frame.image = dreamlens::resize::rgb(&frame.image, size.0, size.1);
                    }
                    if frame_sender.send(frame).is_err() {
                        return;
                    }
                    sent += 1;
                }
                Ok(None) => return,
                Err(error) => {
                    let _ = error_sender.send(error.into());
                    return;
                }
            }
        }
    })?;
    let info = info_receiver
        .recv()
        .map_err(|_| anyhow::anyhow!("the frame reader stopped before opening the input"))??;
    Ok(Reader { thread, frames, error, info })
}

/// One analyzer per worker, and the layer plan; a layer whose model is missing is an error
/// unless `--allow-missing-models`.
fn open_analyzers(
    store: &ModelStore,
    options: &SessionOptions,
    engine: &EngineChoice,
    preset: &Preset,
    args: &ProcessArgs,
    jobs: usize,
    maps_every: u64,
) -> anyhow::Result<(Vec<FrameAnalyzer>, LayerPlan)> {
    let worker_options =
        SessionOptions { threads: (options.threads / jobs).max(1), ..options.clone() };
    let models = AnalysisModels {
        segmentation: Some(preset.segmentation_model_or(args.segmentation_model.as_deref())),
        ..AnalysisModels::default()
    };
    let (mut first, plan) = FrameAnalyzer::open(store, &worker_options, preset, &models, engine)?;
    if !args.allow_missing_models
        && let Some(layer) = plan.dropped.first()
    {
        anyhow::bail!(
            "the {} layer cannot run: {}. Nothing was written; to write the frames without it, \
             pass --allow-missing-models",
            layer.effect,
            layer.reason
        );
    }
    for layer in &plan.dropped {
        eprintln!("note: the {} layer is off: {}", layer.effect, layer.reason);
    }
    if let Some(reason) = &plan.unspared {
        eprintln!("note: people are not kept out of the walls, floor and ceiling: {reason}");
    }
    super::report_providers(first.sessions());
    if let Some(label) = first.restyle_label() {
        eprintln!("restyle engine: {label}");
    }
    let keyframe_every = args.restyle_every.max(1);
    first.set_keyframe_every(keyframe_every);
    first.set_maps_every(maps_every);
    let mut analyzers = vec![first];
    for _ in 1..jobs {
        let mut analyzer = FrameAnalyzer::open(store, &worker_options, preset, &models, engine)?.0;
        analyzer.set_keyframe_every(keyframe_every);
        analyzer.set_maps_every(maps_every);
        analyzers.push(analyzer);
    }
    Ok((analyzers, plan))
}

/// The `analysis-N` workers, taking whole frames from `frames` in turn; their results arrive
/// in the order they finish.
fn spawn_workers(
    analyzers: Vec<FrameAnalyzer>,
    frames: mpsc::Receiver<Frame>,
) -> anyhow::Result<(Vec<thread::JoinHandle<()>>, mpsc::Receiver<Analysed>)> {
    let frames = Arc::new(Mutex::new(frames));
    let (result_sender, results) = mpsc::sync_channel::<Analysed>(analyzers.len() * 2);
    let mut workers = Vec::with_capacity(analyzers.len());
    for (index, mut analyzer) in analyzers.into_iter().enumerate() {
        let frames = Arc::clone(&frames);
        let results = result_sender.clone();
        workers.push(thread::Builder::new().name(format!("analysis-{index}")).spawn(
            move || {
                loop {
                    let next = frames.lock().map(|receiver| receiver.recv());
                    let Ok(Ok(frame)) = next else { return };
                    let analysis =
                        analyzer.analyze(&frame.image, frame.index).map_err(anyhow::Error::from);
                    if results.send((frame, analysis)).is_err() {
                        return;
                    }
                }
            },
        )?);
    }
    Ok((workers, results))
}

/// The `output` thread: each picture to its PNG, or to the recorder; returns how many were
/// written.
fn spawn_output(
    sink: Sink,
    mut recorder: Option<Recorder>,
    pictures: mpsc::Receiver<(u64, RecordFrame)>,
) -> anyhow::Result<thread::JoinHandle<anyhow::Result<u64>>> {
    let output = thread::Builder::new().name("output".into()).spawn(move || {
        let mut written = 0;
        for (index, frame) in pictures {
            if let Some(recorder) = &mut recorder {
                if !recorder.push(frame) {
                    break;
                }
                written += 1;
                continue;
            }
            let Pixels::Rgba(rgba) = frame.pixels else {
                anyhow::bail!("frame {index}: a picture file needs RGBA pixels");
            };
            let path = sink.png_path(index);
            let rgb = image::RgbaImage::from_raw(frame.width, frame.height, rgba)
                .map(|rgba| image::DynamicImage::ImageRgba8(rgba).to_rgb8())
                .ok_or_else(|| anyhow::anyhow!("frame {index}: short picture"))?;
            rgb.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
            written += 1;
        }
        if let Some(recorder) = recorder {
            let stats = recorder.finish()?;
            return Ok(stats.frames);
        }
        Ok(written)
    })?;
    Ok(output)
}

/// The calling thread's part: compositing analysed frames strictly in order on the GPU.
struct Compositing {
    context: RenderContext,
    renderer: EffectRenderer,
    /// I420 on the GPU for a recording on a real GPU.
    converter: Option<I420Converter>,
    /// Carries stylized keyframes onto the frames between them.
    projector: Option<KeyframeProjector>,
    /// Carries the region maps onto the frames the models skipped (`--segment-every`).
    carried: Option<CarriedMaps>,
    is_sequence: bool,
}

impl Compositing {
    /// Composites `results` in frame order (workers may finish out of order) and sends each
    /// picture to `pictures`; returns the next frame position and the failure that stopped
    /// it, if one did.
    fn in_order(
        &mut self,
        results: mpsc::Receiver<Analysed>,
        pictures: &mpsc::SyncSender<(u64, RecordFrame)>,
        progress: &indicatif::ProgressBar,
    ) -> (u64, Option<anyhow::Error>) {
        let mut pending: BTreeMap<u64, Analysed> = BTreeMap::new();
        let mut next = 0u64;
        for analysed in results.iter() {
            pending.insert(analysed.0.index, analysed);
            while let Some((frame, analysis)) = pending.remove(&next) {
                let picture = analysis
                    .and_then(|analysis| self.picture(&frame, analysis, next))
                    .with_context(|| format!("frame {}", frame.index));
                match picture.map(|picture| pictures.send((next, picture))) {
                    Ok(Ok(())) => {}
                    // The output stopped; its own error says why.
                    Ok(Err(_)) => return (next, None),
                    Err(error) => return (next, Some(error)),
                }
                next += 1;
                progress.inc(1);
            }
        }
        (next, None)
    }

    /// One frame's picture, the `position`-th of the output.
    fn picture(
        &mut self,
        frame: &Frame,
        mut analysis: FrameAnalysis,
        position: u64,
    ) -> anyhow::Result<RecordFrame> {
        let thumbnail = (self.projector.is_some() || self.carried.is_some())
            .then(|| Thumbnail::of(&frame.image));
        if let (Some(carried), Some(thumbnail)) = (&mut self.carried, &thumbnail) {
            carried.fill(frame.index, thumbnail, &mut analysis);
        }
        if let (Some(projector), Some(thumbnail)) = (&mut self.projector, thumbnail) {
            if let Some(keyframe) = analysis.stylized.take() {
                projector.set_keyframe(keyframe.current.picture, thumbnail.clone(), frame.time_s);
            }
            analysis.stylized = projector.project(&thumbnail, frame.time_s);
        }
        // Photos have no capture time; give them 30 frames per second.
        let time_s = if self.is_sequence { frame.time_s } else { position as f64 / 30.0 };
        let Some(converter) = &self.converter else {
            let picture = self.renderer.render(&self.context, &frame.image, &analysis)?;
            let (width, height) = picture.dimensions();
            let pixels = Pixels::Rgba(picture.into_raw());
            return Ok(RecordFrame { pixels, width, height, time_s });
        };
        let bytes = self.renderer.render_i420(&self.context, &frame.image, &analysis, converter)?;
        let (width, height) = converter.size();
        Ok(RecordFrame { pixels: Pixels::I420(bytes), width, height, time_s })
    }
}

/// "1 frame written", "2 frames written".
fn frames_written(count: u64) -> String {
    format!("{count} frame{} written", if count == 1 { "" } else { "s" })
}

/// Waits for the reader and the analysis workers. A thread that panicked lost the frame the
/// output stopped at (`next_frame`): an error naming it, never a short output that exits 0.
fn join_all(
    reader: std::thread::JoinHandle<()>,
    workers: Vec<std::thread::JoinHandle<()>>,
    next_frame: u64,
) -> anyhow::Result<()> {
    let reader_failed = reader.join().is_err();
    let workers_failed = workers.into_iter().map(|w| w.join()).filter(Result::is_err).count();
    match (reader_failed, workers_failed) {
        (false, 0) => Ok(()),
        (true, _) => Err(anyhow::anyhow!(
            "frame {next_frame}: the frame reader stopped unexpectedly (a bug; please report it)"
        )),
        (false, _) => Err(anyhow::anyhow!(
            "frame {next_frame}: its analysis stopped unexpectedly (a bug; please report it)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(panics: bool) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || assert!(!panics, "a planted panic"))
    }

    #[test]
    fn photos_keep_their_names_and_a_shared_stem_keeps_the_extension() {
        let photos = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            png_names(&photos(&["in/hall.jpg", "in/kitchen.JPEG"])),
            ["hall.png", "kitchen.png"]
        );
        assert_eq!(png_names(&photos(&["in/a.jpg", "in/a.png"])), ["a.jpg.png", "a.png.png"]);
    }

    #[test]
    fn a_panicking_worker_fails_the_run_with_the_frame_it_lost() {
        let error = join_all(thread(false), vec![thread(false), thread(true)], 7)
            .expect_err("a worker panicked");
        assert!(error.to_string().contains("frame 7"), "{error}");
        let error =
            join_all(thread(true), vec![thread(false)], 3).expect_err("the reader panicked");
        assert!(error.to_string().contains("frame 3"), "{error}");
        join_all(thread(false), vec![thread(false), thread(false)], 9).expect("none panicked");
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(frames_written(1), "1 frame written");
        assert_eq!(frames_written(60), "60 frames written");
    }
}
