//! The live app: camera (or demo, or a looped video) in, edited picture out, controls on screen.
//!
//! Threads: `capture` reads frames at the source's rate; the winit thread takes the newest frame
//! each display refresh, offers it to one `stage-*` worker per model (newest wins, never a
//! queue), composites it on the GPU with the newest results (temporal smoothing carries maps from
//! older frames), draws egui on top and presents; `recorder` encodes what is recorded.

mod effects;
mod error;
mod frame_gate;
mod hybrid;
mod model_download;
mod output_names;
mod overlay;
mod recording;
mod remote_meter;
mod session_meter;
mod settings;
mod source;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use winit::{
    application::ApplicationHandler,
    event::{ElementState, KeyEvent, StartCause, TouchPhase, WindowEvent},
    event_loop::{ActiveEventLoop, ControlFlow},
    keyboard::{Key, NamedKey},
    window::{Fullscreen, Window, WindowId},
};

use crate::{
    capture::CameraRequest,
    controls::{Settings, panel},
    effects::set_restyle_prompt,
    inference::SessionOptions,
    platform::Platform,
    render::{
        RenderContext,
        present::Presenter,
        readback::{self},
        staging::FrameStaging,
    },
    restyle::EngineChoice,
    store::ModelStore,
};
pub use error::LiveError;

use effects::{Effects, Loading};
use frame_gate::FrameGate;
use overlay::Overlay;
use recording::Recording;
use source::{LiveFrame, LiveSource};

/// How long the window thread rests after a redraw with nothing to show (no frame yet, no
/// surface while suspended) before it looks again: asking again at once would spin a core the
/// models need, and a phone's battery in the background.
const IDLE_WAIT: Duration = Duration::from_millis(5);

/// How far (window pixels) a finger may move between down and up and still be a tap.
const TAP_SLOP_PX: f64 = 24.0;

/// What the command line asks of the live app.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// A video or photos to use instead of the camera.
    pub input: Option<String>,
    /// A preset name or file (overrides the saved one).
    pub preset: Option<String>,
    /// Initial window size.
    pub window_size: Option<(u32, u32)>,
    /// Write a screenshot of the window here after `quit_after_frames` frames, then exit.
    pub screenshot_to: Option<PathBuf>,
    /// Exit after this many displayed frames.
    pub quit_after_frames: Option<u64>,
    /// Start recording to this file with the first frame.
    pub record_to: Option<PathBuf>,
    /// Offer only every Nth frame to the models (1 = every frame they can take).
    pub model_every: u32,
    /// Skip frames whose picture barely changed since the last one the models saw (mean
    /// absolute difference of a small thumbnail, 0..255; 0 turns it off).
    pub skip_similar: f32,
    /// Restyle from this prompt (the `restyle` preset, or the given preset's restyle layer).
    pub restyle: Option<String>,
    /// Where the restyle engine comes from.
    pub engine: EngineChoice,
    /// The segmentation model region layers read; `None`: the preset's, else the default.
    pub segmentation_model: Option<String>,
    /// Which camera, at what size and rate.
    pub camera: CameraRequest,
    /// The microphone recordings take their sound from (a device name or part of one); `None`
    /// is the default input, `"none"` records no sound.
    pub microphone: Option<String>,
    /// Write the session's numbers here as JSON at exit.
    pub summary_json: Option<PathBuf>,
}

/// Opens a window on the desktop and runs until it is closed.
#[cfg(feature = "desktop")]
pub fn run(
    store: ModelStore,
    session_options: SessionOptions,
    options: LiveOptions,
) -> Result<(), LiveError> {
    #[cfg(all(unix, not(target_os = "macos")))]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(LiveError::NoDisplay);
    }
    let event_loop = winit::event_loop::EventLoop::new().map_err(LiveError::Display)?;
    let mut app = LiveApp::new(store, session_options, options, Platform::desktop())?;
    event_loop.run_app(&mut app).map_err(LiveError::EventLoop)?;
    app.finish()
}

