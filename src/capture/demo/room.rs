//! What the demo room is made of: its furniture as boxes grouped into pieces, and the material of
//! every surface. Plausible sizes (metres) and colours (linear albedo) so that models trained on
//! photos of real rooms read it as one.

use glam::Vec3;

use super::DemoSurface;

/// The room's inside: x across, y up, z towards the camera.
pub const ROOM_MIN: Vec3 = Vec3::new(-3.2, 0.0, -4.0);
pub const ROOM_MAX: Vec3 = Vec3::new(3.2, 2.7, 4.5);

/// What a surface is made of.
#[derive(Clone, Copy, PartialEq)]
pub enum Material {
    Wall,
    Baseboard,
    Floor,
    Ceiling,
    /// Upholstery: seat bases, frames.
    Fabric([f32; 3]),
    /// Upholstery whose edges round off: cushions and arms.
    Cushion([f32; 3]),
    Wood([f32; 3]),
    /// A cabinet front with doors and drawers.
    CabinetFront([f32; 3]),
    Metal,
    /// A row of books on a shelf.
    Books,
    Rug,
    Window,
    WindowFrame,
    Curtain([f32; 3]),
    Painting,
    /// The walking person's clothes and shoes.
    Clothes([f32; 3]),
    /// The person's hands and neck.
    Skin([f32; 3]),
    /// The person's head: a face of `skin` looking along `facing`, `hair` on the crown and
    /// behind.
    Head {
        centre: Vec3,
        facing: Vec3,
        skin: [f32; 3],
        hair: [f32; 3],
    },
}

impl Material {
    /// What a model should call this surface.
    pub fn surface(self) -> DemoSurface {
        match self {
            Material::Wall | Material::Baseboard => DemoSurface::Wall,
            Material::Floor | Material::Rug => DemoSurface::Floor,
            Material::Ceiling => DemoSurface::Ceiling,
            Material::Fabric(_)
            | Material::Cushion(_)
            | Material::Wood(_)
            | Material::CabinetFront(_)
            | Material::Metal
            | Material::Books => DemoSurface::Furniture,
            Material::Window | Material::WindowFrame | Material::Curtain(_) => DemoSurface::Window,
            Material::Painting => DemoSurface::Picture,
            Material::Clothes(_) | Material::Skin(_) | Material::Head { .. } => DemoSurface::Person,
        }
    }
}

/// An axis-aligned box with one material.
pub struct Block {
    pub min: Vec3,
    pub max: Vec3,
    pub material: Material,
}

/// A piece of furniture (or fitting): its blocks and their common bounds, so a ray or a shading
/// point far from the piece skips all of its blocks at once.
pub struct Piece {
    pub min: Vec3,
    pub max: Vec3,
    pub blocks: Vec<Block>,
}

impl Piece {
    fn new(blocks: Vec<Block>) -> Self {
        let min = blocks.iter().fold(Vec3::INFINITY, |m, b| m.min(b.min));
        let max = blocks.iter().fold(Vec3::NEG_INFINITY, |m, b| m.max(b.max));
        Self { min, max, blocks }
    }
}

fn block(min: [f32; 3], max: [f32; 3], material: Material) -> Block {
    Block { min: Vec3::from(min), max: Vec3::from(max), material }
}

/// Four square legs of side `side` under the rectangle `min..max` (x, z), `height` tall.
fn legs(min: [f32; 2], max: [f32; 2], side: f32, height: f32, material: Material) -> Vec<Block> {
    let inset = 0.04;
    let xs = [min[0] + inset, max[0] - inset - side];
    let zs = [min[1] + inset, max[1] - inset - side];
    let mut legs = Vec::new();
    for x in xs {
        for z in zs {
            legs.push(block([x, 0.0, z], [x + side, height, z + side], material));
        }
    }
    legs
}

const SOFA: [f32; 3] = [0.16, 0.2, 0.26];
const PILLOW: [f32; 3] = [0.6, 0.42, 0.1];
const ARMCHAIR: [f32; 3] = [0.5, 0.2, 0.11];
const WALNUT: [f32; 3] = [0.24, 0.14, 0.08];
const OAK: [f32; 3] = [0.48, 0.33, 0.19];
const CURTAIN: [f32; 3] = [0.34, 0.42, 0.32];

