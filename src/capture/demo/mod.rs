//! The built-in demo scene: a furnished living room rendered by ray casting on the CPU, seen by a
//! slowly moving virtual camera. It needs no files and no camera, so every effect can be seen with
//! zero set-up, and it knows the surface of every pixel, so region analysis can be measured on it.

mod person;
mod room;

use glam::Vec3;
use image::RgbImage;
use person::Person;
use room::{Block, Material, Piece, ROOM_MAX, ROOM_MIN};

/// The virtual camera at time `t_s`: a slow sway and pan around the room.
struct Camera {
    eye: Vec3,
    forward: Vec3,
    right: Vec3,
    up: Vec3,
    tan_half_fov: f32,
    aspect: f32,
    size: (u32, u32),
}

impl Camera {
    fn at(width: u32, height: u32, t_s: f32) -> Self {
        let yaw = (t_s * 0.35).sin() * 0.28;
        let eye = Vec3::new((t_s * 0.2).sin() * 0.8, 1.45 + (t_s * 0.5).sin() * 0.05, 3.6);
        let forward = Vec3::new(yaw.sin(), -0.12, -yaw.cos()).normalize();
        let right = forward.cross(Vec3::Y).normalize();
        let up = right.cross(forward);
        Self {
            eye,
            forward,
            right,
            up,
            tan_half_fov: (62f32.to_radians() / 2.0).tan(),
            aspect: width as f32 / height as f32,
            size: (width, height),
        }
    }

    /// Where `point` appears in this camera's picture, in pixels (0.5 is the first pixel's
    /// centre), when it is in front of the camera.
    fn project(&self, point: Vec3) -> Option<(f32, f32)> {
        let d = point - self.eye;
        let depth = d.dot(self.forward);
        if depth <= 1e-4 {
            return None;
        }
        let sx = d.dot(self.right) / depth / (self.tan_half_fov * self.aspect);
        let sy = d.dot(self.up) / depth / self.tan_half_fov;
        Some(((sx + 1.0) / 2.0 * self.size.0 as f32, (1.0 - sy) / 2.0 * self.size.1 as f32))
    }

    /// The ray through the centre of pixel `index` (row by row).
    fn ray(&self, index: usize) -> Vec3 {
        let width = self.size.0 as usize;
        let (x, y) = ((index % width) as f32, (index / width) as f32);
        let sx = ((x + 0.5) / self.size.0 as f32 * 2.0 - 1.0) * self.tan_half_fov * self.aspect;
        let sy = (1.0 - (y + 0.5) / self.size.1 as f32 * 2.0) * self.tan_half_fov;
        (self.forward + self.right * sx + self.up * sy).normalize()
    }
}

/// Entry and exit distances of a ray through a box (slab test), if it crosses it ahead.
fn slab(origin: Vec3, inv_dir: Vec3, min: Vec3, max: Vec3) -> Option<(f32, f32, Vec3)> {
    let t0 = (min - origin) * inv_dir;
    let t1 = (max - origin) * inv_dir;
    let near = t0.min(t1);
    let far = t0.max(t1);
    let (t_near, t_far) = (near.max_element(), far.min_element());
    (t_near <= t_far && t_far >= 0.0).then_some((t_near, t_far, near))
}

/// Entry distance and outward normal of the box face a ray from outside hits first.
fn hit_box(origin: Vec3, inv_dir: Vec3, min: Vec3, max: Vec3) -> Option<(f32, Vec3)> {
    let (t_near, _, near) = slab(origin, inv_dir, min, max)?;
    if t_near < 1e-4 {
        return None;
    }
    let normal = if t_near == near.x {
        Vec3::new(-inv_dir.x.signum(), 0.0, 0.0)
    } else if t_near == near.y {
        Vec3::new(0.0, -inv_dir.y.signum(), 0.0)
    } else {
        Vec3::new(0.0, 0.0, -inv_dir.z.signum())
    };
    Some((t_near, normal))
}

