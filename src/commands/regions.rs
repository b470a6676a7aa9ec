//! `dreamlens bench regions`: region quality on the demo room against its exact labels. Each
//! region is taken as the compositor's region layers take it (the region's membership from the
//! model's class probabilities, upsampled edge-aware, against the threshold), optionally fused
//! over the frames before as the live window fuses it; `--flicker` also measures how often a
//! region changes from one frame to the next where the true surface did not.

use std::process::ExitCode;

use dreamlens::{
    capture::demo::{self, DemoSurface},
    effects::RegionSelector,
    effects::preset::Preset,
    fusion::ClassFusion,
    inference::{AnalysisModels, SceneAnalyzer, SessionOptions},
    person_extent,
    projection::{Thumbnail, estimate_flow},
    region_colour::RegionColour,
    render::{AnalysisFilter, Compositor, CompositorInput, FramePixels, RenderContext, readback},
    scene::{ClassMap, MapMotions, Region, ScalarMap},
    store::ModelStore,
    upsample::{self, JointBilateral},
};
use image::RgbImage;

use crate::cli::RegionsArgs;

/// Regions measured, with the exact surface each corresponds to.
const MEASURED: [(Region, DemoSurface); 4] = [
    (Region::Wall, DemoSurface::Wall),
    (Region::Floor, DemoSurface::Floor),
    (Region::Ceiling, DemoSurface::Ceiling),
    (Region::Furniture, DemoSurface::Furniture),
];
/// Time between consecutive frames where frames follow each other (10 fps).
const FRAME_GAP_S: f32 = 0.1;
/// Where the flicker measure starts along the camera's sweep, in seconds.
const FLICKER_START_S: f32 = 3.0;

/// The segmentation model, with fusion over consecutive frames when asked, and the person
/// model that keeps people out of the regions, as region layers do where it is installed.
struct Segmenter {
    analyzer: SceneAnalyzer,
    people: Option<SceneAnalyzer>,
    fusion: ClassFusion,
    model: String,
}

impl Segmenter {
    /// The person mask of `frame`, where the person model runs.
    fn person(&mut self, frame: &RgbImage) -> anyhow::Result<Option<ScalarMap>> {
        match &mut self.people {
            Some(people) => Ok(people.analyze(frame)?.person),
            None => Ok(None),
        }
    }

    /// The class map of `frame`; `fused` blends its class probabilities with the history of
    /// the frames given before it.
    fn classes(&mut self, frame: &RgbImage, fused: bool) -> anyhow::Result<ClassMap> {
        if !fused {
            return self
                .analyzer
                .analyze(frame)?
                .classes
                .ok_or_else(|| anyhow::anyhow!("no class map"));
        }
        let (scores, scale) = self.analyzer.class_scores(frame)?.ok_or_else(|| {
            anyhow::anyhow!("{} gives class ids only; fusion needs its scores", self.model)
        })?;
        let fused = self.fusion.fuse(&scores, &Thumbnail::of(frame));
        Ok(fused.upsampled_argmax(scale).with_probabilities(fused.clone()))
    }
}

/// Which measured regions every pixel of `frame` belongs to, one bit each (bit k for
/// `MEASURED[k]`): each region's membership from its class map, upsampled edge-aware, against
/// `threshold`, as a region layer takes it.
fn regions_of(
    classes: &ClassMap,
    person: Option<&ScalarMap>,
    frame: &RgbImage,
    threshold: f32,
) -> Vec<u8> {
    let sets: Vec<Vec<u8>> = MEASURED
        .iter()
        .map(|(region, _)| {
            let ids = classes.labels.iter().enumerate();
            ids.filter(|(_, label)| Region::of_label(label) == *region)
                .map(|(id, _)| id as u8)
                .collect()
        })
        .collect();
    let mut masks = upsample::guided_membership(classes, &sets, frame);
    let membership = classes.set_membership(&sets);
    let models: Vec<Option<RegionColour>> = MEASURED
        .iter()
        .enumerate()
        .map(|(k, (region, _))| {
            let painted = RegionSelector::Named(vec![region.name().into()]).painted_one_colour();
            let plane: Vec<f32> = membership.iter().skip(k).step_by(sets.len()).copied().collect();
            let (grid, size) = (classes.region_grid(), frame.dimensions());
            painted.then(|| RegionColour::of(&plane, grid, frame.as_raw(), 3, size)).flatten()
        })
        .collect();
    upsample::keep_region_colours(&mut masks, &models, frame);
    upsample::region_masks(&mut masks, threshold);
    if let Some(person) = person {
        let person = person_extent::joined(person);
        let person = upsample::upsample_scalar(&person, frame, JointBilateral::for_maps());
        let spares = MEASURED.map(|(region, _)| RegionSelector::Named(vec![region.name().into()]));
        upsample::spare_people(&mut masks, &spares.map(|r| r.spares_people()), &person);
    }
    masks
        .chunks_exact(MEASURED.len())
        .map(|cell| {
            cell.iter().enumerate().fold(0u8, |bits, (k, &v)| bits | (u8::from(v > 0.5) << k))
        })
        .collect()
}

