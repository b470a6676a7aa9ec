//! Plain scene-analysis data shared by inference, rendering and export. Nothing here knows about
//! ONNX Runtime, wgpu or the camera.

use std::sync::Arc;

/// A region of a room the product restyles as one thing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// Walls.
    Wall,
    /// Floors, rugs and carpets.
    Floor,
    /// Ceilings.
    Ceiling,
    /// Furniture: beds, cabinets, tables, chairs, sofas, shelves, ...
    Furniture,
    /// Windows, curtains and blinds.
    WindowCurtain,
    /// People.
    Person,
    /// Everything else.
    Other,
}

impl Region {
    /// Every region, in display order.
    pub const ALL: [Region; 7] = [
        Region::Wall,
        Region::Floor,
        Region::Ceiling,
        Region::Furniture,
        Region::WindowCurtain,
        Region::Person,
        Region::Other,
    ];

    /// The region an ADE20K-style class label belongs to. Works for any label set that uses
    /// ADE20K names (the 32-class DeepLab model and the 150-class SegFormer).
    pub fn of_label(label: &str) -> Region {
        match label {
            "wall" => Region::Wall,
            "floor" | "rug" | "carpet" => Region::Floor,
            "ceiling" => Region::Ceiling,
            "windowpane" | "window" | "curtain" | "blind" | "screen door" => Region::WindowCurtain,
            "person" => Region::Person,
            "bed" | "cabinet" | "table" | "chair" | "sofa" | "shelf" | "armchair" | "seat"
            | "desk" | "wardrobe" | "chest of drawers" | "counter" | "bookcase"
            | "coffee table" | "swivel chair" | "bench" | "stool" | "ottoman" | "buffet"
            | "kitchen island" | "pool table" | "cradle" | "cushion" | "pillow" => {
                Region::Furniture
            }
            _ => Region::Other,
        }
    }

    /// Whether the region lies flat (floors and ceilings) rather than upright.
    pub fn is_horizontal(self) -> bool {
        matches!(self, Region::Floor | Region::Ceiling)
    }

    /// Short name used in presets and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Region::Wall => "wall",
            Region::Floor => "floor",
            Region::Ceiling => "ceiling",
            Region::Furniture => "furniture",
            Region::WindowCurtain => "window-curtain",
            Region::Person => "person",
            Region::Other => "other",
        }
    }
}

/// Per-pixel class ids from a segmentation model, with the model's labels.
#[derive(Debug, Clone)]
pub struct ClassMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major class ids.
    pub classes: Vec<u8>,
    /// Label of each class id.
    pub labels: Arc<[String]>,
    /// The class probabilities the ids were taken from, on the model's own (coarser) grid,
    /// where the graph gives scores. Region layers weigh these rather than the ids, so a
    /// pixel the model is unsure of is not painted as if it were sure.
    pub probabilities: Option<Arc<ClassScores>>,
}

impl ClassMap {
    /// This map with the probabilities it was taken from.
    pub fn with_probabilities(mut self, probabilities: ClassScores) -> Self {
        self.probabilities = Some(Arc::new(probabilities));
        self
    }

    /// The grid region membership is made on: the probabilities' where there are some, else
    /// the class ids'.
    pub fn region_grid(&self) -> (u32, u32) {
        self.probabilities.as_ref().map_or((self.width, self.height), |p| (p.width, p.height))
    }

    /// Membership of each cell of [`ClassMap::region_grid`] in each class set (`sets[k]`
    /// lists its class ids), 0..1: the summed probability of the set's classes, or 1 where the
    /// cell's class is in the set. Row-major, `sets.len()` values per cell.
    pub fn set_membership(&self, sets: &[Vec<u8>]) -> Vec<f32> {
        let k = sets.len();
        match &self.probabilities {
            Some(p) => {
                let plane = (p.width * p.height) as usize;
                let mut out = vec![0f32; plane * k];
                for (s, ids) in sets.iter().enumerate() {
                    for &id in ids {
                        let Some(scores) =
                            p.scores.get(id as usize * plane..(id as usize + 1) * plane)
                        else {
                            continue;
                        };
                        for (cell, &v) in scores.iter().enumerate() {
                            out[cell * k + s] += v;
                        }
                    }
                }
                out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
                out
            }
            None => {
                let mut lookup = vec![0f32; 256 * k];
                for (s, ids) in sets.iter().enumerate() {
                    for &id in ids {
                        lookup[id as usize * k + s] = 1.0;
                    }
                }
                let row = |c: u8| &lookup[c as usize * k..(c as usize + 1) * k];
                self.classes.iter().flat_map(|&c| row(c).iter().copied()).collect()
            }
        }
    }

