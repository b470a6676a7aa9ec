//! The compositor on lavapipe (or whatever GPU is present): every built-in preset against a
//! golden image, plus checks of what each effect must do that hold on any GPU.
//!
//! Golden images live in tests/golden/effects. On a mismatch the test writes `NAME.actual.png`
//! and `NAME.diff.png` (differences x8) to target/effects-output/. `DREAMLENS_BLESS=1` rewrites
//! the goldens after a deliberate change; look at them before committing.

mod common;

use std::{path::PathBuf, sync::Arc};

use common::ADE_LABELS;

use dreamlens::{
    effects::{Layer, lut::Lut, preset::Preset},
    render::{AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, readback},
    scene::{ClassMap, ClassScores, MapMotions, Motion, ScalarMap, Stylized},
};
use image::{Rgba, RgbaImage};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// Golden comparison: mean absolute difference per channel (0..255) and the share of channel
/// values allowed to differ by more than `LARGE_DIFF`. Rendering the same shaders on another
/// GPU or driver moves values by a level or two; a changed effect moves thousands by far more.
const MEAN_TOLERANCE: f64 = 1.0;
const LARGE_DIFF: u8 = 12;
const LARGE_SHARE: f64 = 0.002;

/// A synthetic room: textured wall with a light gradient on top, floor below, a sofa block and a
/// person-shaped ellipse; analysis maps at a lower resolution, as models give them.
struct Scene {
    frame: RgbaImage,
    classes: ClassMap,
    person: ScalarMap,
    depth: ScalarMap,
    stylized: Stylized,
}

fn is_wall(x: f32, y: f32) -> bool {
    y < 0.6 && !is_sofa(x, y)
}
fn is_sofa(x: f32, y: f32) -> bool {
    (0.1..0.45).contains(&x) && (0.45..0.75).contains(&y)
}
fn is_person(x: f32, y: f32) -> bool {
    ((x - 0.72) / 0.12).powi(2) + ((y - 0.55) / 0.3).powi(2) < 1.0
}

fn scene() -> Scene {
    let frame = RgbaImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let (u, v) = (x as f32 / WIDTH as f32, y as f32 / HEIGHT as f32);
        let texture = if (x / 6 + y / 6) % 2 == 0 { 10.0 } else { -10.0 };
        let [r, g, b] = if is_person(u, v) {
            [200.0, 150.0, 120.0]
        } else if is_sofa(u, v) {
            [70.0, 80.0, 150.0]
        } else if is_wall(u, v) {
            let light = 0.55 + 0.45 * (1.0 - u);
            [210.0 * light + texture, 190.0 * light + texture, 160.0 * light + texture]
        } else {
            [130.0 + texture, 90.0, 60.0]
        };
        Rgba([r as u8, g as u8, b as u8, 255])
    });
    let (lw, lh) = (80, 60);
    let labels: Arc<[String]> = ADE_LABELS.iter().map(|s| s.to_string()).collect();
    let mut classes = Vec::with_capacity((lw * lh) as usize);
    let mut person = Vec::with_capacity((lw * lh) as usize);
    let mut depth = Vec::with_capacity((lw * lh) as usize);
    for y in 0..lh {
        for x in 0..lw {
            let (u, v) = ((x as f32 + 0.5) / lw as f32, (y as f32 + 0.5) / lh as f32);
            classes.push(if is_person(u, v) {
                13
            } else if is_sofa(u, v) {
                24
            } else if is_wall(u, v) {
                1
            } else {
                4
            });
            person.push(if is_person(u, v) { 1.0 } else { 0.0 });
            depth.push(if is_person(u, v) {
                0.8
            } else if v > 0.6 {
                0.3 + 0.7 * (v - 0.6) / 0.4
            } else {
                0.15
            });
        }
    }
    let stylized = Stylized::still(RgbaImage::from_fn(160, 120, |x, y| {
        Rgba([(x * 255 / 160) as u8, 40, (y * 255 / 120) as u8, 255])
    }));
    Scene {
        frame,
        classes: ClassMap { width: lw, height: lh, classes, labels, probabilities: None },
        person: ScalarMap { width: lw, height: lh, values: person },
        depth: ScalarMap { width: lw, height: lh, values: depth },
        stylized,
    }
}

