//! One frame through the whole effect pipeline: the models a preset needs, then the GPU
//! compositor. Used by headless processing now and by the live app's render thread later.
//!
//! A model that cannot be found turns off only the layers that need it; each such layer is
//! reported once.

use image::{RgbImage, RgbaImage};
use ndarray::ArrayD;

use crate::{
    effects::{Effect, Layer, preset::Preset},
    inference::{
        AnalysisModels, DisabledStage, InferenceError, ModelSession, SceneAnalyzer, SessionOptions,
        preprocess,
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

/// Prepared models and GPU state for one preset.
pub struct EffectPipeline {
    analyzer: SceneAnalyzer,
    style: Option<(ModelSession, ArrayD<f32>)>,
    layers: Vec<Layer>,
    luts: Vec<crate::effects::lut::Lut>,
    compositor: Option<Compositor>,
    filter: AnalysisFilter,
    last_analysis: SceneAnalysis,
}

impl std::fmt::Debug for EffectPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectPipeline").field("layers", &self.layers.len()).finish_non_exhaustive()
    }
}

fn effect_name(effect: &Effect) -> String {
    format!("{effect:?}").split([' ', '{']).next().unwrap_or("effect").to_owned()
}

impl EffectPipeline {
    /// Opens the models `preset` needs (from `models`) and keeps the layers that can run.
    pub fn new(
        store: &ModelStore,
        options: &SessionOptions,
        preset: &Preset,
        models: &AnalysisModels,
    ) -> Result<(Self, Vec<DroppedLayer>), PipelineError> {
        let needed = AnalysisModels {
            segmentation: models.segmentation.clone().filter(|_| preset.needs_segmentation()),
            person: models.person.clone().filter(|_| preset.needs_person()),
            depth: models.depth.clone().filter(|_| preset.needs_depth()),
        };
        let (analyzer, disabled) = SceneAnalyzer::open(store, &needed, options)?;
        let stage_off = |stage: &str| {
            disabled.iter().find(|d: &&DisabledStage| d.stage == stage).map(|d| d.reason.clone())
        };
        let mut style = None;
        let mut style_off = None;
        if let Some(weights) = preset.layers.iter().find_map(|l| match &l.effect {
            Effect::Style { styles, .. } => Some(styles.clone()),
            _ => None,
        }) {
            match store
                .locate(STYLE_MODEL)
                .map_err(|e| e.to_string())
                .and_then(|m| ModelSession::open(&m, options).map_err(|e| e.to_string()))
            {
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
        let mut layers = Vec::new();
        let mut luts = Vec::new();
        let mut dropped = Vec::new();
        let mut lut_index = 0;
        for layer in &preset.layers {
            let reason =
                if layer.region.needs_segmentation() { stage_off("segmentation") } else { None }
                    .or_else(
                        || if layer.effect.needs_person() { stage_off("person") } else { None },
                    )
                    .or_else(|| match layer.effect {
                        Effect::DepthOfField { .. } | Effect::DepthFog { .. } => stage_off("depth"),
                        _ => None,
                    })
                    .or_else(|| if layer.effect.needs_style() { style_off.clone() } else { None });
            let lut = matches!(layer.effect, Effect::Lut { .. }).then(|| {
                lut_index += 1;
                preset.luts[lut_index - 1].clone()
            });
            match reason {
                Some(reason) => {
                    dropped.push(DroppedLayer { effect: effect_name(&layer.effect), reason })
                }
                None => {
                    layers.push(layer.clone());
                    luts.extend(lut);
                }
            }
        }
        Ok((
            Self {
                analyzer,
                style,
                layers,
                luts,
                compositor: None,
                filter: AnalysisFilter::default(),
                last_analysis: SceneAnalysis::default(),
            },
            dropped,
        ))
    }

    /// The model sessions in use, for reporting providers.
    pub fn sessions(&self) -> impl Iterator<Item = &ModelSession> {
        self.analyzer.sessions().chain(self.style.iter().map(|(s, _)| s))
    }

    /// Layers that will run.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Sets temporal smoothing (on for video, off for unrelated photos).
    pub fn set_temporal(&mut self, temporal: bool) {
        self.filter.temporal = temporal;
        if let Some(compositor) = &mut self.compositor {
            compositor.set_filter(self.filter);
        }
    }

    /// Analyses `frame` with every needed model, composites it, and returns the result.
    pub fn process(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
    ) -> Result<RgbaImage, PipelineError> {
        let analysis = self.analyzer.analyze(frame)?;
        let stylized = match &mut self.style {
            Some((session, weights)) => {
                let height = (frame.height() * STYLE_WIDTH / frame.width().max(1)).max(4);
                let contract = session.contract()?.clone();
                let (w, h) = preprocess::input_size(&contract.input, STYLE_WIDTH, height);
                let input =
                    preprocess::to_tensor(&preprocess::resize(frame, w, h), &contract.input)
                        .into_dyn();
                let output = session
                    .run_tensor(input, vec![(contract.extra_inputs[0].clone(), weights.clone())])?;
                Some(nchw_to_rgba(&output))
            }
            None => None,
        };
        self.composite(context, frame, &analysis, stylized.as_ref())?;
        self.last_analysis = analysis;
        let compositor = self.compositor.as_ref().expect("composite created it");
        Ok(readback::read_rgba8(context, compositor.output_texture())?)
    }

    /// The analysis of the last processed frame.
    pub fn last_analysis(&self) -> &SceneAnalysis {
        &self.last_analysis
    }

    /// Runs the compositor on given inputs (also used by benchmarks to time the GPU part alone).
    pub fn composite(
        &mut self,
        context: &RenderContext,
        frame: &RgbImage,
        analysis: &SceneAnalysis,
        stylized: Option<&RgbaImage>,
    ) -> Result<(), PipelineError> {
        let size = frame.dimensions();
        if self.compositor.as_ref().is_none_or(|c| c.size() != size) {
            let mut compositor =
                Compositor::new(context, size.0, size.1, &self.layers, &self.luts)?;
            compositor.set_filter(self.filter);
            self.compositor = Some(compositor);
        }
        let compositor = self.compositor.as_mut().expect("created above");
        let classes = analysis.classes.as_ref().map(|scores| scores.argmax());
        let rgba = RgbaImage::from_raw(
            size.0,
            size.1,
            frame.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect(),
        )
        .expect("sizes match");
        compositor.render(
            context,
            &CompositorInput {
                frame: FrameData::Rgba8(rgba.as_raw()),
                classes: classes.as_ref(),
                person: analysis.person.as_ref(),
                depth: analysis.depth.as_ref(),
                stylized,
            },
        )?;
        Ok(())
    }

    /// The compositor of the current frame size, once a frame has been processed.
    pub fn compositor(&self) -> Option<&Compositor> {
        self.compositor.as_ref()
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
