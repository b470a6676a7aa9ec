//! Edge-aware upsampling measured against nearest and bilinear upsampling on real photos with an
//! exact ground truth, and temporal smoothing measured on a still (noisy) camera picture with the
//! real segmentation model.

mod common;

use std::sync::Arc;

use common::*;
use dreamlens::{
    capture::demo,
    effects::preset::Preset,
    inference::{ModelSession, SegmentationPasses, SessionOptions, analysis::run_segmentation},
    render::{AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, readback},
    scene::{ClassMap, ScalarMap},
    store::manifest::DEFAULT_SEGMENTATION_MODEL,
    upsample::{self, JointBilateral},
};
use image::{Rgb, RgbImage, RgbaImage};

const SIZE: u32 = 512;
const LOW: u32 = 64;

/// An irregular blob: inside = the armchair photo, outside = the stone wall photo. The truth mask
/// is exact and the picture's edges are exactly its edges.
fn composite() -> (RgbImage, Vec<f32>) {
    let wall = photo("ADE_val_00000003");
    let chair = photo("ADE_val_00000001");
    let mut truth = vec![0f32; (SIZE * SIZE) as usize];
    let picture = RgbImage::from_fn(SIZE, SIZE, |x, y| {
        let (dx, dy) = (x as f32 - 250.0, y as f32 - 270.0);
        let angle = dy.atan2(dx);
        let radius = 150.0 + 25.0 * (5.0 * angle).sin() + 12.0 * (11.0 * angle + 1.0).sin();
        let inside = (dx * dx + dy * dy).sqrt() < radius;
        truth[(y * SIZE + x) as usize] = f32::from(u8::from(inside));
        if inside { *chair.get_pixel(x, y) } else { *wall.get_pixel(x, y) }
    });
    (picture, truth)
}

/// Box-averaged truth at low resolution (what a model at that resolution would see at best).
fn low_res(truth: &[f32]) -> Vec<f32> {
    let scale = SIZE / LOW;
    let mut low = vec![0f32; (LOW * LOW) as usize];
    for y in 0..SIZE {
        for x in 0..SIZE {
            low[((y / scale) * LOW + x / scale) as usize] +=
                truth[(y * SIZE + x) as usize] / (scale * scale) as f32;
        }
    }
    low
}

