//! The colour of a painted surface. Walls and ceilings are painted one colour, so a pixel whose
//! colour lies far outside the colours of the region's confident interior is something in front
//! of it (a sofa's side, a bookcase, a person's shirt) that the model's coarse scores reached
//! over. The model is made on the CPU from the model-resolution class map; the compositor's
//! analysis pass applies it per pixel, as `upsample`'s CPU twin does for `bench regions`.

use glam::{DMat3, DVec3, Mat3, Vec3};

/// Squared Mahalanobis distances over which a pixel leaves a painted region: all of its
/// membership kept within 4 standard deviations of the region's colour, none past 6.
pub const COLOUR_OUTLIER: (f32, f32) = (16.0, 36.0);

/// The least spread a region's colour is taken to have, as a standard deviation in 0..1 colour
/// (four 8-bit levels: sensor noise and compression on a wall that reads perfectly even).
const LEAST_SPREAD: f64 = 0.015;

/// Light and shade the colour is taken to have beyond what the samples show, as a standard
/// deviation of its brightness relative to the mean: light falls off across a wall and shadows
/// darken it without changing its paint, and the model is often sure of the lit part only.
const SHADING: f64 = 0.3;

/// The membership a cell needs to be sampled: the model is sure it is the region.
const CONFIDENT: f32 = 0.8;

/// The fewest interior samples a colour model is made from.
const FEWEST_SAMPLES: usize = 32;

/// The share of a region's interior that must be of another colour, and for how long, before
/// that colour is taken as the region's own ([`ColourTrack`]).
const OTHER_COLOUR: (f64, f32) = (0.25, 1.0);

/// A painted region's colour: mean and spread of the frame's colour (sRGB, 0..1) over the
/// region's confident interior on the model's grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionColour {
    /// Mean colour.
    pub mean: Vec3,
    /// Inverse of the colour's covariance.
    pub inverse: Mat3,
}

impl RegionColour {
    /// The colour of a region on `pixels` (`channels` bytes a pixel, row by row, of a picture
    /// of `size`; any size, the grid is read in its own proportions), from its `membership` on
    /// the model's `grid` ([`ClassMap::set_membership`] for one set). Samples come from a lattice
    /// of at most about 64x64 cells, where the region's membership is confident at the cell and
    /// at its four neighbours, so borders the model drew past the region's edge stay out. None
    /// where fewer than [`FEWEST_SAMPLES`] such cells are found.
    pub fn of(
        membership: &[f32],
        grid: (u32, u32),
        pixels: &[u8],
        channels: usize,
        size: (u32, u32),
    ) -> Option<Self> {
        Self::from_samples(&interior_samples(membership, grid, pixels, channels, size))
    }

