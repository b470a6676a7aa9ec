//! Which captured frames the model stages are offered.

use crate::projection::Thumbnail;

/// Which frames go to the models: every Nth, and only when the picture changed enough.
pub(super) struct FrameGate {
    every: u32,
    threshold: f32,
    count: u64,
    last_admitted: Option<Thumbnail>,
}

impl FrameGate {
    pub(super) fn new(every: u32, threshold: f32) -> Self {
        Self { every: every.max(1), threshold, count: 0, last_admitted: None }
    }

    /// True when the frame whose motion thumbnail is `thumbnail` goes to the models: the
    /// mean luma difference from the last one admitted, in levels, is at least the threshold.
    pub(super) fn admit(&mut self, thumbnail: &Thumbnail) -> bool {
        self.count += 1;
        if !(self.count - 1).is_multiple_of(u64::from(self.every)) {
            return false;
        }
        if self.threshold <= 0.0 {
            return true;
        }
        let changed = self
            .last_admitted
            .as_ref()
            .is_none_or(|last| last.difference(thumbnail) >= self.threshold);
        if changed {
            self.last_admitted = Some(thumbnail.clone());
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::{FrameGate, Thumbnail};

    #[test]
    fn the_gate_passes_every_nth_frame_and_skips_still_ones() {
        let still =
            Thumbnail::of(&image::RgbImage::from_pixel(64, 36, image::Rgb([100, 100, 100])));
        let moved =
            Thumbnail::of(&image::RgbImage::from_pixel(64, 36, image::Rgb([160, 100, 100])));
        let mut every_third = FrameGate::new(3, 0.0);
        let admitted: Vec<bool> = (0..6).map(|_| every_third.admit(&still)).collect();
        assert_eq!(admitted, [true, false, false, true, false, false]);
        let mut similar = FrameGate::new(1, 4.0);
        assert!(similar.admit(&still));
        assert!(!similar.admit(&still), "an unchanged picture is skipped");
        assert!(similar.admit(&moved), "a changed picture goes through");
    }
}
