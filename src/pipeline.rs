//! One frame through the whole effect pipeline: the models a preset needs (`FrameAnalyzer`),
//! then the GPU compositor (`EffectRenderer`). The two halves are separate so batch processing
//! can analyse several frames in parallel and composite them in order, and the live app can run
//! analysis on worker threads.
//!
//! A model that cannot be found turns off only the layers that need it; each such layer is
//! reported once.

use image::{RgbImage, RgbaImage};

use crate::{
    effects::{Effect, Layer, lut::Lut, preset::Preset},
    inference::{
        AnalysisModels, DisabledStage, InferenceError, ModelSession, SceneAnalyzer, SessionOptions,
    },
    render::{
        AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, RenderError,
        readback, yuv::I420Converter,
    },
    restyle::{EngineChoice, RestyleRequest, Restyler},
    scene::{MapMotions, SceneAnalysis, Stylized},
    store::ModelStore,
    style_transfer::StyleEngine,
};

/// Why a frame could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A model failed.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// The GPU failed.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// A layer the pipeline had to drop, and why.
#[derive(Debug, Clone)]
pub struct DroppedLayer {
    /// The layer's effect name.
    pub effect: String,
    /// Why it cannot run.
    pub reason: String,
}

/// Everything the models produced for one frame.
#[derive(Debug, Clone, Default)]
pub struct FrameAnalysis {
    /// Segmentation, person mask and depth.
    pub scene: SceneAnalysis,
    /// How the maps' frames moved to the frame shown (live: maps lag behind the camera).
    pub motions: MapMotions,
    /// The stylized keyframes for `style` and `restyle` layers.
    pub stylized: Option<Stylized>,
}

/// What makes the stylized picture of a preset's `style` or `restyle` layer.
enum Stylizer {
    Transfer(Box<StyleEngine>),
    Restyle(Box<Restyler>),
}

/// The models one preset needs, prepared once.
pub struct FrameAnalyzer {
    analyzer: SceneAnalyzer,
    stylizer: Option<Stylizer>,
    keyframe_every: u64,
}

impl std::fmt::Debug for FrameAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAnalyzer").finish_non_exhaustive()
    }
}

/// The layers that can run with the models found, and those that cannot.
#[derive(Debug, Clone)]
pub struct LayerPlan {
    /// Layers that will run, bottom first.
    pub layers: Vec<Layer>,
    /// One LUT per `lut` layer in `layers`.
    pub luts: Vec<Lut>,
    /// Layers turned off, with the reason.
    pub dropped: Vec<DroppedLayer>,
}

impl LayerPlan {
    /// The layers of `preset` that can run when the `disabled` analysis stages are off and the
    /// style engine failed for `style_off` (if it did).
    pub fn new(preset: &Preset, disabled: &[DisabledStage], style_off: Option<String>) -> Self {
        let stage_off =
            |stage: &str| disabled.iter().find(|d| d.stage == stage).map(|d| d.reason.clone());
        let mut plan = LayerPlan { layers: Vec::new(), luts: Vec::new(), dropped: Vec::new() };
        let mut luts = preset.luts.iter();
        for layer in &preset.layers {
            let lut = matches!(layer.effect, Effect::Lut { .. }).then(|| luts.next()).flatten();
            let reason = None
                .or_else(|| {
                    layer.region.needs_segmentation().then(|| stage_off("segmentation")).flatten()
                })
                .or_else(|| layer.effect.needs_person().then(|| stage_off("person")).flatten())
                .or_else(|| {
                    matches!(layer.effect, Effect::DepthOfField { .. } | Effect::DepthFog { .. })
                        .then(|| stage_off("depth"))
                        .flatten()
                })
                .or_else(|| layer.effect.needs_style().then(|| style_off.clone()).flatten());
            match reason {
                Some(reason) => {
                    plan.dropped.push(DroppedLayer { effect: effect_name(&layer.effect), reason })
                }
                None => {
                    plan.layers.push(layer.clone());
                    plan.luts.extend(lut.cloned());
                }
            }
        }
        plan
    }
}

fn effect_name(effect: &Effect) -> String {
    format!("{effect:?}").split([' ', '{']).next().unwrap_or("effect").to_owned()
}