/// The compositor as the live window runs it, its temporal filter on, with one region layer per
/// measured region: its region masks are what the window's region layers show.
struct Displayed {
    context: RenderContext,
    compositor: Compositor,
    /// The last frame's thumbnail: the temporal filter's history moves by the motion since.
    last: Option<Thumbnail>,
}

impl Displayed {
    fn new(size: (u32, u32), threshold: f32) -> anyhow::Result<Self> {
        let layers: String = MEASURED
            .iter()
            .map(|(region, _)| {
                format!("[[layer]]\neffect = \"vignette\"\nregion = [\"{}\"]\n", region.name())
            })
            .collect();
        let preset = Preset::parse(
            &format!("description = \"one layer per measured region\"\n{layers}"),
            "bench regions",
            "bench-regions",
            None,
        )?;
        let context = RenderContext::headless()?;
        let mut compositor = Compositor::new(&context, size.0, size.1, &preset.layers, &[])?;
        let filter =
            AnalysisFilter { temporal: true, region_threshold: threshold, ..Default::default() };
        compositor.set_filter(filter);
        Ok(Self { context, compositor, last: None })
    }

    /// The measured regions of `frame` as the window shows them (bit k for `MEASURED[k]`, set
    /// where the region's mask is over a half): `classes` refined by the picture, against the
    /// threshold, smoothed over the frames before.
    fn regions(
        &mut self,
        frame: &RgbImage,
        (classes, classes_from): (&ClassMap, Option<&Thumbnail>),
        (person, person_from): (Option<&ScalarMap>, Option<&Thumbnail>),
    ) -> anyhow::Result<Vec<u8>> {
        let rgba = dreamlens::render::rgba_bytes(frame);
        let thumbnail = Thumbnail::of(frame);
        let moved_since = |from: Option<&Thumbnail>| {
            from.and_then(|from| estimate_flow(&thumbnail, from).to_motion())
        };
        let motions = MapMotions {
            classes: moved_since(classes_from),
            person: moved_since(person_from),
            history: self
                .last
                .as_ref()
                .and_then(|last| estimate_flow(&thumbnail, last).to_motion()),
            // The frames are a tenth of a second apart, as a camera at 10 fps gives them.
            since_last_s: Some(FRAME_GAP_S),
            ..MapMotions::default()
        };
        self.last = Some(thumbnail);
        let input = CompositorInput {
            pixels: FramePixels::Rgba(&rgba),
            classes: Some(classes),
            person,
            depth: None,
            motions: Some(&motions),
            stylized: None,
        };
        self.compositor.render(&self.context, &input)?;
        let masks = readback::read_rgba16f(&self.context, self.compositor.analysis_textures().0)?;
        Ok(masks
            .chunks_exact(4)
            .map(|mask| {
                (0..MEASURED.len()).fold(0u8, |bits, k| bits | (u8::from(mask[k] > 0.5) << k))
            })
            .collect())
    }
}

/// What the flicker measure found.
#[derive(Clone, Copy)]
struct Flicker {
    /// Share of pixels whose true surface stayed the same from one frame to the next but whose
    /// region changed.
    changed: f64,
    /// The wall's IoU over the same frames: what the steadiness costs in accuracy.
    wall_iou: f64,
    /// Share of pixels whose true surface changed from one frame to the next: the true
    /// boundaries' sweep as the camera moves. Regions that move with the picture but sit a pixel
    /// off their true boundaries change on as many steady pixels.
    truth_changed: f64,
    /// Along the camera's motion: of the pixels showing a point of the room that the frame
    /// before showed too, away from its true boundaries, the share whose region differs from
    /// the one region the frame before gave all around that point. What the motion does not
    /// explain: a region that sits a pixel off its true boundary but moves with the picture
    /// does not count.
    along_motion: f64,
}