/// Where the live app stands: what a platform's lifecycle did to it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    /// Frames presented so far.
    pub frames_shown: u64,
    /// Window surfaces made (one per resume).
    pub surfaces_made: u64,
    /// True while the app has a surface to draw on (between resume and suspend).
    pub has_surface: bool,
    /// True while the capture thread is paused (the camera is closed).
    pub capture_paused: bool,
    /// How many presets were put in place; the same number means the same stages.
    pub presets_loaded: u64,
    /// The model stages running, with the runs each has completed.
    pub stage_runs: Vec<(crate::stages::StageKind, u64)>,
}

/// The live app: a winit [`ApplicationHandler`] that desktop and phone run alike.
pub struct LiveApp {
    store: ModelStore,
    session_options: SessionOptions,
    options: LiveOptions,
    platform: Platform,
    settings: Settings,
    /// The settings as saved before this run (the command line's choices are for it only).
    saved_settings: Settings,
    source: LiveSource,
    /// Staging buffers the capture thread writes frames into, once there is a device.
    staging: FrameStaging,
    gpu: Option<Gpu>,
    window: Option<Arc<Window>>,
    instance: Option<wgpu::Instance>,
    effects: Option<Effects>,
    presets_loaded: u64,
    surfaces_made: u64,
    frame: Option<Arc<LiveFrame>>,
    displayed: u64,
    /// The session's numbers.
    meter: session_meter::SessionMeter,
    /// The preset being opened off the window thread, if one is.
    loading: Option<Loading>,
    /// Decides which frames the models see.
    gate: FrameGate,
    /// The layer whose region a click on the picture sets.
    picked_layer: usize,
    /// Last cursor position in window pixels.
    cursor: Option<(f64, f64)>,
    /// The finger that went down on the picture, and where (window pixels).
    touch_start: Option<(u64, (f64, f64))>,
    /// Where the last picture was drawn, in window pixels (for the session summary).
    picture_rect: Option<[f64; 4]>,
    fps: FpsCounter,
    recording: Option<Recording>,
    message: Option<(String, Instant)>,
    failure: Option<LiveError>,
    /// The diffusion model offered for download, once the restyle layers would use one.
    download: Option<model_download::ModelDownload>,
    /// A model arrived or moved to or from a server: the effects are opened again.
    models_changed: bool,
    /// The server `--remote` named for this run.
    remote_flag: Option<String>,
    /// The command line's `--remote-*` choices (models, prefix, token, timeouts), kept for a
    /// server chosen on the panel.
    remote_template: Option<Arc<crate::inference::remote::RemoteConfig>>,
}

impl LiveApp {
    /// Starts capture on `platform`; the window and GPU come with the first `resumed`. Run it
    /// with `EventLoop::run_app`, then call [`LiveApp::finish`].
    pub fn new(
        store: ModelStore,
        session_options: SessionOptions,
        options: LiveOptions,
        platform: Platform,
    ) -> Result<Self, LiveError> {
        let saved_settings = Settings::load(platform.folders.settings.as_deref());
        let remote_flag = session_options.remote.as_ref().map(|r| r.url.clone());
        let remote_template = session_options.remote.clone();
        let settings = saved_settings
            .with_flags(options.preset.as_deref(), options.restyle.as_deref())
            .with_segmentation_model(options.segmentation_model.as_deref())
            .with_inference_server(remote_flag.as_deref());
        let mut session_options = session_options;
        if session_options.remote.is_none() {
            // The server saved from the panel; a bad one is reported, and nothing goes out.
            match hybrid::remote_for(&settings.inference_server, None) {
                Ok(remote) => session_options.remote = remote,
                Err(error) => tracing::warn!("{error}; everything runs on this device"),
            }
        }
        let staging = FrameStaging::default();
        let source = LiveSource::start(
            options.input.clone(),
            options.camera,
            Arc::clone(&platform.cameras),
            staging.clone(),
        )?;
        let gate = FrameGate::new(options.model_every, options.skip_similar);
        Ok(Self {
            store,
            session_options,
            options,
            platform,
            settings,
            saved_settings,
            source,
            staging,
            gpu: None,
            window: None,
            instance: None,
            effects: None,
            presets_loaded: 0,
            surfaces_made: 0,
            frame: None,
            displayed: 0,
            meter: session_meter::SessionMeter::default(),
            loading: None,
            gate,
            picked_layer: 0,
            cursor: None,
            touch_start: None,
            picture_rect: None,
            fps: FpsCounter::default(),
            recording: None,
            message: None,
            failure: None,
            download: None,
            models_changed: false,
            remote_flag,
            remote_template,
        })
    }