impl FrameAnalyzer {
    /// Opens the models `preset` needs (chosen from `models`; a `restyle` layer's engine as
    /// `engine` says) and plans which layers can run.
    pub fn open(
        store: &ModelStore,
        options: &SessionOptions,
        preset: &Preset,
        models: &AnalysisModels,
        engine: &EngineChoice,
    ) -> Result<(Self, LayerPlan), PipelineError> {
        let needed = AnalysisModels {
            segmentation: models.segmentation.clone().filter(|_| preset.needs_segmentation()),
            person: models.person.clone().filter(|_| preset.needs_person()),
            depth: models.depth.clone().filter(|_| preset.needs_depth()),
        };
        let (analyzer, disabled) = SceneAnalyzer::open(store, &needed, options)?;
        let mut stylizer = None;
        let mut style_off = None;
        let opened = preset.layers.iter().find_map(|l| match &l.effect {
            Effect::Style { styles, image, .. } => Some(
                StyleEngine::open(store, options, styles, image.as_deref())
                    .map(|e| Stylizer::Transfer(Box::new(e))),
            ),
            effect => RestyleRequest::of(effect).map(|request| {
                Restyler::open(store, options, &request, engine)
                    .map(|r| Stylizer::Restyle(Box::new(r)))
            }),
        });
        match opened {
            Some(Ok(opened)) => stylizer = Some(opened),
            Some(Err(reason)) => style_off = Some(reason),
            None => {}
        }
        let plan = LayerPlan::new(preset, &disabled, style_off);
        Ok((Self { analyzer, stylizer, keyframe_every: 1 }, plan))
    }

    /// Makes the stylized picture only for every `n`th frame (keyframes); the frames between
    /// get it projected by motion. 1 (the default) stylizes every frame.
    pub fn set_keyframe_every(&mut self, n: u64) {
        self.keyframe_every = n.max(1);
    }

    /// The model sessions in use, for reporting providers.
    pub fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        let style: Box<dyn Iterator<Item = &ModelSession>> = match &self.stylizer {
            Some(Stylizer::Transfer(engine)) => Box::new(std::iter::once(engine.session())),
            Some(Stylizer::Restyle(restyler)) => restyler.sessions(),
            None => Box::new(std::iter::empty()),
        };
        self.analyzer.sessions().chain(style)
    }

    /// The restyle engine in use and why, when the preset restyles.
    pub fn restyle_label(&self) -> Option<&str> {
        match &self.stylizer {
            Some(Stylizer::Restyle(restyler)) => Some(restyler.label()),
            _ => None,
        }
    }

    /// The execution provider of the restyle engine, when the preset restyles.
    pub fn restyle_provider(&self) -> Option<String> {
        match &self.stylizer {
            Some(Stylizer::Restyle(restyler)) => Some(restyler.provider()),
            _ => None,
        }
    }

    /// Changes the restyle prompt, when the preset restyles.
    pub fn set_prompt(&mut self, prompt: &str) {
        if let Some(Stylizer::Restyle(restyler)) = &mut self.stylizer {
            restyler.set_prompt(prompt);
        }
    }

    /// Runs every needed model on frame number `index`.
    pub fn analyze(
        &mut self,
        frame: &RgbImage,
        index: u64,
    ) -> Result<FrameAnalysis, InferenceError> {
        let scene = self.analyzer.analyze(frame)?;
        let keyframe = index.is_multiple_of(self.keyframe_every);
        let stylized = match &mut self.stylizer {
            Some(Stylizer::Transfer(engine)) if keyframe => Some(engine.stylize(frame)?),
            Some(Stylizer::Restyle(restyler)) if keyframe => Some(
                restyler
                    .restyle(frame)
                    .map_err(|reason| InferenceError::Run { model: "restyle".into(), reason })?,
            ),
            _ => None,
        };
        Ok(FrameAnalysis {
            scene,
            motions: MapMotions::default(),
            stylized: stylized.map(Stylized::still),
        })
    }
}

/// The GPU half: composites frames with their analysis, in order (temporal smoothing carries
/// state from one frame to the next).
pub struct EffectRenderer {
    plan: LayerPlan,
    compositor: Option<Compositor>,
    filter: AnalysisFilter,
}

