//! Which captured frames the model stages are offered.

/// Which frames go to the models: every Nth, and only when the picture changed enough.
pub(super) struct FrameGate {
    every: u32,
    threshold: f32,
    count: u64,
    last_thumbnail: Option<Vec<u8>>,
}

impl FrameGate {
    pub(super) fn new(every: u32, threshold: f32) -> Self {
        Self { every: every.max(1), threshold, count: 0, last_thumbnail: None }
    }

    /// 32x18 grey thumbnail: cheap, and blind to sensor noise.
    fn thumbnail(image: &image::RgbImage) -> Vec<u8> {
        let (w, h) = image.dimensions();
        (0..18u32)
            .flat_map(|y| (0..32u32).map(move |x| (x, y)))
            .map(|(x, y)| {
                let p = image.get_pixel((x * w / 32).min(w - 1), (y * h / 18).min(h - 1)).0;
                ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8
            })
            .collect()
    }

    pub(super) fn admit(&mut self, image: &image::RgbImage) -> bool {
        self.count += 1;
        if !(self.count - 1).is_multiple_of(u64::from(self.every)) {
            return false;
        }
        if self.threshold <= 0.0 {
            return true;
        }
        let thumbnail = Self::thumbnail(image);
        let changed = self.last_thumbnail.as_ref().is_none_or(|last| {
            let diff: u32 =
                last.iter().zip(&thumbnail).map(|(a, b)| u32::from(a.abs_diff(*b))).sum();
            diff as f32 / thumbnail.len() as f32 >= self.threshold
        });
        if changed {
            self.last_thumbnail = Some(thumbnail);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::FrameGate;

    #[test]
    fn the_gate_passes_every_nth_frame_and_skips_still_ones() {
        let still = image::RgbImage::from_pixel(64, 36, image::Rgb([100, 100, 100]));
        let moved = image::RgbImage::from_pixel(64, 36, image::Rgb([160, 100, 100]));
        let mut every_third = FrameGate::new(3, 0.0);
        let admitted: Vec<bool> = (0..6).map(|_| every_third.admit(&still)).collect();
        assert_eq!(admitted, [true, false, false, true, false, false]);
        let mut similar = FrameGate::new(1, 4.0);
        assert!(similar.admit(&still));
        assert!(!similar.admit(&still), "an unchanged picture is skipped");
        assert!(similar.admit(&moved), "a changed picture goes through");
    }
}