fn render(context: &RenderContext, layers: &[Layer], luts: &[Lut], scene: &Scene) -> RgbaImage {
    render_filtered(context, layers, luts, scene, AnalysisFilter::default())
}

fn render_filtered(
    context: &RenderContext,
    layers: &[Layer],
    luts: &[Lut],
    scene: &Scene,
    filter: AnalysisFilter,
) -> RgbaImage {
    let mut compositor = Compositor::new(context, WIDTH, HEIGHT, layers, luts).expect("compositor");
    compositor.set_filter(filter);
    compositor
        .render(
            context,
            &CompositorInput {
                pixels: FramePixels::Rgba(scene.frame.as_raw()),
                classes: Some(&scene.classes),
                person: Some(&scene.person),
                depth: Some(&scene.depth),
                motions: None,
                stylized: Some(&scene.stylized),
            },
        )
        .expect("renders");
    readback::read_rgba8(context, compositor.output_texture()).expect("reads back")
}

fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/effects-output");
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

fn compare_with_golden(name: &str, actual: &RgbaImage) {
    let golden_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/effects/{name}.png"));
    if std::env::var_os("DREAMLENS_BLESS").is_some() {
        actual.save(&golden_path).expect("write golden");
        return;
    }
    let golden = image::open(&golden_path)
        .unwrap_or_else(|e| {
            panic!(
                "golden {} missing ({e}); run with DREAMLENS_BLESS=1 to create it",
                golden_path.display()
            )
        })
        .to_rgba8();
    assert_eq!(golden.dimensions(), actual.dimensions());
    let mut sum = 0f64;
    let mut large = 0usize;
    let diff = RgbaImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let (a, g) = (actual.get_pixel(x, y), golden.get_pixel(x, y));
        let mut out = [0u8, 0, 0, 255];
        for (c, channel) in out.iter_mut().take(3).enumerate() {
            let d = a.0[c].abs_diff(g.0[c]);
            sum += f64::from(d);
            large += usize::from(d > LARGE_DIFF);
            *channel = d.saturating_mul(8);
        }
        Rgba(out)
    });
    let values = f64::from(WIDTH * HEIGHT * 3);
    let mean = sum / values;
    let share = large as f64 / values;
    if mean > MEAN_TOLERANCE || share > LARGE_SHARE {
        let dir = output_dir();
        actual.save(dir.join(format!("{name}.actual.png"))).expect("write actual");
        diff.save(dir.join(format!("{name}.diff.png"))).expect("write diff");
        panic!(
            "{name}: mean difference {mean:.2}, {:.3}% values off by more than {LARGE_DIFF}; see {}",
            share * 100.0,
            dir.display()
        );
    }
}

#[test]
fn every_builtin_preset_matches_its_golden_image() {
    let context = RenderContext::headless().expect("a GPU adapter (lavapipe in CI)");
    let scene = scene();
    let mut presets: Vec<(String, Preset)> =
        Preset::builtin_names().map(|n| (n.to_owned(), Preset::load(n).expect("preset"))).collect();
    let replace =
        "[[layer]]\neffect = \"background-replace\"\ncolour = \"#3a6ea5\"\naccent = \"#f2c14e\"\n";
    presets.push((
        "background-replace".into(),
        Preset::parse(replace, "test", "background-replace", None).expect("preset"),
    ));
    for (name, preset) in presets {
        let actual = render(&context, &preset.layers, &preset.luts, &scene);
        compare_with_golden(&name, &actual);
    }
}

fn luma(p: &Rgba<u8>) -> f32 {
    0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32
}

