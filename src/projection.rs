//! Keyframe projection: a restyled (or stylized) picture made from an older frame is carried onto
//! the current frame. The motion between the two frames is measured by block matching on small
//! grey thumbnails (a coarse optical flow: one global shift, refined per block); the renderer
//! moves the keyframe (and analysis maps) by it on the GPU, and a new keyframe fades in over
//! the old one instead of popping. The CPU here only measures motion on 128-pixel thumbnails.

use std::sync::Arc;

use image::{RgbImage, RgbaImage};

use crate::{
    resize,
    scene::{Keyframe, Motion, Stylized},
};

/// How long a new keyframe takes to replace the old one: long enough not to pop, short enough
/// not to smear a new prompt.
pub const DEFAULT_FADE_S: f64 = 0.3;
/// Thumbnail width: 1 thumbnail pixel is about 10 pixels of a 1280-wide frame.
const THUMB_WIDTH: u32 = 128;
/// Largest global shift searched, in thumbnail pixels (about a tenth of the frame).
const GLOBAL_RANGE: i32 = 12;
/// Per-block refinement around the global shift, in thumbnail pixels.
const BLOCK_RANGE: i32 = 3;
/// Block side in thumbnail pixels.
const BLOCK: usize = 16;
/// Blocks flatter than this (luma standard deviation, 0..1) keep the global shift: a bare wall
/// matches anywhere.
const MIN_TEXTURE: f32 = 0.02;

/// A small grey copy of a frame for motion estimation, 8-bit so that matching sums integers
/// (which vectorise) rather than floats.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    width: usize,
    height: usize,
    luma: Vec<u8>,
}

impl Thumbnail {
    /// The thumbnail of `frame` (same aspect, 128 pixels wide).
    pub fn of(frame: &RgbImage) -> Self {
        let height = (frame.height() * THUMB_WIDTH / frame.width().max(1)).max(8);
        let small = resize::rgb(frame, THUMB_WIDTH, height);
        // BT.601 luma in 8-bit fixed point (the weights sum to 256).
        let luma = small
            .pixels()
            .map(|p| {
                ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8)
                    as u8
            })
            .collect();
        Self { width: THUMB_WIDTH as usize, height: height as usize, luma }
    }

    /// Mean absolute difference from `other` in 0..255 levels (infinite for another size).
    pub fn difference(&self, other: &Thumbnail) -> f32 {
        if (self.width, self.height) != (other.width, other.height) {
            return f32::INFINITY;
        }
        sad(&self.luma, &other.luma) as f32 / self.luma.len() as f32
    }

    /// Half the size, each pixel the mean of 2x2: the coarse level of the global search.
    fn half(&self) -> Thumbnail {
        let (width, height) = (self.width / 2, self.height / 2);
        let luma = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| {
                let at = |dx: usize, dy: usize| {
                    u16::from(self.luma[(2 * y + dy) * self.width + 2 * x + dx])
                };
                ((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8
            })
            .collect();
        Thumbnail { width, height, luma }
    }

    fn at(&self, x: i32, y: i32) -> u8 {
        let x = x.clamp(0, self.width as i32 - 1) as usize;
        let y = y.clamp(0, self.height as i32 - 1) as usize;
        self.luma[y * self.width + x]
    }
}

/// Sum of absolute differences of two rows of equal length.
fn sad(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(&p, &q)| u32::from(p.abs_diff(q))).sum()
}

/// Where each part of the current frame was in the keyframe's frame: a grid of displacements
/// in thumbnail pixels, interpolated bilinearly in between (see `SourcePositions`).
#[derive(Debug, Clone)]
pub struct Flow {
    cols: usize,
    rows: usize,
    thumb: (usize, usize),
    vectors: Vec<[f32; 2]>,
}

impl Flow {
    /// True when nothing moved by as much as a quarter of a thumbnail pixel (a few frame
    /// pixels): carrying anything by this flow would change nothing visible.
    pub fn is_still(&self) -> bool {
        self.vectors.iter().all(|v| v[0].abs() < 0.25 && v[1].abs() < 0.25)
    }

    /// The motion for the renderer, in 0..1 frame units; `None` when nothing moved.
    pub fn to_motion(&self) -> Option<Motion> {
        if self.is_still() {
            return None;
        }
        let scale = [1.0 / self.thumb.0 as f32, 1.0 / self.thumb.1 as f32];
        Some(Motion {
            cols: self.cols as u32,
            rows: self.rows as u32,
            vectors: self.vectors.iter().map(|v| [v[0] * scale[0], v[1] * scale[1]]).collect(),
        })
    }

