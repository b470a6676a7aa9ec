//! The live page: camera frames composited with the preset on WebGPU, one frame per animation
//! frame, with the models' newest results. Start-up is awaited in steps (GPU, camera, runtime,
//! models), and each failure is shown on the page with what to do; a model that cannot be used
//! turns off only the layers that need it, and the camera keeps running. The controls and HUD
//! are the shared egui panel, drawn on the same canvas; the picture takes the area they leave.

use std::{
    cell::RefCell,
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use dreamlens::{
    controls::{Actions, ControlsPainter, HudData, Settings, panel},
    effects::{Effect, Layer, RegionSelector, preset::Preset, set_restyle_prompt},
    inference::web::{self, WebSession},
    pipeline::{EffectRenderer, FrameAnalysis, LayerPlan},
    projection::{DEFAULT_FADE_S, KeyframeProjector, MotionsTo, Thumbnail},
    render::{
        FramePixels, ReferencePixels, RenderContext, present::Presenter, readback::ReadbackRing,
    },
    scene::{DisabledStage, MapMotions, SceneAnalysis},
    store::manifest::{DEFAULT_DEPTH_MODEL, DEFAULT_PERSON_MODEL, Manifest},
    style_transfer::{STYLE_MODEL, STYLE_PREDICT_MODEL, STYLE_TRANSFORM_MODEL, StyleChoice},
};
use image::RgbImage;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, prelude::*};
use wasm_bindgen_futures::JsFuture;

use crate::{
    glue, input,
    options::{FrameCopy, PageOptions},
    recording::{Recording, SavedClip},
    stages::{STYLE_SKIP_LEVELS, Stage, StageKind, StageOutput},
    summary::{PageSummary, StageSummary},
};

/// Where the page serves onnxruntime-web's files, below its own origin.
const RUNTIME_PATH: &str = "ort/";
/// Where the page serves model files, below its own origin (the store's layout).
const MODELS_PATH: &str = "models/";

/// The page's clock in milliseconds.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// The adapter as the HUD names it: browsers hide the GPU's name unless asked, so its backend
/// and kind stand in.
fn adapter_name(info: &wgpu::AdapterInfo) -> String {
    match info.name.as_str() {
        "" => format!("{:?} {:?}", info.backend, info.device_type),
        name => name.to_owned(),
    }
}

/// The least height of a control under a finger, in CSS px (platform guides ask 44-48).
const TOUCH_TARGET_PT: f32 = 40.0;

/// How long a notice stays in the banner.
const MESSAGE_MS: f64 = 6000.0;

/// The canvas-bound GPU state.
struct Gpu {
    context: RenderContext,
    canvas: web_sys::HtmlCanvasElement,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    presenter: Presenter,
    /// Device pixels per CSS pixel (egui's points are CSS pixels).
    pixels_per_point: f32,
}

/// The controls over the picture.
struct Controls {
    painter: ControlsPainter,
    settings: Settings,
    /// The layer a tap on the picture re-targets.
    picked_layer: usize,
    /// A passing notice, and when it was given (page clock).
    message: Option<(String, f64)>,
    description: String,
    /// The segmentation models the panel offers.
    segmentation_models: Vec<String>,
    /// Where the restyle prompt's field is, in points (CSS pixels), when the panel shows one.
    prompt_field: Option<egui::Rect>,
}

/// A camera frame, as the models and the compositor take it. The picture itself stays in the
/// browser, which copies it to the GPU; the CPU holds only a small copy.
struct CameraFrame {
    index: u64,
    /// A small RGBA copy (the regions' reference colours, the motion thumbnail).
    small: Vec<u8>,
    small_size: (u32, u32),
    /// The whole frame as RGBA, where it is uploaded from the CPU (`FrameCopy::Cpu`, or the
    /// camera's picture changed size since the page started).
    rgba: Option<Vec<u8>>,
    /// Its motion thumbnail, made when a model runs (maps from older frames are carried onto it).
    thumbnail: Option<Rc<Thumbnail>>,
    /// When it came, on the page's clock.
    captured_ms: f64,
}

impl Controls {
    /// The panel for the page's options, its first region layer picked for taps on the
    /// picture.
    fn new(
        painter: ControlsPainter,
        options: &PageOptions,
        renderer: &EffectRenderer,
        description: &str,
    ) -> Self {
        let layers = renderer.layers();
        let picked_layer = layers.iter().position(|l| l.region.needs_segmentation()).unwrap_or(0);
        // The field starts with the prompt the picture is restyled from now.
        let restyle_prompt = layers
            .iter()
            .find_map(|l| match &l.effect {
                Effect::Restyle { prompt, .. } => Some(prompt.clone()),
                _ => None,
            })
            .unwrap_or_default();
        Self {
            painter,
            settings: Settings {
                preset: options.preset.clone(),
                segmentation_model: options.segmentation_model.clone(),
                restyle_prompt,
                ..Settings::default()
            },
            picked_layer,
            message: None,
            description: description.to_owned(),
            segmentation_models: Manifest::builtin().segmentation_models(),
            prompt_field: None,
        }
    }
}

/// Frames the page lets the GPU work on at once: two keep it busy while the next is prepared,
/// and no more, as WebGPU queues without limit.
const FRAMES_IN_FLIGHT: u32 = 2;

/// Everything the frame loop holds.
struct Page {
    options: PageOptions,
    gpu: Gpu,
    camera: JsValue,
    camera_name: String,
    camera_frames_seen: f64,
    controls: Controls,
    /// Start or stop recording, asked for by the controls or a key.
    record_wanted: bool,
    size: (u32, u32),
    renderer: EffectRenderer,
    stages: Vec<Stage>,
    dropped: Vec<String>,
    frame: Option<CameraFrame>,
    /// The last composited picture, drawn again when only the controls changed.
    last_picture: Option<wgpu::Texture>,
    /// How camera frames reach the GPU.
    frame_copy: FrameCopy,
    /// Frames submitted whose GPU work is not done yet.
    gpu_in_flight: Arc<AtomicU32>,
    /// The maps composited, the frame index each stage's came from, and the camera frame
    /// their motions carry them onto.
    analysis: FrameAnalysis,
    analysis_from: Vec<Option<u64>>,
    analysis_onto: Option<u64>,
    /// The style stage's newest picture and the one before, carried onto each frame shown.
    keyframes: KeyframeProjector,
    /// What makes the stylized picture of a `restyle` layer here, and why.
    restyle_engine: Option<String>,
    /// The thumbnail of the frame the style stage was last given.
    style_offered: Option<Rc<Thumbnail>>,
    /// The frame last composited (index, thumbnail, capture time): the temporal filter's
    /// history moves by the motion since, and weighs by the time since.
    last_composited: Option<(u64, Rc<Thumbnail>, f64)>,
    frames_captured: u64,
    shown: u64,
    started_ms: f64,
    last_shown_ms: Option<f64>,
    max_gap_ms: f64,
    /// Frames shown while a model run was going.
    shown_beside_runs: u64,
    fps: f64,
    recording: Option<Recording>,
    clip: Rc<RefCell<Option<SavedClip>>>,
    /// When the scripted run ended (its numbers stop there).
    finished_ms: Option<f64>,
    /// A snapshot asked for and not yet read back.
    snapshot_wanted: bool,
    snapshot_ring: Option<ReadbackRing<()>>,
    snapshot: Option<String>,
    finished: bool,
}