/// Pixel centres well inside a region (away from edges, where masks are soft by design).
fn interior(f: impl Fn(f32, f32) -> bool) -> Vec<(u32, u32)> {
    let margin = 0.03;
    let mut points = Vec::new();
    for y in (0..HEIGHT).step_by(3) {
        for x in (0..WIDTH).step_by(3) {
            let (u, v) = ((x as f32 + 0.5) / WIDTH as f32, (y as f32 + 0.5) / HEIGHT as f32);
            let all = [(-margin, 0.0), (margin, 0.0), (0.0, -margin), (0.0, margin), (0.0, 0.0)]
                .iter()
                .all(|(du, dv)| f(u + du, v + dv));
            if all {
                points.push((x, y));
            }
        }
    }
    points
}

#[test]
fn repaint_recolours_only_the_wall_and_keeps_its_shading() {
    let context = RenderContext::headless().expect("GPU adapter");
    let scene = scene();
    let preset = Preset::load("wall-paint").expect("preset");
    let out = render(&context, &preset.layers, &preset.luts, &scene);
    let wall = interior(is_wall);
    let other = interior(|u, v| !is_wall(u, v));
    assert!(wall.len() > 500 && other.len() > 500);
    // Outside the wall nothing changes.
    for &(x, y) in &other {
        let (a, b) = (out.get_pixel(x, y), scene.frame.get_pixel(x, y));
        assert!((0..3).all(|c| a.0[c].abs_diff(b.0[c]) <= 1), "({x},{y}) changed: {a:?} vs {b:?}");
    }
    // On the wall the hue is the paint's (sage: green above red and blue)...
    let mean = |pts: &[(u32, u32)], img: &RgbaImage, c: usize| {
        pts.iter().map(|&(x, y)| img.get_pixel(x, y).0[c] as f32).sum::<f32>() / pts.len() as f32
    };
    let (r, g, b) = (mean(&wall, &out, 0), mean(&wall, &out, 1), mean(&wall, &out, 2));
    assert!(g > r + 8.0 && g > b + 8.0, "wall is not sage: {r} {g} {b}");
    // ...and light and texture stay: brightness follows the original pixel by pixel.
    let before: Vec<f32> = wall.iter().map(|&(x, y)| luma(scene.frame.get_pixel(x, y))).collect();
    let after: Vec<f32> = wall.iter().map(|&(x, y)| luma(out.get_pixel(x, y))).collect();
    let correlation = pearson(&before, &after);
    assert!(correlation > 0.95, "shading lost: correlation {correlation}");
}

/// The scene's class map with its probabilities: every wall cell is wall by argmax, but the
/// model is sure of it (0.9) only on the left half; on the right it gives the wall 0.5, the sofa
/// 0.3 and the floor 0.2.
fn with_unsure_right_wall(classes: &ClassMap) -> ClassMap {
    let plane = (classes.width * classes.height) as usize;
    let mut scores = vec![0f32; classes.labels.len() * plane];
    for (cell, &class) in classes.classes.iter().enumerate() {
        let left = (cell % classes.width as usize) < classes.width as usize / 2;
        let (own, sofa, floor) = match (class, left) {
            (1, true) => (0.9, 0.1, 0.0),
            (1, false) => (0.5, 0.3, 0.2),
            _ => (1.0, 0.0, 0.0),
        };
        scores[class as usize * plane + cell] = own;
        scores[24 * plane + cell] += sofa;
        scores[4 * plane + cell] += floor;
    }
    let probabilities = ClassScores {
        width: classes.width,
        height: classes.height,
        scores,
        labels: classes.labels.clone(),
    };
    classes.clone().with_probabilities(probabilities)
}