    /// Mean absolute luma difference (0..255 levels) between `current` and `key` once the
    /// motion is undone (each block by its own vector): small when the flow explains the
    /// change, large across a cut.
    pub fn residual(&self, current: &Thumbnail, key: &Thumbnail) -> f32 {
        if (current.width, current.height) != (key.width, key.height) || self.cols == 0 {
            return f32::INFINITY;
        }
        let mut sum = 0u64;
        for y in 0..current.height {
            for x in 0..current.width {
                let block =
                    (y / BLOCK).min(self.rows - 1) * self.cols + (x / BLOCK).min(self.cols - 1);
                let [dx, dy] = self.vectors[block];
                let there = key.at(x as i32 + dx.round() as i32, y as i32 + dy.round() as i32);
                sum += u64::from(current.luma[y * current.width + x].abs_diff(there));
            }
        }
        sum as f32 / current.luma.len().max(1) as f32
    }

    /// The mean displacement in thumbnail pixels (for reports and tests).
    pub fn mean(&self) -> [f32; 2] {
        let n = self.vectors.len() as f32;
        let sum = self.vectors.iter().fold([0.0, 0.0], |a, v| [a[0] + v[0], a[1] + v[1]]);
        [sum[0] / n, sum[1] / n]
    }
}

/// Mean absolute difference (0..1) between `current` over (x0..x1, y0..y1) and `key` shifted
/// by d; both have the same size.
fn cost(current: &Thumbnail, key: &Thumbnail, area: (i32, i32, i32, i32), d: (i32, i32)) -> f32 {
    let (x0, y0, x1, y1) = area;
    let (w, h) = (key.width as i32, key.height as i32);
    let inside = x0 >= 0
        && y0 >= 0
        && x1 <= w
        && y1 <= h
        && x0 + d.0 >= 0
        && y0 + d.1 >= 0
        && x1 + d.0 <= w
        && y1 + d.1 <= h;
    let mut sum = 0u32;
    if inside {
        // The common case: whole rows, without per-pixel clamping.
        let span = (x1 - x0).max(0) as usize;
        for y in y0..y1 {
            let here = (y * w + x0) as usize;
            let there = ((y + d.1) * w + x0 + d.0) as usize;
            sum += sad(&current.luma[here..here + span], &key.luma[there..there + span]);
        }
    } else {
        for y in y0..y1 {
            for x in x0..x1 {
                sum += u32::from(current.at(x, y).abs_diff(key.at(x + d.0, y + d.1)));
            }
        }
    }
    let n = ((x1 - x0).max(0) * (y1 - y0).max(0)).max(1);
    sum as f32 / (255.0 * n as f32)
}

/// Sub-pixel offset of a minimum from the costs at -1, 0, +1 (a parabola through them).
fn parabola(left: f32, centre: f32, right: f32) -> f32 {
    let curvature = left - 2.0 * centre + right;
    if curvature <= 1e-6 { 0.0 } else { (0.5 * (left - right) / curvature).clamp(-0.5, 0.5) }
}

fn best_shift(
    current: &Thumbnail,
    key: &Thumbnail,
    area: (i32, i32, i32, i32),
    centre: (i32, i32),
    range: i32,
) -> [f32; 2] {
    let mut best = (f32::INFINITY, centre);
    for dy in -range..=range {
        for dx in -range..=range {
            let d = (centre.0 + dx, centre.1 + dy);
            // A slight preference for small motion breaks ties on repetitive texture.
            let c = cost(current, key, area, d) + 1e-4 * (dx.abs() + dy.abs()) as f32;
            if c < best.0 {
                best = (c, d);
            }
        }
    }
    let d = best.1;
    let at = |dx: i32, dy: i32| cost(current, key, area, (d.0 + dx, d.1 + dy));
    let centre_cost = at(0, 0);
    [
        d.0 as f32 + parabola(at(-1, 0), centre_cost, at(1, 0)),
        d.1 as f32 + parabola(at(0, -1), centre_cost, at(0, 1)),
    ]
}

/// The motion from older frames to the frame shown, for carrying the maps made on them: one flow
/// per source frame, as the stages often finish on the same one.
pub struct MotionsTo<'a> {
    current: &'a Thumbnail,
    index: u64,
    flows: Vec<(u64, Option<Motion>)>,
}

impl<'a> MotionsTo<'a> {
    /// Motions onto frame `index`, whose thumbnail is `current`.
    pub fn new(current: &'a Thumbnail, index: u64) -> Self {
        Self { current, index, flows: Vec::new() }
    }

    /// The motion from frame `index` (thumbnail `source`) to the current frame; `None` for the
    /// current frame itself or when nothing moved.
    pub fn from(&mut self, index: u64, source: &Thumbnail) -> Option<Motion> {
        if index == self.index {
            return None;
        }
        if let Some((_, motion)) = self.flows.iter().find(|(i, _)| *i == index) {
            return motion.clone();
        }
        let motion = estimate_flow(self.current, source).to_motion();
        self.flows.push((index, motion.clone()));
        motion
    }
}

