//! The effects of the running preset: one model stage per map it needs (and the style or
//! restyle stage), opened on a loader thread so the window never waits, and the newest results
//! with the motion that carries them onto the frame shown.

use std::{
    sync::{Arc, mpsc},
    time::Instant,
};

use crate::effects::PresetError;
use crate::{
    effects::{Effect, preset::Preset},
    fusion::ClassFusion,
    inference::{AnalysisModels, DisabledStage, InferenceError, SceneAnalyzer, SessionOptions},
    pipeline::{EffectRenderer, FrameAnalysis, FrameAnalyzer, LayerPlan, PipelineError},
    projection::{DEFAULT_FADE_S, KeyframeProjector, MotionsTo, Thumbnail},
    render::RenderContext,
    restyle::{EngineChoice, downloadable_pipeline},
    scene::{ClassMap, MapMotions, Motion, ScalarMap, SceneAnalysis},
    stages::{STYLE_SKIP_LEVELS, Stage, StageKind, StageStats},
    store::ModelStore,
};

use super::{LiveApp, remote_meter, source::LiveFrame};

/// The models and layers of the current preset.
pub(super) struct Effects {
    pub(super) preset_name: String,
    /// The segmentation model asked for when it was opened (`None`: the preset's).
    pub(super) segmentation_choice: Option<String>,
    /// The camera as it is, shown while the first preset loads.
    pub(super) passthrough: bool,
    /// The preset's description, for the panel.
    pub(super) description: String,
    pub(super) renderer: EffectRenderer,
    pub(super) plan: LayerPlan,
    pub(super) segmentation: Option<Stage<LiveFrame, Sourced<ClassMap>>>,
    pub(super) person: Option<Stage<LiveFrame, Sourced<ScalarMap>>>,
    pub(super) depth: Option<Stage<LiveFrame, Sourced<ScalarMap>>>,
    pub(super) style: Option<Stage<LiveFrame, Sourced<Arc<image::RgbaImage>>>>,
    /// Carries the newest stylized keyframe onto each displayed frame.
    pub(super) projector: KeyframeProjector,
    /// The frame the projector's keyframe came from.
    pub(super) projected_from: Option<u64>,
    /// Thumbnail of the frame last offered to the style stage (near-identical ones are skipped).
    pub(super) style_offered: Option<Thumbnail>,
    /// The frame last composited and when it was captured: the temporal filter's history moves
    /// by the motion since, and weighs by the time since.
    pub(super) last_composited: Option<(u64, Thumbnail, Instant)>,
    /// A new restyle prompt for the style stage to pick up.
    pub(super) prompt: Arc<std::sync::Mutex<Option<String>>>,
    /// Which restyle engine runs and why (the style stage updates it when a new prompt picks
    /// another built-in style).
    pub(super) restyle_label: SharedLabel,
    /// Time base of the projector's fades.
    pub(super) epoch: Instant,
    /// Which execution provider each model runs on.
    pub(super) providers: Vec<(StageKind, String)>,
    /// What the models on an inference server cost per run.
    pub(super) remote: remote_meter::RemoteMeter,
    /// The diffusion model the restyle layers would use, were it on this device.
    pub(super) diffusion_offer: Option<String>,
}

/// What opening the model stages reports: stages turned off, each model's provider, and the
/// meter remote models record their calls in.
#[derive(Default)]
pub(super) struct Wiring {
    pub(super) disabled: Vec<DisabledStage>,
    pub(super) providers: Vec<(StageKind, String)>,
    pub(super) remote: remote_meter::RemoteMeter,
}

/// A preset's effects being opened on the `effects-loader` thread.
pub(super) struct Loading {
    pub(super) preset: String,
    pub(super) result: mpsc::Receiver<Result<Effects, PresetError>>,
}

/// Stops `effects`' stage threads on a thread of their own: a stage may be inside a run of
/// seconds (a diffusion step), and the window must not wait for it.
pub(super) fn retire(effects: Effects) {
    let spawned =
        std::thread::Builder::new().name("effects-retire".into()).spawn(move || drop(effects));
    if let Err(error) = spawned {
        tracing::warn!("cannot stop the old effects off the window thread: {error}");
    }
}

/// `model on provider` for each session of a stage (the HUD's "on ..." part).
fn describe<'a>(sessions: impl Iterator<Item = &'a crate::inference::ModelSession>) -> String {
    let parts: Vec<String> =
        sessions.map(|s| format!("{} on {}", s.model_id(), s.providers())).collect();
    parts.join(", ")
}