    /// Saves the settings and returns what stopped the app, if something failed.
    pub fn finish(mut self) -> Result<(), LiveError> {
        let flags = self
            .saved_settings
            .with_flags(self.options.preset.as_deref(), self.options.restyle.as_deref())
            .with_segmentation_model(self.options.segmentation_model.as_deref())
            .with_inference_server(self.remote_flag.as_deref());
        self.settings
            .for_next_start(&self.saved_settings, &flags)
            .save(self.platform.folders.settings.as_deref());
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Where the app stands now.
    pub fn status(&self) -> LiveStatus {
        LiveStatus {
            frames_shown: self.displayed,
            surfaces_made: self.surfaces_made,
            has_surface: self.gpu.as_ref().is_some_and(|g| g.surface.is_some()),
            capture_paused: self.source.is_paused(),
            presets_loaded: self.presets_loaded,
            stage_runs: self
                .effects
                .as_ref()
                .map(|e| e.stage_stats().into_iter().map(|(kind, s)| (kind, s.completed)).collect())
                .unwrap_or_default(),
        }
    }
}

/// Window-bound GPU state; the surface lives only while the app is resumed (Android drops it on
/// suspend).
struct Gpu {
    context: RenderContext,
    surface: Option<wgpu::Surface<'static>>,
    config: Option<wgpu::SurfaceConfiguration>,
    presenter: Presenter,
    screen: Option<(wgpu::Texture, wgpu::TextureView)>,
    overlay: Overlay,
}

impl Gpu {
    /// Blits the finished window image to the surface and presents it; true when the surface
    /// must be configured again.
    fn present(&mut self, window: &Window, mut encoder: wgpu::CommandEncoder) -> bool {
        let (Some(surface), Some(config), Some((_, screen_view))) =
            (&self.surface, &self.config, &self.screen)
        else {
            self.context.queue.submit([encoder.finish()]);
            return false;
        };
        match surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(texture)
            | wgpu::CurrentSurfaceTexture::Suboptimal(texture) => {
                let view = texture.texture.create_view(&wgpu::TextureViewDescriptor::default());
                self.presenter.blit(
                    &self.context,
                    &mut encoder,
                    screen_view,
                    &view,
                    config.format,
                    [0.0, 0.0, 1.0, 1.0],
                );
                self.context.queue.submit([encoder.finish()]);
                window.pre_present_notify();
                self.context.queue.present(texture);
                false
            }
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.context.queue.submit([encoder.finish()]);
                true
            }
            _ => {
                self.context.queue.submit([encoder.finish()]);
                false
            }
        }
    }
}

#[derive(Default)]
struct FpsCounter {
    last: Option<Instant>,
    fps: f32,
}

impl FpsCounter {
    fn tick(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last {
            let fps = 1.0 / (now - last).as_secs_f32().max(1e-6);
            self.fps = if self.fps == 0.0 { fps } else { self.fps * 0.9 + fps * 0.1 };
        }
        self.last = Some(now);
    }
}

impl LiveApp {
    fn fail(&mut self, event_loop: &ActiveEventLoop, error: LiveError) {
        self.failure = Some(error);
        event_loop.exit();
    }