    /// The class id at a pixel.
    pub fn class_at(&self, x: u32, y: u32) -> u8 {
        self.classes[(y * self.width + x) as usize]
    }

    /// The region each class id belongs to, indexed by class id.
    pub fn region_table(&self) -> Vec<Region> {
        self.labels.iter().map(|l| Region::of_label(l)).collect()
    }
}

/// The side, in pixels, of a cell of the grid the guided filter that makes region membership
/// follow the picture is fitted on.
pub const GUIDED_CELL: u32 = 8;
/// The guided filter's window radius, in cells: windows of 3x3 cells, 24 pixels across.
pub const GUIDED_RADIUS: usize = 1;
/// The guided filter's regularisation (colour in 0..1, squared): how strong an edge must be
/// before a region's border follows it.
pub const GUIDED_EPS: f32 = 1e-4;

/// Per-class scores at the model's resolution, planar (`[class][y][x]`).
#[derive(Debug, Clone)]
pub struct ClassScores {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Planar scores, `labels.len()` planes.
    pub scores: Vec<f32>,
    /// Label of each plane.
    pub labels: Arc<[String]>,
}

impl ClassScores {
    /// Per-pixel softmax over the class planes: probabilities from logits.
    pub fn softmax(&self) -> ClassScores {
        let plane = (self.width * self.height) as usize;
        let mut out = self.clone();
        for i in 0..plane {
            let max =
                out.scores[i..].iter().step_by(plane).fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for v in out.scores[i..].iter_mut().step_by(plane) {
                *v = (*v - max).exp();
                sum += *v;
            }
            for v in out.scores[i..].iter_mut().step_by(plane) {
                *v /= sum;
            }
        }
        out
    }

    /// Averages these scores with those of the mirrored picture, mirrored back: the model's
    /// left-right biases cancel, so region borders sit closer to the picture's own.
    /// Readings of another size (not the same model's) are left out.
    pub fn average_mirrored(&mut self, mirrored: &ClassScores) {
        let width = self.width as usize;
        if width == 0 || (mirrored.width, mirrored.height) != (self.width, self.height) {
            return;
        }
        for (row, mirrored_row) in
            self.scores.chunks_exact_mut(width).zip(mirrored.scores.chunks_exact(width))
        {
            for (score, &other) in row.iter_mut().zip(mirrored_row.iter().rev()) {
                *score = 0.5 * (*score + other);
            }
        }
    }

    /// Per-pixel argmax.
    pub fn argmax(&self) -> ClassMap {
        let plane = (self.width * self.height) as usize;
        let channels = self.labels.len();
        let mut best = vec![f32::NEG_INFINITY; plane];
        let mut classes = vec![0u8; plane];
        for c in 0..channels {
            let scores = &self.scores[c * plane..(c + 1) * plane];
            for ((b, id), &s) in best.iter_mut().zip(classes.iter_mut()).zip(scores) {
                if s > *b {
                    *b = s;
                    *id = c as u8;
                }
            }
        }
        ClassMap {
            width: self.width,
            height: self.height,
            classes,
            labels: self.labels.clone(),
            probabilities: None,
        }
    }