/// Why one run of a live stage gave nothing to show; the HUD shows it until a run succeeds.
#[derive(Debug, thiserror::Error)]
enum StageError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("the model gave no output")]
    NoOutput,
}

/// A stage result and the thumbnail of the frame it was made from, so it can be carried onto
/// later frames by the motion since.
#[derive(Clone)]
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) source: Thumbnail,
}

/// Opens one stage's model on a worker thread; `None` with the reason when it cannot run.
fn spawn_stage<O: Clone + Send + 'static>(
    kind: StageKind,
    store: &ModelStore,
    options: &SessionOptions,
    models: AnalysisModels,
    mut run: impl FnMut(&mut SceneAnalyzer, &LiveFrame) -> Result<Option<O>, InferenceError>
    + Send
    + 'static,
    wiring: &mut Wiring,
) -> Option<Stage<LiveFrame, Sourced<O>>> {
    let Wiring { disabled, providers, remote: meter } = wiring;
    let name = kind.name();
    let (mut analyzer, mut off) = match SceneAnalyzer::open(store, &models, options) {
        Ok(opened) => opened,
        Err(error) => {
            disabled.push(DisabledStage { stage: name, reason: error.to_string() });
            return None;
        }
    };
    if !off.is_empty() {
        disabled.append(&mut off);
        return None;
    }
    providers.push((kind, describe(analyzer.sessions())));
    let meter = meter.clone();
    Stage::spawn(kind.name(), move |live: &LiveFrame| -> Result<_, StageError> {
        let before = remote_meter::totals(analyzer.sessions());
        let value = run(&mut analyzer, live)?;
        meter.record(&before, &remote_meter::totals(analyzer.sessions()));
        let value = value.ok_or(StageError::NoOutput)?;
        Ok(Sourced { value, source: live.thumbnail.clone() })
    })
    .ok()
}

/// The segmentation stage: consecutive frames' class probabilities are fused over them,
/// carried by the measured motion, where the graph gives scores.
fn spawn_segmentation_stage(
    store: &ModelStore,
    options: &SessionOptions,
    model: Option<String>,
    wiring: &mut Wiring,
) -> Option<Stage<LiveFrame, Sourced<ClassMap>>> {
    let only = AnalysisModels { segmentation: model, ..AnalysisModels::none() };
    let mut fusion = ClassFusion::default();
    let run = move |analyzer: &mut SceneAnalyzer, live: &LiveFrame| {
        Ok(match analyzer.class_scores(&live.frame.image)? {
            Some((scores, scale)) => {
                let fused = fusion.fuse(&scores, &live.thumbnail);
                Some(fused.upsampled_argmax(scale).with_probabilities(fused.clone()))
            }
            None => analyzer.analyze(&live.frame.image)?.classes,
        })
    };
    spawn_stage(StageKind::Segmentation, store, options, only, run, wiring)
}

/// The style stage of a preset with `style` or `restyle` layers, or why it is off.
#[derive(Default)]
struct StyleStage {
    stage: Option<Stage<LiveFrame, Sourced<Arc<image::RgbaImage>>>>,
    /// Why the preset's style layers are off.
    off: Option<String>,
    /// Which restyle engine runs and why.
    restyle_label: SharedLabel,
}

/// A label one thread writes and another reads.
pub(super) type SharedLabel = Arc<std::sync::Mutex<Option<String>>>;

