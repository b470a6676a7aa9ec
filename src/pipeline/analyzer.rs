//! The models one preset needs, opened once and run per frame (native sessions).

use image::RgbImage;

use super::{FrameAnalysis, LayerPlan, PipelineError};
use crate::{
    effects::{Effect, preset::Preset},
    inference::{AnalysisModels, ModelSession, SceneAnalyzer, SessionOptions},
    restyle::{EngineChoice, RestyleRequest, Restyler},
    scene::{MapMotions, SceneAnalysis, Stylized},
    store::ModelStore,
    style_transfer::{StyleChoice, StyleEngine},
};

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
    maps_every: u64,
}

impl std::fmt::Debug for FrameAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAnalyzer").finish_non_exhaustive()
    }
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
            // An engine that cannot open turns its layers off, with the reason shown.
            effect @ Effect::Style { .. } => StyleChoice::of(effect).map(|choice| {
                StyleEngine::open(store, options, &choice)
                    .map(|e| Stylizer::Transfer(Box::new(e)))
                    .map_err(|e| e.to_string())
            }),
            effect => RestyleRequest::of(effect).map(|request| {
                Restyler::open(store, options, &request, engine)
                    .map(|r| Stylizer::Restyle(Box::new(r)))
                    .map_err(|e| e.to_string())
            }),
        });
        match opened {
            Some(Ok(opened)) => stylizer = Some(opened),
            Some(Err(reason)) => style_off = Some(reason),
            None => {}
        }
        let plan = LayerPlan::new(preset, &disabled, style_off);
        Ok((Self { analyzer, stylizer, keyframe_every: 1, maps_every: 1 }, plan))
    }

    /// Makes the stylized picture only for every `n`th frame (keyframes); the frames between
    /// get it projected by motion. 1 (the default) stylizes every frame.
    pub fn set_keyframe_every(&mut self, n: u64) {
        self.keyframe_every = n.max(1);
    }

    /// Runs the region models (segmentation, person, depth) only on every `n`th frame; the
    /// frames between get their maps carried by motion ([`super::CarriedMaps`]). 1 (the
    /// default) runs them on every frame.
    pub fn set_maps_every(&mut self, n: u64) {
        self.maps_every = n.max(1);
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
    ) -> Result<FrameAnalysis, PipelineError> {
        let scene = if index.is_multiple_of(self.maps_every) {
            self.analyzer.analyze(frame)?
        } else {
            SceneAnalysis::default()
        };
        let keyframe = index.is_multiple_of(self.keyframe_every);
        let stylized = match &mut self.stylizer {
            Some(Stylizer::Transfer(engine)) if keyframe => Some(engine.stylize(frame)?),
            Some(Stylizer::Restyle(restyler)) if keyframe => Some(restyler.restyle(frame)?),
            _ => None,
        };
        Ok(FrameAnalysis {
            scene,
            motions: MapMotions::default(),
            stylized: stylized.map(Stylized::still),
        })
    }
}