#[test]
fn a_wall_the_model_is_unsure_of_is_left_unpainted_until_the_threshold_allows_it() {
    let context = RenderContext::headless().expect("GPU adapter");
    let mut scene = scene();
    scene.classes = with_unsure_right_wall(&scene.classes);
    let preset = Preset::load("wall-paint").expect("preset");
    let changed = |out: &RgbaImage, points: &[(u32, u32)]| {
        let moved = points.iter().filter(|&&(x, y)| {
            let (a, b) = (out.get_pixel(x, y), scene.frame.get_pixel(x, y));
            (0..3).any(|c| a.0[c].abs_diff(b.0[c]) > 4)
        });
        moved.count() as f32 / points.len() as f32
    };
    // Away from the halves' border by more than the filter's reach (about 24 pixels).
    let sure = interior(|u, v| is_wall(u, v) && u < 0.4);
    // Away from the person and the floor too: at a strong edge the filter may overshoot.
    let near_person =
        |u: f32, v: f32| ((u - 0.72) / 0.2).powi(2) + ((v - 0.55) / 0.4).powi(2) < 1.0;
    let unsure = interior(|u, v| is_wall(u, v) && !near_person(u, v) && u > 0.6 && v < 0.5);
    let out = render(&context, &preset.layers, &preset.luts, &scene);
    let (sure_share, unsure_share) = (changed(&out, &sure), changed(&out, &unsure));
    assert!(sure_share > 0.99, "the sure wall is not painted: {sure_share}");
    assert!(unsure_share < 0.01, "the unsure wall is painted: {unsure_share}");
    // With a lower threshold, the same map paints the whole wall.
    let lower = AnalysisFilter { region_threshold: 0.45, ..AnalysisFilter::default() };
    let out = render_filtered(&context, &preset.layers, &preset.luts, &scene, lower);
    let unsure_share = changed(&out, &unsure);
    assert!(unsure_share > 0.99, "a lower threshold leaves the wall unpainted: {unsure_share}");
}

fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

#[test]
fn background_blur_keeps_the_person_sharp_and_blurs_the_rest() {
    let context = RenderContext::headless().expect("GPU adapter");
    let scene = scene();
    let text = "[[layer]]\neffect = \"background-blur\"\nradius = 40.0\n";
    let preset = Preset::parse(text, "t", "t", None).expect("preset");
    let out = render(&context, &preset.layers, &preset.luts, &scene);
    let person = interior(is_person);
    for &(x, y) in &person {
        let (a, b) = (out.get_pixel(x, y), scene.frame.get_pixel(x, y));
        assert!((0..3).all(|c| a.0[c].abs_diff(b.0[c]) <= 2), "person changed at ({x},{y})");
    }
    // The wall's checker texture (+-10 levels) is smoothed away by the blur: the spread of
    // brightness in 12x12 windows on the wall drops.
    let texture_energy = |img: &RgbaImage| {
        let points =
            interior(|u, v| is_wall(u, v) && is_wall(u + 0.05, v + 0.06) && u < 0.5 && v > 0.04);
        points
            .iter()
            .map(|&(x, y)| {
                let values: Vec<f32> = (0..12)
                    .flat_map(|dy| (0..12).map(move |dx| (dx, dy)))
                    .map(|(dx, dy)| luma(img.get_pixel(x + dx, y + dy)))
                    .collect();
                let mean = values.iter().sum::<f32>() / values.len() as f32;
                (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32)
                    .sqrt()
            })
            .sum::<f32>()
            / points.len() as f32
    };
    let (after, before) = (texture_energy(&out), texture_energy(&scene.frame));
    assert!(after < before * 0.3, "texture spread {before} -> {after}");
}

#[test]
fn the_lut_on_the_gpu_matches_the_cpu_reference() {
    let context = RenderContext::headless().expect("GPU adapter");
    let scene = scene();
    let preset =
        Preset::parse("[[layer]]\neffect = \"lut\"\nfile = \"teal-orange.cube\"\n", "t", "t", None)
            .expect("preset");
    let out = render(&context, &preset.layers, &preset.luts, &scene);
    let lut = &preset.luts[0];
    let mut worst = 0f32;
    for (x, y, p) in scene.frame.enumerate_pixels() {
        let expected = lut.apply([0, 1, 2].map(|c| p.0[c] as f32 / 255.0));
        let got = out.get_pixel(x, y);
        for (c, value) in expected.iter().enumerate() {
            worst = worst.max((value * 255.0 - got.0[c] as f32).abs());
        }
    }
    // 8-bit input and output plus 16-bit float table entries: within 2 levels.
    assert!(worst <= 2.0, "worst channel error {worst}");
}