/// Starts the page: returns once the frame loop runs, or with the reason it cannot.
pub async fn run() -> Result<(), String> {
    let window = web_sys::window().ok_or("no browser window")?;
    let options = page_options(&window)?;
    let mut preset = Preset::load(&options.preset).map_err(|e| e.to_string())?;
    if let Some(prompt) = &options.restyle {
        preset = preset.with_restyle(prompt).map_err(|e| e.to_string())?;
    }

    glue::set_status("starting the GPU…", "info");
    let canvas = window
        .document()
        .and_then(|document| document.get_element_by_id("picture"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        .ok_or("the page has no <canvas id=picture>")?;
    let (context, surface) = open_gpu(&canvas).await?;
    let frame_copy =
        options.frame_copy.unwrap_or_else(|| FrameCopy::for_adapter(&context.adapter_info));

    glue::set_status("opening the camera…", "info");
    let (width, height) = options.camera_size;
    let camera = JsFuture::from(glue::open_camera(width, height, "environment"))
        .await
        .map_err(glue::message)?;
    let size = match glue::camera_size(&camera)[..] {
        [w, h] if w > 0 && h > 0 => (w, h),
        _ => return Err("the camera gave no picture size".into()),
    };
    context.check_size(size.0, size.1).map_err(|e| e.to_string())?;
    let config = surface_config(&surface, &context)?;
    let presenter = Presenter::new(&context);
    let painter = controls_painter(&context, config.format);

    let (stages, disabled) = open_stages(&preset, &options).await;
    let style_off =
        disabled.iter().find(|d| d.stage == StageKind::Style.name()).map(|d| d.reason.clone());
    let restyle_engine = restyle_engine(&preset.layers, &stages);
    let plan = LayerPlan::new(&preset, &disabled, style_off);
    let dropped: Vec<String> =
        plan.dropped.iter().map(|d| format!("{}: {}", d.effect, d.reason)).collect();
    let mut renderer = EffectRenderer::new(plan);
    // Camera frames follow each other: masks are smoothed over time, as in the desktop window.
    renderer.set_temporal(true);
    let status = disabled.iter().map(|d| d.reason.clone()).collect::<Vec<_>>().join("\n");
    glue::set_status(&status, if status.is_empty() { "info" } else { "error" });
    let controls = Controls::new(painter, &options, &renderer, &preset.description);

    let page = Rc::new(RefCell::new(Page {
        camera_name: glue::camera_label(&camera),
        options,
        gpu: Gpu {
            context,
            canvas: canvas.clone(),
            surface,
            config,
            presenter,
            pixels_per_point: 1.0,
        },
        camera,
        controls,
        record_wanted: false,
        camera_frames_seen: -1.0,
        size,
        renderer,
        stages,
        dropped,
        frame: None,
        last_picture: None,
        gpu_in_flight: Arc::new(AtomicU32::new(0)),
        frame_copy,
        analysis: FrameAnalysis::default(),
        analysis_from: Vec::new(),
        analysis_onto: None,
        keyframes: KeyframeProjector::new(DEFAULT_FADE_S),
        restyle_engine,
        style_offered: None,
        last_composited: None,
        frames_captured: 0,
        shown: 0,
        started_ms: now_ms(),
        last_shown_ms: None,
        max_gap_ms: 0.0,
        shown_beside_runs: 0,
        fps: 0.0,
        recording: None,
        clip: Rc::new(RefCell::new(None)),
        finished_ms: None,
        snapshot_wanted: false,
        snapshot_ring: None,
        snapshot: None,
        finished: false,
    }));
    listen(&page, &canvas);
    let seconds = page.borrow().options.record_seconds;
    if let Some(seconds) = seconds {
        start_recording(&page, seconds).await;
    }
    animate(page);
    Ok(())
}

/// What makes a `restyle` layer's picture here, and why, when `layers` have one: style
/// transfer, as a desktop without a diffusion model does.
fn restyle_engine(layers: &[Layer], stages: &[Stage]) -> Option<String> {
    let restyles = layers.iter().any(|l| matches!(l.effect, Effect::Restyle { .. }));
    let stage = stages.iter().find(|s| s.kind == StageKind::Style).filter(|_| restyles)?;
    let prompt = if stage.paints_a_picture() {
        "the picture chosen sets the style, not the prompt"
    } else {
        "so the prompt only chooses among the built-in styles"
    };
    Some(format!(
        "style transfer ({}) on {}: the browser runs no diffusion model, {prompt}",
        stage.style_label(),
        stage.provider
    ))
}

/// The page's options from its address (`?preset=...`); the provider defaults to WebGPU where
/// the browser has it.
fn page_options(window: &web_sys::Window) -> Result<PageOptions, String> {
    let search = window.location().search().map_err(glue::message)?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).map_err(glue::message)?;
    let pairs = js_sys::try_iter(&params)
        .map_err(glue::message)?
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let pair = entry.dyn_into::<js_sys::Array>().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        });
    let webgpu = js_sys::Reflect::has(&window.navigator(), &"gpu".into()).unwrap_or(false);
    PageOptions::parse(pairs, webgpu).map_err(|e| e.to_string())
}

/// A WebGPU device and a surface on `canvas`, or what the browser lacks.
async fn open_gpu(
    canvas: &web_sys::HtmlCanvasElement,
) -> Result<(RenderContext, wgpu::Surface<'static>), String> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = wgpu::Backends::BROWSER_WEBGPU;
    let instance = wgpu::Instance::new(descriptor);
    let surface = instance
        .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
        .map_err(|e| format!("cannot draw on the page: {e}"))?;
    let context = RenderContext::for_surface_async(instance, &surface).await.map_err(|e| {
        format!("{e}. This page needs WebGPU: a recent Chrome, Edge or Safari, or Firefox with WebGPU on")
    })?;
    Ok((context, surface))
}

