//! `dreamlens bench regions`: region quality on the demo room against its exact labels. Each
//! region is taken as the compositor's region layers take it (the region's membership from the
//! model's class probabilities, upsampled edge-aware, against the threshold), optionally fused
//! over the frames before as the live window fuses it; `--flicker` also measures how often a
//! region changes from one frame to the next where the true surface did not.

use std::process::ExitCode;

use dreamlens::{
    capture::demo::{self, DemoSurface},
    fusion::ClassFusion,
    inference::{AnalysisModels, SceneAnalyzer, SessionOptions},
    projection::Thumbnail,
    render::AnalysisFilter,
    scene::{ClassMap, Region},
    store::ModelStore,
    upsample,
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

/// The segmentation model, with fusion over consecutive frames when asked.
struct Segmenter {
    analyzer: SceneAnalyzer,
    fusion: ClassFusion,
    model: String,
}

impl Segmenter {
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
fn regions_of(classes: &ClassMap, frame: &RgbImage, threshold: f32) -> Vec<u8> {
    let sets: Vec<Vec<u8>> = MEASURED
        .iter()
        .map(|(region, _)| {
            let ids = classes.labels.iter().enumerate();
            ids.filter(|(_, label)| Region::of_label(label) == *region)
                .map(|(id, _)| id as u8)
                .collect()
        })
        .collect();
    let membership = upsample::guided_membership(classes, &sets, frame);
    membership
        .chunks_exact(MEASURED.len())
        .map(|cell| {
            cell.iter()
                .enumerate()
                .fold(0u8, |bits, (k, &v)| bits | (u8::from(v >= threshold) << k))
        })
        .collect()
}

/// Share of pixels whose true surface stayed the same from one frame to the next but whose
/// region changed, over `count` consecutive frames.
fn flicker(
    segmenter: &mut Segmenter,
    size: (u32, u32),
    count: u32,
    fused: bool,
    threshold: f32,
) -> anyhow::Result<f64> {
    segmenter.fusion.reset();
    let mut previous: Option<(Vec<u8>, Vec<DemoSurface>)> = None;
    let (mut flips, mut steady) = (0u64, 0u64);
    for i in 0..count {
        let t_s = FLICKER_START_S + i as f32 * FRAME_GAP_S;
        let frame = demo::render(size.0, size.1, t_s);
        let truth = demo::labels(size.0, size.1, t_s);
        let regions = regions_of(&segmenter.classes(&frame, fused)?, &frame, threshold);
        if let Some((before, truth_before)) = &previous {
            for k in 0..regions.len() {
                if truth_before[k] == truth[k] {
                    steady += 1;
                    flips += u64::from(before[k] != regions[k]);
                }
            }
        }
        previous = Some((regions, truth));
    }
    Ok(flips as f64 / steady.max(1) as f64)
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
    let mut segmenter =
        Segmenter { analyzer, fusion: ClassFusion::default(), model: args.segmentation.clone() };
    let (width, height) = args.size;
    let threshold =
        args.region_threshold.unwrap_or_else(|| AnalysisFilter::default().region_threshold);
    let mut intersection = [0u64; 4];
    let mut union = [0u64; 4];
    let (mut furniture, mut furniture_as_wall) = (0u64, 0u64);
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
        let regions = regions_of(&classes, &frame, threshold);
        for (&predicted, &surface) in regions.iter().zip(&truth) {
            for (k, (_, exact)) in MEASURED.iter().enumerate() {
                let (p, t) = (predicted & (1 << k) != 0, surface == *exact);
                intersection[k] += u64::from(p && t);
                union[k] += u64::from(p || t);
            }
            if surface == DemoSurface::Furniture {
                furniture += 1;
                // Bit 0: the wall.
                furniture_as_wall += u64::from(predicted & 1 != 0);
            }
        }
    }
    let iou: Vec<(&str, f64)> = MEASURED
        .iter()
        .enumerate()
        .map(|(k, (region, _))| (region.name(), intersection[k] as f64 / union[k].max(1) as f64))
        .collect();
    let painted = furniture_as_wall as f64 / furniture.max(1) as f64;
    let flickers = match args.flicker {
        0 => None,
        count => Some([
            flicker(&mut segmenter, args.size, count, false, threshold)?,
            flicker(&mut segmenter, args.size, count, true, threshold)?,
        ]),
    };
    if args.json {
        let mut report = serde_json::json!({
            "frames": args.frames,
            "iou": iou.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "furniture_painted": painted,
        });
        if let Some([alone, fused]) = flickers {
            report["flicker"] = serde_json::json!({ "alone": alone, "fused": fused });
        }
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let fused = match args.fused_frames {
        0 => String::new(),
        n => format!(", each fused with the {n} frames before it"),
    };
    println!(
        "{} demo frames at {width}x{height}, {} upsampled edge-aware{fused}, regions at membership {threshold}, against the exact labels",
        args.frames, args.segmentation
    );
    for (name, value) in &iou {
        println!("{:<40} {value:>8.3}", format!("IoU {name}"));
    }
    println!("{:<40} {painted:>8.3}", "furniture a wall repaint touches");
    if let Some([alone, fused]) = flickers {
        println!(
            "region flicker over {} frames at 10 fps (share of steady pixels that change region):",
            args.flicker
        );
        println!("{:<40} {alone:>8.4}", "  each frame alone");
        println!("{:<40} {fused:>8.4}", "  fused with the frames before");
    }
    Ok(ExitCode::SUCCESS)
}