/// Opens the engine of `preset`'s style layers on a stage thread; it picks up a new restyle
/// prompt from `prompt` before its next run.
fn spawn_style_stage(
    store: &ModelStore,
    options: &SessionOptions,
    preset: &Preset,
    engine: &EngineChoice,
    prompt: &Arc<std::sync::Mutex<Option<String>>>,
    wiring: &mut Wiring,
) -> StyleStage {
    let style_preset = Preset {
        layers: preset.layers.iter().filter(|l| l.effect.needs_style()).cloned().collect(),
        luts: Vec::new(),
        ..preset.clone()
    };
    let none = AnalysisModels::none();
    let (mut analyzer, plan) =
        match FrameAnalyzer::open(store, options, &style_preset, &none, engine) {
            Ok(opened) => opened,
            Err(error) => {
                return StyleStage { off: Some(error.to_string()), ..StyleStage::default() };
            }
        };
    if let Some(dropped) = plan.dropped.first() {
        return StyleStage { off: Some(dropped.reason.clone()), ..StyleStage::default() };
    }
    wiring.providers.push((StageKind::Style, describe(analyzer.sessions())));
    let restyle_label: SharedLabel =
        Arc::new(std::sync::Mutex::new(analyzer.restyle_label().map(str::to_owned)));
    let (new_prompt, meter) = (Arc::clone(prompt), wiring.remote.clone());
    let label = Arc::clone(&restyle_label);
    let stage =
        Stage::spawn(StageKind::Style.name(), move |live: &LiveFrame| -> Result<_, StageError> {
            let pending = new_prompt.lock().ok().and_then(|mut p| p.take());
            if let Some(text) = pending {
                analyzer.set_prompt(&text);
                if let Ok(mut label) = label.lock() {
                    *label = analyzer.restyle_label().map(str::to_owned);
                }
            }
            let before = remote_meter::totals(analyzer.sessions());
            let analysis = analyzer.analyze(&live.frame.image, 0)?;
            meter.record(&before, &remote_meter::totals(analyzer.sessions()));
            let picture =
                analysis.stylized.map(|s| s.current.picture).ok_or(StageError::NoOutput)?;
            Ok(Sourced { value: picture, source: live.thumbnail.clone() })
        })
        .ok();
    StyleStage { stage, off: None, restyle_label }
}

impl Effects {
    pub(super) fn open(
        store: &ModelStore,
        options: &SessionOptions,
        preset_name: &str,
        restyle: Option<(&str, bool)>,
        engine: &EngineChoice,
        segmentation_model: Option<&str>,
        gpu: Option<(&RenderContext, (u32, u32))>,
    ) -> Result<Self, PresetError> {
        let mut preset = Preset::load(preset_name)?;
        let models = &AnalysisModels {
            segmentation: Some(preset.segmentation_model_or(segmentation_model)),
            ..AnalysisModels::default()
        };
        let restyles = preset.layers.iter().any(|l| matches!(l.effect, Effect::Restyle { .. }));
        if let Some((prompt, _)) =
            restyle.filter(|(p, add)| !p.trim().is_empty() && (restyles || *add))
        {
            preset = preset.with_restyle(prompt)?;
        }
        let restyles = preset.layers.iter().any(|l| matches!(l.effect, Effect::Restyle { .. }));
        let diffusion_offer = (restyles && engine.diffusion_dir.is_none())
            .then(|| downloadable_pipeline(store, options))
            .flatten()
            .map(str::to_owned);
        // One session thread per stage; each gets one core's worth of threads.
        let stage_options =
            SessionOptions { threads: (options.threads / 2).max(1), ..options.clone() };
        let mut wiring = Wiring::default();
        let segmentation = preset
            .needs_segmentation()
            .then(|| {
                let model = models.segmentation.clone();
                spawn_segmentation_stage(store, &stage_options, model, &mut wiring)
            })
            .flatten();
        let person = preset
            .needs_person()
            .then(|| {
                let only =
                    AnalysisModels { person: models.person.clone(), ..AnalysisModels::none() };
                let run = |analyzer: &mut SceneAnalyzer, live: &LiveFrame| {
                    Ok(analyzer.analyze(&live.frame.image)?.person)
                };
                spawn_stage(StageKind::Person, store, &stage_options, only, run, &mut wiring)
            })
            .flatten();
        let depth = preset
            .needs_depth()
            .then(|| {
                let only = AnalysisModels { depth: models.depth.clone(), ..AnalysisModels::none() };
                let run = |analyzer: &mut SceneAnalyzer, live: &LiveFrame| {
                    Ok(analyzer.analyze(&live.frame.image)?.depth)
                };
                spawn_stage(StageKind::Depth, store, &stage_options, only, run, &mut wiring)
            })
            .flatten();
        let prompt: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let StyleStage { stage: style, off: style_off, restyle_label } = if preset.needs_style() {
            spawn_style_stage(store, &stage_options, &preset, engine, &prompt, &mut wiring)
        } else {
            StyleStage::default()
        };
        let Wiring { disabled, providers, remote } = wiring;
        let plan = LayerPlan::new(&preset, &disabled, style_off);
        let mut renderer = EffectRenderer::new(plan.clone());
        renderer.set_temporal(true);
        if let Some((context, size)) = gpu {
            // Effect and analysis pipelines are compiled here, on the loader thread, so the
            // window does not stall on its first frames with the new preset.
            let maps = [segmentation.is_some(), person.is_some(), depth.is_some()];
            if let Err(error) = renderer.prepare(context, size, maps) {
                tracing::warn!("the preset's GPU pipelines will be built on first use: {error}");
            }
        }
        Ok(Self {
            preset_name: preset_name.to_owned(),
            segmentation_choice: segmentation_model.map(str::to_owned),
            passthrough: false,
            description: preset.description.clone(),
            renderer,
            plan,
            segmentation,
            person,
            depth,
            style,
            projector: KeyframeProjector::new(DEFAULT_FADE_S),
            projected_from: None,
            style_offered: None,
            last_composited: None,
            prompt,
            restyle_label,
            epoch: Instant::now(),
            providers,
            remote,
            diffusion_offer,
        })
    }