/// Pixels whose region the camera's motion does not explain, and pixels measured, between two
/// frames' regions and exact labels (`before` and `now`); `positions` holds where each pixel
/// of `now` was in `before` ([`demo::positions_before`]).
fn unexplained_changes(
    width: u32,
    before: (&[u8], &[DemoSurface]),
    now: (&[u8], &[DemoSurface]),
    positions: &[Option<[f32; 2]>],
) -> (u64, u64) {
    let (width, height) = (width as usize, positions.len() / width as usize);
    let (mut changed, mut measured) = (0u64, 0u64);
    for (k, position) in positions.iter().enumerate() {
        let Some([x, y]) = *position else { continue };
        // The pixel centres around the point (one to four), as the frame before showed it.
        let (x0, y0) = ((x - 0.5).floor().max(0.0) as usize, (y - 0.5).floor().max(0.0) as usize);
        let (x1, y1) = (
            ((x - 0.5).ceil() as usize).min(width - 1),
            ((y - 0.5).ceil() as usize).min(height - 1),
        );
        let around = [y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1];
        if around.iter().any(|&j| before.1[j] != now.1[k]) {
            continue;
        }
        measured += 1;
        let region = before.0[around[0]];
        if around.iter().all(|&j| before.0[j] == region) && now.0[k] != region {
            changed += 1;
        }
    }
    (changed, measured)
}

/// The frame before, as a frame's regions are compared with it: its exact labels, and where each
/// pixel of this frame was in it ([`demo::positions_before`]).
#[derive(Clone, Copy)]
struct FrameBefore<'a> {
    truth: &'a [DemoSurface],
    positions: &'a [Option<[f32; 2]>],
}

/// One way of taking the regions, counted over consecutive frames.
#[derive(Default)]
struct FlickerCounts {
    flips: u64,
    steady: u64,
    wall_both: u64,
    wall_either: u64,
    unexplained: u64,
    followed: u64,
    /// The frame before's regions.
    before: Option<Vec<u8>>,
}

impl FlickerCounts {
    /// Counts one frame's `regions` against its exact labels `truth` and the frame `before`.
    fn add(
        &mut self,
        regions: Vec<u8>,
        truth: &[DemoSurface],
        before: Option<FrameBefore<'_>>,
        width: u32,
    ) {
        for (&bits, &surface) in regions.iter().zip(truth) {
            let (predicted, wall) = (bits & 1 != 0, surface == DemoSurface::Wall);
            self.wall_both += u64::from(predicted && wall);
            self.wall_either += u64::from(predicted || wall);
        }
        if let (Some(regions_before), Some(FrameBefore { truth: truth_before, positions })) =
            (&self.before, before)
        {
            for k in 0..regions.len() {
                if truth_before[k] == truth[k] {
                    self.steady += 1;
                    self.flips += u64::from(regions_before[k] != regions[k]);
                }
            }
            let (changed, measured) = unexplained_changes(
                width,
                (regions_before, truth_before),
                (&regions, truth),
                positions,
            );
            self.unexplained += changed;
            self.followed += measured;
        }
        self.before = Some(regions);
    }

    /// The measure over `count` frames of `pixels` pixels each.
    fn flicker(&self, count: u32, pixels: u64) -> Flicker {
        Flicker {
            changed: self.flips as f64 / self.steady.max(1) as f64,
            wall_iou: self.wall_both as f64 / self.wall_either.max(1) as f64,
            truth_changed: 1.0
                - self.steady as f64 / (f64::from(count - 1) * pixels as f64).max(1.0),
            along_motion: self.unexplained as f64 / self.followed.max(1) as f64,
        }
    }
}