    /// The argmax of these scores upsampled bilinearly as the model's head would (ONNX
    /// `Resize`, linear, with the head's coordinate mapping), without upsampling every class:
    /// where the four source pixels around a target pixel share their argmax, every blend of
    /// them has that argmax too, so only pixels between different classes interpolate scores.
    pub fn upsampled_argmax(&self, upsampling: Upsampling) -> ClassMap {
        let coarse = self.argmax();
        let s = upsampling.scale.max(1) as usize;
        if s == 1 {
            return coarse;
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let (out_w, out_h) = (w * s, h * s);
        let plane = w * h;
        // The source position of target pixel `t` along an axis of `n` source pixels: its two
        // neighbours and the weight of the second.
        let source = |t: usize, n: usize| -> (usize, usize, f32) {
            let position = match upsampling.coordinates {
                ResizeCoordinates::Asymmetric => t as f32 / s as f32,
                ResizeCoordinates::HalfPixel => ((t as f32 + 0.5) / s as f32 - 0.5).max(0.0),
            };
            let first = (position.floor() as usize).min(n - 1);
            (first, (first + 1).min(n - 1), position - first as f32)
        };
        let columns: Vec<(usize, usize, f32)> = (0..out_w).map(|x| source(x, w)).collect();
        let mut classes = vec![0u8; out_w * out_h];
        for (y, row) in classes.chunks_exact_mut(out_w.max(1)).enumerate() {
            let (y0, y1, fy) = source(y, h);
            for (x, class) in row.iter_mut().enumerate() {
                let (x0, x1, fx) = columns[x];
                let corners = [y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1];
                let first = coarse.classes[corners[0]];
                *class = if corners.iter().all(|&i| coarse.classes[i] == first) {
                    first
                } else {
                    let weights =
                        [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy];
                    let mut best = (f32::NEG_INFINITY, 0u8);
                    for (c, scores) in self.scores.chunks_exact(plane).enumerate() {
                        let v: f32 = corners.iter().zip(weights).map(|(&i, w)| scores[i] * w).sum();
                        if v > best.0 {
                            best = (v, c as u8);
                        }
                    }
                    best.1
                };
            }
        }
        ClassMap {
            width: out_w as u32,
            height: out_h as u32,
            classes,
            labels: self.labels.clone(),
            probabilities: None,
        }
    }
}

/// How a segmentation head maps a target pixel to its source position when it upsamples (the
/// ONNX `Resize` attribute `coordinate_transformation_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeCoordinates {
    /// Source = target / scale (TensorFlow's `align_corners=False` without half pixels).
    #[default]
    Asymmetric,
    /// Source = (target + 0.5) / scale - 0.5, clamped at the edge.
    HalfPixel,
}

/// How coarse class scores become the class map: upsampled `scale` times with `coordinates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upsampling {
    /// Times the head upsamples (1: not at all).
    pub scale: u32,
    /// Its coordinate mapping.
    pub coordinates: ResizeCoordinates,
}

impl Upsampling {
    /// Scores already at the class map's size.
    pub const NONE: Self = Self { scale: 1, coordinates: ResizeCoordinates::Asymmetric };
}

/// A single-channel map of values in 0..1 (person probability, normalised depth).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major values.
    pub values: Vec<f32>,
}

impl ScalarMap {
    /// The value at a pixel.
    pub fn at(&self, x: u32, y: u32) -> f32 {
        self.values[(y * self.width + x) as usize]
    }
}

/// Person probability, 0 = background, 1 = person.
pub type PersonMask = ScalarMap;

/// Relative inverse depth normalised per frame to 0..1 (1 = closest).
pub type DepthMap = ScalarMap;

/// Everything the analysis stages produced for one frame, at each model's own resolution.
#[derive(Debug, Clone, Default)]
pub struct SceneAnalysis {
    /// Class ids from the segmentation model, at its resolution.
    pub classes: Option<ClassMap>,
    /// Person probability.
    pub person: Option<PersonMask>,
    /// Relative inverse depth.
    pub depth: Option<DepthMap>,
}