/// The canvas's configuration, sized on the first frame.
fn surface_config(
    surface: &wgpu::Surface<'static>,
    context: &RenderContext,
) -> Result<wgpu::SurfaceConfiguration, String> {
    let caps = surface.get_capabilities(&context.adapter);
    // The browser's preferred canvas format comes first (`getPreferredCanvasFormat`); another
    // may have no swap-chain backing (Chromium on SwiftShader refuses RGBA8 and loses the
    // device). The compositor's picture is already sRGB-encoded, so an sRGB view is avoided.
    let format = caps
        .formats
        .first()
        .copied()
        .map(|f| f.remove_srgb_suffix())
        .ok_or("the canvas offers no format")?;
    Ok(wgpu::SurfaceConfiguration {
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        format,
        color_space: wgpu::SurfaceColorSpace::Auto,
        width: 1,
        height: 1,
        present_mode: wgpu::PresentMode::AutoVsync,
        desired_maximum_frame_latency: 2,
        alpha_mode: caps.alpha_modes[0],
        view_formats: vec![],
    })
}

/// The shared controls drawn in `format`, made for fingers where the pointer is one.
fn controls_painter(context: &RenderContext, format: wgpu::TextureFormat) -> ControlsPainter {
    let painter = ControlsPainter::new(context, format);
    // A press released where it began is a tap however long it lasted, as a phone's buttons
    // take it; egui's default (0.8 s) would also turn quick taps into nothing when a slow
    // phone's frames come far apart.
    painter.egui().options_mut(|o| o.input_options.max_click_duration = f64::INFINITY);
    if glue::coarse_pointer() {
        // A fingertip is about 40 CSS px: egui's mouse-sized widgets grow to a touch size.
        painter.egui().all_styles_mut(|style| {
            style.spacing.interact_size.y = TOUCH_TARGET_PT;
            style.spacing.button_padding = egui::vec2(10.0, 8.0);
            style.spacing.item_spacing = egui::vec2(10.0, 8.0);
        });
    }
    painter
}

/// Publishes `window.dreamlens.summary()` and listens to the keys and the canvas's pointer.
fn listen(page: &Rc<RefCell<Page>>, canvas: &web_sys::HtmlCanvasElement) {
    let summary_page = Rc::clone(page);
    let last_summary = RefCell::new(String::from("null"));
    // A frame that a script error cut short leaves the page borrowed (the exception unwinds
    // through the wasm frame): the last summary answers then, rather than a panic.
    let summary = Closure::<dyn Fn() -> String>::new(move || {
        if let Ok(page) = summary_page.try_borrow() {
            *last_summary.borrow_mut() = serde_json::to_string(&page.summary()).unwrap_or_default();
        }
        last_summary.borrow().clone()
    });
    glue::expose_summary(summary.as_ref().unchecked_ref());
    summary.forget();
    let key_page = Rc::clone(page);
    let on_key = Closure::<dyn Fn(String)>::new(move |key: String| {
        let mut page = key_page.borrow_mut();
        match key.as_str() {
            " " => page.record_wanted = true,
            "s" => page.snapshot_wanted = true,
            "h" => {
                page.controls.settings.show_hud ^= true;
                page.controls.painter.invalidate();
            }
            "f" => glue::toggle_fullscreen(),
            _ => {}
        }
    });
    glue::listen_keys(on_key.as_ref().unchecked_ref());
    on_key.forget();
    let picture_page = Rc::clone(page);
    let on_picture = Closure::<dyn Fn(String, u32, u32, Option<Vec<u8>>, String)>::new(
        move |name: String, width: u32, height: u32, rgba: Option<Vec<u8>>, reason: String| {
            let picture = rgba.and_then(|rgba| image::RgbaImage::from_raw(width, height, rgba));
            let Some(picture) = picture else {
                let message = format!("Cannot read {name} as a picture: {reason}");
                picture_page.borrow_mut().notify(message);
                return;
            };
            let picture = image::DynamicImage::ImageRgba8(picture).into_rgb8();
            wasm_bindgen_futures::spawn_local(paint_in_the_style_of(
                Rc::clone(&picture_page),
                name,
                picture,
            ));
        },
    );
    glue::listen_style_picture(on_picture.as_ref().unchecked_ref());
    on_picture.forget();
    glue::listen_pointer(canvas);
}

/// Switches the style stage to the style of `picture` (chosen by the user as `name`): the
/// arbitrary-style pair's predictor reads its style once, and its transformer paints every
/// frame from then on, as the desktop's `image` style layers do.
async fn paint_in_the_style_of(page: Rc<RefCell<Page>>, name: String, picture: RgbImage) {
    let provider = page.borrow().options.provider;
    page.borrow_mut().notify(format!("Reading the style of {name}…"));
    let made = picture_style_stage(&name, &picture, provider).await;
    glue::set_progress("", -1.0);
    match made {
        Ok(stage) => {
            let mut page = page.borrow_mut();
            let label = stage.style_label();
            // The chooser is offered only beside a running style stage (`hud_data`).
            let Some(at) = page.stages.iter().position(|s| s.kind == StageKind::Style) else {
                return;
            };
            page.stages[at] = stage;
            // A still camera is stylized again, in the new style.
            page.style_offered = None;
            let layers = page.renderer.layers().to_vec();
            page.restyle_engine = restyle_engine(&layers, &page.stages);
            page.notify(format!("Painting in {label}"));
        }
        Err(reason) => {
            page.borrow_mut().notify(format!("Cannot paint in the style of {name}: {reason}"))
        }
    }
}

/// A style stage painting in the style of `picture`.
async fn picture_style_stage(
    name: &str,
    picture: &RgbImage,
    provider: web::WebProvider,
) -> Result<Stage, String> {
    let manifest = Manifest::builtin();
    let mut predict = open_model(&manifest, STYLE_PREDICT_MODEL, provider).await?;
    let vector = predict.run_image(picture).await.map_err(|e| e.to_string())?;
    let transform = open_model(&manifest, STYLE_TRANSFORM_MODEL, provider).await?;
    Ok(Stage::styling_as_picture(transform, vector, name))
}