/// Region flicker over `count` consecutive frames, with the wall's accuracy over them, for
/// each frame's segmentation alone, fused with the frames before, and fused as the window shows
/// it (the compositor's temporal filter), in one pass over the frames.
fn flicker(
    segmenter: &mut Segmenter,
    size: (u32, u32),
    count: u32,
    threshold: f32,
) -> anyhow::Result<[Flicker; 3]> {
    segmenter.fusion.reset();
    let mut displayed = Displayed::new(size, threshold)?;
    let mut counts: [FlickerCounts; 3] = Default::default();
    let mut truth_before: Option<Vec<DemoSurface>> = None;
    for i in 0..count {
        let t_s = FLICKER_START_S + i as f32 * FRAME_GAP_S;
        let frame = demo::render(size.0, size.1, t_s);
        let truth = demo::labels(size.0, size.1, t_s);
        let alone = segmenter.classes(&frame, false)?;
        let fused = segmenter.classes(&frame, true)?;
        let person = segmenter.person(&frame)?;
        let regions = [
            regions_of(&alone, person.as_ref(), &frame, threshold),
            regions_of(&fused, person.as_ref(), &frame, threshold),
            displayed.regions(&frame, (&fused, None), (person.as_ref(), None))?,
        ];
        let positions = truth_before
            .is_some()
            .then(|| demo::positions_before(size.0, size.1, t_s, t_s - FRAME_GAP_S));
        let before = truth_before
            .as_deref()
            .zip(positions.as_deref())
            .map(|(truth, positions)| FrameBefore { truth, positions });
        for (way, regions) in counts.iter_mut().zip(regions) {
            way.add(regions, &truth, before, size.0);
        }
        truth_before = Some(truth);
    }
    let pixels = u64::from(size.0) * u64::from(size.1);
    Ok(counts.map(|way| way.flicker(count, pixels)))
}

/// The regions as the window shows them while the person walks through.
struct Walking {
    wall_iou: f64,
    person_painted: f64,
}

/// Where the person is in view, and the step between the frames measured.
const WALKING_S: (f32, f32) = (7.0, 13.9);

/// Frames the window shows before the person comes into view, not measured: the window has been
/// running (its temporal filter and the walls' colour have a history).
const WALKING_BEFORE: u32 = 5;

/// Wall IoU and the share of the person a wall repaint touches, as the window shows them while
/// the person walks through: the segmentation map `lag` frames older than the frame shown, the
/// person mask one frame older, each carried by the measured motion.
fn walking(
    segmenter: &mut Segmenter,
    size: (u32, u32),
    lag: u32,
    threshold: f32,
) -> anyhow::Result<Walking> {
    segmenter.fusion.reset();
    let mut displayed = Displayed::new(size, threshold)?;
    let mut maps: std::collections::VecDeque<(ClassMap, Thumbnail)> = Default::default();
    let mut person_before: Option<(Option<ScalarMap>, Thumbnail)> = None;
    let (mut wall_both, mut wall_either, mut people, mut people_painted) = (0u64, 0, 0, 0);
    let frames = ((WALKING_S.1 - WALKING_S.0) / FRAME_GAP_S) as u32 + WALKING_BEFORE;
    for i in 0..frames {
        let t_s = WALKING_S.0 + (i as f32 - WALKING_BEFORE as f32) * FRAME_GAP_S;
        let frame = demo::render(size.0, size.1, t_s);
        let thumbnail = Thumbnail::of(&frame);
        maps.push_back((segmenter.classes(&frame, true)?, thumbnail.clone()));
        if maps.len() > lag as usize + 1 {
            maps.pop_front();
        }
        let (classes, classes_from) = maps.front().expect("this frame's map at least");
        let person_now = (segmenter.person(&frame)?, thumbnail);
        let (person, person_from) = person_before.as_ref().unwrap_or(&person_now);
        let classes = (classes, Some(classes_from));
        let regions = displayed.regions(&frame, classes, (person.as_ref(), Some(person_from)))?;
        person_before = Some(person_now);
        if i < WALKING_BEFORE {
            continue;
        }
        let truth = demo::labels(size.0, size.1, t_s);

        for (&bits, &surface) in regions.iter().zip(&truth) {
            let (painted, wall) = (bits & 1 != 0, surface == DemoSurface::Wall);
            wall_both += u64::from(painted && wall);
            wall_either += u64::from(painted || wall);
            if surface == DemoSurface::Person {
                people += 1;
                people_painted += u64::from(painted);
            }
        }
    }
    Ok(Walking {
        wall_iou: wall_both as f64 / wall_either.max(1) as f64,
        person_painted: people_painted as f64 / people.max(1) as f64,
    })
}