    /// Mean and spread of `samples`, widened by [`SHADING`] and [`LEAST_SPREAD`].
    fn from_samples(samples: &[DVec3]) -> Option<Self> {
        if samples.len() < FEWEST_SAMPLES {
            return None;
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<DVec3>() / n;
        let outer = samples
            .iter()
            .map(|c| DMat3::from_cols(*c * c.x, *c * c.y, *c * c.z))
            .fold(DMat3::ZERO, |sum, m| sum + m);
        let along_mean = DMat3::from_cols(mean * mean.x, mean * mean.y, mean * mean.z);
        let covariance = outer * (1.0 / n) - along_mean
            + along_mean * (SHADING * SHADING)
            + DMat3::from_diagonal(DVec3::splat(LEAST_SPREAD * LEAST_SPREAD));
        Some(Self { mean: mean.as_vec3(), inverse: covariance.inverse().as_mat3() })
    }

    /// The squared Mahalanobis distance of `colour` (sRGB, 0..1) from the region's colour.
    pub fn distance_squared(&self, colour: Vec3) -> f32 {
        let d = colour - self.mean;
        d.dot(self.inverse * d)
    }

    /// The share of its membership a pixel of `colour` keeps (the analysis pass's `keep`).
    pub fn keep(&self, colour: Vec3) -> f32 {
        let (from, to) = COLOUR_OUTLIER;
        let t = ((self.distance_squared(colour) - from) / (to - from)).clamp(0.0, 1.0);
        1.0 - t * t * (3.0 - 2.0 * t)
    }
}

/// A painted region's colour followed through a video. A region does not change colour from
/// one frame to the next: a shirt that comes so close that the model takes it for the wall
/// (both the segmentation and the person model miss a back filling half the picture) is not
/// the wall's colour while the wall is still in view. Another colour that fills a share of the
/// region for [`OTHER_COLOUR`]'s second is its own (a second wall painted differently, or the
/// light changed); so is any colour once the old one has left the picture.
#[derive(Debug, Default, Clone, Copy)]
pub struct ColourTrack {
    colour: Option<RegionColour>,
    /// Seconds another colour has filled at least its share of the region's interior.
    other_s: f32,
}

impl ColourTrack {
    /// The region's colour on this frame (arguments as [`RegionColour::of`]), following its
    /// colour on the frames before, `since_last_s` ago.
    pub fn follow(
        &mut self,
        membership: &[f32],
        grid: (u32, u32),
        pixels: &[u8],
        channels: usize,
        size: (u32, u32),
        since_last_s: f32,
    ) -> Option<RegionColour> {
        let samples = interior_samples(membership, grid, pixels, channels, size);
        let (_, outlier) = COLOUR_OUTLIER;
        let own: Vec<DVec3> = match self.colour {
            Some(before) => samples
                .iter()
                .filter(|c| before.distance_squared(c.as_vec3()) <= outlier)
                .copied()
                .collect(),
            None => Vec::new(),
        };
        let (other_share, other_for_s) = OTHER_COLOUR;
        let other = samples.len() - own.len();
        let other_fills = other as f64 >= other_share * samples.len().max(1) as f64;
        self.other_s = if other_fills { self.other_s + since_last_s } else { 0.0 };
        let keeps_own = own.len() >= FEWEST_SAMPLES && self.other_s < other_for_s;
        self.colour = RegionColour::from_samples(if keeps_own { &own } else { &samples });
        if !keeps_own {
            self.other_s = 0.0;
        }
        self.colour
    }

