//! Region maps made on some frames only, carried onto the frames between by the measured
//! motion, as the live window carries its stages' newest maps: a headless run that analyses
//! every Nth frame composites every frame with maps that follow the picture.

use super::FrameAnalysis;
use crate::{
    projection::{MotionsTo, Thumbnail},
    scene::SceneAnalysis,
};

/// The last analysed frame's maps, for the frames after it.
#[derive(Debug)]
pub struct CarriedMaps {
    every: u64,
    last: Option<(u64, Thumbnail, SceneAnalysis)>,
}

impl CarriedMaps {
    /// Maps made on every `every`th frame (frame 0, `every`, ...).
    pub fn new(every: u64) -> Self {
        Self { every: every.max(1), last: None }
    }

    /// True when the models run on frame `index`.
    fn analyses(&self, index: u64) -> bool {
        index.is_multiple_of(self.every)
    }

    /// Completes frame `index`'s analysis (its motion thumbnail `thumbnail`): an analysed
    /// frame's maps are kept for the frames after it; a frame between gets the kept maps, each
    /// with the motion from its frame to this one. Frames must come in order.
    pub fn fill(&mut self, index: u64, thumbnail: &Thumbnail, analysis: &mut FrameAnalysis) {
        if self.analyses(index) {
            self.last = Some((index, thumbnail.clone(), analysis.scene.clone()));
            return;
        }
        let Some((from, source, scene)) = &self.last else { return };
        let motion = MotionsTo::new(thumbnail, index).from(*from, source);
        let motions = &mut analysis.motions;
        motions.classes = scene.classes.as_ref().and(motion.clone());
        motions.person = scene.person.as_ref().and(motion.clone());
        motions.depth = scene.depth.as_ref().and(motion);
        analysis.scene = scene.clone();
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};

    use super::*;
    use crate::scene::ClassMap;

    /// A picture with a bright square at `x`.
    fn picture(x: u32) -> RgbImage {
        RgbImage::from_fn(256, 144, |px, py| {
            let inside = (x..x + 40).contains(&px) && (50..90).contains(&py);
            if inside { Rgb([250, 250, 250]) } else { Rgb([((px * 7 + py * 3) % 60) as u8; 3]) }
        })
    }

    fn analysis_with_classes(id: u8) -> FrameAnalysis {
        let labels: Vec<String> = (0..=id).map(|i| format!("class {i}")).collect();
        let classes = ClassMap {
            width: 4,
            height: 4,
            classes: vec![id; 16],
            labels: labels.into(),
            probabilities: None,
        };
        FrameAnalysis {
            scene: SceneAnalysis { classes: Some(classes), ..SceneAnalysis::default() },
            ..FrameAnalysis::default()
        }
    }

    #[test]
    fn frames_between_get_the_analysed_frames_maps_with_the_motion_since() {
        let mut carried = CarriedMaps::new(3);
        assert!(carried.analyses(0) && !carried.analyses(1) && carried.analyses(3));
        let mut first = analysis_with_classes(7);
        carried.fill(0, &Thumbnail::of(&picture(100)), &mut first);
        assert!(first.motions.classes.is_none(), "an analysed frame keeps its own maps");

        let mut between = FrameAnalysis::default();
        carried.fill(1, &Thumbnail::of(&picture(112)), &mut between);
        let classes = between.scene.classes.as_ref().expect("the analysed frame's classes");
        assert_eq!(classes.classes[0], 7);
        assert!(between.motions.classes.is_some(), "the square moved: a motion to carry by");
        assert!(between.scene.person.is_none() && between.motions.person.is_none());

        let mut next = analysis_with_classes(9);
        carried.fill(3, &Thumbnail::of(&picture(124)), &mut next);
        let mut after = FrameAnalysis::default();
        carried.fill(4, &Thumbnail::of(&picture(124)), &mut after);
        assert_eq!(after.scene.classes.expect("classes").classes[0], 9, "the newest analysis wins");
        assert!(after.motions.classes.is_none(), "nothing moved since frame 3");
    }
}
