//! One frame through the whole effect pipeline: the models a preset needs (`FrameAnalyzer`),
//! then the GPU compositor (`EffectRenderer`). The two halves are separate so batch processing
//! can analyse several frames in parallel and composite them in order, and the live app can run
//! analysis on worker threads.
//!
//! A model that cannot be found turns off only the layers that need it; each such layer is
//! reported once.

use image::{RgbImage, RgbaImage};
use ndarray::ArrayD;

use crate::{
    effects::{Effect, Layer, lut::Lut, preset::Preset},
    inference::{
        AnalysisModels, InferenceError, ModelSession, SceneAnalyzer, SessionOptions, preprocess,
    },
    render::{
        AnalysisFilter, Compositor, CompositorInput, FrameData, RenderContext, RenderError,
        readback,
    },
    scene::SceneAnalysis,
    store::ModelStore,
};

/// The style-transfer model used by `style` layers.
pub const STYLE_MODEL: &str = "multistyle26";
/// Width the style network runs at (its cost grows with the pixel count).
const STYLE_WIDTH: u32 = 512;

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
    /// The stylized frame for `style` layers.
    pub stylized: Option<RgbaImage>,
}

/// The models one preset needs, prepared once.
pub struct FrameAnalyzer {
    analyzer: SceneAnalyzer,
    style: Option<(ModelSession, ArrayD<f32>)>,
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

fn effect_name(effect: &Effect) -> String {
    format!("{effect:?}").split([' ', '{']).next().unwrap_or("effect").to_owned()
}

impl FrameAnalyzer {
    /// Opens the models `preset` needs (chosen from `models`) and plans which layers can run.
    pub fn open(
        store: &ModelStore,
        options: &SessionOptions,
        preset: &Preset,
        models: &AnalysisModels,
    ) -> Result<(Self, LayerPlan), PipelineError> {
        let needed = AnalysisModels {
            segmentation: models.segmentation.clone().filter(|_| preset.needs_segmentation()),
            person: models.person.clone().filter(|_| preset.needs_person()),
            depth: models.depth.clone().filter(|_| preset.needs_depth()),
        };
        let (analyzer, disabled) = SceneAnalyzer::open(store, &needed, options)?;
        let stage_off =
            |stage: &str| disabled.iter().find(|d| d.stage == stage).map(|d| d.reason.clone());
        let mut style = None;
        let mut style_off = None;
        let style_weights = preset.layers.iter().find_map(|l| match &l.effect {
            Effect::Style { styles, .. } => Some(styles.clone()),
            _ => None,
        });
        if let Some(weights) = style_weights {
            let session = store
                .locate(STYLE_MODEL)
                .map_err(|e| e.to_string())
                .and_then(|m| ModelSession::open(&m, options).map_err(|e| e.to_string()));
            match session {
                Ok(session) => {
                    let total: f32 = weights.iter().map(|w| w.weight).sum();
                    let mut vector = ArrayD::zeros(vec![26]);
                    for w in &weights {
                        vector[[w.style]] += w.weight / total;
                    }
                    style = Some((session, vector));
                }
                Err(reason) => style_off = Some(reason),
            }
        }
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
        Ok((Self { analyzer, style }, plan))
    }

    /// The model sessions in use, for reporting providers.
    pub fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        self.analyzer.sessions().chain(self.style.iter().map(|(s, _)| s))
    }

    /// Runs every needed model on one frame.
    pub fn analyze(&mut self, frame: &RgbImage) -> Result<FrameAnalysis, InferenceError> {
        let scene = self.analyzer.analyze(frame)?;
        let stylized = match &mut self.style {
            Some((session, weights)) => {
                let height = (frame.height() * STYLE_WIDTH / frame.width().max(1)).max(4);
                let contract = session.contract()?.clone();
                let (w, h) = preprocess::input_size(&contract.input, STYLE_WIDTH, height);
                let input =
                    preprocess::to_tensor(&preprocess::resize(frame, w, h), &contract.input);
                let extra = vec![(contract.extra_inputs[0].clone(), weights.clone())];
                Some(nchw_to_rgba(&session.run_tensor(input.into_dyn(), extra)?))
            }
            None => None,
        };
        Ok(FrameAnalysis { scene, stylized })
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

    /// Sets temporal smoothing (on for video, off for unrelated photos).
    pub fn set_temporal(&mut self, temporal: bool) {
        self.filter.temporal = temporal;
        if let Some(compositor) = &mut self.compositor {
            compositor.set_filter(self.filter);
        }
    }

    /// Submits the GPU work for one frame without waiting for it.
    pub fn submit(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &FrameAnalysis,
    ) -> Result<&Compositor, PipelineError> {
        let size = frame.dimensions();
        if self.compositor.as_ref().is_none_or(|c| c.size() != size) {
            let mut compositor =
                Compositor::new(context, size.0, size.1, &self.plan.layers, &self.plan.luts)?;
            compositor.set_filter(self.filter);
            self.compositor = Some(compositor);
        }
        let compositor = self.compositor.as_mut().expect("created above");
        let rgba = crate::render::rgba_bytes(frame);
        compositor.render(
            context,
            &CompositorInput {
                frame: FrameData::Rgba8(&rgba),
                classes: analysis.scene.classes.as_ref(),
                person: analysis.scene.person.as_ref(),
                depth: analysis.scene.depth.as_ref(),
                stylized: analysis.stylized.as_ref(),
            },
        )?;
        Ok(compositor)
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

/// `[1, 3, h, w]` 0..1 to RGBA8.
fn nchw_to_rgba(tensor: &ArrayD<f32>) -> RgbaImage {
    let (height, width) = (tensor.shape()[2], tensor.shape()[3]);
    let plane = width * height;
    let data =
        tensor.as_slice().map(<[f32]>::to_vec).unwrap_or_else(|| tensor.iter().copied().collect());
    let to_byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let pixels = (0..plane)
        .flat_map(|i| {
            [to_byte(data[i]), to_byte(data[plane + i]), to_byte(data[2 * plane + i]), 255]
        })
        .collect();
    RgbaImage::from_raw(width as u32, height as u32, pixels).expect("sizes match")
}