/// The motion from the keyframe's source frame to the current frame.
pub fn estimate_flow(current: &Thumbnail, key: &Thumbnail) -> Flow {
    if (current.width, current.height) != (key.width, key.height) {
        // Another frame size (the camera changed format): nothing can be matched.
        let thumb = (current.width, current.height);
        return Flow { cols: 1, rows: 1, thumb, vectors: vec![[0.0; 2]] };
    }
    let (w, h) = (current.width as i32, current.height as i32);
    // Keep the compared area inside the frame even for very wide or tall pictures.
    let (mx, my) = (GLOBAL_RANGE.min((w - 1) / 2), GLOBAL_RANGE.min((h - 1) / 2));
    let interior = (mx, my, w - mx, h - my);
    // Coarse to fine: the whole range on half-size thumbnails, then one pixel around it here.
    let half = (interior.0 / 2, interior.1 / 2, interior.2 / 2, interior.3 / 2);
    let coarse = best_shift(&current.half(), &key.half(), half, (0, 0), GLOBAL_RANGE / 2);
    let start = ((2.0 * coarse[0]).round() as i32, (2.0 * coarse[1]).round() as i32);
    let global = best_shift(current, key, interior, start, 1);
    let rounded = (global[0].round() as i32, global[1].round() as i32);
    let cols = current.width.div_ceil(BLOCK);
    let rows = current.height.div_ceil(BLOCK);
    let mut vectors = Vec::with_capacity(cols * rows);
    for row in 0..rows {
        for col in 0..cols {
            let area = (
                (col * BLOCK) as i32,
                (row * BLOCK) as i32,
                ((col + 1) * BLOCK).min(current.width) as i32,
                ((row + 1) * BLOCK).min(current.height) as i32,
            );
            let (mut sum, mut sum2, mut n) = (0.0f32, 0.0f32, 0.0f32);
            for y in area.1..area.3 {
                for x in area.0..area.2 {
                    let v = f32::from(current.at(x, y)) / 255.0;
                    sum += v;
                    sum2 += v * v;
                    n += 1.0;
                }
            }
            let std = (sum2 / n - (sum / n).powi(2)).max(0.0).sqrt();
            vectors.push(if std < MIN_TEXTURE {
                global
            } else {
                best_shift(current, key, area, rounded, BLOCK_RANGE)
            });
        }
    }
    // One pass of 3x3 median per component removes isolated mismatches.
    let smoothed = (0..rows * cols)
        .map(|i| {
            let (r, c) = ((i / cols) as i32, (i % cols) as i32);
            let mut out = [0.0; 2];
            for (axis, value) in out.iter_mut().enumerate() {
                let mut near: Vec<f32> = (-1..=1)
                    .flat_map(|dr| (-1..=1).map(move |dc| (r + dr, c + dc)))
                    .filter(|&(rr, cc)| rr >= 0 && cc >= 0 && rr < rows as i32 && cc < cols as i32)
                    .map(|(rr, cc)| vectors[rr as usize * cols + cc as usize][axis])
                    .collect();
                near.sort_by(f32::total_cmp);
                *value = near[near.len() / 2];
            }
            out
        })
        .collect();
    Flow { cols, rows, thumb: (current.width, current.height), vectors: smoothed }
}

struct Held {
    keyframe: Keyframe,
    source: Thumbnail,
    arrived_at: f64,
}

/// Holds the newest keyframe (and the one before, while it fades out) and projects them onto
/// each new frame.
pub struct KeyframeProjector {
    current: Option<Held>,
    previous: Option<Held>,
    fade_s: f64,
}

impl std::fmt::Debug for KeyframeProjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyframeProjector").field("fade_s", &self.fade_s).finish_non_exhaustive()
    }
}

impl KeyframeProjector {
    /// A projector whose new keyframes fade in over `fade_s` seconds of capture time.
    pub fn new(fade_s: f64) -> Self {
        Self { current: None, previous: None, fade_s }
    }

    /// A new keyframe `picture`, made from the frame whose thumbnail is `source`, arriving at
    /// capture time `at` (seconds).
    pub fn set_keyframe(&mut self, picture: Arc<RgbaImage>, source: Thumbnail, at: f64) {
        self.previous = self.current.take();
        self.current = Some(Held { keyframe: Keyframe::new(picture), source, arrived_at: at });
    }