fn bilinear(low: &[f32], x: u32, y: u32) -> f32 {
    let fx = ((x as f32 + 0.5) * LOW as f32 / SIZE as f32 - 0.5).clamp(0.0, LOW as f32 - 1.0);
    let fy = ((y as f32 + 0.5) * LOW as f32 / SIZE as f32 - 0.5).clamp(0.0, LOW as f32 - 1.0);
    let (x0, y0) = (fx.floor() as u32, fy.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(LOW - 1), (y0 + 1).min(LOW - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let at = |x: u32, y: u32| low[(y * LOW + x) as usize];
    (at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx) * (1.0 - ty)
        + (at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx) * ty
}

/// Mean absolute error within 8 pixels of the true boundary.
fn boundary_error(mask: impl Fn(u32, u32) -> f32, truth: &[f32]) -> f32 {
    let mut sum = 0.0;
    let mut count = 0;
    for y in 8..SIZE - 8 {
        for x in 8..SIZE - 8 {
            let t = truth[(y * SIZE + x) as usize];
            let near_edge =
                [(8i32, 0i32), (-8, 0), (0, 8), (0, -8), (6, 6), (-6, -6), (6, -6), (-6, 6)]
                    .iter()
                    .any(|(dx, dy)| {
                        truth[((y as i32 + dy) as u32 * SIZE + (x as i32 + dx) as u32) as usize]
                            != t
                    });
            if near_edge {
                sum += (mask(x, y) - t).abs();
                count += 1;
            }
        }
    }
    assert!(count > 2000, "boundary band too small: {count}");
    sum / count as f32
}

fn labels() -> Arc<[String]> {
    ["other", "wall", "sofa"].map(String::from).to_vec().into()
}

/// The compositor's analysis of `picture` with the preset `layers` (TOML), the class map and the
/// person mask: its region masks and its person/depth channels, four values a pixel each.
fn analysis_on_gpu(
    layers: &str,
    picture: &RgbImage,
    classes: &ClassMap,
    person: &ScalarMap,
) -> (Vec<f32>, Vec<f32>) {
    let context = RenderContext::headless().expect("GPU adapter");
    let preset = Preset::parse(layers, "t", "t", None).expect("preset");
    let (width, height) = picture.dimensions();
    let mut compositor =
        Compositor::new(&context, width, height, &preset.layers, &[]).expect("compositor");
    let rgba = RgbaImage::from_fn(width, height, |x, y| {
        let p = picture.get_pixel(x, y).0;
        image::Rgba([p[0], p[1], p[2], 255])
    });
    let input = CompositorInput {
        pixels: FramePixels::Rgba(rgba.as_raw()),
        classes: Some(classes),
        person: Some(person),
        depth: None,
        motions: None,
        stylized: None,
    };
    compositor.render(&context, &input).expect("renders");
    let (masks, person_depth) = compositor.analysis_textures();
    let masks = readback::read_rgba16f(&context, masks).expect("read");
    let person_depth = readback::read_rgba16f(&context, person_depth).expect("read");
    (masks, person_depth)
}

#[test]
fn edge_aware_upsampling_beats_nearest_and_bilinear_on_a_real_photo() {
    let (picture, truth) = composite();
    let low = low_res(&truth);
    let classes = ClassMap {
        width: LOW,
        height: LOW,
        classes: low.iter().map(|&v| if v >= 0.5 { 2 } else { 1 }).collect(),
        labels: labels(),
        probabilities: None,
    };
    let mask = ScalarMap { width: LOW, height: LOW, values: low.clone() };

    let nearest = boundary_error(
        |x, y| f32::from(classes.class_at(x * LOW / SIZE, y * LOW / SIZE) == 2),
        &truth,
    );
    let linear = boundary_error(|x, y| bilinear(&low, x, y), &truth);
    let nearest_scalar =
        boundary_error(|x, y| low[((y * LOW / SIZE) * LOW + x * LOW / SIZE) as usize], &truth);

    // The GPU path used by every effect: region mask (class map) and person channel (scalar map).
    let layers = "[[layer]]\neffect = \"repaint\"\nregion = [\"sofa\"]\ncolour = \"#ff0000\"\n";
    let (region, person) = analysis_on_gpu(layers, &picture, &classes, &mask);
    let gpu_region = boundary_error(|x, y| region[((y * SIZE + x) * 4) as usize], &truth);
    let gpu_scalar = boundary_error(|x, y| person[((y * SIZE + x) * 4) as usize], &truth);

    // The CPU path used by `analyze`.
    let cpu_classes = upsample::upsample_classes(&classes, &picture, JointBilateral::for_classes());
    let cpu_region = boundary_error(|x, y| f32::from(cpu_classes.class_at(x, y) == 2), &truth);
    let cpu_scalar_map = upsample::upsample_scalar(&mask, &picture, JointBilateral::for_maps());
    let cpu_scalar = boundary_error(|x, y| cpu_scalar_map.at(x, y), &truth);

    eprintln!(
        "boundary error: class map nearest {nearest:.4}, scalar nearest {nearest_scalar:.4}, bilinear {linear:.4}; \
         GPU region {gpu_region:.4}, GPU scalar {gpu_scalar:.4}, CPU classes {cpu_region:.4}, CPU scalar {cpu_scalar:.4}"
    );
    // Class maps: the edge-aware vote must beat nearest class and bilinear clearly.
    for (name, error) in [("GPU region", gpu_region), ("CPU classes", cpu_region)] {
        assert!(
            error < linear * 0.6 && error < nearest * 0.6,
            "{name}: {error} vs nearest {nearest}, bilinear {linear}"
        );
    }
    // Soft maps keep the model's own soft border values, so the gain is smaller but must be there.
    for (name, error) in [("GPU scalar", gpu_scalar), ("CPU scalar", cpu_scalar)] {
        assert!(
            error < linear * 0.9 && error < nearest_scalar * 0.9,
            "{name}: {error} vs nearest {nearest_scalar}, bilinear {linear}"
        );
    }
}

/// `frame` composited with `classes` (carried or smoothed by `motions`), and the region masks
/// read back: four values per pixel, one per region set of the layers.
fn region_masks(
    context: &RenderContext,
    compositor: &mut Compositor,
    frame: &RgbImage,
    classes: &ClassMap,
    motions: Option<&dreamlens::scene::MapMotions>,
) -> Vec<f32> {
    let rgba = dreamlens::render::rgba_bytes(frame);
    let input = CompositorInput {
        pixels: FramePixels::Rgba(&rgba),
        classes: Some(classes),
        person: None,
        depth: None,
        motions,
        stylized: None,
    };
    compositor.render(context, &input).expect("renders");
    readback::read_rgba16f(context, compositor.analysis_textures().0).expect("read")
}

#[test]
fn temporal_smoothing_holds_masks_still_on_a_still_noisy_camera() {
    let context = RenderContext::headless().expect("GPU adapter");
    let cache = tempfile::tempdir().expect("temp");
    let model = mirror_store(cache.path()).locate("ade20k-deeplabv3-mnv2").expect("model");
    let mut session = ModelSession::open(&model, &SessionOptions::default()).expect("session");
    let still = photo("ADE_val_00000001");
    // Sensor noise: the same scene, different noise every frame (deterministic generator).
    let mut state = 0x1234_5678u32;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 25) as i16 - 12
    };
    let frames: Vec<RgbImage> = (0..8)
        .map(|_| {
            RgbImage::from_fn(SIZE, SIZE, |x, y| {
                let p = still.get_pixel(x, y).0;
                Rgb(p.map(|v| (v as i16 + noise()).clamp(0, 255) as u8))
            })
        })
        .collect();
    let analyses: Vec<ClassMap> = frames
        .iter()
        .map(|f| run_segmentation(&mut session, f, SegmentationPasses::default()).expect("runs"))
        .collect();
    let preset = Preset::load("wall-paint").expect("preset");
    let mut change = [0f32; 2];
    for (slot, temporal) in [false, true].into_iter().enumerate() {
        let mut compositor =
            Compositor::new(&context, SIZE, SIZE, &preset.layers, &[]).expect("compositor");
        compositor.set_filter(AnalysisFilter { temporal, ..AnalysisFilter::default() });
        let mut previous: Option<Vec<f32>> = None;
        for (index, (frame, classes)) in frames.iter().zip(&analyses).enumerate() {
            let mask: Vec<f32> = region_masks(&context, &mut compositor, frame, classes, None)
                .chunks(4)
                .map(|p| p[0])
                .collect();
            if let Some(previous) = &previous
                && index >= 3
            {
                change[slot] += mask.iter().zip(previous).map(|(a, b)| (a - b).abs()).sum::<f32>()
                    / mask.len() as f32;
            }
            previous = Some(mask);
        }
        change[slot] /= 4.0;
    }
    eprintln!(
        "mean frame-to-frame wall-mask change: without smoothing {:.5}, with {:.5}",
        change[0], change[1]
    );
    assert!(change[0] > 0.0, "noise must move the raw masks for this test to mean anything");
    assert!(change[1] < change[0] * 0.25, "smoothing does not steady the mask: {change:?}");
    assert!(change[1] < 0.01, "mask still flickers: {}", change[1]);
}