/// Red channel at the centre after compositing a mid-grey frame whose person mask is `person`
/// everywhere, with a backdrop of pure red replacing what is not a person.
fn red_with_person_mask(context: &RenderContext, compositor: &mut Compositor, person: f32) -> u8 {
    red_with_frame_and_mask(context, compositor, 128, person)
}

/// [`red_with_person_mask`] for a frame of grey level `grey`.
fn red_with_frame_and_mask(
    context: &RenderContext,
    compositor: &mut Compositor,
    grey: u8,
    person: f32,
) -> u8 {
    red_with_carried_mask(context, compositor, grey, person, false)
}

/// [`red_with_frame_and_mask`], the mask made on an older frame and `carried` to this one (by
/// a still motion) when asked.
fn red_with_carried_mask(
    context: &RenderContext,
    compositor: &mut Compositor,
    grey: u8,
    person: f32,
    carried: bool,
) -> u8 {
    let frame: Vec<u8> = (0..64 * 48).flat_map(|_| [grey, grey, grey, 255]).collect();
    let mask = ScalarMap { width: 16, height: 12, values: vec![person; 16 * 12] };
    composite_64x48(context, compositor, &frame, &mask, carried).get_pixel(32, 24).0[0]
}

/// The red channel along row 24 after compositing a 64x48 frame whose columns left of
/// `dark_to` are dark (grey 20) and the rest mid-grey, with a person mask on 16x12 texels (4
/// pixels each) of 1 on the texel columns left of `person_to` and 0 on the rest.
fn red_row_with_dark_person(
    context: &RenderContext,
    compositor: &mut Compositor,
    dark_to: u32,
    person_to: u32,
) -> Vec<u8> {
    let frame: Vec<u8> = (0..64 * 48)
        .flat_map(|i| if i % 64 < dark_to { [20, 20, 20, 255] } else { [128, 128, 128, 255] })
        .collect();
    let values = (0..16 * 12).map(|i| f32::from(u8::from(i % 16 < person_to))).collect();
    let mask = ScalarMap { width: 16, height: 12, values };
    let picture = composite_64x48(context, compositor, &frame, &mask, false);
    (0..64).map(|x| picture.get_pixel(x, 24).0[0]).collect()
}

/// Composites a 64x48 RGBA `frame` with the person `mask`, made on an older frame and
/// `carried` to this one (by a still motion) when asked, and reads the picture back.
fn composite_64x48(
    context: &RenderContext,
    compositor: &mut Compositor,
    frame: &[u8],
    mask: &ScalarMap,
    carried: bool,
) -> RgbaImage {
    let still = Motion { cols: 1, rows: 1, vectors: vec![[0.0, 0.0]] };
    let motions = MapMotions { person: carried.then_some(still), ..MapMotions::default() };
    let input = CompositorInput {
        pixels: FramePixels::Rgba(frame),
        classes: None,
        person: Some(mask),
        depth: None,
        motions: Some(&motions),
        stylized: None,
    };
    compositor.render(context, &input).expect("renders");
    readback::read_rgba8(context, compositor.output_texture()).expect("reads back")
}

/// A 64x48 compositor replacing what is not a person by a pure red backdrop, its temporal
/// filter on or off.
fn red_backdrop(context: &RenderContext, temporal: bool) -> Compositor {
    let text =
        "[[layer]]\neffect = \"background-replace\"\ncolour = \"#ff0000\"\naccent = \"#ff0000\"\n";
    let preset = Preset::parse(text, "test", "red backdrop", None).expect("preset");
    let mut compositor =
        Compositor::new(context, 64, 48, &preset.layers, &preset.luts).expect("new");
    compositor.set_filter(AnalysisFilter { temporal, ..AnalysisFilter::default() });
    compositor
}