/// Exit distance from inside the room box and the inward normal of the face hit.
fn hit_room(origin: Vec3, inv_dir: Vec3) -> (f32, Vec3) {
    let t0 = (ROOM_MIN - origin) * inv_dir;
    let t1 = (ROOM_MAX - origin) * inv_dir;
    let far = t0.max(t1);
    let t = far.min_element();
    let normal = if t == far.x {
        Vec3::new(-inv_dir.x.signum(), 0.0, 0.0)
    } else if t == far.y {
        Vec3::new(0.0, -inv_dir.y.signum(), 0.0)
    } else {
        Vec3::new(0.0, 0.0, -inv_dir.z.signum())
    };
    (t, normal)
}

/// The surface a ray meets first.
struct Hit<'a> {
    distance: f32,
    normal: Vec3,
    material: Material,
    /// The furniture block hit; None for the room's walls, floor and ceiling.
    block: Option<&'a Block>,
}

/// The nearest surface along `dir` from `eye`, the person (when one walks by) included.
fn cast<'a>(eye: Vec3, dir: Vec3, pieces: &'a [Piece], person: Option<&Person>) -> Hit<'a> {
    let inv = dir.recip();
    let (distance, normal) = hit_room(eye, inv);
    let material = if normal.y > 0.5 {
        Material::Floor
    } else if normal.y < -0.5 {
        Material::Ceiling
    } else {
        Material::Wall
    };
    let mut hit = Hit { distance, normal, material, block: None };
    for piece in pieces {
        match slab(eye, inv, piece.min, piece.max) {
            Some((t_near, _, _)) if t_near < hit.distance => {}
            _ => continue,
        }
        for block in &piece.blocks {
            if let Some((t, normal)) = hit_box(eye, inv, block.min, block.max)
                && t < hit.distance
            {
                hit = Hit { distance: t, normal, material: block.material, block: Some(block) };
            }
        }
    }
    if let Some((distance, limb)) = person.and_then(|p| p.hit(eye, dir, hit.distance)) {
        let normal = limb.normal(eye + dir * distance);
        hit = Hit { distance, normal, material: limb.material, block: None };
    }
    hit
}

/// Distance from `point` to the box `min..max` (0 inside), and the box's nearest point.
fn to_box(point: Vec3, min: Vec3, max: Vec3) -> (f32, Vec3) {
    let nearest = point.clamp(min, max);
    ((nearest - point).length(), nearest)
}

/// How much of the sky a surface point sees past nearby furniture, 0 (none) to 1: soft contact
/// shadows under and behind every piece, in closed form per box instead of by sampling rays.
fn ambient_visibility(
    point: Vec3,
    normal: Vec3,
    pieces: &[Piece],
    own: Option<&Block>,
    person: Option<&Person>,
) -> f32 {
    const REACH: f32 = 0.45;
    let mut occlusion = 0.0;
    let mut occlude = |distance: f32, nearest: Vec3| {
        if (1e-5..REACH).contains(&distance) {
            let facing = normal.dot((nearest - point) / distance).max(0.0);
            let closeness = 1.0 - distance / REACH;
            occlusion += closeness * closeness * facing;
        }
    };
    // The person darkens the floor under their feet (and their limbs darken each other a little).
    let near_person = person.filter(|p| to_box(point, p.min, p.max).0 <= REACH);
    for limb in near_person.iter().flat_map(|p| &p.limbs) {
        let (distance, nearest) = limb.to_surface(point);
        occlude(distance, nearest);
    }
    for piece in pieces {
        if to_box(point, piece.min, piece.max).0 > REACH {
            continue;
        }
        for block in &piece.blocks {
            if own.is_some_and(|own| std::ptr::eq(own, block)) {
                continue;
            }
            let (distance, nearest) = to_box(point, block.min, block.max);
            occlude(distance, nearest);
        }
    }
    // Corners of the room darken too.
    let corner = (point.x - ROOM_MIN.x)
        .min(ROOM_MAX.x - point.x)
        .min(point.y)
        .min(ROOM_MAX.y - point.y)
        .min(point.z - ROOM_MIN.z);
    let corner = (1.0 - corner / REACH).max(0.0);
    1.0 - (0.8 * occlusion + 0.35 * corner * corner).min(0.85)
}