fn sofa() -> Piece {
    let (x0, x1, z0, z1) = (-1.8, 1.8, -3.95, -3.0);
    let mut blocks = legs([x0, z0], [x1, z1], 0.06, 0.1, Material::Wood(WALNUT));
    blocks.push(block([-1.6, 0.1, -3.9], [1.6, 0.38, -3.05], Material::Fabric(SOFA)));
    blocks.push(block([-1.6, 0.38, z0], [1.6, 0.92, -3.72], Material::Fabric(SOFA)));
    for arm in [[x0, -1.6], [1.6, x1]] {
        blocks.push(block([arm[0], 0.1, z0], [arm[1], 0.66, z1], Material::Cushion(SOFA)));
    }
    // Three seat cushions and three back cushions with small gaps between them.
    for i in 0..3 {
        let left = -1.6 + i as f32 * (3.2 / 3.0) + 0.008;
        let right = left + 3.2 / 3.0 - 0.016;
        blocks.push(block([left, 0.38, -3.72], [right, 0.52, -3.02], Material::Cushion(SOFA)));
        blocks.push(block([left, 0.52, -3.72], [right, 0.98, -3.52], Material::Cushion(SOFA)));
    }
    for x in [-1.5, 1.08] {
        blocks.push(block([x, 0.52, -3.52], [x + 0.42, 0.86, -3.4], Material::Cushion(PILLOW)));
    }
    Piece::new(blocks)
}

fn armchair() -> Piece {
    let (x0, x1, z0, z1) = (2.0, 3.1, -2.2, -1.0);
    let mut blocks = legs([x0, z0], [x1, z1], 0.05, 0.1, Material::Wood(WALNUT));
    blocks.push(block([2.05, 0.1, -2.15], [3.05, 0.36, -1.05], Material::Fabric(ARMCHAIR)));
    blocks.push(block([2.1, 0.36, -2.02], [2.82, 0.5, -1.18], Material::Cushion(ARMCHAIR)));
    blocks.push(block([2.82, 0.36, z0], [x1, 1.05, z1], Material::Cushion(ARMCHAIR)));
    for arm in [[z0, -2.02], [-1.18, z1]] {
        blocks.push(block([x0, 0.1, arm[0]], [2.82, 0.64, arm[1]], Material::Cushion(ARMCHAIR)));
    }
    Piece::new(blocks)
}

fn coffee_table() -> Piece {
    let (x0, x1, z0, z1) = (-0.8, 0.8, -2.3, -1.5);
    let mut blocks = legs([x0, z0], [x1, z1], 0.05, 0.4, Material::Wood(WALNUT));
    blocks.push(block([x0, 0.4, z0], [x1, 0.45, z1], Material::Wood(WALNUT)));
    blocks.push(block(
        [x0 + 0.05, 0.1, z0 + 0.05],
        [x1 - 0.05, 0.12, z1 - 0.05],
        Material::Wood(WALNUT),
    ));
    // A stack of two books on top.
    blocks.push(block(
        [0.15, 0.45, -2.05],
        [0.5, 0.48, -1.8],
        Material::Fabric([0.45, 0.08, 0.06]),
    ));
    blocks.push(block([0.18, 0.48, -2.02], [0.46, 0.51, -1.83], Material::Fabric([0.1, 0.2, 0.3])));
    Piece::new(blocks)
}

fn sideboard() -> Piece {
    let (z0, z1) = (-0.5, 1.2);
    let mut blocks = legs([-3.15, z0], [-2.68, z1], 0.05, 0.1, Material::Wood(OAK));
    blocks.push(block([-3.15, 0.1, z0], [-2.68, 0.82, z1], Material::CabinetFront(OAK)));
    blocks.push(block([-3.17, 0.82, z0 - 0.02], [-2.66, 0.85, z1 + 0.02], Material::Wood(OAK)));
    // Handles: one by the middle of each door, one in the middle of each drawer.
    for z in [0.26, 0.42] {
        blocks.push(block([-2.68, 0.42, z], [-2.66, 0.5, z + 0.02], Material::Metal));
    }
    for z in [-0.075, 0.775] {
        blocks.push(block([-2.68, 0.7, z - 0.06], [-2.66, 0.72, z + 0.06], Material::Metal));
    }
    Piece::new(blocks)
}

