//! Keyframe projection: a restyled (or stylized) picture made from an older frame is carried onto
//! the current frame. The motion between the two frames is measured by block matching on small
//! grey thumbnails (a coarse optical flow: one global shift, refined per block), the keyframe is
//! warped by it, and a new keyframe fades in over the old one instead of popping.

use image::{RgbImage, RgbaImage};

use crate::{
    inference::preprocess,
    scene::{ClassMap, ScalarMap},
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

/// A small grey copy of a frame for motion estimation.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    width: usize,
    height: usize,
    luma: Vec<f32>,
}

impl Thumbnail {
    /// The thumbnail of `frame` (same aspect, 128 pixels wide).
    pub fn of(frame: &RgbImage) -> Self {
        let height = (frame.height() * THUMB_WIDTH / frame.width().max(1)).max(8);
        let small = preprocess::resize(frame, THUMB_WIDTH, height);
        let luma = small
            .pixels()
            .map(|p| {
                (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                    / 255.0
            })
            .collect();
        Self { width: THUMB_WIDTH as usize, height: height as usize, luma }
    }

    /// Mean absolute difference from `other` in 0..255 levels (infinite for another size).
    pub fn difference(&self, other: &Thumbnail) -> f32 {
        if (self.width, self.height) != (other.width, other.height) {
            return f32::INFINITY;
        }
        let sum: f32 = self.luma.iter().zip(&other.luma).map(|(a, b)| (a - b).abs()).sum();
        255.0 * sum / self.luma.len() as f32
    }

    fn at(&self, x: i32, y: i32) -> f32 {
        let x = x.clamp(0, self.width as i32 - 1) as usize;
        let y = y.clamp(0, self.height as i32 - 1) as usize;
        self.luma[y * self.width + x]
    }
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

    /// The mean displacement in thumbnail pixels (for reports and tests).
    pub fn mean(&self) -> [f32; 2] {
        let n = self.vectors.len() as f32;
        let sum = self.vectors.iter().fold([0.0, 0.0], |a, v| [a[0] + v[0], a[1] + v[1]]);
        [sum[0] / n, sum[1] / n]
    }
}

/// Mean absolute difference between `current` around (x0..x1, y0..y1) and `key` shifted by d,
/// sampled every `stride` pixels.
fn cost(
    current: &Thumbnail,
    key: &Thumbnail,
    area: (i32, i32, i32, i32),
    d: (i32, i32),
    stride: usize,
) -> f32 {
    let (x0, y0, x1, y1) = area;
    let (w, h) = (key.width as i32, key.height as i32);
    let inside = x0 + d.0 >= 0
        && y0 + d.1 >= 0
        && x1 + d.0 <= w
        && y1 + d.1 <= h
        && x0 >= 0
        && y0 >= 0
        && x1 <= current.width as i32
        && y1 <= current.height as i32;
    let mut sum = 0.0;
    let mut n = 0u32;
    for y in (y0..y1).step_by(stride) {
        if inside {
            // The common case, without per-pixel clamping.
            let (row, shifted) = ((y * w) as usize, ((y + d.1) * w + d.0) as isize);
            for x in (x0..x1).step_by(stride) {
                let there = key.luma[(shifted + x as isize) as usize];
                sum += (current.luma[row + x as usize] - there).abs();
                n += 1;
            }
        } else {
            for x in (x0..x1).step_by(stride) {
                sum += (current.at(x, y) - key.at(x + d.0, y + d.1)).abs();
                n += 1;
            }
        }
    }
    sum / n.max(1) as f32
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
    stride: usize,
) -> [f32; 2] {
    let mut best = (f32::INFINITY, centre);
    for dy in -range..=range {
        for dx in -range..=range {
            let d = (centre.0 + dx, centre.1 + dy);
            // A slight preference for small motion breaks ties on repetitive texture.
            let c = cost(current, key, area, d, stride) + 1e-4 * (dx.abs() + dy.abs()) as f32;
            if c < best.0 {
                best = (c, d);
            }
        }
    }
    let d = best.1;
    let at = |dx: i32, dy: i32| cost(current, key, area, (d.0 + dx, d.1 + dy), stride);
    let centre_cost = at(0, 0);
    [
        d.0 as f32 + parabola(at(-1, 0), centre_cost, at(1, 0)),
        d.1 as f32 + parabola(at(0, -1), centre_cost, at(0, 1)),
    ]
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
    let global = best_shift(current, key, interior, (0, 0), GLOBAL_RANGE, 2);
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
                    let v = current.at(x, y);
                    sum += v;
                    sum2 += v * v;
                    n += 1.0;
                }
            }
            let std = (sum2 / n - (sum / n).powi(2)).max(0.0).sqrt();
            vectors.push(if std < MIN_TEXTURE {
                global
            } else {
                best_shift(current, key, area, rounded, BLOCK_RANGE, 1)
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

/// Where, in a `w` x `h` picture of the keyframe's frame, each pixel of the current frame was:
/// row by row, the flow grid is interpolated once per row and then only along it.
struct SourcePositions<'a> {
    flow: &'a Flow,
    w: u32,
    h: u32,
    /// The flow at this row, one vector per grid column (in 0..1 frame units).
    row: Vec<[f32; 2]>,
}

impl<'a> SourcePositions<'a> {
    fn new(flow: &'a Flow, w: u32, h: u32) -> Self {
        Self { flow, w, h, row: vec![[0.0; 2]; flow.cols] }
    }

    /// Prepares row `y`; then [`SourcePositions::at`] gives the positions along it.
    fn set_row(&mut self, y: u32) {
        let flow = self.flow;
        let v = (y as f32 + 0.5) / self.h as f32;
        let gy = (v * flow.rows as f32 - 0.5).clamp(0.0, (flow.rows - 1) as f32);
        let y0 = gy.floor() as usize;
        let y1 = (y0 + 1).min(flow.rows - 1);
        let fy = gy - y0 as f32;
        let scale = [1.0 / flow.thumb.0 as f32, 1.0 / flow.thumb.1 as f32];
        for (col, out) in self.row.iter_mut().enumerate() {
            let (top, bottom) =
                (flow.vectors[y0 * flow.cols + col], flow.vectors[y1 * flow.cols + col]);
            for axis in 0..2 {
                out[axis] = (top[axis] * (1.0 - fy) + bottom[axis] * fy) * scale[axis];
            }
        }
    }

    /// The source position of pixel `x` of the prepared row `y`.
    fn at(&self, x: u32, y: u32) -> (f32, f32) {
        let (wf, hf) = (self.w as f32, self.h as f32);
        let (u, v) = ((x as f32 + 0.5) / wf, (y as f32 + 0.5) / hf);
        let cols = self.flow.cols;
        let gx = (u * cols as f32 - 0.5).clamp(0.0, (cols - 1) as f32);
        let x0 = gx.floor() as usize;
        let x1 = (x0 + 1).min(cols - 1);
        let fx = gx - x0 as f32;
        let (a, b) = (self.row[x0], self.row[x1]);
        let d = [a[0] * (1.0 - fx) + b[0] * fx, a[1] * (1.0 - fx) + b[1] * fx];
        (((u + d[0]) * wf - 0.5).clamp(0.0, wf - 1.0), ((v + d[1]) * hf - 0.5).clamp(0.0, hf - 1.0))
    }
}

/// Every pixel of a `w` x `h` grid, row by row, with where it came from.
fn resample<T>(flow: &Flow, w: u32, h: u32, mut pixel: impl FnMut((f32, f32)) -> T) -> Vec<T> {
    let mut positions = SourcePositions::new(flow, w, h);
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        positions.set_row(y);
        out.extend((0..w).map(|x| pixel(positions.at(x, y))));
    }
    out
}