/// Fetches, checks and opens the models the preset needs; a model that cannot be used is
/// reported and its stage left out.
async fn open_stages(preset: &Preset, options: &PageOptions) -> (Vec<Stage>, Vec<DisabledStage>) {
    let mut stages = Vec::new();
    let mut disabled = Vec::new();
    let segmentation_model = preset.segmentation_model_or(options.segmentation_model.as_deref());
    // The first `style` or `restyle` layer decides the style, as natively; a `restyle` layer
    // takes its style-transfer fallback, as a desktop without a diffusion model does.
    let styles = match preset.layers.iter().find_map(|l| StyleChoice::of(&l.effect)) {
        Some(StyleChoice::Builtin(styles)) => Some(styles),
        Some(StyleChoice::Image(path)) => {
            disabled.push(DisabledStage {
                stage: StageKind::Style.name(),
                reason: format!(
                    "style image {path} is a file of the desktop, which the page cannot read: pick a picture with \"Style from a picture…\" in the painting preset"
                ),
            });
            None
        }
        None => None,
    };
    let wanted = [
        (StageKind::Segmentation, preset.needs_segmentation(), segmentation_model.as_str()),
        (StageKind::Person, preset.needs_person(), DEFAULT_PERSON_MODEL),
        (StageKind::Depth, preset.needs_depth(), DEFAULT_DEPTH_MODEL),
        (StageKind::Style, styles.is_some(), STYLE_MODEL),
    ];
    if !wanted.iter().any(|(_, needed, _)| *needed) {
        return (stages, disabled);
    }
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    let script = match options.provider {
        web::WebProvider::WebGpu => "ort.webgpu.min.js",
        web::WebProvider::Wasm => "ort.wasm.min.js",
    };
    glue::set_status("loading ONNX Runtime…", "info");
    let loaded = web::load_runtime(&format!("{origin}/{RUNTIME_PATH}"), script)
        .await
        .map_err(|e| e.to_string())
        .and_then(|()| match options.provider {
            web::WebProvider::Wasm => glue::run_wasm_models_in_worker()
                .map_err(|e| format!("ONNX Runtime's model worker: {}", glue::message(e))),
            web::WebProvider::WebGpu => Ok(()),
        });
    if let Err(error) = loaded {
        for (kind, needed, _) in wanted {
            if needed {
                disabled.push(DisabledStage { stage: kind.name(), reason: error.clone() });
            }
        }
        return (stages, disabled);
    }
    let manifest = Manifest::builtin();
    for (kind, needed, model) in wanted {
        if !needed {
            continue;
        }
        match open_model(&manifest, model, options.provider).await {
            Ok(session) => stages.push(match (kind, &styles) {
                (StageKind::Style, Some(styles)) => Stage::styling(session, styles.clone()),
                _ => Stage::new(kind, session),
            }),
            Err(reason) => disabled.push(DisabledStage { stage: kind.name(), reason }),
        }
    }
    glue::set_progress("", -1.0);
    (stages, disabled)
}