    /// No layers and no models: the camera as it is, ready at once.
    pub(super) fn passthrough() -> Self {
        let preset = Preset {
            name: String::new(),
            description: "Loading…".into(),
            layers: Vec::new(),
            luts: Vec::new(),
            segmentation_model: None,
        };
        let plan = LayerPlan::new(&preset, &[], None);
        Self {
            preset_name: String::new(),
            segmentation_choice: None,
            passthrough: true,
            description: preset.description,
            renderer: EffectRenderer::new(plan.clone()),
            plan,
            segmentation: None,
            person: None,
            depth: None,
            style: None,
            projector: KeyframeProjector::new(DEFAULT_FADE_S),
            projected_from: None,
            style_offered: None,
            last_composited: None,
            prompt: Arc::default(),
            restyle_label: SharedLabel::default(),
            epoch: Instant::now(),
            providers: Vec::new(),
            remote: remote_meter::RemoteMeter::default(),
            diffusion_offer: None,
        }
    }

    /// Hands a new prompt to the restyle stage; the next frame is restyled even if the camera
    /// is still.
    pub(super) fn set_prompt(&mut self, text: &str) {
        if let Ok(mut pending) = self.prompt.lock() {
            *pending = Some(text.to_owned());
        }
        self.style_offered = None;
    }

    pub(super) fn offer(&mut self, frame: &Arc<LiveFrame>) {
        let (index, at) = (frame.frame.index, frame.captured_at);
        let shared = || Arc::clone(frame);
        if let Some(stage) = &self.segmentation {
            stage.offer(shared(), index, at);
        }
        if let Some(stage) = &self.person {
            stage.offer(shared(), index, at);
        }
        if let Some(stage) = &self.depth {
            stage.offer(shared(), index, at);
        }
        if self.style.is_some() {
            let thumbnail = frame.thumbnail.clone();
            let unchanged = self
                .style_offered
                .as_ref()
                .is_some_and(|last| last.difference(&thumbnail) < STYLE_SKIP_LEVELS);
            if let (false, Some(stage)) = (unchanged, &self.style) {
                stage.offer(shared(), index, at);
                self.style_offered = Some(thumbnail);
            }
        }
    }

    /// The newest results for `frame`: maps as they are (the compositor smooths them), the
    /// stylized keyframe projected onto this frame.
    pub(super) fn latest(&mut self, frame: &LiveFrame) -> FrameAnalysis {
        let now = self.epoch.elapsed().as_secs_f64();
        let current = &frame.thumbnail;
        // Maps from older frames are carried onto this one, on the GPU, by the motion since.
        let mut motions_to = MotionsTo::new(current, frame.frame.index);
        let mut motions = MapMotions::default();
        let classes = self.segmentation.as_ref().and_then(|s| s.latest()).map(|r| {
            motions.classes = motions_to.from(r.frame_index, &r.value.source);
            r.value.value
        });
        let mut scalars = |stage: &Option<Stage<LiveFrame, Sourced<ScalarMap>>>,
                           motion: &mut Option<Motion>| {
            stage.as_ref().and_then(|s| s.latest()).map(|r| {
                *motion = motions_to.from(r.frame_index, &r.value.source);
                r.value.value
            })
        };
        let person = scalars(&self.person, &mut motions.person);
        let depth = scalars(&self.depth, &mut motions.depth);
        if let Some((index, thumbnail, captured_at)) = &self.last_composited {
            motions.history = motions_to.from(*index, thumbnail);
            let since_last = frame.captured_at.saturating_duration_since(*captured_at);
            motions.since_last_s = Some(since_last.as_secs_f32());
        }
        self.last_composited = Some((frame.frame.index, current.clone(), frame.captured_at));
        if let Some(result) = self.style.as_ref().and_then(|s| s.latest())
            && self.projected_from != Some(result.frame_index)
        {
            self.projected_from = Some(result.frame_index);
            self.projector.set_keyframe(result.value.value, result.value.source, now);
        }
        let stylized = self.style.is_some().then(|| self.projector.project(current, now)).flatten();
        FrameAnalysis { scene: SceneAnalysis { classes, person, depth }, motions, stylized }
    }