/// `bench regions` measures region quality with the CPU twin of the compositor's guided
/// refinement; the GPU's region mask must be that same mask. They differ only where rounding
/// differs (membership stored in 8 bits and coefficients in fp16 on the GPU, f32 on the CPU), on
/// pixels within a hair of the threshold.
#[test]
fn the_gpu_region_mask_is_the_one_bench_regions_measures() {
    let context = RenderContext::headless().expect("GPU adapter");
    let cache = tempfile::tempdir().expect("temp");
    let model = mirror_store(cache.path()).locate(DEFAULT_SEGMENTATION_MODEL).expect("model");
    let mut session = ModelSession::open(&model, &SessionOptions::default()).expect("session");
    let preset = Preset::load("wall-paint").expect("preset");
    let threshold = AnalysisFilter::default().region_threshold;
    for t_s in [0.0, 6.0] {
        let frame = demo::render(640, 360, t_s);
        let classes =
            run_segmentation(&mut session, &frame, SegmentationPasses::default()).expect("runs");
        assert!(classes.probabilities.is_some(), "the cut graph gives probabilities");
        let wall: Vec<u8> = (0..classes.labels.len() as u8)
            .filter(|&id| classes.labels[id as usize] == "wall")
            .collect();
        let cpu = upsample::guided_membership(&classes, &[wall], &frame);
        let mut compositor =
            Compositor::new(&context, 640, 360, &preset.layers, &[]).expect("compositor");
        let gpu = region_masks(&context, &mut compositor, &frame, &classes, None);
        let same = gpu
            .chunks(4)
            .zip(&cpu)
            .filter(|(mask, membership)| (mask[0] > 0.5) == (**membership >= threshold))
            .count();
        let agreement = same as f32 / cpu.len() as f32;
        let painted = cpu.iter().filter(|m| **m >= threshold).count();
        eprintln!("t = {t_s} s: {agreement} agree, {painted} pixels of wall");
        assert!(painted > 640 * 360 / 5, "the demo's wall is found");
        assert!(agreement > 0.995, "t = {t_s} s: GPU and CPU masks agree on {agreement}");
    }
}