#[test]
fn temporal_filter_blends_masks_over_frames_and_reset_forgets_them() {
    let context = RenderContext::headless().expect("GPU adapter");
    let compositor = |temporal: bool| red_backdrop(&context, temporal);
    let (mut instant, mut smoothed, mut reset) =
        (compositor(false), compositor(true), compositor(true));
    // Frame 1: all person, so the grey frame shows everywhere.
    for c in [&mut instant, &mut smoothed, &mut reset] {
        assert_eq!(red_with_person_mask(&context, c, 1.0), 128);
    }
    // Frame 2: nobody. Without smoothing the backdrop replaces everything at once; with it,
    // one frame's evidence only moves the mask part of the way, not past the switch.
    assert_eq!(red_with_person_mask(&context, &mut instant, 0.0), 255, "the new mask at once");
    assert_eq!(red_with_person_mask(&context, &mut smoothed, 0.0), 128, "history holds");
    // Kept up, the new mask wins after a few frames.
    assert!(
        (3..=40).any(|_| red_with_person_mask(&context, &mut smoothed, 0.0) == 255),
        "the smoothed mask reaches the new value"
    );
    // Forgetting the history makes the next frame count alone, like the first one.
    reset.reset_history();
    assert_eq!(red_with_person_mask(&context, &mut reset, 0.0), 255, "history forgotten");
    // Where the picture itself changed (the camera moved), the new mask counts at once.
    let mut moving = compositor(true);
    for _ in 0..3 {
        assert_eq!(red_with_frame_and_mask(&context, &mut moving, 128, 1.0), 128);
    }
    assert_eq!(red_with_frame_and_mask(&context, &mut moving, 20, 0.0), 255, "motion: new mask");
}

/// A mask carried from an older frame still shows a walking person where they were. Where the
/// picture moved, only a mask made on this frame counts at once: the carried one would keep the
/// person's old place and fade it slowly, a trail on the wall behind them.
#[test]
fn a_carried_mask_where_the_picture_moved_does_not_leave_a_trail() {
    let context = RenderContext::headless().expect("GPU adapter");
    let mut compositor = red_backdrop(&context, true);
    // Nobody for a few frames: the backdrop everywhere.
    for _ in 0..3 {
        assert_eq!(red_with_carried_mask(&context, &mut compositor, 128, 0.0, false), 255);
    }
    // The picture changes and an old mask, carried here, says someone stands there: it moves
    // the history only part of the way, not past the switch.
    assert_eq!(red_with_carried_mask(&context, &mut compositor, 20, 1.0, true), 255, "carried");
    // Made on this frame, the same mask counts at once.
    let mut fresh = red_backdrop(&context, true);
    for _ in 0..3 {
        assert_eq!(red_with_carried_mask(&context, &mut fresh, 128, 0.0, false), 255);
    }
    assert_eq!(red_with_carried_mask(&context, &mut fresh, 20, 1.0, false), 20, "made now");
}

/// The wall-paint result on a 160x120 frame of a greige wall with light falling off whose
/// columns from `shirt_from` on are a red shirt, all read as wall by the model.
fn paint_read_as_wall(
    context: &RenderContext,
    compositor: &mut Compositor,
    shirt_from: u32,
) -> RgbaImage {
    let frame = RgbaImage::from_fn(160, 120, |x, y| {
        let light = 0.7 + 0.3 * y as f32 / 120.0;
        let wall = [200.0 * light, 190.0 * light, 170.0 * light].map(|c| c as u8);
        Rgba(if x < shirt_from { [wall[0], wall[1], wall[2], 255] } else { [150, 35, 35, 255] })
    });
    let labels: Arc<[String]> = ADE_LABELS.iter().map(|s| s.to_string()).collect();
    let classes =
        ClassMap { width: 40, height: 30, classes: vec![1; 40 * 30], labels, probabilities: None };
    let input = CompositorInput {
        pixels: FramePixels::Rgba(frame.as_raw()),
        classes: Some(&classes),
        person: None,
        depth: None,
        motions: None,
        stylized: None,
    };
    compositor.render(context, &input).expect("renders");
    readback::read_rgba8(context, compositor.output_texture()).expect("reads back")
}