    fn notify(&mut self, text: String) {
        tracing::info!("{text}");
        self.message = Some((text, Instant::now()));
    }

    fn configure_surface(&mut self) {
        let (Some(gpu), Some(window)) = (&mut self.gpu, &self.window) else { return };
        let Some(surface) = &gpu.surface else { return };
        let size = window.inner_size();
        let (width, height) = (size.width.max(1), size.height.max(1));
        let caps = surface.get_capabilities(&gpu.context.adapter);
        let format = caps.formats.iter().copied().find(|f| !f.is_srgb()).unwrap_or(caps.formats[0]);
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: wgpu::SurfaceColorSpace::Auto,
            width,
            height,
            present_mode: wgpu::PresentMode::AutoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode: caps.alpha_modes[0],
            view_formats: vec![],
        };
        surface.configure(&gpu.context.device, &config);
        gpu.config = Some(config);
        let screen = gpu.context.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("window image"),
            size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = screen.create_view(&wgpu::TextureViewDescriptor::default());
        gpu.screen = Some((screen, view));
    }

    /// Re-targets the picked layer to the class under the pointer.
    fn pick_region(&mut self) {
        let (Some(window), Some((x, y)), Some(frame), Some(effects)) =
            (&self.window, self.cursor, &self.frame, &mut self.effects)
        else {
            return;
        };
        let Some(classes) =
            effects.segmentation.as_ref().and_then(|s| s.latest()).map(|r| r.value.value)
        else {
            self.message = Some((
                "This preset has no region to pick: it runs no segmentation".into(),
                Instant::now(),
            ));
            return;
        };
        let size = window.inner_size();
        let Some(gpu) = &self.gpu else { return };
        let rect = gpu
            .overlay
            .painter
            .picture_rect(frame.frame.image.dimensions(), (size.width, size.height));
        let u =
            (x / f64::from(size.width.max(1)) - f64::from(rect[0])) / f64::from(rect[2] - rect[0]);
        let v =
            (y / f64::from(size.height.max(1)) - f64::from(rect[1])) / f64::from(rect[3] - rect[1]);
        if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
            return;
        }
        let class = classes.class_at(
            (u * f64::from(classes.width)) as u32,
            (v * f64::from(classes.height)) as u32,
        );
        let label = classes.labels.get(class as usize).cloned().unwrap_or_default();
        let mut layers = effects.renderer.layers().to_vec();
        let Some(layer) =
            layers.get_mut(self.picked_layer).filter(|l| l.region.needs_segmentation())
        else {
            self.message = Some(("Pick a layer with a region first".into(), Instant::now()));
            return;
        };
        layer.region = crate::effects::RegionSelector::Named(vec![label.clone()]);
        let result = self.gpu.as_ref().map(|gpu| effects.renderer.set_layers(&gpu.context, layers));
        self.message = Some(match result {
            Some(Err(error)) => (format!("Cannot use `{label}`: {error}"), Instant::now()),
            _ => (format!("Layer {} now changes: {label}", self.picked_layer + 1), Instant::now()),
        });
    }

    /// One displayed frame, in named steps: the newest camera frame (offered to the models),
    /// composited with the newest results, the window drawn with the controls and presented,
    /// the frame recorded, the counters kept.
    /// Says whether a frame was shown.
    fn redraw(&mut self, event_loop: &ActiveEventLoop) -> Result<bool, LiveError> {
        let Some(window) = self.window.clone() else { return Ok(false) };
        self.follow_download();
        self.load_effects();
        let Some(frame) = self.take_frame() else { return Ok(false) };
        if let Some(path) = self.options.record_to.take() {
            self.toggle_recording_to(Some(path));
        }
        let Some(picture) = self.composite(&frame)? else { return Ok(false) };
        let (actions, reconfigure) = self.draw_window(&window, &picture)?;
        self.record(&frame, &picture);
        self.displayed += 1;
        let beside_a_run = self
            .effects
            .as_ref()
            .is_some_and(|effects| effects.stage_stats().iter().any(|(_, stats)| stats.running));
        self.meter.frame_shown(beside_a_run);
        self.fps.tick();
        if reconfigure {
            self.configure_surface();
        }
        if self.quit_when_done(event_loop)? {
            return Ok(true);
        }
        if actions.record {
            self.toggle_recording();
        }
        if actions.snapshot {
            self.snapshot();
        }
        if actions.fullscreen {
            toggle_fullscreen(&window);
        }
        if let (Some(ask), Some(download)) = (actions.download, &mut self.download) {
            download.ask(ask, &self.store);
        }
        if let Some(url) = &actions.inference_server {
            self.use_inference_server(url);
        }
        Ok(true)
    }

    /// Offers the diffusion model the effects would use, and opens the effects again once
    /// its download has arrived.
    fn follow_download(&mut self) {
        let arrived = self.download.as_mut().and_then(|d| d.poll().then(|| d.id().to_owned()));
        if let Some(id) = arrived {
            self.notify(format!("{id} is on this device: the restyle layers use it now"));
            self.download = None;
            self.models_changed = true;
            return;
        }
        // While other effects load, the old ones' offer may be stale.
        if self.loading.is_some() || self.models_changed {
            return;
        }
        // Read every frame: borrowed, nothing is copied unless the offer changes.
        let offered = self.effects.as_ref().and_then(|e| e.diffusion_offer.as_deref());
        let current = |d: &model_download::ModelDownload| d.is_busy() || offered == Some(d.id());
        if !self.download.as_ref().is_some_and(current) {
            let options = &self.session_options;
            self.download = offered.map(|id| model_download::ModelDownload::new(id, options));
        }
    }

    /// The newest frame from the capture thread (offered to the models when the gate lets it
    /// through), else the last one shown.
    fn take_frame(&mut self) -> Option<Arc<LiveFrame>> {
        if let Some(frame) = self.source.frames.try_take() {
            if let Some(effects) = &mut self.effects
                && self.gate.admit(&frame.thumbnail)
            {
                effects.offer(&frame);
            }
            self.frame = Some(frame);
        }
        self.frame.clone()
    }

    /// The frame composited with the newest maps and keyframes (carried to it on the GPU);
    /// `None` while there is no window surface to show it on.
    fn composite(&mut self, frame: &LiveFrame) -> Result<Option<wgpu::Texture>, LiveError> {
        let (Some(gpu), Some(effects)) = (&mut self.gpu, &mut self.effects) else {
            return Ok(None);
        };
        // Suspended (no surface): nothing is composited, the GPU rests.
        if gpu.surface.is_none() || gpu.screen.is_none() {
            return Ok(None);
        }
        let analysis = effects.latest(frame);
        let size = frame.frame.image.dimensions();
        effects.renderer.set_region_threshold(self.settings.region_confidence);
        let compositor =
            effects.renderer.submit_pixels(&gpu.context, frame.pixels(), size, &analysis)?;
        Ok(Some(compositor.output_texture().clone()))
    }

    /// What the HUD shows, when the controls are due to be laid out again (something may have
    /// changed); `None` otherwise or without a window.
    fn hud_data_if_due(&self) -> Option<panel::HudData> {
        let (Some(gpu), Some(effects)) = (&self.gpu, &self.effects) else { return None };
        let (screen, _) = gpu.screen.as_ref()?;
        if !gpu.overlay.is_due(Instant::now(), [screen.size().width, screen.size().height]) {
            return None;
        }
        Some(panel::HudData {
            style_picker: None,
            model_offer: self.download.as_ref().map(model_download::ModelDownload::offer),
            inference_server: Some(
                self.session_options.remote.as_ref().map(|r| r.url.clone()).unwrap_or_default(),
            ),
            display_fps: self.fps.fps,
            stages: effects.stage_stats(),
            providers: effects.providers.clone(),
            dropped_layers: effects
                .plan
                .dropped
                .iter()
                .map(|d| format!("{}: {}", d.effect, d.reason))
                .collect(),
            banner: match &self.loading {
                Some(loading) => {
                    format!(
                        "{} | loading {}: opening its models…",
                        self.source.banner(),
                        loading.preset
                    )
                }
                None => self.source.banner(),
            },
            recording: self
                .recording
                .as_ref()
                .map(|r| (r.started.elapsed(), r.recorder.dropped() + r.ring.dropped)),
            message: self
                .message
                .as_ref()
                .filter(|(_, at)| at.elapsed() < Duration::from_secs(6))
                .map(|(m, _)| m.clone()),
            adapter: format!(
                "{} ({:?})",
                gpu.context.adapter_info.name, gpu.context.adapter_info.device_type
            ),
            restyle_engine: effects.restyle_label.lock().ok().and_then(|label| label.clone()),
            preset_description: effects.description.clone(),
            remote: effects.remote.rows(),
            key_hints: "space: record, s: snapshot, h: HUD, f: fullscreen, Esc: quit",
            segmentation_models: self.store.manifest().segmentation_models(),
        })
    }

    /// The picture letterboxed into the window with the controls and HUD on top, presented;
    /// returns what the controls asked for and whether the surface must be configured again.
    fn draw_window(
        &mut self,
        window: &Window,
        picture: &wgpu::Texture,
    ) -> Result<(panel::Actions, bool), LiveError> {
        // The controls, laid out again only when something may have changed.
        let hud = self.hud_data_if_due();
        let (Some(gpu), Some(effects)) = (&mut self.gpu, &mut self.effects) else {
            return Ok((panel::Actions::default(), false));
        };
        let Some((screen, screen_view)) = gpu.screen.as_ref() else {
            return Ok((panel::Actions::default(), false));
        };
        let picture_view = picture.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = gpu
            .context
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("window") });
        let size = [screen.size().width, screen.size().height];
        let mut actions = panel::Actions::default();
        if let Some(hud) = hud {
            let mut layers = effects.renderer.layers().to_vec();
            let picked_layer = &mut self.picked_layer;
            let settings = &mut self.settings;
            gpu.overlay.update(window, &gpu.context, &mut encoder, size, |ui| {
                panel::draw(ui, settings, &hud, &mut layers, picked_layer, &mut actions);
            });
            if actions.restyle && self.settings.restyle_prompt.trim().is_empty() {
                self.message = Some(("Type what the picture should become".into(), Instant::now()));
            } else if actions.restyle {
                effects.set_prompt(&self.settings.restyle_prompt);
                set_restyle_prompt(&mut layers, &self.settings.restyle_prompt);
                actions.layers_changed = true;
            }
            if actions.layers_changed {
                effects.renderer.set_layers(&gpu.context, layers)?;
            }
        }
        let rect = gpu
            .overlay
            .painter
            .picture_rect((picture.size().width, picture.size().height), (size[0], size[1]));
        let (width, height) = (f64::from(size[0]), f64::from(size[1]));
        self.picture_rect = Some([
            f64::from(rect[0]) * width,
            f64::from(rect[1]) * height,
            f64::from(rect[2]) * width,
            f64::from(rect[3]) * height,
        ]);
        gpu.presenter.blit(
            &gpu.context,
            &mut encoder,
            &picture_view,
            screen_view,
            wgpu::TextureFormat::Rgba8Unorm,
            rect,
        );
        gpu.overlay.painter.draw(&mut encoder, screen_view);
        let reconfigure = gpu.present(window, encoder);
        Ok((actions, reconfigure))
    }

    /// After `--quit-after-frames` frames: the screenshot, if asked for, and the exit.
    fn quit_when_done(&mut self, event_loop: &ActiveEventLoop) -> Result<bool, LiveError> {
        if let Some(limit) = self.options.quit_after_frames
            && self.displayed >= limit
        {
            if let Some(path) = self.options.screenshot_to.clone() {
                let gpu = self.gpu.as_ref().expect("present");
                let (screen, _) = gpu.screen.as_ref().expect("present");
                let image = readback::read_rgba8(&gpu.context, screen)?;
                image.save(&path).map_err(|error| LiveError::Screenshot { path, error })?;
            }
            event_loop.exit();
            return Ok(true);
        }
        Ok(false)
    }
}