/// While the camera pans, the temporal filter reads its history where each pixel's content was
/// (the motion since the last frame), so the smoothed masks keep up with the picture instead of
/// trailing it. Measured against each frame's own unsmoothed mask on the panning demo room.
#[test]
fn temporal_smoothing_follows_a_panning_camera() {
    use dreamlens::{
        projection::{Thumbnail, estimate_flow},
        scene::MapMotions,
    };
    let context = RenderContext::headless().expect("GPU adapter");
    let cache = tempfile::tempdir().expect("temp");
    let model = mirror_store(cache.path()).locate(DEFAULT_SEGMENTATION_MODEL).expect("model");
    let mut session = ModelSession::open(&model, &SessionOptions::default()).expect("session");
    let preset = Preset::load("wall-paint").expect("preset");
    let (width, height) = (640, 360);
    // The demo camera pans; 0.3 s apart its picture moves by several pixels a frame.
    let frames: Vec<RgbImage> =
        (0..8).map(|i| demo::render(width, height, 3.0 + 0.3 * i as f32)).collect();
    let analyses: Vec<ClassMap> = frames
        .iter()
        .map(|f| run_segmentation(&mut session, f, SegmentationPasses::default()).expect("runs"))
        .collect();
    let masks = |temporal: bool, reproject: bool| -> Vec<Vec<bool>> {
        let mut compositor =
            Compositor::new(&context, width, height, &preset.layers, &[]).expect("compositor");
        compositor.set_filter(AnalysisFilter { temporal, ..AnalysisFilter::default() });
        let mut last: Option<Thumbnail> = None;
        let mut out = Vec::new();
        for (frame, classes) in frames.iter().zip(&analyses) {
            let thumbnail = Thumbnail::of(frame);
            let history = last.as_ref().filter(|_| reproject);
            let motions = MapMotions {
                history: history.and_then(|last| estimate_flow(&thumbnail, last).to_motion()),
                ..MapMotions::default()
            };
            last = Some(thumbnail);
            let mask = region_masks(&context, &mut compositor, frame, classes, Some(&motions))
                .chunks(4)
                .map(|p| p[0] > 0.5)
                .collect();
            out.push(mask);
        }
        out
    };
    let instant = masks(false, false);
    let disagreement = |smoothed: &[Vec<bool>]| {
        let pairs = smoothed.iter().zip(&instant).skip(3);
        let count = pairs.clone().count() as f64;
        pairs
            .map(|(a, b)| a.iter().zip(b).filter(|(a, b)| a != b).count() as f64 / a.len() as f64)
            .sum::<f64>()
            / count
    };
    let trailing = disagreement(&masks(true, false));
    let following = disagreement(&masks(true, true));
    eprintln!(
        "smoothed wall mask against each frame's own: {trailing:.4} of pixels differ with the \
         history in place, {following:.4} with it moved by the motion"
    );
    assert!(trailing > 0.002, "the pan must move the masks for this test to mean anything");
    assert!(following < trailing * 0.7, "the history does not follow the picture");
}