/// A shirt so close that it fills most of the picture, read as wall by the segmentation (and
/// missed by the person model): in a video the wall's colour on the frames before keeps it
/// out of the paint; a photo alone has no such colour to go by.
#[test]
fn in_a_video_a_close_shirt_read_as_wall_keeps_its_colour() {
    let context = RenderContext::headless().expect("GPU adapter");
    let preset = Preset::load("wall-paint").expect("preset");
    let compositor = |temporal: bool| {
        let mut compositor =
            Compositor::new(&context, 160, 120, &preset.layers, &preset.luts).expect("new");
        compositor.set_filter(AnalysisFilter { temporal, ..AnalysisFilter::default() });
        compositor
    };
    let (shirt, wall) = ((130, 60), (20, 60));
    let is_painted = |picture: &RgbaImage, (x, y): (u32, u32)| {
        let [r, g, b, _] = picture.get_pixel(x, y).0;
        g > r.saturating_add(8) && g > b.saturating_add(8)
    };
    let mut video = compositor(true);
    let first = paint_read_as_wall(&context, &mut video, 160);
    assert!(is_painted(&first, wall) && is_painted(&first, shirt), "the wall alone");
    let close = paint_read_as_wall(&context, &mut video, 60);
    assert!(is_painted(&close, wall), "{:?}", close.get_pixel(wall.0, wall.1));
    let [r, g, b, _] = close.get_pixel(shirt.0, shirt.1).0;
    assert!(r.abs_diff(150) <= 2 && g.abs_diff(35) <= 2 && b.abs_diff(35) <= 2, "{r} {g} {b}");
    let photo = paint_read_as_wall(&context, &mut compositor(false), 60);
    assert!(is_painted(&photo, shirt), "{:?}", photo.get_pixel(shirt.0, shirt.1));
}

/// The person model is often unsure of a head above the body it is sure of: the head is the
/// person all the same, kept in front of the backdrop; as weak a response on its own is not.
#[test]
fn a_weak_head_on_a_sure_body_is_kept_and_a_weak_blob_alone_is_not() {
    let context = RenderContext::headless().expect("GPU adapter");
    let frame: Vec<u8> = (0..64 * 48).flat_map(|_| [128, 128, 128, 255]).collect();
    let values = (0..16 * 12)
        .map(|i| match (i % 16, i / 16) {
            (4..=7, 4..) => 1.0,      // the body
            (5..=6, 1..=3) => 0.42,   // the head above it
            (12..=14, 4..=6) => 0.42, // a weak blob on its own
            _ => 0.0,
        })
        .collect();
    let mask = ScalarMap { width: 16, height: 12, values };
    let picture =
        composite_64x48(&context, &mut red_backdrop(&context, false), &frame, &mask, false);
    assert_eq!(picture.get_pixel(24, 30).0[0], 128, "the body");
    assert_eq!(picture.get_pixel(24, 10).0[0], 128, "the head");
    // Mostly backdrop: 0.42 is within the layer's feather (0.3 to 0.7).
    let blob = picture.get_pixel(54, 22).0[0];
    assert!(blob > 200, "the blob: {blob}");
}

/// A coarse mask reaches a few pixels past the person's edge onto the plain wall beside them.
/// Those pixels do not change when the person steps away, yet the mask there must follow at
/// once: held by the slow path, each frame's edge of a person walking past left a line.
#[test]
fn a_person_stepping_off_a_plain_wall_leaves_no_line_where_their_edge_was() {
    let context = RenderContext::headless().expect("GPU adapter");
    let mut compositor = red_backdrop(&context, true);
    // A dark-clad person on the left half; their mask reaches one texel (pixels 32..36) onto
    // the grey wall.
    for _ in 0..3 {
        let row = red_row_with_dark_person(&context, &mut compositor, 32, 9);
        assert_eq!(row[33], 128, "the mask's reach shows the picture: {row:?}");
    }
    // They step out of the picture: the wall everywhere, nobody in the mask.
    let row = red_row_with_dark_person(&context, &mut compositor, 0, 0);
    assert!(row[32..36].iter().all(|&red| red == 255), "a line where the edge was: {row:?}");
}

