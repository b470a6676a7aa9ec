//! Which of a preset's layers can run with the models that opened.

use crate::{
    effects::{Effect, Layer, lut::Lut, preset::Preset},
    scene::DisabledStage,
};

/// A layer the pipeline had to drop, and why.
#[derive(Debug, Clone)]
pub struct DroppedLayer {
    /// The layer's effect name.
    pub effect: String,
    /// Why it cannot run.
    pub reason: String,
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
    /// Why people are not kept out of the walls, floor and ceiling, when layers on them run
    /// without the person model.
    pub unspared: Option<String>,
}

impl LayerPlan {
    /// The layers of `preset` that can run when the `disabled` analysis stages are off and the
    /// style engine failed for `style_off` (if it did).
    pub fn new(preset: &Preset, disabled: &[DisabledStage], style_off: Option<String>) -> Self {
        let stage_off =
            |stage: &str| disabled.iter().find(|d| d.stage == stage).map(|d| d.reason.clone());
        let spares = preset.layers.iter().any(|l| l.region.spares_people());
        let unspared = spares.then(|| stage_off("person")).flatten();
        let mut plan =
            LayerPlan { layers: Vec::new(), luts: Vec::new(), dropped: Vec::new(), unspared };
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
                Some(reason) => plan
                    .dropped
                    .push(DroppedLayer { effect: layer.effect.name().to_owned(), reason }),
                None => {
                    plan.layers.push(layer.clone());
                    plan.luts.extend(lut.cloned());
                }
            }
        }
        plan
    }
}