    /// The keyframes as the frame `frame` captured at `at` shows them: each with the motion
    /// from its own frame, and the fade between them (the pixels are moved on the GPU);
    /// `None` before the first keyframe.
    pub fn project(&mut self, frame: &Thumbnail, at: f64) -> Option<Stylized> {
        let current = self.current.as_ref()?;
        let progress = if self.fade_s > 0.0 {
            ((at - current.arrived_at) / self.fade_s).clamp(0.0, 1.0) as f32
        } else {
            1.0
        };
        if progress >= 1.0 {
            self.previous = None;
        }
        let carried = |held: &Held| Keyframe {
            motion: estimate_flow(frame, &held.source).to_motion(),
            ..held.keyframe.clone()
        };
        Some(Stylized {
            current: carried(current),
            previous: self.previous.as_ref().map(carried),
            fade: progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured test scene, seen through a window offset by (ox, oy) pixels.
    fn scene(ox: i32, oy: i32) -> RgbImage {
        RgbImage::from_fn(320, 180, |x, y| {
            let (x, y) = ((x as i32 + ox) as f32, (y as i32 + oy) as f32);
            let v = 128.0
                + 60.0 * (x * 0.11).sin() * (y * 0.07).cos()
                + 40.0 * (x * 0.031 + y * 0.05).sin();
            image::Rgb([v as u8, (255.0 - v) as u8, ((x * 0.5) as i32 % 255) as u8])
        })
    }

    #[test]
    fn flow_finds_a_camera_pan() {
        // The camera moved 15 px right and 5 px down: scene content moved left and up.
        let key = Thumbnail::of(&scene(0, 0));
        let now = Thumbnail::of(&scene(15, 5));
        let flow = estimate_flow(&now, &key);
        let [dx, dy] = flow.mean();
        // 320 -> 128 wide: 15 px = 6 thumbnail px, 5 px = 2.
        assert!((dx - 6.0).abs() < 0.6 && (dy - 2.0).abs() < 0.6, "flow {dx} {dy}");
    }

    #[test]
    fn a_still_camera_needs_no_motion_and_a_pan_gives_one() {
        let key = Thumbnail::of(&scene(0, 0));
        assert!(estimate_flow(&key, &key).to_motion().is_none(), "nothing moved");
        let motion = estimate_flow(&Thumbnail::of(&scene(15, 5)), &key).to_motion().expect("moved");
        assert_eq!(motion.vectors.len(), (motion.cols * motion.rows) as usize);
        let mean = motion.vectors.iter().fold([0.0, 0.0], |a, v| [a[0] + v[0], a[1] + v[1]]);
        let n = motion.vectors.len() as f32;
        // 15 px of 320 and 5 px of 180, in frame units.
        assert!((mean[0] / n - 15.0 / 320.0).abs() < 0.01, "{:?}", mean[0] / n);
        assert!((mean[1] / n - 5.0 / 180.0).abs() < 0.015, "{:?}", mean[1] / n);
    }

    #[test]
    fn very_wide_frames_are_matched_without_going_out_of_bounds() {
        // 1000x40 gives a 128x8 thumbnail: smaller than the search margins.
        let wide = |ox: i32| {
            RgbImage::from_fn(1000, 40, |x, y| {
                let v =
                    128.0 + 100.0 * ((x as i32 + ox) as f32 * 0.05).sin() * (y as f32 * 0.2).cos();
                image::Rgb([v as u8, v as u8, v as u8])
            })
        };
        let flow = estimate_flow(&Thumbnail::of(&wide(40)), &Thumbnail::of(&wide(0)));
        // The pattern repeats every 16 thumbnail pixels, so which shift wins is not the point:
        // no read out of bounds, and a well-formed motion grid.
        if let Some(motion) = flow.to_motion() {
            assert_eq!(motion.vectors.len(), (motion.cols * motion.rows) as usize);
            assert!(motion.vectors.iter().flatten().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn a_new_keyframe_fades_in_over_the_old_one() {
        let frame = Thumbnail::of(&scene(0, 0));
        let picture = |v: u8| Arc::new(RgbaImage::from_pixel(32, 18, image::Rgba([v, v, v, 255])));
        let mut projector = KeyframeProjector::new(0.5);
        projector.set_keyframe(picture(0), frame.clone(), 0.0);
        projector.set_keyframe(picture(255), frame.clone(), 1.0);
        let fades: Vec<(f32, bool)> = [1.0, 1.1, 1.25, 1.4, 1.5, 2.0]
            .iter()
            .map(|&t| {
                let stylized = projector.project(&frame, t).expect("keyframe");
                assert_eq!(stylized.current.picture.get_pixel(0, 0)[0], 255, "newest first");
                (stylized.fade, stylized.previous.is_some())
            })
            .collect();
        assert_eq!(fades[0], (0.0, true), "no pop: the old keyframe shows at first");
        assert!(fades.windows(2).all(|w| w[0].0 <= w[1].0), "monotonic {fades:?}");
        assert!((fades[2].0 - 0.5).abs() < 1e-6, "half way at half time {fades:?}");
        assert_eq!(fades[4], (1.0, false), "the old one is let go once faded");
    }
}