impl std::fmt::Debug for EffectRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectRenderer")
            .field("layers", &self.plan.layers.len())
            .finish_non_exhaustive()
    }
}

impl EffectRenderer {
    /// A renderer for the planned layers; GPU state is made on the first frame.
    pub fn new(plan: LayerPlan) -> Self {
        Self { plan, compositor: None, filter: AnalysisFilter::default() }
    }

    /// The layers being drawn.
    pub fn layers(&self) -> &[Layer] {
        &self.plan.layers
    }

    /// Replaces the layers' parameters or regions (same effects, same order, so the LUTs stay).
    pub fn set_layers(
        &mut self,
        context: &RenderContext,
        layers: Vec<Layer>,
    ) -> Result<(), PipelineError> {
        if let Some(compositor) = &mut self.compositor {
            compositor.set_layers(context, &layers, &self.plan.luts)?;
        }
        self.plan.layers = layers;
        Ok(())
    }

    /// Sets temporal smoothing (on for video, off for unrelated photos).
    pub fn set_temporal(&mut self, temporal: bool) {
        self.filter.temporal = temporal;
        if let Some(compositor) = &mut self.compositor {
            compositor.set_filter(self.filter);
        }
    }

    /// Builds the compositor for `size` frames and every pipeline frames with the given
    /// `maps` (regions, person, depth) need, so the first frames do not wait for them; any
    /// thread may call it (the live app's preset loader does).
    pub fn prepare(
        &mut self,
        context: &RenderContext,
        size: (u32, u32),
        maps: [bool; 3],
    ) -> Result<(), PipelineError> {
        let compositor = self.compositor_for(context, size)?;
        compositor.prepare_analysis(&context.device, maps);
        Ok(())
    }

    /// The compositor for `size` frames, made (with its effect pipelines) when there is none or
    /// the size changed.
    fn compositor_for(
        &mut self,
        context: &RenderContext,
        size: (u32, u32),
    ) -> Result<&mut Compositor, PipelineError> {
        if self.compositor.as_ref().is_none_or(|c| c.size() != size) {
            let mut compositor =
                Compositor::new(context, size.0, size.1, &self.plan.layers, &self.plan.luts)?;
            compositor.set_filter(self.filter);
            self.compositor = Some(compositor);
        }
        Ok(self.compositor.as_mut().expect("created above"))
    }

    /// Submits the GPU work for one frame without waiting for it.
    pub fn submit(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
    ) -> Result<&Compositor, PipelineError> {
        let rgba = crate::render::rgba_bytes(frame);
        self.submit_pixels(context, FramePixels::Rgba(&rgba), frame.dimensions(), analysis)
    }

    /// [`EffectRenderer::submit`] for a frame already in RGBA, in memory or staged (the live
    /// window gets it from its capture thread).
    pub fn submit_pixels(
        &mut self,
        context: &RenderContext,
        pixels: FramePixels<'_>,
        size: (u32, u32),
        analysis: &FrameAnalysis,
    ) -> Result<&Compositor, PipelineError> {
        let compositor = self.compositor_for(context, size)?;
        compositor.render(
            context,
            &CompositorInput {
                pixels,
                classes: analysis.scene.classes.as_ref(),
                person: analysis.scene.person.as_ref(),
                depth: analysis.scene.depth.as_ref(),
                motions: Some(&analysis.motions),
                stylized: analysis.stylized.as_ref(),
            },
        )?;
        Ok(compositor)
    }

    /// Composites one frame, converts it to I420 at the converter's size on the GPU, and reads
    /// the planes back (for recording).
    pub fn render_i420(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
        converter: &I420Converter,
    ) -> Result<Vec<u8>, PipelineError> {
        let compositor = self.submit(context, frame, analysis)?;
        Ok(converter.convert_and_read(context, compositor.output_texture(), compositor.size())?)
    }

    /// Composites one frame and reads the picture back.
    pub fn render(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
    ) -> Result<RgbaImage, PipelineError> {
        let compositor = self.submit(context, frame, analysis)?;
        Ok(readback::read_rgba8(context, compositor.output_texture())?)
    }
}