fn bookcase() -> Piece {
    let (x0, x1, z0, z1) = (2.1, 3.15, -3.95, -3.62);
    let wood = Material::Wood(WALNUT);
    let mut blocks = vec![
        block([x0, 0.0, z0], [x0 + 0.03, 2.0, z1], wood),
        block([x1 - 0.03, 0.0, z0], [x1, 2.0, z1], wood),
        block([x0, 1.97, z0], [x1, 2.0, z1], wood),
        block([x0, 0.0, z0], [x1, 2.0, z0 + 0.02], wood),
    ];
    for shelf in [0.0, 0.5, 1.0, 1.5] {
        blocks.push(block([x0, shelf, z0], [x1, shelf + 0.06, z1], wood));
        blocks.push(block(
            [x0 + 0.03, shelf + 0.06, z0 + 0.02],
            [x1 - 0.03, shelf + 0.36, z1 - 0.04],
            Material::Books,
        ));
    }
    Piece::new(blocks)
}

fn rug() -> Piece {
    Piece::new(vec![block([-1.7, 0.0, -3.0], [1.7, 0.012, -0.9], Material::Rug)])
}

fn window() -> Piece {
    let (y0, y1, z0, z1) = (0.9, 2.2, -2.8, -1.2);
    let frame = Material::WindowFrame;
    let mut blocks = vec![
        block([-3.2, y0, z0], [-3.18, y1, z1], Material::Window),
        block([-3.2, y0 - 0.06, z0 - 0.06], [-3.15, y0, z1 + 0.06], frame),
        block([-3.2, y1, z0 - 0.06], [-3.15, y1 + 0.06, z1 + 0.06], frame),
        block([-3.2, y0, z0 - 0.06], [-3.15, y1, z0], frame),
        block([-3.2, y0, z1], [-3.15, y1, z1 + 0.06], frame),
        block([-3.2, y0, -2.03], [-3.16, y1, -1.97], frame),
    ];
    for z in [[-3.3, -2.72], [-1.28, -0.7]] {
        blocks.push(block([-3.18, 0.15, z[0]], [-3.08, 2.45, z[1]], Material::Curtain(CURTAIN)));
    }
    Piece::new(blocks)
}

fn fittings() -> Piece {
    let base = Material::Baseboard;
    Piece::new(vec![
        block([ROOM_MIN.x, 0.0, ROOM_MIN.z], [ROOM_MAX.x, 0.1, ROOM_MIN.z + 0.015], base),
        block([ROOM_MIN.x, 0.0, ROOM_MIN.z], [ROOM_MIN.x + 0.015, 0.1, ROOM_MAX.z], base),
        block([ROOM_MAX.x - 0.015, 0.0, ROOM_MIN.z], [ROOM_MAX.x, 0.1, ROOM_MAX.z], base),
        block([-0.7, 1.35, -3.999], [0.7, 2.1, -3.97], Material::Painting),
    ])
}

/// Everything in the room but its walls, floor and ceiling.
pub fn pieces() -> Vec<Piece> {
    vec![sofa(), armchair(), coffee_table(), sideboard(), bookcase(), rug(), window(), fittings()]
}

/// A pseudo-random value in [0, 1) for an integer lattice point (integer bit mixing: a `sin`
/// based hash cost a third of the frame).
fn hash(x: f32, y: f32) -> f32 {
    let mut n =
        (x as i32 as u32).wrapping_mul(0x27d4_eb2d) ^ (y as i32 as u32).wrapping_mul(0x1656_67b1);
    n = (n ^ (n >> 15)).wrapping_mul(0x85eb_ca6b);
    n = (n ^ (n >> 13)).wrapping_mul(0xc2b2_ae35);
    ((n ^ (n >> 16)) >> 8) as f32 / 16_777_216.0
}

/// Smooth noise in [0, 1]: hashed lattice values, interpolated.
fn value_noise(x: f32, y: f32) -> f32 {
    let (ix, iy) = (x.floor(), y.floor());
    let (fx, fy) = (x - ix, y - iy);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let top = hash(ix, iy) + (hash(ix + 1.0, iy) - hash(ix, iy)) * sx;
    let bottom = hash(ix, iy + 1.0) + (hash(ix + 1.0, iy + 1.0) - hash(ix, iy + 1.0)) * sx;
    top + (bottom - top) * sy
}

fn scale(colour: [f32; 3], by: f32) -> [f32; 3] {
    colour.map(|c| c * by)
}

/// Wood: stripes of grain along `along`, varying across `across`.
fn wood(colour: [f32; 3], along: f32, across: f32) -> [f32; 3] {
    let grain = (across * 40.0 + value_noise(along * 2.0, across * 8.0) * 6.0).sin() * 0.5 + 0.5;
    scale(colour, 0.85 + 0.15 * grain)
}