impl ApplicationHandler for LiveApp {
    fn new_events(&mut self, _event_loop: &ActiveEventLoop, cause: StartCause) {
        // The rest after a redraw with nothing to show is over: look again.
        if matches!(cause, StartCause::ResumeTimeReached { .. })
            && let Some(window) = &self.window
        {
            window.request_redraw();
        }
    }

    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_none() {
            let (width, height) = self.options.window_size.unwrap_or((1280, 800));
            let attributes = Window::default_attributes()
                .with_title("dreamlens")
                .with_inner_size(winit::dpi::PhysicalSize::new(width.max(1), height.max(1)));
            match event_loop.create_window(attributes) {
                Ok(window) => self.window = Some(Arc::new(window)),
                Err(error) => {
                    return self.fail(event_loop, LiveError::Window(error));
                }
            }
        }
        let window = self.window.clone().expect("created above");
        let instance = self.instance.get_or_insert_with(|| {
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
                Box::new(event_loop.owned_display_handle()),
            ))
        });
        let surface = match instance.create_surface(Arc::clone(&window)) {
            Ok(surface) => surface,
            Err(error) => {
                return self.fail(event_loop, LiveError::Surface(error));
            }
        };
        if self.gpu.is_none() {
            let context = match RenderContext::for_surface(instance.clone(), &surface) {
                Ok(context) => context,
                Err(error) => return self.fail(event_loop, error.into()),
            };
            let overlay = Overlay::new(&context, &window);
            let presenter = Presenter::new(&context);
            self.staging.attach(&context.device);
            self.gpu = Some(Gpu {
                context,
                surface: None,
                config: None,
                presenter,
                screen: None,
                overlay,
            });
        }
        if let Some(gpu) = &mut self.gpu {
            gpu.surface = Some(surface);
            self.surfaces_made += 1;
        }
        self.source.resume();
        self.configure_surface();
        // Draw continuously: camera frames arrive on their own clock.
        event_loop.set_control_flow(ControlFlow::Poll);
        window.request_redraw();
    }

    fn suspended(&mut self, _event_loop: &ActiveEventLoop) {
        // Android destroys the native window now; the surface must go with it. The GPU, the
        // models and their stages stay, so coming back is instant; the camera closes (another
        // app may want it) and a recording is saved, as the app may never come back.
        if let Some(gpu) = &mut self.gpu {
            gpu.surface = None;
            gpu.config = None;
        }
        self.source.pause();
        if self.recording.is_some() {
            self.toggle_recording();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let Some(window) = self.window.clone() else { return };
        let consumed =
            self.gpu.as_mut().is_some_and(|gpu| gpu.overlay.on_window_event(&window, &event));
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(_) => self.configure_surface(),
            WindowEvent::CursorMoved { position, .. } => {
                self.cursor = Some((position.x, position.y))
            }
            WindowEvent::MouseInput {
                state: ElementState::Pressed,
                button: winit::event::MouseButton::Left,
                ..
            } if !consumed => {
                self.pick_region();
            }
            // A phone has no cursor: a finger lifted where it went down picks, as a click does.
            WindowEvent::Touch(touch) if !consumed => {
                let at = (touch.location.x, touch.location.y);
                match touch.phase {
                    TouchPhase::Started => self.touch_start = Some((touch.id, at)),
                    TouchPhase::Ended => {
                        let start = self.touch_start.take();
                        if start.is_some_and(|(id, (x, y))| {
                            id == touch.id && (x - at.0).hypot(y - at.1) < TAP_SLOP_PX
                        }) {
                            self.cursor = Some(at);
                            self.pick_region();
                        }
                    }
                    TouchPhase::Moved => {}
                    TouchPhase::Cancelled => self.touch_start = None,
                }
            }
            WindowEvent::RedrawRequested => {
                let shown = match self.redraw(event_loop) {
                    Ok(shown) => shown,
                    // A scripted run (screenshots, benchmarks) must fail loudly.
                    Err(error) if self.options.quit_after_frames.is_some() => {
                        self.fail(event_loop, error);
                        false
                    }
                    // A person at the window sees what went wrong and the next frame is tried:
                    // one bad frame must not stop the camera.
                    Err(error) => {
                        self.notify(format!("{error:#}"));
                        false
                    }
                };
                // Every path asks for the next frame, so nothing stalls waiting for an event:
                // at once after a frame was shown, after a short rest otherwise (`new_events`).
                if event_loop.exiting() {
                } else if shown {
                    event_loop.set_control_flow(ControlFlow::Poll);
                    window.request_redraw();
                } else {
                    event_loop.set_control_flow(ControlFlow::WaitUntil(Instant::now() + IDLE_WAIT));
                }
            }
            WindowEvent::KeyboardInput {
                event: KeyEvent { logical_key, state: ElementState::Pressed, repeat: false, .. },
                ..
            } if !consumed => match logical_key {
                Key::Named(NamedKey::Escape) => event_loop.exit(),
                // Android's back button and gesture: the panel first, then the app.
                Key::Named(NamedKey::BrowserBack) if !self.settings.back() => event_loop.exit(),
                Key::Named(NamedKey::Space) => self.toggle_recording(),
                Key::Character(c) if c.as_str() == "s" => self.snapshot(),
                Key::Character(c) if c.as_str() == "h" => {
                    self.settings.show_hud = !self.settings.show_hud
                }
                Key::Character(c) if c.as_str() == "f" => toggle_fullscreen(&window),
                _ => {}
            },
            _ => {}
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        // The session's rates, for benchmarks and bug reports.
        let stages = self.effects.as_ref().map(|e| e.stage_stats()).unwrap_or_default();
        if let Some(mut summary) = self.meter.summary(&stages) {
            summary.picture_rect = self.picture_rect;
            for (kind, runs_on) in self.effects.iter().flat_map(|e| e.providers.iter()) {
                if let Some(stage) = summary.stages.get_mut(kind.name()) {
                    stage.runs_on.clone_from(runs_on);
                }
            }
            summary.regions = self
                .effects
                .as_ref()
                .map(|e| e.renderer.layers().iter().map(|l| format!("{:?}", l.region)).collect())
                .unwrap_or_default();
            eprintln!("{summary}");
            if let Some(path) = &self.options.summary_json {
                let written = serde_json::to_vec_pretty(&summary)
                    .map_err(std::io::Error::other)
                    .and_then(|json| std::fs::write(path, json));
                if let Err(error) = written {
                    eprintln!(
                        "error: cannot write the session summary to {}: {error}",
                        path.display()
                    );
                }
            }
        }
        if let Some(recording) = self.recording.take() {
            let path = recording.path.clone();
            match recording.finish(self.gpu.as_ref().map(|g| &g.context)) {
                Ok(stats) => {
                    eprintln!("saved {}: {} frames", path.display(), stats.frames)
                }
                Err(error) => eprintln!("error: {error}"),
            }
        }
    }
}

impl Drop for LiveApp {
    fn drop(&mut self) {
        // Model workers stop before the GPU state goes.
        self.effects = None;
    }
}

/// Borderless fullscreen on the window's monitor, or back to a window.
fn toggle_fullscreen(window: &Window) {
    window.set_fullscreen(window.fullscreen().is_none().then_some(Fullscreen::Borderless(None)));
}