/// Runs `pixel(index, out)` for every pixel on all cores, `channels` bytes each.
fn per_pixel(
    width: u32,
    height: u32,
    channels: usize,
    pixel: impl Fn(usize, &mut [u8]) + Sync,
) -> Vec<u8> {
    let mut data = vec![0u8; width as usize * height as usize * channels];
    let rows_per_worker =
        (height as usize).div_ceil(std::thread::available_parallelism().map_or(1, |n| n.get()));
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in
            data.chunks_mut(rows_per_worker * width as usize * channels).enumerate()
        {
            let pixel = &pixel;
            scope.spawn(move || {
                for (i, out) in chunk.chunks_exact_mut(channels).enumerate() {
                    pixel(chunk_index * rows_per_worker * width as usize + i, out);
                }
            });
        }
    });
    data
}

/// What the demo room shows at a pixel, exactly: the surface its ray hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoSurface {
    /// A wall (its baseboards included).
    Wall,
    /// The floor and the rug on it.
    Floor,
    /// The ceiling.
    Ceiling,
    /// The sofa, the armchair, the tables, the sideboard, the bookcase and what lies on them.
    Furniture,
    /// The window, its frame and its curtains.
    Window,
    /// The painting on the wall.
    Picture,
    /// The person who walks by now and then.
    Person,
}

/// The exact surface of every pixel of [`render`]`(width, height, t_s)`, row by row: the truth
/// region analysis is measured against.
pub fn labels(width: u32, height: u32, t_s: f32) -> Vec<DemoSurface> {
    let pieces = room::pieces();
    let person = Person::at(t_s);
    let camera = Camera::at(width, height, t_s);
    const ALL: [DemoSurface; 7] = [
        DemoSurface::Wall,
        DemoSurface::Floor,
        DemoSurface::Ceiling,
        DemoSurface::Furniture,
        DemoSurface::Window,
        DemoSurface::Picture,
        DemoSurface::Person,
    ];
    let codes = per_pixel(width, height, 1, |index, out| {
        let hit = cast(camera.eye, camera.ray(index), &pieces, person.as_ref());
        let surface = hit.material.surface();
        out[0] = ALL.iter().position(|s| *s == surface).expect("every surface is listed") as u8;
    });
    codes.into_iter().map(|c| ALL[c as usize]).collect()
}

/// Where each pixel of the frame at `t_s` was in the frame at `before_s`, row by row, in pixels
/// (0.5 is the first pixel's centre): the same point of the room, seen by the camera as it was.
/// None where the point was out of view or hidden then, and on the person, who moves on their
/// own. The truth region flicker is measured along.
pub fn positions_before(width: u32, height: u32, t_s: f32, before_s: f32) -> Vec<Option<[f32; 2]>> {
    let pieces = room::pieces();
    let (person, person_before) = (Person::at(t_s), Person::at(before_s));
    let (camera, camera_before) =
        (Camera::at(width, height, t_s), Camera::at(width, height, before_s));
    // Per pixel: 1 where it has an earlier position, then x and y.
    let coded = per_pixel(width, height, 9, |index, out| {
        let dir = camera.ray(index);
        let hit = cast(camera.eye, dir, &pieces, person.as_ref());
        if hit.material.surface() == DemoSurface::Person {
            return;
        }
        let point = camera.eye + dir * hit.distance;
        let Some((x, y)) = camera_before.project(point) else { return };
        if !(0.0..width as f32).contains(&x) || !(0.0..height as f32).contains(&y) {
            return;
        }
        // Seen then only if nothing stood nearer along the earlier camera's ray to it.
        let to_point = point - camera_before.eye;
        let distance = to_point.length();
        let seen = cast(camera_before.eye, to_point / distance, &pieces, person_before.as_ref());
        if seen.distance < distance * (1.0 - 1e-3) {
            return;
        }
        out[0] = 1;
        out[1..5].copy_from_slice(&x.to_le_bytes());
        out[5..].copy_from_slice(&y.to_le_bytes());
    });
    let coordinate = |b: &[u8]| f32::from_le_bytes(b.try_into().expect("four bytes"));
    coded
        .chunks_exact(9)
        .map(|p| (p[0] == 1).then(|| [coordinate(&p[1..5]), coordinate(&p[5..])]))
        .collect()
}