/// How far `point` lies inside the face of `block` it is on, in metres from the nearest edge.
fn edge_distance(block: &Block, point: Vec3, normal: Vec3) -> f32 {
    let inside = (point - block.min).min(block.max - point);
    let axes = [inside.x, inside.y, inside.z];
    let across = normal.abs().max_position();
    axes.iter()
        .enumerate()
        .filter(|(axis, _)| *axis != across)
        .map(|(_, d)| *d)
        .fold(f32::MAX, f32::min)
}

/// The colour of `material` at `point`, on a face with `normal` of `block` (None for the room's
/// own walls, floor and ceiling).
pub fn albedo(material: Material, block: Option<&Block>, point: Vec3, normal: Vec3) -> [f32; 3] {
    match material {
        Material::Wall => {
            let plaster = value_noise(point.x * 3.0 + point.z * 3.0, point.y * 3.0) * 0.04
                + hash((point.x * 90.0).floor(), (point.y * 90.0 + point.z * 90.0).floor()) * 0.02;
            [0.5 + plaster, 0.45 + plaster, 0.32 + plaster]
        }
        Material::Baseboard => [0.85, 0.84, 0.8],
        Material::Floor => {
            // Planks 20 cm wide, 1.2 m long, their ends staggered from row to row.
            let row = (point.x * 5.0).floor();
            let along = point.z / 1.2 + hash(row, 3.0);
            let plank = along.floor();
            let tone = 0.8 + 0.2 * hash(row, plank);
            // rem_euclid, not fract: fract of a negative coordinate is negative, which made every
            // plank left of the centre line one long dark seam.
            let seam = (point.x * 5.0).rem_euclid(1.0) < 0.025 || along.rem_euclid(1.0) < 0.006;
            let colour = wood(scale([0.5, 0.34, 0.2], tone), point.z, point.x + plank * 0.37);
            scale(colour, if seam { 0.55 } else { 1.0 })
        }
        Material::Ceiling => [0.9, 0.9, 0.88],
        Material::Fabric(colour) => {
            let weave =
                hash((point.x * 120.0).floor(), (point.y * 120.0 + point.z * 120.0).floor());
            scale(colour, 0.94 + 0.06 * weave)
        }
        Material::Cushion(colour) => {
            let weave =
                hash((point.x * 120.0).floor(), (point.y * 120.0 + point.z * 120.0).floor());
            // Edges round off and seams sink: darker towards the rim.
            let edge = block.map_or(1.0, |b| (edge_distance(b, point, normal) / 0.05).min(1.0));
            let rounding = 0.6 + 0.4 * edge * (2.0 - edge);
            let sag = value_noise(point.x * 4.0, point.y * 4.0 + point.z * 4.0) * 0.08;
            scale(colour, (0.94 + 0.06 * weave - sag) * rounding)
        }
        Material::Wood(colour) => {
            let (along, across) = if normal.x.abs() > 0.5 {
                (point.z, point.y)
            } else {
                (point.x, point.y + point.z)
            };
            wood(colour, along, across)
        }
        Material::CabinetFront(colour) => {
            let base = wood(colour, point.z, point.y);
            if normal.x < 0.5 {
                return base;
            }
            // Two doors below, two drawers above, with dark grooves between them.
            let groove = (point.z - 0.35).abs() < 0.006 || (point.y - 0.62).abs() < 0.006;
            scale(base, if groove { 0.35 } else { 1.0 })
        }
        Material::Metal => [0.55, 0.55, 0.56],
        Material::Books => book_spines(point),
        Material::Rug => rug_weave(point),
        Material::Window => {
            // Bright sky above a band of distant greenery.
            if point.y < 1.25 + 0.08 * (point.z * 9.0).sin() {
                [0.35, 0.5, 0.3]
            } else {
                [0.8, 0.9, 1.0]
            }
        }
        Material::WindowFrame => [0.9, 0.9, 0.88],
        Material::Clothes(colour) => {
            let weave =
                hash((point.y * 160.0).floor(), (point.x * 160.0 + point.z * 160.0).floor());
            let folds = value_noise(point.y * 9.0, point.x * 9.0 + point.z * 9.0) * 0.15;
            scale(colour, 0.9 + 0.06 * weave - folds)
        }
        Material::Skin(colour) => colour,
        Material::Head { centre, facing, skin, hair } => {
            head_colour((point - centre).normalize_or_zero(), facing, skin, hair)
        }
        Material::Curtain(colour) => {
            let fold = (point.z * 40.0).sin() * 0.5 + 0.5;
            scale(colour, 0.7 + 0.3 * fold)
        }
        Material::Painting => {
            // A framed landscape: sky, hills, a field, inside a dark frame.
            let (u, v) = ((point.x + 0.7) / 1.4, (point.y - 1.35) / 0.75);
            if u.min(1.0 - u) < 0.03 || v.min(1.0 - v) < 0.05 {
                return [0.08, 0.06, 0.05];
            }
            let hills = 0.45 + 0.08 * (u * 7.0).sin() + 0.05 * (u * 17.0).cos();
            if v > hills {
                [0.45 + 0.3 * v, 0.55 + 0.25 * v, 0.75]
            } else if v > hills - 0.15 {
                [0.2, 0.35, 0.18]
            } else {
                [0.6, 0.5, 0.2 + 0.1 * (u * 30.0).sin()]
            }
        }
    }
}

