//! Carrying maps and keyframes on the GPU (`carry.wgsl`) against a CPU reference written here
//! from the definition: a pixel at uv shows what the older picture had at uv + d(uv), where
//! d is the motion grid read bilinearly with texel centres at (i + 0.5) / cols, and the source
//! position is clamped to the picture; classes take the nearest texel, everything else is
//! bilinear. Checked on known shifts and on the real demo room with its measured motion.

use std::sync::Arc;

use dreamlens::{
    capture::demo,
    projection::{Thumbnail, estimate_flow},
    render::{RenderContext, carry},
    scene::{ClassMap, Keyframe, Motion, ScalarMap, Stylized},
};
use image::RgbaImage;

/// The motion at uv, bilinear over the grid.
fn displacement(motion: &Motion, u: f32, v: f32) -> [f32; 2] {
    let (cols, rows) = (motion.cols as f32, motion.rows as f32);
    let gx = (u * cols - 0.5).clamp(0.0, cols - 1.0);
    let gy = (v * rows - 0.5).clamp(0.0, rows - 1.0);
    let (x0, y0) = (gx.floor() as u32, gy.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(motion.cols - 1), (y0 + 1).min(motion.rows - 1));
    let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
    let at = |x: u32, y: u32| motion.vectors[(y * motion.cols + x) as usize];
    let mut out = [0.0; 2];
    for (axis, value) in out.iter_mut().enumerate() {
        let top = at(x0, y0)[axis] * (1.0 - fx) + at(x1, y0)[axis] * fx;
        let bottom = at(x0, y1)[axis] * (1.0 - fx) + at(x1, y1)[axis] * fx;
        *value = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Where pixel (x, y) of a w x h picture reads from, in texel units.
fn source(motion: &Motion, w: u32, h: u32, x: u32, y: u32) -> (f32, f32) {
    let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
    let d = displacement(motion, u, v);
    let (wf, hf) = (w as f32, h as f32);
    (((u + d[0]) * wf - 0.5).clamp(0.0, wf - 1.0), ((v + d[1]) * hf - 0.5).clamp(0.0, hf - 1.0))
}

fn bilinear(w: u32, h: u32, (sx, sy): (f32, f32), at: impl Fn(u32, u32) -> f32) -> f32 {
    let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

fn reference_scalars(map: &ScalarMap, motion: &Motion) -> Vec<f32> {
    let (w, h) = (map.width, map.height);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            bilinear(w, h, source(motion, w, h, x, y), |i, j| map.values[(j * w + i) as usize])
        })
        .collect()
}

fn reference_classes(map: &ClassMap, motion: &Motion) -> Vec<u8> {
    let (w, h) = (map.width, map.height);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (sx, sy) = source(motion, w, h, x, y);
            map.classes[((sy + 0.5).floor() as u32 * w + (sx + 0.5).floor() as u32) as usize]
        })
        .collect()
}

/// The stylized picture from the definition: both keyframes carried, smoothstep cross-fade,
/// rounded once (as the GPU writes its 8-bit target).
fn reference_keyframes(stylized: &Stylized) -> RgbaImage {
    let still = Motion { cols: 1, rows: 1, vectors: vec![[0.0, 0.0]] };
    let sample = |key: &Keyframe, x: u32, y: u32, c: usize| {
        let (w, h) = key.picture.dimensions();
        let motion = key.motion.as_ref().unwrap_or(&still);
        bilinear(w, h, source(motion, w, h, x, y), |i, j| f32::from(key.picture.get_pixel(i, j)[c]))
    };
    let (w, h) = stylized.current.picture.dimensions();
    let t = stylized.fade * stylized.fade * (3.0 - 2.0 * stylized.fade);
    RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba(std::array::from_fn(|c| {
            let new = sample(&stylized.current, x, y, c);
            let value = match stylized.previous.as_ref().filter(|_| stylized.fade < 1.0) {
                Some(old) => sample(old, x, y, c) * (1.0 - t) + new * t,
                None => new,
            };
            value.round().clamp(0.0, 255.0) as u8
        }))
    })
}

/// A grid with a pan plus a gentle zoom, so the bilinear motion matters.
fn motion(cols: u32, rows: u32, pan: [f32; 2]) -> Motion {
    let vectors = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (c, r)))
        .map(|(c, r)| {
            let (u, v) = ((c as f32 + 0.5) / cols as f32, (r as f32 + 0.5) / rows as f32);
            [pan[0] + 0.04 * (u - 0.5), pan[1] - 0.03 * (v - 0.5)]
        })
        .collect();
    Motion { cols, rows, vectors }
}

fn context() -> RenderContext {
    RenderContext::headless().expect("a GPU adapter (lavapipe in CI)")
}

