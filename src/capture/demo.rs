//! The built-in demo scene: a living room rendered by ray casting on the CPU, seen by a slowly
//! moving virtual camera. It needs no files and no camera, so every effect can be seen with zero
//! set-up.

use glam::Vec3;
use image::RgbImage;

/// An axis-aligned box with a surface.
struct Block {
    min: Vec3,
    max: Vec3,
    surface: Surface,
}

#[derive(Clone, Copy)]
enum Surface {
    Wall,
    Floor,
    Ceiling,
    Fabric([f32; 3]),
    Wood([f32; 3]),
    Window,
    Painting,
}

const ROOM_MIN: Vec3 = Vec3::new(-3.2, 0.0, -4.0);
const ROOM_MAX: Vec3 = Vec3::new(3.2, 2.7, 4.5);

fn furniture() -> Vec<Block> {
    let sofa = [0.36, 0.42, 0.55];
    let armchair = [0.62, 0.33, 0.24];
    let wood = [0.45, 0.30, 0.18];
    let b = |min: [f32; 3], max: [f32; 3], surface| Block {
        min: Vec3::from(min),
        max: Vec3::from(max),
        surface,
    };
    vec![
        // Sofa against the back wall: seat, back, arms.
        b([-1.6, 0.0, -3.95], [1.6, 0.45, -3.0], Surface::Fabric(sofa)),
        b([-1.6, 0.45, -3.95], [1.6, 1.0, -3.6], Surface::Fabric(sofa)),
        b([-1.8, 0.0, -3.95], [-1.6, 0.7, -3.0], Surface::Fabric(sofa)),
        b([1.6, 0.0, -3.95], [1.8, 0.7, -3.0], Surface::Fabric(sofa)),
        // Coffee table: top and legs.
        b([-0.8, 0.38, -2.3], [0.8, 0.45, -1.5], Surface::Wood(wood)),
        b([-0.75, 0.0, -2.25], [-0.68, 0.38, -2.18], Surface::Wood(wood)),
        b([0.68, 0.0, -2.25], [0.75, 0.38, -2.18], Surface::Wood(wood)),
        b([-0.75, 0.0, -1.62], [-0.68, 0.38, -1.55], Surface::Wood(wood)),
        b([0.68, 0.0, -1.62], [0.75, 0.38, -1.55], Surface::Wood(wood)),
        // Armchair by the right wall.
        b([2.0, 0.0, -2.2], [3.1, 0.5, -1.0], Surface::Fabric(armchair)),
        b([2.8, 0.5, -2.2], [3.1, 1.1, -1.0], Surface::Fabric(armchair)),
        // Cabinet on the left wall.
        b([-3.15, 0.0, -0.5], [-2.6, 0.9, 1.2], Surface::Wood([0.55, 0.40, 0.26])),
        // Window in the left wall and a painting above the sofa (thin slabs on the walls).
        b([-3.2, 0.9, -2.8], [-3.17, 2.2, -1.2], Surface::Window),
        b([-0.7, 1.35, -3.999], [0.7, 2.1, -3.97], Surface::Painting),
    ]
}