/// The head at direction `offset` from its centre (unit length), looking along `facing`: hair
/// above the brow, over the temples and behind; a face with eyes, brows, a nose's shadow and
/// lips in front.
fn head_colour(offset: Vec3, facing: Vec3, skin: [f32; 3], hair: [f32; 3]) -> [f32; 3] {
    let ahead = offset.dot(facing);
    let across = offset.dot(facing.cross(Vec3::Y).normalize_or_zero());
    let up = offset.y;
    let temples = across.abs() > 0.75 && up > -0.05;
    if up > 0.35 || ahead < up * 0.3 - 0.2 || temples {
        return hair;
    }
    if ahead < 0.55 {
        return skin;
    }
    // Features by their place on the face: `eye` is how far from either eye's centre line.
    let eye = (across.abs() - 0.32).abs();
    match up {
        _ if (0.21..0.27).contains(&up) && eye < 0.13 => hair,
        _ if (0.06..0.16).contains(&up) && eye < 0.09 => {
            if eye < 0.035 {
                [0.12, 0.08, 0.05]
            } else {
                [0.86, 0.83, 0.8]
            }
        }
        _ if (-0.19..-0.11).contains(&up) && across.abs() < 0.08 => scale(skin, 0.7),
        _ if (-0.42..-0.34).contains(&up) && across.abs() < 0.2 => [0.6, 0.26, 0.24],
        // The cheeks and chin turn away from the light a little.
        _ => scale(skin, 0.92 + 0.08 * ahead),
    }
}

/// The bookcase's books: spines 2-5 cm wide in varied colours; above a book's top the shelf's
/// back shows.
fn book_spines(point: Vec3) -> [f32; 3] {
    // Spines 2-5 cm wide in varied colours; above a book's top the shelf's back shows.
    let spine = (point.x * 30.0).floor();
    let height = 0.2 + 0.1 * hash(spine, 7.0);
    let shelf_bottom = (point.y / 0.5).floor() * 0.5 + 0.06;
    if point.y - shelf_bottom > height {
        return scale(WALNUT, 0.5);
    }
    let palette = [
        [0.45, 0.1, 0.08],
        [0.1, 0.18, 0.32],
        [0.7, 0.62, 0.45],
        [0.15, 0.3, 0.18],
        [0.1, 0.1, 0.1],
        [0.6, 0.4, 0.1],
    ];
    let colour = palette[(hash(spine, 1.0) * palette.len() as f32) as usize % palette.len()];
    let rim = if (point.x * 30.0).rem_euclid(1.0) < 0.08 { 0.6 } else { 1.0 };
    scale(colour, rim)
}

/// The rug: a border band around a field with a soft woven pattern.
fn rug_weave(point: Vec3) -> [f32; 3] {
    // A border band around a field with a soft woven pattern.
    let (u, v) = ((point.x + 1.7) / 3.4, (point.z + 3.0) / 2.1);
    let border = u.min(1.0 - u).min(v.min(1.0 - v) * 2.1 / 3.4);
    let pattern = ((u * 24.0).sin() * (v * 16.0).sin()).abs();
    let tuft = hash((point.x * 150.0).floor(), (point.z * 150.0).floor()) * 0.08;
    if border < 0.05 {
        scale([0.28, 0.12, 0.1], 0.92 + tuft)
    } else {
        let field = [0.62, 0.55, 0.44];
        scale(field, 0.84 + 0.12 * pattern + tuft)
    }
}