/// What a wall repaint must leave alone: the share of each such surface's pixels it touches.
struct Spared {
    furniture: f64,
    person: f64,
}

/// Each measured region's IoU against the exact labels over `args.frames` frames spread along
/// the camera's sweep, and the shares of furniture and person pixels a wall repaint touches.
fn accuracy(
    segmenter: &mut Segmenter,
    args: &RegionsArgs,
    threshold: f32,
) -> anyhow::Result<(Vec<(&'static str, f64)>, Spared)> {
    let (width, height) = args.size;
    let mut intersection = [0u64; 4];
    let mut union = [0u64; 4];
    let (mut furniture, mut furniture_as_wall) = (0u64, 0u64);
    let (mut people, mut people_as_wall) = (0u64, 0u64);
    // The camera's pan repeats about every 18 s: spread the frames over one sweep.
    for i in 0..args.frames {
        let t_s = i as f32 * 18.0 / args.frames as f32;
        // The frames before this one, fused as the live window fuses them, then this one.
        segmenter.fusion.reset();
        for k in (1..=args.fused_frames).rev() {
            let earlier = demo::render(width, height, t_s - k as f32 * FRAME_GAP_S);
            segmenter.classes(&earlier, true)?;
        }
        let frame = demo::render(width, height, t_s);
        let truth = demo::labels(width, height, t_s);
        let classes = segmenter.classes(&frame, args.fused_frames > 0)?;
        let person = segmenter.person(&frame)?;
        let regions = regions_of(&classes, person.as_ref(), &frame, threshold);
        for (&predicted, &surface) in regions.iter().zip(&truth) {
            for (k, (_, exact)) in MEASURED.iter().enumerate() {
                let (p, t) = (predicted & (1 << k) != 0, surface == *exact);
                intersection[k] += u64::from(p && t);
                union[k] += u64::from(p || t);
            }
            // Bit 0: the wall.
            let as_wall = u64::from(predicted & 1 != 0);
            match surface {
                DemoSurface::Furniture => {
                    furniture += 1;
                    furniture_as_wall += as_wall;
                }
                DemoSurface::Person => {
                    people += 1;
                    people_as_wall += as_wall;
                }
                _ => {}
            }
        }
    }
    let iou = MEASURED
        .iter()
        .enumerate()
        .map(|(k, (region, _))| (region.name(), intersection[k] as f64 / union[k].max(1) as f64))
        .collect();
    let share = |part: u64, whole: u64| part as f64 / whole.max(1) as f64;
    let spared = Spared {
        furniture: share(furniture_as_wall, furniture),
        person: share(people_as_wall, people),
    };
    Ok((iou, spared))
}

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    args: &RegionsArgs,
) -> anyhow::Result<ExitCode> {
    let models =
        AnalysisModels { segmentation: Some(args.segmentation.clone()), ..AnalysisModels::none() };
    let (analyzer, disabled) = SceneAnalyzer::open(store, &models, options)?;
    if let Some(stage) = disabled.first() {
        anyhow::bail!("the segmentation model cannot run: {}", stage.reason);
    }
    let people =
        AnalysisModels { person: AnalysisModels::default().person, ..AnalysisModels::none() };
    let (people, people_off) = SceneAnalyzer::open(store, &people, options)?;
    let people = match people_off.first() {
        Some(stage) => {
            eprintln!("note: people are not kept out of the regions: {}", stage.reason);
            None
        }
        None => Some(people),
    };
    let fusion = ClassFusion::default();
    let model = args.segmentation.clone();
    let mut segmenter = Segmenter { analyzer, people, fusion, model };
    let threshold =
        args.region_threshold.unwrap_or_else(|| AnalysisFilter::default().region_threshold);
    let (iou, painted) = accuracy(&mut segmenter, args, threshold)?;
    let flickers = match args.flicker {
        0 => None,
        count => Some(flicker(&mut segmenter, args.size, count, threshold)?),
    };
    let walked = match args.walking_lag {
        Some(lag) => Some(walking(&mut segmenter, args.size, lag, threshold)?),
        None => None,
    };
    let measured = Measured { iou, painted, flickers, walked, threshold };
    if args.json {
        println!("{}", json_report(args, &measured));
    } else {
        print_report(args, &measured);
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything `bench regions` measured.
struct Measured {
    iou: Vec<(&'static str, f64)>,
    painted: Spared,
    flickers: Option<[Flicker; 3]>,
    walked: Option<Walking>,
    threshold: f32,
}

/// The report as one JSON object.
fn json_report(args: &RegionsArgs, measured: &Measured) -> serde_json::Value {
    let Measured { iou, painted, flickers, walked, .. } = measured;
    let mut report = serde_json::json!({
        "frames": args.frames,
        "iou": iou.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
        "furniture_painted": painted.furniture,
        "person_painted": painted.person,
    });
    if let Some([alone, fused, displayed]) = *flickers {
        let entry = |f: Flicker| {
            serde_json::json!({
                "changed": f.changed,
                "along_motion": f.along_motion,
                "wall_iou": f.wall_iou,
            })
        };
        report["truth_changed"] = serde_json::json!(displayed.truth_changed);
        report["flicker"] = serde_json::json!({
            "alone": entry(alone),
            "fused": entry(fused),
            "displayed": entry(displayed),
        });
    }
    if let Some(w) = walked {
        report["walking"] =
            serde_json::json!({ "wall_iou": w.wall_iou, "person_painted": w.person_painted });
    }
    report
}

/// The report as text.
fn print_report(args: &RegionsArgs, measured: &Measured) {
    let Measured { iou, painted, flickers, walked, threshold } = measured;
    let (width, height) = args.size;
    let fused = match args.fused_frames {
        0 => String::new(),
        n => format!(", each fused with the {n} frames before it"),
    };
    println!(
        "{} demo frames at {width}x{height}, {} upsampled edge-aware{fused}, regions at membership {threshold}, against the exact labels",
        args.frames, args.segmentation
    );
    for (name, value) in iou {
        println!("{:<40} {value:>8.3}", format!("IoU {name}"));
    }
    println!("{:<40} {:>8.3}", "furniture a wall repaint touches", painted.furniture);
    println!("{:<40} {:>8.3}", "people a wall repaint touches", painted.person);
    if let Some([alone, fused, displayed]) = *flickers {
        println!(
            "region flicker over {} frames at 10 fps (share of steady pixels that change region; the same along the camera's motion; wall IoU over them):",
            args.flicker
        );
        for (label, f) in [
            ("  each frame alone", alone),
            ("  fused with the frames before", fused),
            ("  fused, as the window shows it", displayed),
        ] {
            println!("{label:<40} {:>8.4} {:>8.4} {:>8.3}", f.changed, f.along_motion, f.wall_iou);
        }
        println!(
            "{:<40} {:>8.4}",
            "  true surface changed (boundaries' sweep)", displayed.truth_changed
        );
    }
    if let (Some(w), Some(lag)) = (walked, args.walking_lag) {
        println!(
            "as the window shows the person walking through, segmentation {lag} frames behind:"
        );
        println!("{:<40} {:>8.3}", "  IoU wall", w.wall_iou);
        println!("{:<40} {:>8.3}", "  people a wall repaint touches", w.person_painted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x1 strip whose region boundary moves one pixel right, as its true boundary does:
    /// nothing unexplained; a pixel that flips in the middle of its region is.
    #[test]
    fn changes_the_motion_explains_are_not_flicker_and_others_are() {
        use DemoSurface::{Furniture as F, Wall as W};
        let truth_before = [W, F, F, F];
        let truth_now = [W, W, F, F];
        // Every pixel now was one pixel to the left before; the first was out of view.
        let positions = [None, Some([0.5, 0.5]), Some([1.5, 0.5]), Some([2.5, 0.5])];
        let moved = unexplained_changes(
            4,
            (&[1, 0, 0, 0], &truth_before),
            (&[1, 1, 0, 0], &truth_now),
            &positions,
        );
        assert_eq!(moved, (0, 3));
        let flipped = unexplained_changes(
            4,
            (&[1, 0, 0, 0], &truth_before),
            (&[1, 1, 1, 0], &truth_now),
            &positions,
        );
        assert_eq!(flipped, (1, 3), "the third pixel became wall where all around it was not");
    }
}