/// A stage that could not start, and why; the rest of the app keeps working without it.
#[derive(Debug)]
pub struct DisabledStage {
    /// Stage name (`segmentation`, `person`, `depth`).
    pub stage: &'static str,
    /// Why it is off.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_scores_are_averaged_mirrored_back() {
        let labels: Arc<[String]> = vec!["wall".to_owned(), "floor".to_owned()].into();
        // Two planes of 3x2.
        let mut scores = ClassScores {
            width: 3,
            height: 2,
            scores: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            labels: Arc::clone(&labels),
        };
        let mirrored = ClassScores {
            width: 3,
            height: 2,
            scores: vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0, 8.0, 7.0, 6.0, 11.0, 10.0, 9.0],
            labels,
        };
        let before = scores.scores.clone();
        scores.average_mirrored(&mirrored);
        assert_eq!(scores.scores, before, "a symmetric model's two readings agree");
        let zero = ClassScores { scores: vec![0.0; 12], ..scores.clone() };
        scores.average_mirrored(&zero);
        assert_eq!(&scores.scores[..3], &[0.0, 0.5, 1.0]);
    }

    #[test]
    fn set_membership_sums_the_probabilities_of_a_sets_classes_or_counts_its_ids() {
        let labels: Arc<[String]> = ["other", "wall", "sofa"].map(String::from).into();
        // Two cells: one mostly wall, one split between sofa and other.
        let probabilities = ClassScores {
            width: 2,
            height: 1,
            scores: vec![0.1, 0.3, 0.7, 0.2, 0.2, 0.5],
            labels: labels.clone(),
        };
        let ids = ClassMap {
            width: 4,
            height: 2,
            classes: vec![1, 1, 2, 0, 1, 2, 2, 0],
            labels,
            probabilities: None,
        };
        let sets = [vec![1], vec![0, 2]];
        assert_eq!(ids.region_grid(), (4, 2));
        assert_eq!(ids.set_membership(&sets)[..8], [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
        let soft = ids.with_probabilities(probabilities);
        assert_eq!(soft.region_grid(), (2, 1));
        let membership = soft.set_membership(&sets);
        let expected = [0.7, 0.3, 0.2, 0.8];
        assert!(
            membership.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{membership:?}"
        );
    }

    #[test]
    fn upsampled_argmax_equals_the_argmax_of_every_class_upsampled() {
        // Smooth scores for 5 classes on a 9x7 grid, so regions have boundaries (the offsets keep
        // classes from tying).
        let (w, h, channels, scale) = (9usize, 7usize, 5usize, 4usize);
        let scores: Vec<f32> = (0..channels * w * h)
            .map(|i| {
                let (c, p) = (i / (w * h), i % (w * h));
                let (x, y) = ((p % w) as f32, (p / w) as f32);
                (x * (0.7 + c as f32 * 0.3) + y * (1.3 - c as f32 * 0.4)).sin() * (1.0 + c as f32)
                    + 0.013 * c as f32
            })
            .collect();
        let labels: Arc<[String]> = (0..channels).map(|c| c.to_string()).collect();
        let coarse = ClassScores { width: w as u32, height: h as u32, scores, labels };
        for coordinates in [ResizeCoordinates::Asymmetric, ResizeCoordinates::HalfPixel] {
            let fast = coarse.upsampled_argmax(Upsampling { scale: scale as u32, coordinates });
            assert_eq!((fast.width, fast.height), ((w * scale) as u32, (h * scale) as u32));
            // Reference: every class upsampled (bilinear, edges clamped), then argmax.
            let at = |c: usize, x: usize, y: usize| coarse.scores[c * w * h + y * w + x];
            let source = |t: usize| match coordinates {
                ResizeCoordinates::Asymmetric => t as f32 / scale as f32,
                ResizeCoordinates::HalfPixel => ((t as f32 + 0.5) / scale as f32 - 0.5).max(0.0),
            };
            let mut boundary = 0;
            for y in 0..h * scale {
                for x in 0..w * scale {
                    let (sx, sy) = (source(x), source(y));
                    let (x0, y0) =
                        ((sx.floor() as usize).min(w - 1), (sy.floor() as usize).min(h - 1));
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                    let value = |c| {
                        let top = at(c, x0, y0) * (1.0 - fx) + at(c, x1, y0) * fx;
                        let bottom = at(c, x0, y1) * (1.0 - fx) + at(c, x1, y1) * fx;
                        top * (1.0 - fy) + bottom * fy
                    };
                    let best = (0..channels).max_by(|&a, &b| value(a).total_cmp(&value(b)));
                    assert_eq!(Some(fast.class_at(x as u32, y as u32) as usize), best, "({x},{y})");
                    let corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)];
                    let first = coarse.argmax().class_at(x0 as u32, y0 as u32);
                    boundary +=
                        usize::from(corners.iter().any(|&(cx, cy)| {
                            coarse.argmax().class_at(cx as u32, cy as u32) != first
                        }));
                }
            }
            assert!(boundary > 100, "the test needs pixels between classes: {boundary}");
        }
    }

    #[test]
    fn ade20k_labels_group_into_regions() {
        assert_eq!(Region::of_label("wall"), Region::Wall);
        assert_eq!(Region::of_label("rug"), Region::Floor);
        assert_eq!(Region::of_label("armchair"), Region::Furniture);
        assert_eq!(Region::of_label("curtain"), Region::WindowCurtain);
        assert_eq!(Region::of_label("sky"), Region::Other);
    }

    #[test]
    fn argmax_picks_the_highest_plane() {
        let labels: Arc<[String]> = ["a".to_owned(), "b".to_owned()].into();
        let scores = ClassScores { width: 2, height: 1, scores: vec![1.0, 0.0, 0.5, 2.0], labels };
        assert_eq!(scores.argmax().classes, vec![0, 1]);
    }
}