    /// The colour found on the last frame.
    pub fn colour(&self) -> Option<RegionColour> {
        self.colour
    }
}

/// The frame's colours (0..1) at the lattice cells of `membership`'s confident interior (see
/// [`RegionColour::of`]).
fn interior_samples(
    membership: &[f32],
    grid: (u32, u32),
    pixels: &[u8],
    channels: usize,
    size: (u32, u32),
) -> Vec<DVec3> {
    let ((grid_w, grid_h), (width, height)) = (grid, size);
    let step = (grid_w.max(grid_h) / 64).max(1);
    let confident = |x: i64, y: i64| {
        let (x, y) = (x.clamp(0, i64::from(grid_w) - 1), y.clamp(0, i64::from(grid_h) - 1));
        membership[(y * i64::from(grid_w) + x) as usize] >= CONFIDENT
    };
    let mut samples = Vec::new();
    for y in (0..grid_h).step_by(step as usize) {
        let fy = ((y as f32 + 0.5) * height as f32 / grid_h as f32) as u32;
        for x in (0..grid_w).step_by(step as usize) {
            let (cx, cy, s) = (i64::from(x), i64::from(y), i64::from(step));
            let interior = [(0, 0), (-s, 0), (s, 0), (0, -s), (0, s)]
                .iter()
                .all(|(dx, dy)| confident(cx + dx, cy + dy));
            if !interior {
                continue;
            }
            let fx = ((x as f32 + 0.5) * width as f32 / grid_w as f32) as u32;
            let i = ((fy.min(height - 1) * width + fx.min(width - 1)) as usize) * channels;
            let rgb = [pixels[i], pixels[i + 1], pixels[i + 2]].map(f64::from);
            samples.push(DVec3::from_array(rgb) / 255.0);
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::ClassMap;

    /// A region's colour from a class map's ids (membership 0 or 1).
    fn colour_of(classes: &ClassMap, id: u8, pixels: &[u8]) -> Option<RegionColour> {
        let membership = classes.set_membership(&[vec![id]]);
        RegionColour::of(&membership, (classes.width, classes.height), pixels, 3, (128, 128))
    }

    /// A 64x64 map: the left half class 1 (a wall, greige with light falling off), the right half
    /// class 2 (a blue sofa) over a 128x128 picture.
    fn wall_and_sofa() -> (ClassMap, Vec<u8>) {
        let classes = ClassMap {
            width: 64,
            height: 64,
            classes: (0..64 * 64).map(|i| if i % 64 < 32 { 1 } else { 2 }).collect(),
            labels: vec!["other".to_owned(), "wall".to_owned(), "sofa".to_owned()].into(),
            probabilities: None,
        };
        let pixels = (0..128 * 128)
            .flat_map(|i: u32| {
                let (x, y) = (i % 128, i / 128);
                if x < 64 {
                    let light = 0.7 + 0.3 * y as f32 / 128.0;
                    [(200.0 * light) as u8, (190.0 * light) as u8, (170.0 * light) as u8]
                } else {
                    [70, 90, 130]
                }
            })
            .collect();
        (classes, pixels)
    }

    #[test]
    fn a_wall_keeps_its_own_shades_and_drops_a_colour_unlike_it() {
        let (classes, pixels) = wall_and_sofa();
        let wall = colour_of(&classes, 1, &pixels).expect("a model");
        // The wall's own shades, the darkest and the brightest, are kept whole.
        assert_eq!(wall.keep(colour([140, 133, 119])), 1.0);
        assert_eq!(wall.keep(colour([199, 189, 169])), 1.0);
        // The sofa's blue, and a red shirt, are not the wall's colour.
        assert_eq!(wall.keep(colour([70, 90, 130])), 0.0);
        assert_eq!(wall.keep(colour([180, 40, 40])), 0.0);
    }

    /// The model is sure of the wall's lit top only: the same paint in the shade further down
    /// (60% of its light) is still the wall, a muted blue of about that brightness is not.
    #[test]
    fn the_walls_own_paint_in_shade_is_kept() {
        let (classes, pixels) = wall_and_sofa();
        let lit_top = ClassMap {
            classes: (0..64 * 64).map(|i| u8::from(i % 64 < 32 && i / 64 < 16)).collect(),
            ..classes
        };
        let wall = colour_of(&lit_top, 1, &pixels).expect("a model");
        let shade = |light: f32| Vec3::new(200.0, 190.0, 170.0) * light / 255.0;
        assert_eq!(wall.keep(shade(0.6)), 1.0, "{}", wall.distance_squared(shade(0.6)));
        let sofa = Vec3::new(90.0, 100.0, 125.0) / 255.0;
        assert_eq!(wall.keep(sofa), 0.0, "{}", wall.distance_squared(sofa));
    }

    #[test]
    fn the_border_the_model_drew_is_left_out_and_a_sliver_gives_no_model() {
        let (classes, pixels) = wall_and_sofa();
        // The map's wall reaches one texel past the true edge: the sofa's colour under it is on
        // the region's border, which is not sampled.
        let mut reaching = classes.clone();
        for y in 0..64 {
            reaching.classes[y * 64 + 32] = 1;
        }
        let wall = colour_of(&reaching, 1, &pixels).expect("a model");
        assert_eq!(wall.keep(Vec3::new(70.0, 90.0, 130.0) / 255.0), 0.0);
        // A region one texel wide has no interior.
        let sliver =
            ClassMap { classes: (0..64 * 64).map(|i| u8::from(i % 64 == 5)).collect(), ..classes };
        assert!(colour_of(&sliver, 1, &pixels).is_none());
    }

    /// A 64x64 map read all wall, over a 128x128 picture of the greige wall with light falling
    /// off whose columns from `other_from` on are of colour `other` (something in front of the
    /// wall, or another wall).
    fn read_as_wall(other_from: u32, other: [u8; 3]) -> (ClassMap, Vec<u8>) {
        let (classes, _) = wall_and_sofa();
        let classes = ClassMap { classes: vec![1; 64 * 64], ..classes };
        let pixels = (0..128 * 128)
            .flat_map(|i: u32| {
                let (x, y) = (i % 128, i / 128);
                let light = 0.7 + 0.3 * y as f32 / 128.0;
                let wall = [(200.0 * light) as u8, (190.0 * light) as u8, (170.0 * light) as u8];
                if x < other_from { wall } else { other }
            })
            .collect();
        (classes, pixels)
    }

    /// One frame, 1/30 s after the last, of a video read all wall.
    fn follow(track: &mut ColourTrack, (classes, pixels): (ClassMap, Vec<u8>)) -> RegionColour {
        let membership = classes.set_membership(&[vec![1]]);
        let grid = (classes.width, classes.height);
        track.follow(&membership, grid, &pixels, 3, (128, 128), 1.0 / 30.0).expect("a model")
    }

    const SHIRT: [u8; 3] = [150, 35, 35];
    const BLUE_WALL: [u8; 3] = [70, 90, 130];

    fn colour(rgb: [u8; 3]) -> Vec3 {
        Vec3::from_array(rgb.map(|c| f32::from(c) / 255.0))
    }

    #[test]
    fn a_close_shirt_the_model_reads_as_wall_does_not_become_the_walls_colour() {
        let mut track = ColourTrack::default();
        follow(&mut track, read_as_wall(128, SHIRT));
        // The shirt fills 62% of the picture and the model reads it all as wall, for half a
        // second.
        for _ in 0..15 {
            let wall = follow(&mut track, read_as_wall(48, SHIRT));
            assert_eq!(wall.keep(colour(SHIRT)), 0.0);
            assert_eq!(wall.keep(colour([140, 133, 119])), 1.0, "the wall's own shade");
        }
        // Without the frames before (a photo), the shirt is part of the wall's colour.
        let (classes, pixels) = read_as_wall(48, SHIRT);
        let alone = colour_of(&classes, 1, &pixels).expect("a model");
        assert!(alone.keep(colour(SHIRT)) > 0.5, "{}", alone.distance_squared(colour(SHIRT)));
    }

    #[test]
    fn another_colour_that_stays_a_second_becomes_the_regions_own() {
        let mut track = ColourTrack::default();
        follow(&mut track, read_as_wall(128, BLUE_WALL));
        // A second wall painted blue comes into view, 40% of the picture: not the wall's colour
        // for most of a second, then the region's own, as the first wall's colour is.
        for frame in 0..25 {
            let wall = follow(&mut track, read_as_wall(77, BLUE_WALL));
            assert_eq!(wall.keep(colour(BLUE_WALL)), 0.0, "frame {frame}");
        }
        let walls = (0..10)
            .map(|_| follow(&mut track, read_as_wall(77, BLUE_WALL)))
            .find(|walls| walls.keep(colour(BLUE_WALL)) == 1.0)
            .expect("the blue wall taken by a third of a second later");
        assert_eq!(walls.keep(colour([140, 133, 119])), 1.0, "the first wall's own shade");
    }

    #[test]
    fn once_the_old_colour_has_left_the_picture_the_new_one_is_taken_at_once() {
        let mut track = ColourTrack::default();
        follow(&mut track, read_as_wall(128, SHIRT));
        let wall = follow(&mut track, read_as_wall(0, BLUE_WALL));
        assert_eq!(wall.keep(colour(BLUE_WALL)), 1.0);
    }
}