#[test]
fn masks_and_depth_are_carried_as_defined() {
    let context = context();
    let (w, h) = (256, 144);
    let map = ScalarMap {
        width: w,
        height: h,
        values: (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                0.5 + 0.4 * (x * 0.09).sin() * (y * 0.13).cos()
            })
            .collect(),
    };
    let motion = motion(9, 5, [0.06, -0.025]);
    let gpu = carry::carried_scalars(&context, &map, &motion).expect("carried");
    let cpu = reference_scalars(&map, &motion);
    let worst = gpu.values.iter().zip(&cpu).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    // Same formula in float32 on both; only rounding differs (measured below 1e-5).
    assert!(worst < 1e-3, "GPU and CPU differ by {worst}");
    let unmoved = map.values.iter().zip(&cpu).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(unmoved > 0.1, "the motion moves the map ({unmoved})");
}

#[test]
fn classes_are_carried_nearest_as_defined() {
    let context = context();
    let (w, h) = (512, 512);
    let labels: Arc<[String]> = (0..32).map(|i| format!("class {i}")).collect();
    let map = ClassMap {
        width: w,
        height: h,
        classes: (0..w * h).map(|i| (((i % w) / 37 + (i / w) / 23) % 32) as u8).collect(),
        labels,
        probabilities: None,
    };
    let motion = motion(16, 9, [-0.03, 0.04]);
    let gpu = carry::carried_classes(&context, &map, &motion).expect("carried");
    let cpu = reference_classes(&map, &motion);
    let same = gpu.classes.iter().zip(&cpu).filter(|(a, b)| a == b).count();
    // Identical but where a source position falls within float rounding of a texel border.
    assert!(same as f64 >= 0.999 * cpu.len() as f64, "{same} of {} agree", cpu.len());
    let unmoved = map.classes.iter().zip(&cpu).filter(|(a, b)| a == b).count();
    assert!((unmoved as f64) < 0.9 * cpu.len() as f64, "the motion moves the classes");
}

#[test]
fn keyframes_are_carried_and_cross_faded_as_defined() {
    let context = context();
    let picture = |seed: u32| {
        Arc::new(RgbaImage::from_fn(320, 180, |x, y| {
            let v = ((x * 7 + y * 3 + seed * 50) % 256) as u8;
            image::Rgba([v, (x % 256) as u8, (y + seed) as u8, 255])
        }))
    };
    let stylized = Stylized {
        current: Keyframe { motion: Some(motion(8, 5, [0.02, 0.01])), ..Keyframe::new(picture(1)) },
        previous: Some(Keyframe {
            motion: Some(motion(8, 5, [0.05, -0.02])),
            ..Keyframe::new(picture(2))
        }),
        fade: 0.4,
    };
    let gpu = carry::projected_keyframes(&context, &stylized).expect("projected");
    let cpu = reference_keyframes(&stylized);
    let worst = gpu.as_raw().iter().zip(cpu.as_raw()).map(|(a, b)| a.abs_diff(*b)).max();
    assert!(worst.is_some_and(|w| w <= 1), "GPU and CPU differ by {worst:?} levels");
    // Without the older keyframe, and with the fade done, only the newest shows.
    let done = Stylized { fade: 1.0, ..stylized.clone() };
    let gpu = carry::projected_keyframes(&context, &done).expect("projected");
    let worst = gpu
        .as_raw()
        .iter()
        .zip(reference_keyframes(&done).as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max();
    assert!(worst.is_some_and(|w| w <= 1), "{worst:?}");
}

/// The demo room a moment later: its first frame carried by the measured motion lands on the
/// later frame (closer than left in place), and the GPU does exactly what the reference does.
#[test]
fn the_demo_room_is_carried_by_its_measured_motion() {
    let context = context();
    let (before, after) = (demo::render(480, 270, 1.0), demo::render(480, 270, 1.6));
    let motion = estimate_flow(&Thumbnail::of(&after), &Thumbnail::of(&before))
        .to_motion()
        .expect("the camera moved");
    let rgba = |image: &image::RgbImage| image::DynamicImage::ImageRgb8(image.clone()).to_rgba8();
    let stylized = Stylized {
        current: Keyframe { motion: Some(motion), ..Keyframe::new(Arc::new(rgba(&before))) },
        previous: None,
        fade: 1.0,
    };
    let gpu = carry::projected_keyframes(&context, &stylized).expect("projected");
    let cpu = reference_keyframes(&stylized);
    let worst = gpu.as_raw().iter().zip(cpu.as_raw()).map(|(a, b)| a.abs_diff(*b)).max();
    assert!(worst.is_some_and(|w| w <= 1), "GPU and CPU differ by {worst:?} levels");
    let mean = |a: &RgbaImage, b: &RgbaImage| {
        let margin = 24;
        let (w, h) = a.dimensions();
        let (mut sum, mut n) = (0.0, 0.0);
        for y in margin..h - margin {
            for x in margin..w - margin {
                for c in 0..3 {
                    sum += f32::from(a.get_pixel(x, y)[c].abs_diff(b.get_pixel(x, y)[c]));
                    n += 1.0;
                }
            }
        }
        sum / n
    };
    let truth = rgba(&after);
    let (carried, unmoved) = (mean(&gpu, &truth), mean(&rgba(&before), &truth));
    assert!(carried < unmoved * 0.7, "carried {carried:.1} vs left in place {unmoved:.1} levels");
}
