//! A person who walks into the demo room now and then and back out, so portrait effects
//! (background blur, background replacement) have someone to find. They come from behind the
//! camera on the right, walk away from it towards the sofa, turn, and walk back past the camera on
//! its left, so they enter and leave the picture across its edges, never appearing in the middle
//! of it. The figure is made of capsules (limbs, torso, head) that swing as a walk does; like the
//! room, it is ray cast, and its pixels are labelled exactly.

use glam::{Vec2, Vec3};

use super::room::Material;

/// The walk repeats with this period.
const PERIOD_S: f32 = 20.0;
/// When, within each period, the person starts walking.
const START_S: f32 = 6.0;
/// Walking speed, metres a second.
const SPEED: f32 = 1.0;
/// The walk's corners on the floor (x, z): behind the camera on the right (the camera stands
/// near z = 3.6), the turn in front of the coffee table, behind the camera on the left.
const PATH: [Vec2; 3] = [Vec2::new(1.3, 4.4), Vec2::new(0.3, 0.0), Vec2::new(-1.5, 4.4)];
/// One stride (a step with each foot), metres.
const STRIDE: f32 = 1.3;

const SKIN: [f32; 3] = [0.62, 0.4, 0.3];
const HAIR: [f32; 3] = [0.05, 0.035, 0.025];
const SHIRT: [f32; 3] = [0.55, 0.08, 0.07];
const JEANS: [f32; 3] = [0.07, 0.1, 0.2];
const SHOES: [f32; 3] = [0.04, 0.04, 0.04];

/// Where on [`PATH`] the person is after walking `walked` metres, and which way they face;
/// `None` before the walk and after it.
fn on_path(walked: f32) -> Option<(Vec2, Vec2)> {
    if walked < 0.0 {
        return None;
    }
    let mut left = walked;
    for leg in PATH.windows(2) {
        let (from, to) = (leg[0], leg[1]);
        let length = from.distance(to);
        let heading = (to - from) / length;
        if left < length {
            return Some((from + heading * left, heading));
        }
        left -= length;
    }
    None
}

/// A segment from `a` to `b` thickened by `radius`.
pub struct Limb {
    /// One end of its axis.
    pub a: Vec3,
    /// The other end.
    pub b: Vec3,
    /// Its thickness around the axis, metres.
    pub radius: f32,
    /// What it is made of (clothes, skin, the head).
    pub material: Material,
}

impl Limb {
    /// Distance along the unit ray `origin + t dir` to where it enters the capsule, if it does.
    fn hit(&self, origin: Vec3, dir: Vec3) -> Option<f32> {
        let (ba, oa) = (self.b - self.a, origin - self.a);
        let (baba, bard, baoa) = (ba.dot(ba), ba.dot(dir), ba.dot(oa));
        let (rdoa, oaoa) = (dir.dot(oa), oa.dot(oa));
        let r2 = self.radius * self.radius;
        let a = baba - bard * bard;
        let b = baba * rdoa - baoa * bard;
        let c = baba * oaoa - baoa * baoa - r2 * baba;
        let h = b * b - a * c;
        if h < 0.0 {
            return None;
        }
        // The side of the cylinder, where the ray meets it between the two ends; a ray along the
        // axis meets the end it comes from first.
        let along = if a > 1e-9 {
            let t = (-b - h.sqrt()) / a;
            let along = baoa + t * bard;
            if along > 0.0 && along < baba {
                return (t > 1e-4).then_some(t);
            }
            along
        } else if bard > 0.0 {
            -1.0
        } else {
            baba + 1.0
        };
        // Else one of the rounded ends.
        let oc = if along <= 0.0 { oa } else { origin - self.b };
        let (b, c) = (dir.dot(oc), oc.dot(oc) - r2);
        let h = b * b - c;
        let t = -b - h.max(0.0).sqrt();
        (h > 0.0 && t > 1e-4).then_some(t)
    }

    /// The outward normal at `point` on the capsule's surface.
    pub fn normal(&self, point: Vec3) -> Vec3 {
        (point - self.nearest(point)).normalize_or_zero()
    }

    /// The nearest point of the segment to `point`.
    fn nearest(&self, point: Vec3) -> Vec3 {
        let ba = self.b - self.a;
        let along = ((point - self.a).dot(ba) / ba.length_squared().max(1e-9)).clamp(0.0, 1.0);
        self.a + ba * along
    }

