//! Temporal fusion of class probabilities. Each new segmentation is blended with the fused
//! history carried onto its frame by the measured motion, so a surface the model reads right on
//! most frames keeps its class on the frames where it wavers: a wall stays a wall. The fusion
//! works on the model's own (coarse) scores, before they are upsampled to the class map.

use crate::{
    projection::{Thumbnail, estimate_flow},
    scene::ClassScores,
};

/// Weight of the newest frame's probabilities: with 0.5 a class must lose on two frames in a
/// row to give way, and history older than four frames counts for little.
const NEW_WEIGHT: f32 = 0.5;
/// Mean luma difference (levels) left once the measured motion is undone, past which the motion
/// does not explain the change (a cut, the camera turned away) and the history is dropped.
const MAX_RESIDUAL: f32 = 20.0;

/// The fused probabilities of the last frame and that frame's thumbnail.
#[derive(Debug, Default)]
pub struct ClassFusion {
    history: Option<(Thumbnail, ClassScores)>,
}

impl ClassFusion {
    /// Forgets the history (a new scene).
    pub fn reset(&mut self) {
        self.history = None;
    }

    /// Fuses `scores` (logits of the frame whose thumbnail is `thumbnail`) with the history; the
    /// fused class probabilities become the history and are returned from there.
    pub fn fuse(&mut self, scores: &ClassScores, thumbnail: &Thumbnail) -> &ClassScores {
        let mut fused = scores.softmax();
        let carried = self.history.as_ref().filter(|(_, history)| {
            (history.width, history.height) == (fused.width, fused.height)
                && history.labels == fused.labels
        });
        let flow =
            carried.map(|(before, history)| (estimate_flow(thumbnail, before), before, history));
        if let Some((flow, before, history)) = flow
            && flow.residual(thumbnail, before) < MAX_RESIDUAL
        {
            let motion = flow.to_motion();
            let (w, h) = (fused.width as usize, fused.height as usize);
            let plane = w * h;
            for y in 0..h {
                for x in 0..w {
                    // Where this cell's content was in the history's frame, in cells.
                    let uv = [(x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32];
                    let d = motion.as_ref().map_or([0.0; 2], |m| m.displacement_at(uv));
                    let sx = ((uv[0] + d[0]) * w as f32 - 0.5).clamp(0.0, (w - 1) as f32);
                    let sy = ((uv[1] + d[1]) * h as f32 - 0.5).clamp(0.0, (h - 1) as f32);
                    let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                    let corners = [
                        (y0 * w + x0, (1.0 - fx) * (1.0 - fy)),
                        (y0 * w + x1, fx * (1.0 - fy)),
                        (y1 * w + x0, (1.0 - fx) * fy),
                        (y1 * w + x1, fx * fy),
                    ];
                    let here = y * w + x;
                    for (old, new) in
                        history.scores.chunks_exact(plane).zip(fused.scores.chunks_exact_mut(plane))
                    {
                        let carried: f32 = corners.iter().map(|&(i, k)| old[i] * k).sum();
                        new[here] = NEW_WEIGHT * new[here] + (1.0 - NEW_WEIGHT) * carried;
                    }
                }
            }
        }
        &self.history.insert((thumbnail.clone(), fused)).1
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use image::RgbImage;

    use super::*;

    /// Two classes on a 16x8 map: class 1 where `wall(x)`, scored `margin` above class 0.
    fn scores(margin: f32, wall: impl Fn(usize) -> bool) -> ClassScores {
        let (w, h) = (16usize, 8usize);
        let mut planes = vec![0.0; 2 * w * h];
        for y in 0..h {
            for x in 0..w {
                planes[w * h + y * w + x] = if wall(x) { margin } else { -margin };
            }
        }
        let labels: Arc<[String]> = ["other".to_owned(), "wall".to_owned()].into();
        ClassScores { width: w as u32, height: h as u32, scores: planes, labels }
    }

    fn textured(shift: u32) -> Thumbnail {
        Thumbnail::of(&RgbImage::from_fn(256, 128, |x, y| {
            let v = ((((x + shift) * 37) ^ (y * 91)) % 251) as u8;
            image::Rgb([v, v / 2, 255 - v])
        }))
    }

    #[test]
    fn a_class_that_wavers_for_one_frame_holds() {
        let mut fusion = ClassFusion::default();
        let still = textured(0);
        let sure = fusion.fuse(&scores(3.0, |_| true), &still).argmax();
        assert!(sure.classes.iter().all(|&c| c == 1));
        // One frame where the model leans the other way on the left half, a little.
        let wavering = fusion.fuse(&scores(0.5, |x| x >= 8), &still).argmax();
        assert!(wavering.classes.iter().all(|&c| c == 1), "the wall held");
        // Kept up, the new reading wins.
        let mut last = wavering;
        for _ in 0..3 {
            last = fusion.fuse(&scores(0.5, |x| x >= 8), &still).argmax();
        }
        assert_eq!(last.class_at(2, 4), 0, "the new reading wins when it persists");
        // Forgetting the history takes the new reading at once.
        fusion.reset();
        assert_eq!(fusion.fuse(&scores(0.5, |x| x >= 8), &still).argmax().class_at(2, 4), 0);
    }

    #[test]
    fn the_history_moves_with_the_picture() {
        // A wall on the right half; the camera pans so the scene moves 16 pixels (of 256, one
        // map cell) left: the history's wall must be carried left with it.
        let mut fusion = ClassFusion::default();
        fusion.fuse(&scores(3.0, |x| x >= 8), &textured(0));
        // On the moved frame the model is unsure everywhere (equal scores: argmax alone says 0).
        let moved = fusion.fuse(&scores(0.0, |_| true), &textured(16)).argmax();
        assert_eq!(moved.class_at(7, 4), 1, "cell 7 now shows what cell 8 showed");
        assert_eq!(moved.class_at(6, 4), 0, "cell 6 now shows what cell 7 showed");
        // A cut: the motion explains nothing, the history goes.
        let mut cut = ClassFusion::default();
        cut.fuse(&scores(3.0, |_| true), &textured(0));
        let flat = Thumbnail::of(&RgbImage::from_pixel(256, 128, image::Rgb([20, 200, 90])));
        assert_eq!(cut.fuse(&scores(0.5, |_| false), &flat).argmax().class_at(4, 4), 0);
    }

    #[test]
    fn softmax_gives_probabilities() {
        let p = scores(2.0, |x| x < 4).softmax();
        let plane = 16 * 8;
        for i in 0..plane {
            assert!((p.scores[i] + p.scores[plane + i] - 1.0).abs() < 1e-6);
        }
        // Class 1 scores 2 against 0 at (0, 0): e^2 / (1 + e^2).
        let expected = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((p.scores[plane] - expected).abs() < 1e-6, "{}", p.scores[plane]);
    }
}