/// Linear light to 8-bit sRGB-like gamma (2.2), by table: `powf` per channel was most of the
/// renderer's time.
struct Gamma([u8; Gamma::STEPS + 1]);

impl Gamma {
    const STEPS: usize = 4096;

    fn new() -> Self {
        let mut table = [0u8; Self::STEPS + 1];
        for (i, v) in table.iter_mut().enumerate() {
            *v = ((i as f32 / Self::STEPS as f32).powf(1.0 / 2.2) * 255.0).round() as u8;
        }
        Self(table)
    }

    fn encode(&self, linear: f32) -> u8 {
        self.0[(linear.clamp(0.0, 1.0) * Self::STEPS as f32) as usize]
    }
}

/// Renders the demo room at time `t_s` seconds.
pub fn render(width: u32, height: u32, t_s: f32) -> RgbImage {
    let pieces = room::pieces();
    let person = Person::at(t_s);
    let camera = Camera::at(width, height, t_s);
    let gamma = Gamma::new();
    // A recessed ceiling light shining down, and daylight from the window.
    let lamp = Vec3::new(0.3, 2.65, -1.2);
    let window_centre = Vec3::new(-3.1, 1.55, -2.0);
    let pixels = per_pixel(width, height, 3, |index, px| {
        let dir = camera.ray(index);
        let hit = cast(camera.eye, dir, &pieces, person.as_ref());
        let point = camera.eye + dir * hit.distance;
        let base = room::albedo(hit.material, hit.block, point, hit.normal);
        let colour = if hit.material == Material::Window {
            base
        } else {
            let ambient =
                ambient_visibility(point, hit.normal, &pieces, hit.block, person.as_ref());
            let to_lamp = lamp - point;
            let lamp_distance = to_lamp.length();
            let downward = (-to_lamp.y / lamp_distance).max(0.0).sqrt();
            let lamp_light = hit.normal.dot(to_lamp / lamp_distance).max(0.0) * downward * 4.5
                / (lamp_distance * lamp_distance + 1.0);
            let to_window = window_centre - point;
            let daylight = hit.normal.dot(to_window.normalize()).max(0.0) * 2.4
                / (to_window.length_squared() + 1.0);
            // The fitting's own glow on the ceiling around it.
            let glow = if hit.normal.y < -0.5 {
                1.0 / (1.0 + (point - lamp).length_squared())
            } else {
                0.0
            };
            let light = (0.3 + glow) * ambient + (lamp_light + daylight) * (0.4 + 0.6 * ambient);
            base.map(|c| c * light)
        };
        for c in 0..3 {
            px[c] = gamma.encode(colour[c]);
        }
    });
    RgbImage::from_raw(width, height, pixels).expect("sizes match")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mean brightness of the bottom rows (floor) in a band of columns.
    fn floor_luma(image: &RgbImage, columns: std::ops::Range<u32>) -> f32 {
        let (_, h) = image.dimensions();
        let mut sum = 0.0;
        let mut count = 0.0;
        for y in h * 9 / 10..h {
            for x in columns.clone() {
                let p = image.get_pixel(x, y);
                sum += f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2]);
                count += 3.0;
            }
        }
        sum / count
    }

    /// Pixels of the 320x180 view at t = 0 checked by eye against the rendered picture: the
    /// ceiling, the floor, the rug, the back wall, the painting, the sofa, the window, a curtain,
    /// the sideboard, the bookcase, the right wall and the armchair.
    #[test]
    fn exact_labels_name_what_the_picture_shows() {
        let labels = labels(320, 180, 0.0);
        let at = |x: usize, y: usize| labels[y * 320 + x];
        assert_eq!(at(160, 5), DemoSurface::Ceiling);
        assert_eq!(at(160, 170), DemoSurface::Floor);
        assert_eq!(at(170, 112), DemoSurface::Floor);
        assert_eq!(at(110, 60), DemoSurface::Wall);
        assert_eq!(at(160, 66), DemoSurface::Picture);
        assert_eq!(at(160, 92), DemoSurface::Furniture);
        assert_eq!(at(140, 100), DemoSurface::Furniture);
        assert_eq!(at(70, 70), DemoSurface::Window);
        assert_eq!(at(65, 105), DemoSurface::Window);
        assert_eq!(at(30, 120), DemoSurface::Furniture);
        assert_eq!(at(215, 70), DemoSurface::Furniture);
        assert_eq!(at(300, 80), DemoSurface::Wall);
        assert_eq!(at(240, 100), DemoSurface::Furniture);
        assert_eq!(labels.len(), 320 * 180);
    }

    /// The person walking through, checked by eye on the 320x180 view at t = 9 s, walking away
    /// from the camera: head, shirt and jeans, with the wall beside and the floor in front still
    /// theirs; before the walk and after it nobody is there.
    #[test]
    fn the_person_walking_through_is_labelled_where_the_picture_shows_them() {
        let walking = labels(320, 180, 9.0);
        let at = |x: usize, y: usize| walking[y * 320 + x];
        assert_eq!(at(150, 51), DemoSurface::Person, "head");
        assert_eq!(at(150, 80), DemoSurface::Person, "shirt");
        assert_eq!(at(159, 126), DemoSurface::Person, "jeans");
        assert_eq!(at(100, 60), DemoSurface::Wall);
        assert_eq!(at(150, 175), DemoSurface::Floor);
        let people = |surfaces: &[DemoSurface]| {
            surfaces.iter().filter(|s| **s == DemoSurface::Person).count()
        };
        assert!(people(&walking) > 320 * 180 / 40, "the person covers {}", people(&walking));
        for t_s in [2.0, 16.0] {
            assert_eq!(people(&labels(320, 180, t_s)), 0, "nobody walks at t = {t_s} s");
        }
    }

    /// The earlier positions find the same colours: the frame a second before, read where each
    /// pixel's point was, matches the frame far better than read at the same pixel (the camera
    /// moved about ten pixels; measured 9.3 against 49.8), and a still moment maps every pixel
    /// onto its own centre.
    #[test]
    fn earlier_positions_follow_the_camera_onto_the_same_points_of_the_room() {
        let (width, height, t_s, before_s) = (160, 90, 1.0, 0.0);
        let still = positions_before(width, height, t_s, t_s);
        for (index, position) in still.iter().enumerate() {
            let [x, y] = position.expect("nothing moves and the person is away at 1 s");
            let centre = ((index % 160) as f32 + 0.5, (index / 160) as f32 + 0.5);
            assert!((x - centre.0).abs() < 1e-2 && (y - centre.1).abs() < 1e-2, "{index}");
        }
        let (now, before) = (render(width, height, t_s), render(width, height, before_s));
        let positions = positions_before(width, height, t_s, before_s);
        let (mut followed, mut fixed, mut count) = (0.0, 0.0, 0.0);
        for (index, position) in positions.iter().enumerate() {
            let Some([x, y]) = *position else { continue };
            let (column, row) = (index as u32 % width, index as u32 / width);
            let difference = |a: &image::Rgb<u8>, b: &image::Rgb<u8>| {
                a.0.iter().zip(b.0).map(|(&p, q)| f32::from(p.abs_diff(q))).sum::<f32>()
            };
            let pixel = now.get_pixel(column, row);
            followed += difference(pixel, before.get_pixel(x as u32, y as u32));
            fixed += difference(pixel, before.get_pixel(column, row));
            count += 1.0;
        }
        assert!(count > 0.8 * (width * height) as f32, "most points were seen before: {count}");
        let (followed, fixed) = (followed / count, fixed / count);
        assert!(followed < 0.3 * fixed, "along the motion {followed:.2}, in place {fixed:.2}");
    }

    #[test]
    fn floor_planks_look_alike_on_both_sides_of_the_centre() {
        let image = render(320, 240, 0.0);
        let (left, right) = (floor_luma(&image, 40..140), floor_luma(&image, 180..280));
        let ratio = left.min(right) / left.max(right);
        assert!(ratio > 0.85, "left {left:.1}, right {right:.1}: one side is a dark seam");
    }
}