    /// Distance from `point` to the capsule's surface (0 inside), and the surface's nearest point.
    pub fn to_surface(&self, point: Vec3) -> (f32, Vec3) {
        let axis = self.nearest(point);
        let offset = point - axis;
        let length = offset.length();
        let surface = axis + offset * (self.radius / length.max(1e-6));
        ((length - self.radius).max(0.0), surface)
    }
}

/// The walking person at time `t_s`, or nothing while they are out of the room.
pub struct Person {
    /// The figure's capsules.
    pub limbs: Vec<Limb>,
    /// The corner of the box around them with the smallest coordinates.
    pub min: Vec3,
    /// The opposite corner.
    pub max: Vec3,
}

impl Person {
    /// Where the person is at `t_s`; `None` between walks.
    pub fn at(t_s: f32) -> Option<Self> {
        let walked = (t_s.rem_euclid(PERIOD_S) - START_S) * SPEED;
        let (position, heading) = on_path(walked)?;
        let phase = walked / STRIDE * std::f32::consts::TAU;
        let forward = Vec3::new(heading.x, 0.0, heading.y);
        // The person's left-to-right across their body.
        let side_of = forward.cross(Vec3::Y);
        let at = |side: f32, y: f32| Vec3::new(position.x, y, position.y) + side_of * side;
        let mut limbs = Vec::new();
        let mut limb = |a: Vec3, b: Vec3, radius: f32, material: Material| {
            limbs.push(Limb { a, b, radius, material });
        };
        // The body rises a little at each step (twice a stride).
        let bob = 0.02 * (2.0 * phase).cos();
        let hip_y = 0.93 + bob;
        for (side, swing) in [(-1.0f32, phase.sin()), (1.0, -phase.sin())] {
            // Legs: thigh and shin, the knee bending as the leg swings back.
            let hip = at(side * 0.09, hip_y);
            let thigh = 0.45 * swing;
            let knee = hip + (forward * thigh.sin() - Vec3::Y * thigh.cos()) * 0.45;
            let shin = thigh - 0.35 * (1.0 - swing);
            let ankle = knee + (forward * shin.sin() - Vec3::Y * shin.cos()) * 0.42;
            limb(hip, knee, 0.075, Material::Clothes(JEANS));
            limb(knee, ankle, 0.06, Material::Clothes(JEANS));
            limb(ankle, ankle + forward * 0.16, 0.045, Material::Clothes(SHOES));
            // Arms swing against the leg on their side.
            let shoulder = at(side * 0.2, hip_y + 0.5);
            let arm = -0.35 * swing;
            let elbow = shoulder + (forward * arm.sin() - Vec3::Y * arm.cos()) * 0.3;
            let forearm = arm + 0.25;
            let wrist = elbow + (forward * forearm.sin() - Vec3::Y * forearm.cos()) * 0.26;
            limb(shoulder, elbow, 0.05, Material::Clothes(SHIRT));
            limb(elbow, wrist, 0.042, Material::Skin(SKIN));
            limb(wrist, wrist - Vec3::Y * 0.06, 0.04, Material::Skin(SKIN));
        }
        // Torso (two capsules side by side for the shoulders' width), neck and head.
        for side in [-1.0f32, 1.0] {
            let (low, high) = (at(side * 0.08, hip_y + 0.05), at(side * 0.08, hip_y + 0.47));
            limb(low, high, 0.13, Material::Clothes(SHIRT));
        }
        let neck = at(0.0, hip_y + 0.55) + forward * 0.01;
        limb(neck, neck + Vec3::Y * 0.08, 0.05, Material::Skin(SKIN));
        let head = neck + Vec3::Y * 0.2 + forward * 0.02;
        let head_material =
            Material::Head { centre: head, facing: forward, skin: SKIN, hair: HAIR };
        limb(head - Vec3::Y * 0.03, head + Vec3::Y * 0.03, 0.1, head_material);
        let min = limbs.iter().fold(Vec3::INFINITY, |m, l| m.min(l.a.min(l.b) - l.radius));
        let max = limbs.iter().fold(Vec3::NEG_INFINITY, |m, l| m.max(l.a.max(l.b) + l.radius));
        Some(Self { limbs, min, max })
    }

    /// The nearest limb the ray meets before `limit`, and the distance to it.
    pub fn hit(&self, origin: Vec3, dir: Vec3, limit: f32) -> Option<(f32, &Limb)> {
        let inv = dir.recip();
        super::slab(origin, inv, self.min, self.max)?;
        self.limbs
            .iter()
            .filter_map(|limb| limb.hit(origin, dir).map(|t| (t, limb)))
            .filter(|(t, _)| *t < limit)
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }
}