/// One model: its bytes from the page's origin (or the browser's cache), checked against the
/// sha256 values the manifest accepts, opened on `provider`.
async fn open_model(
    manifest: &Manifest,
    id: &str,
    provider: web::WebProvider,
) -> Result<WebSession, String> {
    let entry = manifest.get(id).ok_or_else(|| format!("unknown model `{id}`"))?;
    let file = entry.files.first().ok_or_else(|| format!("model `{id}` has no files"))?;
    let published = file
        .sha256
        .as_deref()
        .ok_or_else(|| format!("model `{id}` has no pinned sha256, so the page cannot check it"))?;
    let accepted = std::iter::once(published)
        .chain(file.converted.as_ref().map(|c| c.sha256.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    let label = format!("model {id}");
    let progress_label = label.clone();
    let on_progress = Closure::<dyn Fn(f64, f64)>::new(move |loaded: f64, total: f64| {
        let fraction = if total > 0.0 { loaded / total } else { 0.0 };
        glue::set_progress(&format!("{progress_label}: {:.1} MB", loaded / 1e6), fraction);
    });
    let url = format!("{MODELS_PATH}{}", file.path);
    let bytes =
        JsFuture::from(glue::fetch_model(&url, &accepted, on_progress.as_ref().unchecked_ref()))
            .await
            .map_err(|e| format!("model `{id}`: {}", glue::message(e)))?;
    let bytes = bytes.dyn_into::<Uint8Array>().map_err(|_| format!("{label}: no bytes"))?.to_vec();
    glue::set_status(&format!("opening {label} on {}…", provider.name()), "info");
    WebSession::open(entry, &bytes, provider).await.map_err(|e| e.to_string())
}

/// Starts recording `seconds` of the picture (infinite: until stopped).
async fn start_recording(page: &Rc<RefCell<Page>>, seconds: f64) {
    let (size, context, with_sound) = {
        let page = page.borrow();
        (page.size, page.gpu.context.clone(), page.options.microphone)
    };
    match Recording::start(&context, size, seconds, with_sound).await {
        Ok(recording) => {
            let mut page = page.borrow_mut();
            if let Some(reason) = recording.sound().strip_prefix("none: ") {
                page.notify(format!("recording without sound: {reason}"));
            }
            page.recording = Some(recording);
        }
        Err(error) => glue::set_status(&format!("cannot record: {error}"), "error"),
    }
}

/// Stops the recording, or starts one until stopped.
fn toggle_recording(page: &Rc<RefCell<Page>>) {
    let mut borrowed = page.borrow_mut();
    if let Some(recording) = borrowed.recording.take() {
        recording.finish(borrowed.gpu.context.clone(), Rc::clone(&borrowed.clip));
        return;
    }
    drop(borrowed);
    let page = Rc::clone(page);
    wasm_bindgen_futures::spawn_local(async move { start_recording(&page, f64::INFINITY).await });
}

/// The animation-frame callback, which asks for itself again.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut()>>>>;

/// Runs `Page::frame` on every animation frame until the page is finished.
fn animate(page: Rc<RefCell<Page>>) {
    let callback: FrameCallback = Rc::new(RefCell::new(None));
    let next = Rc::clone(&callback);
    *callback.borrow_mut() = Some(Closure::new(move || {
        let keep_going = page.borrow_mut().frame();
        if std::mem::take(&mut page.borrow_mut().record_wanted) {
            toggle_recording(&page);
        }
        if keep_going {
            request_frame(next.borrow().as_ref());
        }
    }));
    request_frame(callback.borrow().as_ref());
}

fn request_frame(callback: Option<&Closure<dyn FnMut()>>) {
    if let (Some(window), Some(callback)) = (web_sys::window(), callback) {
        let _ = window.request_animation_frame(callback.as_ref().unchecked_ref());
    }
}

impl Page {
    /// One animation frame; false once the page is finished and nothing is left to read back.
    fn frame(&mut self) -> bool {
        // Nothing more is submitted while the GPU still works on the last frame: WebGPU queues
        // without limit, and a GPU slower than the camera would fall further behind each frame.
        if !self.finished && self.gpu_in_flight.load(Ordering::Acquire) < FRAMES_IN_FLIGHT {
            // A run still going as a frame begins runs beside the page (a blocking one would
            // have ended, and resolved, before the browser gave the page another frame).
            let beside_a_run = self.stages.iter().any(Stage::running);
            if self.take_camera_frame() {
                match self.composite_and_present() {
                    Ok(()) => self.count_shown(beside_a_run),
                    Err(error) => glue::set_status(&error, "error"),
                }
            } else if let Some(picture) = self.last_picture.clone()
                && (glue::has_pointer_events() || self.controls_due())
            {
                // No new camera frame, but the controls have something to show.
                if let Err(error) = self.present(&picture) {
                    glue::set_status(&error, "error");
                }
            }
            if self.options.quit_after_frames.is_some_and(|limit| self.shown >= limit) {
                self.finish();
            }
        }
        self.save_snapshot();
        !self.finished
            || self.snapshot_wanted
            || self.snapshot_ring.as_ref().is_some_and(|r| r.in_flight() > 0)
    }

    /// Makes the picked layer act on the class under the tap at `(u, v)` (0..1 over the
    /// picture), as a click does in the desktop window; returns what to tell the user.
    fn pick_region(&mut self, u: f64, v: f64) -> String {
        let classes =
            self.stages.iter().filter(|s| s.kind == StageKind::Segmentation).find_map(|s| match s
                .newest()?
                .output
                .as_ref()
            {
                StageOutput::Classes(classes) => Some(classes.clone()),
                StageOutput::Map(_) | StageOutput::Picture(_) => None,
            });
        let Some(classes) = classes else {
            return "This preset has no region to pick: it runs no segmentation".into();
        };
        if !((0.0..1.0).contains(&u) && (0.0..1.0).contains(&v)) {
            return String::new();
        }
        let class = classes.class_at(
            (u * f64::from(classes.width)) as u32,
            (v * f64::from(classes.height)) as u32,
        );
        let label = classes.labels.get(usize::from(class)).cloned().unwrap_or_default();
        let mut layers = self.renderer.layers().to_vec();
        let index = self.controls.picked_layer;
        let Some(layer) = layers.get_mut(index).filter(|l| l.region.needs_segmentation()) else {
            return "Pick a layer with a region first".into();
        };
        layer.region = RegionSelector::Named(vec![label.clone()]);
        match self.renderer.set_layers(&self.gpu.context, layers) {
            Ok(()) => format!("Layer {} now changes: {label}", index + 1),
            Err(error) => format!("Cannot use `{label}`: {error}"),
        }
    }

    /// Queues a copy of `picture` for the snapshot asked for, if one is.
    fn request_snapshot(&mut self, picture: &wgpu::Texture) {
        if !self.snapshot_wanted {
            return;
        }
        let context = &self.gpu.context;
        let ring = self.snapshot_ring.get_or_insert_with(|| {
            ReadbackRing::new(context, self.size.0, self.size.1, wgpu::TextureFormat::Rgba8Unorm, 1)
        });
        if ring.submit(context, picture, ()) {
            self.snapshot_wanted = false;
        }
    }

    /// Saves the snapshot read back as a PNG, through the share sheet or as a download.
    fn save_snapshot(&mut self) {
        let Some(ring) = &mut self.snapshot_ring else { return };
        for ((), rgba) in ring.collect(&self.gpu.context) {
            let Some(picture) = image::RgbaImage::from_raw(self.size.0, self.size.1, rgba) else {
                continue;
            };
            let mut png = std::io::Cursor::new(Vec::new());
            if let Err(error) = picture.write_to(&mut png, image::ImageFormat::Png) {
                glue::set_status(&format!("cannot make the snapshot: {error}"), "error");
                continue;
            }
            let name = format!("dreamlens-{}.png", js_sys::Date::now() as u64);
            // Not awaited: the share sheet or the download finishes on its own.
            let _saving = glue::share_or_save(png.get_ref(), &name, "image/png");
            self.snapshot = Some(name);
        }
    }

    /// The camera's newest frame, offered to the free stages; the last one stays when none is
    /// new. True when there was a new one.
    fn take_camera_frame(&mut self) -> bool {
        if glue::camera_ended(&self.camera) {
            glue::set_status(
                "the camera went away: reconnect it or close the app using it, then reload",
                "error",
            );
            return false;
        }
        let frames = glue::camera_frames(&self.camera);
        if frames == self.camera_frames_seen {
            return false;
        }
        self.camera_frames_seen = frames;
        self.follow_camera_shape();
        let index = self.frames_captured;
        self.frames_captured += 1;
        let captured = now_ms();
        let small_size = thumbnail_size(self.size);
        let small = glue::grab_frame(&self.camera, small_size.0, small_size.1).to_vec();
        let thumbnail = (!self.stages.is_empty())
            .then(|| rgb_of(&small, small_size))
            .flatten()
            .map(|rgb| Rc::new(Thumbnail::of(&rgb)));
        if let Some(thumbnail) = &thumbnail
            && self.stages.iter().any(|stage| !stage.running())
        {
            // The models' copy, only when one of them is free to take it.
            let size = model_frame_size(self.size);
            let grabbed = glue::grab_frame(&self.camera, size.0, size.1).to_vec();
            if let Some(rgb) = rgb_of(&grabbed, size).map(Rc::new) {
                for stage in &self.stages {
                    if stage.kind == StageKind::Style && !stage.running() {
                        // A still camera is stylized once, as natively.
                        let unchanged = self
                            .style_offered
                            .as_ref()
                            .is_some_and(|last| last.difference(thumbnail) < STYLE_SKIP_LEVELS);
                        if unchanged {
                            continue;
                        }
                        self.style_offered = Some(Rc::clone(thumbnail));
                    }
                    stage.offer(Rc::clone(&rgb), Rc::clone(thumbnail), index, captured, now_ms);
                }
            }
        }
        let video_size = glue::camera_size(&self.camera);
        let copyable = video_size[..] == [self.size.0, self.size.1];
        let rgba = (self.frame_copy == FrameCopy::Cpu || !copyable)
            .then(|| glue::grab_frame(&self.camera, self.size.0, self.size.1).to_vec());
        self.frame =
            Some(CameraFrame { index, small, small_size, rgba, thumbnail, captured_ms: captured });
        true
    }

    /// Takes the camera's new shape when it changed (the phone turned, or the browser chose
    /// another mode): the picture keeps the camera's aspect, never stretched; a clip being
    /// recorded keeps its own shape, letterboxed.
    fn follow_camera_shape(&mut self) {
        let [width, height] = glue::camera_size(&self.camera)[..] else { return };
        if width == 0 || height == 0 || (width, height) == self.size {
            return;
        }
        if let Err(error) = self.gpu.context.check_size(width, height) {
            self.notify(format!(
                "The camera's new {width}x{height} picture cannot be shown: {error}"
            ));
            return;
        }
        self.size = (width, height);
        // Sized to the old shape.
        self.snapshot_ring = None;
        self.last_picture = None;
        self.last_composited = None;
        let clip =
            if self.recording.is_some() { "; the clip keeps its shape, letterboxed" } else { "" };
        self.notify(format!("The picture turned to {width}x{height}{clip}"));
    }

    /// True when the controls are due to be laid out again (the HUD's refresh, a new size).
    fn controls_due(&self) -> bool {
        let screen = [self.gpu.config.width, self.gpu.config.height];
        self.controls.painter.is_due(web_time::Instant::now(), screen)
    }

    /// The maps to composite with: the stages' newest results, copied only when one of them
    /// delivered a new one (not on every displayed frame), and carried onto the camera frame
    /// shown by the motion since the frame each was made from, as the desktop window does: a
    /// run takes seconds here, and a phone moves meanwhile.
    fn refresh_analysis(&mut self) {
        let newest: Vec<_> = self.stages.iter().map(|stage| (stage.kind, stage.newest())).collect();
        let from: Vec<Option<u64>> =
            newest.iter().map(|(_, result)| result.as_ref().map(|r| r.index)).collect();
        let onto = self.frame.as_ref().map(|frame| frame.index);
        if from == self.analysis_from && onto == self.analysis_onto {
            return;
        }
        if from != self.analysis_from {
            let mut scene = SceneAnalysis::default();
            for (position, (kind, result)) in newest.iter().enumerate() {
                let Some(result) = result else { continue };
                match (kind, result.output.as_ref()) {
                    (StageKind::Segmentation, StageOutput::Classes(classes)) => {
                        scene.classes = Some(classes.clone())
                    }
                    (StageKind::Person, StageOutput::Map(map)) => scene.person = Some(map.clone()),
                    (StageKind::Depth, StageOutput::Map(map)) => scene.depth = Some(map.clone()),
                    (StageKind::Style, StageOutput::Picture(picture))
                        if self.analysis_from.get(position).copied().flatten()
                            != Some(result.index) =>
                    {
                        let source = result.source.as_ref().clone();
                        self.keyframes.set_keyframe(Arc::clone(picture), source, now_ms() / 1e3);
                    }
                    _ => {}
                }
            }
            self.analysis.scene = scene;
            self.analysis_from = from;
        }
        let mut motions = MapMotions::default();
        let current = self.frame.as_ref().and_then(|frame| frame.thumbnail.as_deref());
        self.analysis.stylized =
            current.and_then(|current| self.keyframes.project(current, now_ms() / 1e3));
        if let Some((index, Some(current))) =
            self.frame.as_ref().map(|frame| (frame.index, frame.thumbnail.as_deref()))
        {
            let mut motions_to = MotionsTo::new(current, index);
            if let Some((last, thumbnail, captured_ms)) = &self.last_composited {
                motions.history = motions_to.from(*last, thumbnail);
                let since_last_ms =
                    self.frame.as_ref().map_or(0.0, |f| f.captured_ms - captured_ms);
                motions.since_last_s = Some((since_last_ms / 1e3).max(0.0) as f32);
            }
            for (kind, result) in &newest {
                let Some(result) = result else { continue };
                let motion = motions_to.from(result.index, &result.source);
                match kind {
                    StageKind::Segmentation => motions.classes = motion,
                    StageKind::Person => motions.person = motion,
                    StageKind::Depth => motions.depth = motion,
                    StageKind::Style => {}
                }
            }
        }
        self.analysis.motions = motions;
        self.analysis_onto = onto;
        self.last_composited = self.frame.as_ref().and_then(|frame| {
            Some((frame.index, Rc::clone(frame.thumbnail.as_ref()?), frame.captured_ms))
        });
    }

    fn composite_and_present(&mut self) -> Result<(), String> {
        self.refresh_analysis();
        let Some(frame) = &self.frame else { return Ok(()) };
        self.renderer.set_region_threshold(self.controls.settings.region_confidence);
        let source;
        let pixels = match &frame.rgba {
            Some(rgba) => FramePixels::Rgba(rgba),
            None => {
                source = wgpu::CopyExternalImageSourceInfo {
                    source: wgpu::ExternalImageSource::HTMLVideoElement(glue::camera_video(
                        &self.camera,
                    )),
                    origin: wgpu::Origin2d::ZERO,
                    flip_y: false,
                };
                FramePixels::External {
                    source: &source,
                    reference: ReferencePixels {
                        bytes: &frame.small,
                        channels: 4,
                        size: frame.small_size,
                    },
                }
            }
        };
        let compositor = self
            .renderer
            .submit_pixels(&self.gpu.context, pixels, self.size, &self.analysis)
            .map_err(|e| e.to_string())?;
        let output = compositor.output_texture().clone();
        self.present(&output)?;
        self.last_picture = Some(output.clone());
        if let Some(recording) = &mut self.recording {
            recording.add_frame(&self.gpu.context, &mut self.gpu.presenter, &output, now_ms());
        }
        if self.options.quit_after_frames.is_some_and(|limit| self.shown + 1 >= limit) {
            // The last frame of a scripted run is the one its snapshot shows.
            self.snapshot_wanted |= self.options.snapshot;
        }
        self.request_snapshot(&output);
        Ok(())
    }

    /// Sizes the canvas's drawing buffer to its size on the page, in device pixels.
    fn fit_canvas(&mut self) {
        let gpu = &mut self.gpu;
        let [css_w, css_h, ratio] = glue::canvas_layout(&gpu.canvas)[..] else { return };
        let limit = gpu.context.device.limits().max_texture_dimension_2d;
        let width = ((css_w * ratio).round() as u32).clamp(1, limit);
        let height = ((css_h * ratio).round() as u32).clamp(1, limit);
        gpu.pixels_per_point = ratio as f32;
        if (width, height) != (gpu.config.width, gpu.config.height) {
            gpu.canvas.set_width(width);
            gpu.canvas.set_height(height);
            gpu.config.width = width;
            gpu.config.height = height;
            gpu.surface.configure(&gpu.context.device, &gpu.config);
        }
    }

    /// The picture letterboxed into the area the controls leave, the controls over it.
    fn present(&mut self, picture: &wgpu::Texture) -> Result<(), String> {
        self.fit_canvas();
        let gpu = &self.gpu;
        let texture = match gpu.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture)
            | wgpu::CurrentSurfaceTexture::Suboptimal(texture) => texture,
            _ => {
                gpu.surface.configure(&gpu.context.device, &gpu.config);
                return Ok(());
            }
        };
        let view = texture.texture.create_view(&Default::default());
        let mut encoder = gpu
            .context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("page") });
        let actions = self.update_controls(&mut encoder);
        let gpu = &mut self.gpu;
        let screen = (gpu.config.width, gpu.config.height);
        let rect = self.controls.painter.picture_rect(self.size, screen);
        let picture = picture.create_view(&Default::default());
        gpu.presenter.blit(&gpu.context, &mut encoder, &picture, &view, gpu.config.format, rect);
        self.controls.painter.draw(&mut encoder, &view);
        gpu.context.queue.submit([encoder.finish()]);
        self.gpu_in_flight.fetch_add(1, Ordering::AcqRel);
        let in_flight = Arc::clone(&self.gpu_in_flight);
        gpu.context.queue.on_submitted_work_done(move || {
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
        gpu.context.queue.present(texture);
        self.act_on(actions);
        Ok(())
    }

    /// Lays the controls out again when input arrived or they are due; a tap on the picture
    /// (not on the controls) picks its region.
    fn update_controls(&mut self, encoder: &mut wgpu::CommandEncoder) -> Actions {
        let events = glue::take_pointer_events();
        // Typing waits for a pass without pointer events: a tap that focuses a field must have
        // focused it before the field can take what was typed after the tap.
        let typed = if events.is_empty() { glue::take_typed() } else { Vec::new() };
        let screen = [self.gpu.config.width, self.gpu.config.height];
        if !events.is_empty() || !typed.is_empty() {
            self.controls.painter.invalidate();
        }
        if !self.controls.painter.is_due(web_time::Instant::now(), screen) {
            return Actions::default();
        }
        let input = input::raw_input(
            &events,
            &typed,
            screen,
            self.gpu.pixels_per_point,
            now_ms() / 1e3,
            self.gpu.context.device.limits().max_texture_dimension_2d as usize,
        );
        let hud = self.hud_data();
        let mut layers = self.renderer.layers().to_vec();
        let mut actions = Actions::default();
        let mut tap = None;
        let controls = &mut self.controls;
        let (settings, picked_layer) = (&mut controls.settings, &mut controls.picked_layer);
        controls.painter.update(input, &self.gpu.context, encoder, screen, |ui| {
            panel::draw(ui, settings, &hud, &mut layers, picked_layer, &mut actions);
            let free = ui.available_rect_before_wrap();
            let response = ui.interact(free, ui.scope_id().with("picture"), egui::Sense::click());
            if response.clicked() {
                tap = response.interact_pointer_pos();
            }
        });
        self.take_typing_for(actions.prompt_field);
        if actions.restyle {
            actions.layers_changed |= self.restyle(&mut layers);
        }
        if actions.layers_changed
            && let Err(error) = self.renderer.set_layers(&self.gpu.context, layers)
        {
            self.notify(format!("Cannot change the layers: {error}"));
        }
        if let Some(tap) = tap {
            let ppp = self.gpu.pixels_per_point;
            let rect = self.controls.painter.picture_rect(self.size, (screen[0], screen[1]));
            let u = (f64::from(tap.x * ppp / screen[0] as f32 - rect[0]))
                / f64::from(rect[2] - rect[0]);
            let v = (f64::from(tap.y * ppp / screen[1] as f32 - rect[1]))
                / f64::from(rect[3] - rect[1]);
            let message = self.pick_region(u, v);
            self.notify(message);
        }
        actions
    }

    /// Lets the page's typing agent take the keyboard while a text field edits, and tells it
    /// where the prompt's field is (a tap there brings a phone's keyboard up).
    fn take_typing_for(&mut self, prompt_field: Option<egui::Rect>) {
        let editing = self.controls.painter.egui().text_edit_focused();
        let fields: Vec<f64> = prompt_field
            .iter()
            .flat_map(|r| [r.min.x, r.min.y, r.max.x, r.max.y].map(f64::from))
            .collect();
        glue::set_text_fields(&self.gpu.canvas, &fields, editing);
        self.controls.prompt_field = prompt_field;
    }

    /// Applies the panel's prompt to `layers`' restyle layers and gives the style stage the
    /// built-in style its words name; true when the layers changed.
    fn restyle(&mut self, layers: &mut [Layer]) -> bool {
        let prompt = self.controls.settings.restyle_prompt.trim().to_owned();
        if prompt.is_empty() {
            self.notify("Type what the picture should become".into());
            return false;
        }
        set_restyle_prompt(layers, &prompt);
        let stage = self.stages.iter().find(|s| s.kind == StageKind::Style);
        if let (Some(stage), Some(StyleChoice::Builtin(styles))) =
            (stage, layers.iter().find_map(|l| StyleChoice::of(&l.effect)))
        {
            if stage.set_styles(styles) {
                // A still camera is stylized again, in the new style.
                self.style_offered = None;
            }
            self.restyle_engine = restyle_engine(layers, &self.stages);
            let message = format!("Restyling with {}", stage.style_label());
            self.notify(message);
        }
        true
    }

    /// Does what the controls asked for.
    fn act_on(&mut self, actions: Actions) {
        self.record_wanted |= actions.record;
        self.snapshot_wanted |= actions.snapshot;
        if actions.pick_style_picture {
            // Browsers open a chooser only for the user: this frame handles the tap that asked,
            // within the short time a tap still counts as the user's action.
            glue::pick_style_picture();
        }
        if actions.fullscreen {
            glue::toggle_fullscreen();
        }
        if self.controls.settings.preset != self.options.preset {
            // Another preset needs other models: the page starts again with it (the models
            // already fetched come from the browser's cache).
            glue::reload_with("preset", &self.controls.settings.preset);
        } else if self.controls.settings.segmentation_model != self.options.segmentation_model {
            // The same: another model for the regions.
            let model = self.controls.settings.segmentation_model.as_deref().unwrap_or_default();
            glue::reload_with("segmentation-model", model);
        }
    }

    /// Shows `message` in the banner for a while; an empty one clears it.
    fn notify(&mut self, message: String) {
        self.controls.message = (!message.is_empty()).then(|| (message, now_ms()));
        self.controls.painter.invalidate();
    }

    /// What the HUD shows: the same rows as the desktop window's.
    fn hud_data(&self) -> HudData {
        let now = now_ms();
        HudData {
            display_fps: self.fps as f32,
            stages: self.stages.iter().map(|s| (s.kind, s.stats())).collect(),
            providers: self
                .stages
                .iter()
                .map(|s| (s.kind, format!("{} on {}", s.model, s.provider)))
                .collect(),
            dropped_layers: self.dropped.clone(),
            banner: format!("{} | {}", self.camera_name, self.options.preset),
            recording: self.recording.as_ref().map(Recording::progress),
            message: self
                .controls
                .message
                .as_ref()
                .filter(|(_, at)| now - at < MESSAGE_MS)
                .map(|(m, _)| m.clone()),
            adapter: adapter_name(&self.gpu.context.adapter_info),
            restyle_engine: self.restyle_engine.clone(),
            preset_description: self.controls.description.clone(),
            remote: Vec::new(),
            key_hints: "space: record, s: snapshot, h: HUD, f: fullscreen",
            segmentation_models: self.controls.segmentation_models.clone(),
            model_offer: None,
            inference_server: None,
            style_picker: self
                .stages
                .iter()
                .find(|s| s.kind == StageKind::Style)
                .map(Stage::style_label),
        }
    }

    fn count_shown(&mut self, beside_a_run: bool) {
        self.shown += 1;
        self.shown_beside_runs += u64::from(beside_a_run);
        let now = now_ms();
        if let Some(last) = self.last_shown_ms {
            let gap = now - last;
            self.max_gap_ms = self.max_gap_ms.max(gap);
            let fps = 1000.0 / gap.max(1e-3);
            self.fps = if self.fps == 0.0 { fps } else { self.fps * 0.9 + fps * 0.1 };
        }
        self.last_shown_ms = Some(now);
        let done = self.recording.as_ref().is_some_and(Recording::is_full);
        if done && let Some(recording) = self.recording.take() {
            recording.finish(self.gpu.context.clone(), Rc::clone(&self.clip));
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.finished_ms = Some(now_ms());
        if let Some(recording) = self.recording.take() {
            recording.finish(self.gpu.context.clone(), Rc::clone(&self.clip));
        }
    }

    /// Where the picture is on the page, in CSS pixels from the canvas's top-left corner.
    fn picture_rect_on_page(&self) -> [f64; 4] {
        let gpu = &self.gpu;
        let rect =
            self.controls.painter.picture_rect(self.size, (gpu.config.width, gpu.config.height));
        let (w, h) = (
            f64::from(gpu.config.width) / f64::from(gpu.pixels_per_point),
            f64::from(gpu.config.height) / f64::from(gpu.pixels_per_point),
        );
        [
            f64::from(rect[0]) * w,
            f64::from(rect[1]) * h,
            f64::from(rect[2]) * w,
            f64::from(rect[3]) * h,
        ]
    }

    fn summary(&self) -> PageSummary {
        let seconds = (self.finished_ms.unwrap_or_else(now_ms) - self.started_ms) / 1000.0;
        let stages = self
            .stages
            .iter()
            .map(|stage| {
                let stats = stage.stats();
                (
                    stage.kind.name().to_owned(),
                    StageSummary {
                        runs: stats.completed,
                        runs_per_second: stats.completed as f64 / seconds.max(1e-3),
                        latency_ms: stats.latency.as_secs_f64() * 1e3,
                        skipped: stats.skipped,
                        model: stage.model.clone(),
                        execution_provider: stage.provider.to_owned(),
                        error: stats.error,
                    },
                )
            })
            .collect();
        PageSummary {
            frames: self.shown,
            seconds,
            display_fps: self.shown as f64 / seconds.max(1e-3),
            max_frame_gap_ms: self.max_gap_ms,
            frames_beside_model_runs: self.shown_beside_runs,
            stages,
            adapter: adapter_name(&self.gpu.context.adapter_info),
            frame_copy: match self.frame_copy {
                FrameCopy::Gpu => "gpu",
                FrameCopy::Cpu => "cpu",
            },
            picture_size: [self.size.0, self.size.1],
            layers_off: self.dropped.clone(),
            restyle_prompt: self.controls.settings.restyle_prompt.clone(),
            restyle_engine: self.restyle_engine.clone(),
            finished: self.finished,
            recording: self.recording.is_some(),
            clip: self.clip.borrow().clone(),
            snapshot: self.snapshot.clone(),
            regions: self.renderer.layers().iter().map(|l| format!("{:?}", l.region)).collect(),
            picture_rect: self.picture_rect_on_page(),
            prompt_field: self
                .controls
                .prompt_field
                .map(|r| [r.min.x, r.min.y, r.max.x, r.max.y].map(f64::from)),
        }
    }
}

/// The small copy's size: 128 pixels wide (the motion thumbnail's width), the camera's aspect.
fn thumbnail_size((width, height): (u32, u32)) -> (u32, u32) {
    (128, (height * 128 / width.max(1)).max(8))
}

/// The models' copy: the camera's aspect at most 640 pixels wide (every model here takes
/// 512 pixels or fewer), shrunk by the browser on the GPU.
fn model_frame_size((width, height): (u32, u32)) -> (u32, u32) {
    if width <= 640 {
        return (width, height);
    }
    (640, (height * 640 / width).max(1))
}

/// RGB from the browser's RGBA bytes.
fn rgb_of(rgba: &[u8], (width, height): (u32, u32)) -> Option<RgbImage> {
    let rgb = rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
    RgbImage::from_raw(width, height, rgb)
}