/// A person (the person model's mask) in front of a wall and a sofa: the wall layer's region
/// leaves their pixels alone, whatever the class map says there, while the sofa layer keeps
/// every pixel of the sofa (people are kept out of the surfaces behind them only). The CPU twin
/// that `bench regions` measures with agrees with the GPU.
#[test]
fn a_wall_layer_leaves_a_person_in_front_of_it_alone_and_a_sofa_layer_keeps_its_pixels() {
    let (picture, truth) = composite();
    let person = ScalarMap { width: LOW, height: LOW, values: low_res(&truth) };
    // The left half of the picture is wall, the right half sofa; the person stands across both.
    let classes = ClassMap {
        width: LOW,
        height: LOW,
        classes: (0..LOW * LOW).map(|i| if i % LOW < LOW / 2 { 1 } else { 2 }).collect(),
        labels: labels(),
        probabilities: None,
    };
    let layers = "[[layer]]\neffect = \"repaint\"\nregion = [\"wall\"]\ncolour = \"#ff0000\"\n\
                  [[layer]]\neffect = \"repaint\"\nregion = [\"sofa\"]\ncolour = \"#00ff00\"\n";
    let (masks, _) = analysis_on_gpu(layers, &picture, &classes, &person);
    let mask = |set: u32, x: u32, y: u32| masks[((y * SIZE + x) * 4 + set) as usize];
    // Deep inside the person, on each half; outside them, on each half.
    assert!(mask(0, 170, 270) < 0.05, "the wall layer paints the person: {}", mask(0, 170, 270));
    assert!(mask(0, 30, 270) > 0.95, "the wall beside the person: {}", mask(0, 30, 270));
    assert!(mask(1, 340, 270) > 0.95, "the sofa under the person: {}", mask(1, 340, 270));
    assert!(mask(1, 480, 270) > 0.95, "the sofa beside the person: {}", mask(1, 480, 270));

    let sets = [vec![1u8], vec![2u8]];
    let mut cpu = upsample::guided_membership(&classes, &sets, &picture);
    let threshold = dreamlens::render::AnalysisFilter::default().region_threshold;
    upsample::region_masks(&mut cpu, threshold);
    let full = upsample::upsample_scalar(&person, &picture, JointBilateral::for_maps());
    upsample::spare_people(&mut cpu, &[true, false], &full);
    let differ =
        (0..(SIZE * SIZE) as usize).filter(|&i| (cpu[i * 2] > 0.5) != (masks[i * 4] > 0.5)).count();
    let share = differ as f64 / f64::from(SIZE * SIZE);
    assert!(share < 0.02, "the CPU twin's wall differs from the GPU's on {share:.4} of pixels");
}