/// Bilinear sample at (sx, sy) of a row-major `w` x `h` grid read through `sample(index)`.
fn bilinear(w: u32, h: u32, (sx, sy): (f32, f32), sample: impl Fn(usize) -> f32) -> f32 {
    let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let at = |x: u32, y: u32| sample((y * w + x) as usize);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// `key` resampled so each pixel shows what the keyframe had where that part of the scene was.
pub fn warp(key: &RgbaImage, flow: &Flow) -> RgbaImage {
    if flow.is_still() {
        return key.clone();
    }
    let (w, h) = key.dimensions();
    let raw = key.as_raw();
    let pixels = resample(flow, w, h, |from| {
        let mut out = [0u8; 4];
        for (c, value) in out.iter_mut().enumerate() {
            *value = bilinear(w, h, from, |i| f32::from(raw[i * 4 + c])).round() as u8;
        }
        out
    });
    RgbaImage::from_raw(w, h, pixels.concat()).expect("one pixel per position")
}

/// A class map carried by `flow` (nearest class: ids do not blend).
pub fn warp_classes(map: &ClassMap, flow: &Flow) -> ClassMap {
    if flow.is_still() {
        return map.clone();
    }
    let w = map.width;
    let classes = resample(flow, w, map.height, |(sx, sy)| {
        map.classes[(sy.round() as u32 * w + sx.round() as u32) as usize]
    });
    ClassMap { classes, ..map.clone() }
}

/// A person mask or depth map carried by `flow`.
pub fn warp_scalars(map: &ScalarMap, flow: &Flow) -> ScalarMap {
    if flow.is_still() {
        return map.clone();
    }
    let (w, h) = (map.width, map.height);
    let values = resample(flow, w, h, |from| bilinear(w, h, from, |i| map.values[i]));
    ScalarMap { width: w, height: h, values }
}

struct Keyframe {
    picture: RgbaImage,
    source: Thumbnail,
    arrived_at: f64,
}

/// Holds the newest keyframe (and the one before, while it fades out) and projects them onto
/// each new frame.
pub struct KeyframeProjector {
    current: Option<Keyframe>,
    previous: Option<Keyframe>,
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
    pub fn set_keyframe(&mut self, picture: RgbaImage, source: Thumbnail, at: f64) {
        self.previous = self.current.take();
        self.current = Some(Keyframe { picture, source, arrived_at: at });
    }

    /// The keyframes carried onto the frame `frame` captured at `at`; `None` before the first.
    pub fn project(&mut self, frame: &Thumbnail, at: f64) -> Option<RgbaImage> {
        let current = self.current.as_ref()?;
        let new = warp(&current.picture, &estimate_flow(frame, &current.source));
        let progress = if self.fade_s > 0.0 {
            ((at - current.arrived_at) / self.fade_s).clamp(0.0, 1.0) as f32
        } else {
            1.0
        };
        let Some(previous) = self.previous.as_ref().filter(|_| progress < 1.0) else {
            self.previous = None;
            return Some(new);
        };
        let old = warp(&previous.picture, &estimate_flow(frame, &previous.source));
        if old.dimensions() != new.dimensions() {
            return Some(new);
        }
        // Smoothstep: no visible start or end of the fade.
        let t = progress * progress * (3.0 - 2.0 * progress);
        let mut blended = new;
        for (b, o) in blended.pixels_mut().zip(old.pixels()) {
            for c in 0..4 {
                b[c] = (f32::from(o[c]) * (1.0 - t) + f32::from(b[c]) * t).round() as u8;
            }
        }
        Some(blended)
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

    fn rgba(image: &RgbImage) -> RgbaImage {
        image::DynamicImage::ImageRgb8(image.clone()).to_rgba8()
    }

    fn mean_diff(a: &RgbaImage, b: &RgbaImage, margin: u32) -> f32 {
        let (w, h) = a.dimensions();
        let mut sum = 0.0;
        let mut n = 0.0;
        for y in margin..h - margin {
            for x in margin..w - margin {
                for c in 0..3 {
                    sum +=
                        (f32::from(a.get_pixel(x, y)[c]) - f32::from(b.get_pixel(x, y)[c])).abs();
                    n += 1.0;
                }
            }
        }
        sum / n
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
    fn projection_follows_the_scene() {
        let key_frame = scene(0, 0);
        let now_frame = scene(15, 5);
        let keyframe = rgba(&key_frame);
        let mut projector = KeyframeProjector::new(0.0);
        projector.set_keyframe(keyframe.clone(), Thumbnail::of(&key_frame), 0.0);
        let projected = projector.project(&Thumbnail::of(&now_frame), 0.1).expect("keyframe");
        let truth = rgba(&now_frame);
        let unmoved = mean_diff(&keyframe, &truth, 24);
        let moved = mean_diff(&projected, &truth, 24);
        assert!(moved < unmoved / 3.0, "projection error {moved} vs unmoved {unmoved}");
    }

    #[test]
    fn maps_follow_the_scene_too() {
        // A person mask made on the keyframe's frame, carried to the panned frame, lands where
        // the same mask made on the panned frame is.
        let mask = |ox: i32, oy: i32| ScalarMap {
            width: 320,
            height: 180,
            values: (0..180)
                .flat_map(|y| (0..320).map(move |x| (x + ox, y + oy)))
                .map(
                    |(x, y)| {
                        if (100..200).contains(&x) && (40..140).contains(&y) { 1.0 } else { 0.0 }
                    },
                )
                .collect(),
        };
        let flow = estimate_flow(&Thumbnail::of(&scene(15, 5)), &Thumbnail::of(&scene(0, 0)));
        let carried = warp_scalars(&mask(0, 0), &flow);
        let truth = mask(15, 5);
        let error = |m: &ScalarMap| {
            m.values.iter().zip(&truth.values).map(|(a, b)| (a - b).abs()).sum::<f32>()
                / truth.values.len() as f32
        };
        let (moved, unmoved) = (error(&carried), error(&mask(0, 0)));
        assert!(moved < unmoved / 3.0, "carried mask error {moved} vs unmoved {unmoved}");
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
        let projected = warp(&rgba(&wide(0)), &flow);
        assert_eq!(projected.dimensions(), (1000, 40));
    }

    #[test]
    fn a_new_keyframe_fades_in() {
        let frame = scene(0, 0);
        let black = RgbaImage::from_pixel(320, 180, image::Rgba([0, 0, 0, 255]));
        let white = RgbaImage::from_pixel(320, 180, image::Rgba([255, 255, 255, 255]));
        let mut projector = KeyframeProjector::new(0.5);
        projector.set_keyframe(black, Thumbnail::of(&frame), 0.0);
        projector.set_keyframe(white, Thumbnail::of(&frame), 1.0);
        let thumb = Thumbnail::of(&frame);
        let level = |p: &mut KeyframeProjector, at: f64| {
            p.project(&thumb, at).expect("kf").get_pixel(160, 90)[0]
        };
        let levels: Vec<u8> =
            [1.0, 1.1, 1.25, 1.4, 1.5, 2.0].iter().map(|&t| level(&mut projector, t)).collect();
        assert_eq!(levels[0], 0, "no pop: the old keyframe shows at first");
        assert!(levels.windows(2).all(|w| w[0] <= w[1]), "monotonic fade {levels:?}");
        assert!((120..=135).contains(&levels[2]), "half way at half time {levels:?}");
        assert_eq!(levels[4], 255);
    }
}