/// The maps lag the picture: the frame where the picture changes can still have the old
/// reading, and the reading that follows a frame later must count as fast, though the picture
/// did not change again.
#[test]
fn a_map_that_catches_up_a_frame_after_the_picture_changed_counts_at_once() {
    let context = RenderContext::headless().expect("GPU adapter");
    let mut compositor = red_backdrop(&context, true);
    for _ in 0..3 {
        assert_eq!(red_with_frame_and_mask(&context, &mut compositor, 128, 1.0), 128);
    }
    // The picture changes; the mask still says a person stands there.
    assert_eq!(red_with_frame_and_mask(&context, &mut compositor, 20, 1.0), 20, "lagging map");
    // A frame later the mask catches up: nobody.
    assert_eq!(red_with_frame_and_mask(&context, &mut compositor, 20, 0.0), 255, "caught up");
    // Where the picture has long been still, the same new reading moves the history only part
    // of the way (the smoothing this keeps).
    let mut still = red_backdrop(&context, true);
    for _ in 0..6 {
        assert_eq!(red_with_frame_and_mask(&context, &mut still, 20, 1.0), 20);
    }
    assert_eq!(red_with_frame_and_mask(&context, &mut still, 20, 0.0), 20, "history holds");
}

#[test]
fn the_readback_ring_returns_every_picture_in_order_without_waiting() {
    use dreamlens::render::readback::ReadbackRing;
    let context = RenderContext::headless().expect("GPU adapter");
    let mut compositor = Compositor::new(&context, 64, 48, &[], &[]).expect("compositor");
    let rgba = wgpu::TextureFormat::Rgba8Unorm;
    let mut ring: ReadbackRing<u8> = ReadbackRing::new(&context, 64, 48, rgba, 3);
    let mut received = Vec::new();
    for shade in [10u8, 90, 170, 250] {
        let frame: Vec<u8> = (0..64 * 48).flat_map(|_| [shade, shade, shade, 255]).collect();
        let input = CompositorInput {
            pixels: FramePixels::Rgba(&frame),
            classes: None,
            person: None,
            depth: None,
            motions: None,
            stylized: None,
        };
        compositor.render(&context, &input).expect("renders");
        if !ring.submit(&context, compositor.output_texture(), shade) {
            received.extend(ring.drain(&context));
            assert!(
                ring.submit(&context, compositor.output_texture(), shade),
                "a drained ring has room"
            );
        }
        received.extend(ring.collect(&context));
    }
    received.extend(ring.drain(&context));
    let shades: Vec<u8> = received.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(shades, [10, 90, 170, 250], "every picture, in order");
    for (shade, bytes) in &received {
        assert_eq!(bytes.len(), 64 * 48 * 4);
        assert!(
            bytes.chunks_exact(4).all(|p| p[0] == *shade && p[3] == 255),
            "picture {shade} read back wrong"
        );
    }
    // A full ring refuses and counts instead of waiting.
    let mut tiny: ReadbackRing<u8> = ReadbackRing::new(&context, 64, 48, rgba, 1);
    assert!(tiny.submit(&context, compositor.output_texture(), 1));
    assert!(!tiny.submit(&context, compositor.output_texture(), 2));
    assert_eq!(tiny.dropped, 1);
}

/// A GPU validation error comes back as an error the caller can report (wgpu's own default
/// would panic), and a picture past the adapter's texture limit is refused before any texture
/// is made.
#[test]
fn gpu_errors_and_oversized_pictures_are_errors_not_panics() {
    let context = RenderContext::headless().expect("GPU adapter");
    assert!(context.check_errors().is_ok(), "nothing failed yet");
    // A zero-sized texture is invalid.
    let _ = context.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("invalid on purpose"),
        size: wgpu::Extent3d { width: 0, height: 0, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING,
        view_formats: &[],
    });
    let _ = context.wait_idle();
    let error = context.check_errors().expect_err("the GPU refused the texture");
    assert!(error.to_string().contains("GPU refused"), "{error}");
    assert!(context.check_errors().is_ok(), "each error is reported once");
    let max = context.device.limits().max_texture_dimension_2d;
    let error = Compositor::new(&context, max + 1, 8, &[], &[]).expect_err("too large");
    assert!(error.to_string().contains(&format!("{}x8", max + 1)), "{error}");
}