/// Where each part of the frame shown now was in an older frame (the one a map or a keyframe
/// was made from): displacements in 0..1 frame units on a `cols` x `rows` grid over the frame,
/// bilinear in between. A pixel at `uv` shows what the older frame had at `uv + d`.
#[derive(Debug, Clone, PartialEq)]
pub struct Motion {
    /// Grid columns.
    pub cols: u32,
    /// Grid rows.
    pub rows: u32,
    /// `cols * rows` displacements, row by row.
    pub vectors: Vec<[f32; 2]>,
}

impl Motion {
    /// The displacement at `uv` (0..1 frame units): the grid's vectors sit at cell centres,
    /// bilinear in between and clamped at the borders, as `carry.wgsl` reads them.
    pub fn displacement_at(&self, uv: [f32; 2]) -> [f32; 2] {
        let (cols, rows) = (self.cols.max(1) as usize, self.rows.max(1) as usize);
        let grid = |v: f32, n: usize| (v * n as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let (gx, gy) = (grid(uv[0], cols), grid(uv[1], rows));
        let (x0, y0) = (gx.floor() as usize, gy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(cols - 1), (y0 + 1).min(rows - 1));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let at = |x: usize, y: usize| self.vectors.get(y * cols + x).copied().unwrap_or([0.0; 2]);
        let mix =
            |a: [f32; 2], b: [f32; 2], f: f32| [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
        mix(mix(at(x0, y0), at(x1, y0), fx), mix(at(x0, y1), at(x1, y1), fx), fy)
    }
}

/// The motion of each analysis map's frame to the frame shown; `None` for a map made from the
/// frame shown itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapMotions {
    /// Of the class map.
    pub classes: Option<Motion>,
    /// Of the person mask.
    pub person: Option<Motion>,
    /// Of the depth map.
    pub depth: Option<Motion>,
    /// Of the last frame composited, to this one: the temporal filter reads its history where
    /// each pixel's content was (`None`: in place, as for a still camera).
    pub history: Option<Motion>,
    /// Seconds since the last frame composited: the temporal filter weighs the new frame by the
    /// time that passed, so it settles as fast at 4 frames a second as at 30 (`None`: 1/30 s).
    pub since_last_s: Option<f32>,
}

/// A stylized picture and how to carry it onto the frame shown.
#[derive(Debug, Clone)]
pub struct Keyframe {
    /// The picture, at the style engine's size.
    pub picture: Arc<image::RgbaImage>,
    /// Unique per picture, so a renderer uploads each one once.
    pub id: u64,
    /// From the picture's frame to the frame shown; `None` when it is that frame.
    pub motion: Option<Motion>,
}

/// What the `style` and `restyle` layers show on one frame: the newest keyframe carried onto
/// it, cross-faded from the previous one while a new one fades in.
#[derive(Debug, Clone)]
pub struct Stylized {
    /// The newest keyframe.
    pub current: Keyframe,
    /// The one before, while the newest fades in over it.
    pub previous: Option<Keyframe>,
    /// Fade progress of `current` over `previous`, 0..1.
    pub fade: f32,
}

impl Keyframe {
    /// A new picture with a fresh id, not moved.
    pub fn new(picture: Arc<image::RgbaImage>) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { picture, id, motion: None }
    }
}

impl Stylized {
    /// A picture made from the frame shown itself: no motion, no fade.
    pub fn still(picture: image::RgbaImage) -> Self {
        Self { current: Keyframe::new(Arc::new(picture)), previous: None, fade: 1.0 }
    }
}