    pub(super) fn stage_stats(&self) -> Vec<(StageKind, StageStats)> {
        let mut stats = Vec::new();
        if let Some(s) = &self.segmentation {
            stats.push((StageKind::Segmentation, s.stats()));
        }
        if let Some(s) = &self.person {
            stats.push((StageKind::Person, s.stats()));
        }
        if let Some(s) = &self.depth {
            stats.push((StageKind::Depth, s.stats()));
        }
        if let Some(s) = &self.style {
            stats.push((StageKind::Style, s.stats()));
        }
        stats
    }
}

impl LiveApp {
    /// Keeps the effects in step with the chosen preset without ever waiting: models open on
    /// an `effects-loader` thread (a diffusion pipeline takes seconds); meanwhile the window
    /// shows the camera through the effects it has (plain, at start-up) and says what loads.
    pub(super) fn load_effects(&mut self) {
        if let Some(loading) = &self.loading {
            let ready = loading.preset.clone();
            match loading.result.try_recv() {
                Ok(Ok(effects)) => {
                    for layer in &effects.plan.dropped {
                        self.notify(format!("The {} layer is off: {}", layer.effect, layer.reason));
                    }
                    if let Some(old) = self.effects.replace(effects) {
                        retire(old);
                    }
                    self.presets_loaded += 1;
                    self.loading = None;
                    if ready != self.settings.preset {
                        self.start_loading();
                    }
                }
                Ok(Err(error)) => {
                    self.notify(format!("{error:#}"));
                    let current = self.effects.as_ref().filter(|e| !e.passthrough);
                    self.settings.preset =
                        current.map_or_else(|| "toon".into(), |e| e.preset_name.clone());
                    self.loading = None;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.notify("Loading the preset stopped unexpectedly".into());
                    self.loading = None;
                }
            }
            return;
        }
        // The first load waits for the first frame: its size lets the loader build the GPU
        // pipelines too (and there is nothing to show before it).
        let sized = self.frame.is_some() || self.gpu.is_none();
        let stale = |e: &Effects| {
            self.models_changed
                || e.preset_name != self.settings.preset
                || e.segmentation_choice != self.settings.segmentation_model
        };
        if sized && self.effects.as_ref().is_none_or(stale) {
            if self.effects.is_none() {
                self.effects = Some(Effects::passthrough());
            }
            self.start_loading();
        }
    }

    pub(super) fn start_loading(&mut self) {
        self.models_changed = false;
        // `--restyle` adds a restyle layer to any preset; a saved prompt only fills one.
        let restyle = match &self.options.restyle {
            Some(prompt) => Some((prompt.clone(), true)),
            None => Some((self.settings.restyle_prompt.clone(), false)),
        };
        let (sender, result) = mpsc::channel();
        let preset = self.settings.preset.clone();
        let (store, options, engine, segmentation_model) = (
            self.store.clone(),
            self.session_options.clone(),
            self.options.engine.clone(),
            self.settings.segmentation_model.clone(),
        );
        let name = preset.clone();
        // The GPU and the frame size, when known, so the loader builds the pipelines too.
        let gpu = self
            .gpu
            .as_ref()
            .map(|g| g.context.clone())
            .zip(self.frame.as_ref().map(|f| f.frame.image.dimensions()));
        let spawned = std::thread::Builder::new().name("effects-loader".into()).spawn(move || {
            let restyle = restyle.as_ref().map(|(p, add)| (p.as_str(), *add));
            let gpu = gpu.as_ref().map(|(context, size)| (context, *size));
            let segmentation_model = segmentation_model.as_deref();
            let _ = sender.send(Effects::open(
                &store,
                &options,
                &name,
                restyle,
                &engine,
                segmentation_model,
                gpu,
            ));
        });
        match spawned {
            Ok(_) => self.loading = Some(Loading { preset, result }),
            Err(error) => self.notify(format!("Cannot load the preset: {error}")),
        }
    }
}