/// Slab test; returns the entry distance and the hit normal.
fn hit_box(origin: Vec3, inv_dir: Vec3, min: Vec3, max: Vec3) -> Option<(f32, Vec3)> {
    let t0 = (min - origin) * inv_dir;
    let t1 = (max - origin) * inv_dir;
    let near = t0.min(t1);
    let far = t0.max(t1);
    let t_near = near.max_element();
    let t_far = far.min_element();
    if t_near > t_far || t_far < 0.0 || t_near < 1e-4 {
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

fn hash(x: f32, y: f32) -> f32 {
    let v = (x * 127.1 + y * 311.7).sin() * 43_758.547;
    v - v.floor()
}

fn albedo(surface: Surface, point: Vec3) -> [f32; 3] {
    match surface {
        Surface::Wall => {
            let n =
                hash((point.x * 40.0).floor(), (point.y * 40.0 + point.z * 40.0).floor()) * 0.03;
            [0.86 + n, 0.83 + n, 0.76 + n]
        }
        Surface::Floor => {
            let plank = (point.x * 5.0).floor();
            let tone = 0.85 + 0.15 * hash(plank, 1.0);
            let grain = 0.92 + 0.08 * ((point.z * 9.0 + hash(plank, 2.0) * 6.0).sin() * 0.5 + 0.5);
            // rem_euclid, not fract: fract of a negative coordinate is negative, which made every
            // plank left of the centre line one long dark seam.
            let seam = if (point.x * 5.0).rem_euclid(1.0) < 0.03 { 0.6 } else { 1.0 };
            let s = tone * grain * seam;
            [0.58 * s, 0.40 * s, 0.24 * s]
        }
        Surface::Ceiling => [0.92, 0.92, 0.9],
        Surface::Fabric(c) => {
            let weave = 0.95
                + 0.05 * hash((point.x * 60.0).floor(), (point.y * 60.0 + point.z * 60.0).floor());
            c.map(|v| v * weave)
        }
        Surface::Wood(c) => {
            let grain = 0.9 + 0.1 * ((point.x * 14.0 + point.z * 3.0).sin() * 0.5 + 0.5);
            c.map(|v| v * grain)
        }
        Surface::Window => [0.75, 0.86, 0.98],
        Surface::Painting => {
            let u = point.x * 2.0;
            let v = point.y * 2.0;
            [
                0.5 + 0.4 * (u * 3.0).sin(),
                0.45 + 0.35 * (v * 4.0 + u).cos(),
                0.35 + 0.3 * (u + v).sin(),
            ]
        }
    }
}

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

    /// The ray through the centre of pixel `index` (row by row).
    fn ray(&self, index: usize) -> Vec3 {
        let width = self.size.0 as usize;
        let (x, y) = ((index % width) as f32, (index / width) as f32);
        let sx = ((x + 0.5) / self.size.0 as f32 * 2.0 - 1.0) * self.tan_half_fov * self.aspect;
        let sy = (1.0 - (y + 0.5) / self.size.1 as f32 * 2.0) * self.tan_half_fov;
        (self.forward + self.right * sx + self.up * sy).normalize()
    }
}

/// The nearest surface along `dir` from `eye`: distance, normal, surface.
fn cast(eye: Vec3, dir: Vec3, blocks: &[Block]) -> (f32, Vec3, Surface) {
    let inv = dir.recip();
    let (mut t, mut normal) = hit_room(eye, inv);
    let mut surface = if normal.y > 0.5 {
        Surface::Floor
    } else if normal.y < -0.5 {
        Surface::Ceiling
    } else {
        Surface::Wall
    };
    for block in blocks {
        if let Some((tb, nb)) = hit_box(eye, inv, block.min, block.max)
            && tb < t
        {
            t = tb;
            normal = nb;
            surface = block.surface;
        }
    }
    (t, normal, surface)
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
    /// A wall.
    Wall,
    /// The floor.
    Floor,
    /// The ceiling.
    Ceiling,
    /// The sofa, the armchair, the table, the cabinet.
    Furniture,
    /// The window.
    Window,
    /// The painting on the wall.
    Picture,
}

/// The exact surface of every pixel of [`render`]`(width, height, t_s)`, row by row: the truth
/// region analysis is measured against.
pub fn labels(width: u32, height: u32, t_s: f32) -> Vec<DemoSurface> {
    let blocks = furniture();
    let camera = Camera::at(width, height, t_s);
    let codes = per_pixel(width, height, 1, |index, out| {
        let (_, _, surface) = cast(camera.eye, camera.ray(index), &blocks);
        out[0] = match surface {
            Surface::Wall => 0,
            Surface::Floor => 1,
            Surface::Ceiling => 2,
            Surface::Fabric(_) | Surface::Wood(_) => 3,
            Surface::Window => 4,
            Surface::Painting => 5,
        };
    });
    const ALL: [DemoSurface; 6] = [
        DemoSurface::Wall,
        DemoSurface::Floor,
        DemoSurface::Ceiling,
        DemoSurface::Furniture,
        DemoSurface::Window,
        DemoSurface::Picture,
    ];
    codes.into_iter().map(|c| ALL[c as usize]).collect()
}

/// Renders the demo room at time `t_s` seconds.
pub fn render(width: u32, height: u32, t_s: f32) -> RgbImage {
    let blocks = furniture();
    let camera = Camera::at(width, height, t_s);
    let light = Vec3::new(0.5, 2.5, 0.5);
    let window_centre = Vec3::new(-3.1, 1.55, -2.0);
    let pixels = per_pixel(width, height, 3, |index, px| {
        let dir = camera.ray(index);
        let (t, normal, surface) = cast(camera.eye, dir, &blocks);
        let point = camera.eye + dir * t;
        let base = albedo(surface, point);
        let colour = if matches!(surface, Surface::Window) {
            base
        } else {
            let to_light = light - point;
            let distance = to_light.length();
            let lambert =
                normal.dot(to_light / distance).max(0.0) * 6.0 / (distance * distance + 1.0);
            let to_window = window_centre - point;
            let window = normal.dot(to_window.normalize()).max(0.0) * 2.2
                / (to_window.length_squared() + 1.0);
            // Corners and contact areas darker (cheap ambient occlusion).
            let corner = ((point.x - ROOM_MIN.x)
                .min(ROOM_MAX.x - point.x)
                .min(point.y)
                .min(ROOM_MAX.y - point.y)
                * 2.5)
                .clamp(0.0, 1.0);
            let light_amount = 0.22 + 0.08 * corner + lambert + window;
            base.map(|c| c * light_amount)
        };
        for c in 0..3 {
            // Gamma-encode for display.
            px[c] = (colour[c].clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0).round() as u8;
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
    /// ceiling light, the floor, the back wall, the painting, the sofa, the window, the cabinet,
    /// the right wall and the armchair.
    #[test]
    fn exact_labels_name_what_the_picture_shows() {
        let labels = labels(320, 180, 0.0);
        let at = |x: usize, y: usize| labels[y * 320 + x];
        assert_eq!(at(160, 5), DemoSurface::Ceiling);
        assert_eq!(at(160, 170), DemoSurface::Floor);
        assert_eq!(at(110, 60), DemoSurface::Wall);
        assert_eq!(at(160, 66), DemoSurface::Picture);
        assert_eq!(at(160, 92), DemoSurface::Furniture);
        assert_eq!(at(70, 70), DemoSurface::Window);
        assert_eq!(at(30, 120), DemoSurface::Furniture);
        assert_eq!(at(300, 80), DemoSurface::Wall);
        assert_eq!(at(240, 100), DemoSurface::Furniture);
        assert_eq!(labels.len(), 320 * 180);
    }

    #[test]
    fn floor_planks_look_alike_on_both_sides_of_the_centre() {
        let image = render(320, 240, 0.0);
        let (left, right) = (floor_luma(&image, 40..140), floor_luma(&image, 180..280));
        let ratio = left.min(right) / left.max(right);
        assert!(ratio > 0.85, "left {left:.1}, right {right:.1}: one side is a dark seam");
    }
}
