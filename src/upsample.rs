//! Edge-aware upsampling of low-resolution analysis maps to frame size on the CPU, guided by the
//! frame: joint bilateral upsampling (Kopf et al. 2007). Used by headless export; the live path
//! does the same on the GPU.
//!
//! Each output pixel blends the 4x4 nearest low-resolution samples, weighted by distance
//! (spatial Gaussian) and by how close the sample's guide colour is to the pixel's own colour
//! (range Gaussian). Class maps use the same weights as a weighted vote, so borders follow the
//! picture's edges instead of the model's coarse grid.

use glam::Vec3;
use image::RgbImage;

use crate::{
    region_colour::RegionColour,
    resize,
    scene::{ClassMap, GUIDED_CELL, GUIDED_EPS, GUIDED_RADIUS, ScalarMap},
};

/// Filter strengths.
#[derive(Debug, Clone, Copy)]
pub struct JointBilateral {
    /// Spatial sigma in low-resolution pixels.
    pub sigma_spatial: f32,
    /// Range sigma in 0..255 colour units.
    pub sigma_range: f32,
}

impl JointBilateral {
    /// For class maps: a wider colour range lets the vote fill textured regions.
    pub fn for_classes() -> Self {
        Self { sigma_spatial: 1.0, sigma_range: 24.0 }
    }

    /// For soft maps (person, depth): a narrow colour range stops at edges.
    pub fn for_maps() -> Self {
        Self { sigma_spatial: 1.0, sigma_range: 16.0 }
    }
}

const TAPS: usize = 16;

/// Precomputed taps of one output pixel: low-resolution indices and weights.
struct PixelTaps {
    index: [u32; TAPS],
    weight: [f32; TAPS],
}

/// Computes the taps for every output pixel of one row.
fn row_taps(
    y: u32,
    guide: &RgbImage,
    guide_low: &RgbImage,
    filter: JointBilateral,
    out: &mut Vec<PixelTaps>,
) {
    let (width, height) = guide.dimensions();
    let (low_w, low_h) = guide_low.dimensions();
    let sx = low_w as f32 / width as f32;
    let sy = low_h as f32 / height as f32;
    let inv_2ss = 1.0 / (2.0 * filter.sigma_spatial * filter.sigma_spatial);
    let inv_2sr = 1.0 / (2.0 * filter.sigma_range * filter.sigma_range);
    let low = guide_low.as_raw();
    let fy = (y as f32 + 0.5) * sy - 0.5;
    let y0 = fy.floor() as i32 - 1;
    out.clear();
    for x in 0..width {
        let fx = (x as f32 + 0.5) * sx - 0.5;
        let x0 = fx.floor() as i32 - 1;
        let px = guide.get_pixel(x, y).0;
        let mut taps = PixelTaps { index: [0; TAPS], weight: [0.0; TAPS] };
        let mut total = 0.0;
        for j in 0..4 {
            let ly = (y0 + j).clamp(0, low_h as i32 - 1);
            let dy = ly as f32 - fy;
            for i in 0..4 {
                let lx = (x0 + i).clamp(0, low_w as i32 - 1);
                let dx = lx as f32 - fx;
                let index = (ly as u32 * low_w + lx as u32) as usize;
                let q = &low[index * 3..index * 3 + 3];
                let dc = (px[0] as f32 - q[0] as f32).powi(2)
                    + (px[1] as f32 - q[1] as f32).powi(2)
                    + (px[2] as f32 - q[2] as f32).powi(2);
                let w = (-(dx * dx + dy * dy) * inv_2ss - dc * inv_2sr).exp();
                let t = (j * 4 + i) as usize;
                taps.index[t] = index as u32;
                taps.weight[t] = w;
                total += w;
            }
        }
        // A pixel unlike all its neighbours keeps plain spatial weights rather than dividing by ~0.
        if total < 1e-12 {
            for (t, w) in taps.weight.iter_mut().enumerate() {
                let (i, j) = ((t % 4) as f32, (t / 4) as f32);
                let dx = (x0 as f32 + i) - fx;
                let dy = (y0 as f32 + j) - fy;
                *w = (-(dx * dx + dy * dy) * inv_2ss).exp();
            }
            total = taps.weight.iter().sum();
        }
        for w in &mut taps.weight {
            *w /= total;
        }
        out.push(taps);
    }
}

/// Runs `per_row` over output rows on all cores.
fn for_each_row<T: Send>(
    guide: &RgbImage,
    guide_low: &RgbImage,
    filter: JointBilateral,
    output: &mut [T],
    per_row: impl Fn(&[PixelTaps], &mut [T]) + Sync,
) {
    let width = guide.width() as usize;
    let rows = guide.height() as usize;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(rows.max(1));
    let rows_per_worker = rows.div_ceil(workers);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in output.chunks_mut(rows_per_worker * width).enumerate() {
            let per_row = &per_row;
            scope.spawn(move || {
                let mut taps = Vec::with_capacity(width);
                for (r, row) in chunk.chunks_mut(width).enumerate() {
                    let y = (chunk_index * rows_per_worker + r) as u32;
                    row_taps(y, guide, guide_low, filter, &mut taps);
                    per_row(&taps, row);
                }
            });
        }
    });
}

/// Upsamples a scalar map (mask, depth) to the guide's size.
pub fn upsample_scalar(map: &ScalarMap, guide: &RgbImage, filter: JointBilateral) -> ScalarMap {
    let guide_low = resize::rgb(guide, map.width, map.height);
    let mut values = vec![0f32; (guide.width() * guide.height()) as usize];
    for_each_row(guide, &guide_low, filter, &mut values, |taps, row| {
        for (out, tap) in row.iter_mut().zip(taps) {
            *out =
                tap.index.iter().zip(&tap.weight).map(|(&i, &w)| map.values[i as usize] * w).sum();
        }
    });
    ScalarMap { width: guide.width(), height: guide.height(), values }
}

/// GLSL's and WGSL's `smoothstep`.
fn smoothstep(from: f32, to: f32, x: f32) -> f32 {
    let t = ((x - from) / (to - from)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Region masks from region membership, as the compositor's analysis pass makes them: a short
/// anti-aliased transition around `threshold`. A pixel is in a region where its mask passes 0.5.
pub fn region_masks(membership: &mut [f32], threshold: f32) {
    for value in membership {
        *value = smoothstep(threshold - 0.05, threshold + 0.05, *value);
    }
}

/// Takes out of each region set with a colour model (`models[k]`) the pixels whose colour is
/// unlike its colour, as the compositor's analysis pass does: each set's membership (from
/// [`guided_membership`], `models.len()` values per pixel) scaled by what
/// [`RegionColour::keep`] keeps, before [`region_masks`].
pub fn keep_region_colours(
    membership: &mut [f32],
    models: &[Option<RegionColour>],
    frame: &RgbImage,
) {
    let k = models.len().max(1);
    for (pixel, rgb) in membership.chunks_exact_mut(k).zip(frame.pixels()) {
        let colour = Vec3::from_array(rgb.0.map(|c| f32::from(c) / 255.0));
        for (value, model) in pixel.iter_mut().zip(models) {
            if let Some(model) = model {
                *value *= model.keep(colour);
            }
        }
    }
}

/// Keeps people out of the region sets that spare them (`spares[k]`), as the compositor's
/// analysis pass does: each such set's mask (from [`region_masks`], `spares.len()` values per
/// pixel) is scaled down where the frame-size person mask says someone is.
pub fn spare_people(masks: &mut [f32], spares: &[bool], person: &ScalarMap) {
    let k = spares.len().max(1);
    let (from, to) = crate::render::SPARED_PERSON;
    for (pixel, &p) in masks.chunks_exact_mut(k).zip(&person.values) {
        let someone = smoothstep(from, to, p);
        for (value, &spare) in pixel.iter_mut().zip(spares) {
            if spare {
                *value *= 1.0 - someone;
            }
        }
    }
}

/// Region membership of every pixel of `frame` in each class set, refined by the picture: a
/// fast guided filter (He and Sun 2015) of the map's [`ClassMap::set_membership`] against the
/// frame's colour, fitted on a grid of `GUIDED_CELL`-pixel square averages and applied per pixel. The CPU twin
/// of the compositor's guided passes (`guided.wgsl`), for `bench regions`. `sets.len()` values
/// per pixel.
pub fn guided_membership(map: &ClassMap, sets: &[Vec<u8>], frame: &RgbImage) -> Vec<f32> {
    let k = sets.len();
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let cell_px = GUIDED_CELL as usize;
    let (gw, gh) = ((width / cell_px).max(1), (height / cell_px).max(1));
    let colour = cell_colours(frame, (gw, gh), cell_px);
    // Membership sampled bilinearly at each grid cell's centre.
    let (mw, mh) = map.region_grid();
    let low = map.set_membership(sets);
    let sample = sample_bilinear;
    let mut membership = vec![0f32; gw * gh * k];
    for (cell, out) in membership.chunks_exact_mut(k.max(1)).enumerate() {
        let (u, v) =
            (((cell % gw) as f32 + 0.5) / gw as f32, ((cell / gw) as f32 + 0.5) / gh as f32);
        sample(&low, (mw as usize, mh as usize), k, u, v, out);
    }
    // Per cell and set: a (3) and b, fitted over the window, then averaged over it.
    let window = |cell: usize| {
        let (cx, cy) = ((cell % gw) as isize, (cell / gw) as isize);
        let r = GUIDED_RADIUS as isize;
        (-r..=r).flat_map(move |j| {
            (-r..=r).map(move |i| {
                let x = (cx + i).clamp(0, gw as isize - 1) as usize;
                let y = (cy + j).clamp(0, gh as isize - 1) as usize;
                y * gw + x
            })
        })
    };
    let n = ((2 * GUIDED_RADIUS + 1) * (2 * GUIDED_RADIUS + 1)) as f32;
    let mut coefficients = vec![[0f32; 4]; gw * gh * k];
    for cell in 0..gw * gh {
        let (mut mi, mut ii, mut mp) = ([0f32; 3], [[0f32; 3]; 3], vec![0f32; k]);
        let mut ip = vec![[0f32; 3]; k];
        for t in window(cell) {
            let c = colour[t];
            for a in 0..3 {
                mi[a] += c[a];
                for b in 0..3 {
                    ii[a][b] += c[a] * c[b];
                }
            }
            for s in 0..k {
                let p = membership[t * k + s];
                mp[s] += p;
                for a in 0..3 {
                    ip[s][a] += c[a] * p;
                }
            }
        }
        let mi = mi.map(|v| v / n);
        let mut sigma = [[0f32; 3]; 3];
        for a in 0..3 {
            for b in 0..3 {
                sigma[a][b] = ii[a][b] / n - mi[a] * mi[b] + if a == b { GUIDED_EPS } else { 0.0 };
            }
        }
        let inverse = inverse3(sigma);
        for s in 0..k {
            let mean_p = mp[s] / n;
            let cov: [f32; 3] = std::array::from_fn(|a| ip[s][a] / n - mi[a] * mean_p);
            let a: [f32; 3] =
                std::array::from_fn(|row| (0..3).map(|col| inverse[row][col] * cov[col]).sum());
            let b = mean_p - (0..3).map(|c| a[c] * mi[c]).sum::<f32>();
            coefficients[cell * k + s] = [a[0], a[1], a[2], b];
        }
    }
    let mut averaged = vec![0f32; gw * gh * k * 4];
    for cell in 0..gw * gh {
        for t in window(cell) {
            for s in 0..k {
                for (c, v) in coefficients[t * k + s].iter().enumerate() {
                    averaged[(cell * k + s) * 4 + c] += v / n;
                }
            }
        }
    }
    // Applied at every pixel with the coefficients sampled bilinearly.
    let mut values = vec![0f32; width * height * k];
    let mut here = vec![0f32; k * 4];
    for (pixel, out) in values.chunks_exact_mut(k.max(1)).enumerate() {
        let (x, y) = (pixel % width, pixel / width);
        let (u, v) = ((x as f32 + 0.5) / width as f32, (y as f32 + 0.5) / height as f32);
        sample(&averaged, (gw, gh), k * 4, u, v, &mut here);
        let p = frame.get_pixel(x as u32, y as u32).0.map(|q| f32::from(q) / 255.0);
        for (s, o) in out.iter_mut().enumerate() {
            let c = &here[s * 4..s * 4 + 4];
            *o = c[0] * p[0] + c[1] * p[1] + c[2] * p[2] + c[3];
        }
    }
    values
}

/// `frame` averaged over each `cell_px`-pixel square of a `grid`-cell grid, 0..1.
fn cell_colours(frame: &RgbImage, (gw, gh): (usize, usize), cell_px: usize) -> Vec<[f32; 3]> {
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let mut colour = vec![[0f32; 3]; gw * gh];
    for (cell, c) in colour.iter_mut().enumerate() {
        let (gx, gy) = (cell % gw, cell / gw);
        let mut n = 0.0;
        for y in (gy * cell_px..(gy + 1) * cell_px).filter(|&y| y < height) {
            for x in (gx * cell_px..(gx + 1) * cell_px).filter(|&x| x < width) {
                let p = frame.get_pixel(x as u32, y as u32).0;
                for (v, q) in c.iter_mut().zip(p) {
                    *v += f32::from(q) / 255.0;
                }
                n += 1.0;
            }
        }
        c.iter_mut().for_each(|v| *v /= f32::max(n, 1.0));
    }
    colour
}

/// `values` (a `w` x `h` grid of `per` values each, at cell centres) sampled bilinearly at
/// `(u, v)` (0..1, clamped at the borders) into `out`.
fn sample_bilinear(
    values: &[f32],
    (w, h): (usize, usize),
    per: usize,
    u: f32,
    v: f32,
    out: &mut [f32],
) {
    let x = (u * w as f32 - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (v * h as f32 - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    for (s, o) in out.iter_mut().enumerate().take(per) {
        let at = |xx: usize, yy: usize| values[(yy * w + xx) * per + s];
        *o = (at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx) * (1.0 - fy)
            + (at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx) * fy;
    }
}

/// The inverse of a 3x3 matrix with a positive determinant (a covariance plus a ridge).
fn inverse3(m: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let cofactor = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det: f32 = (0..3).map(|c| m[0][c] * cofactor(0, c)).sum();
    std::array::from_fn(|r| std::array::from_fn(|c| cofactor(c, r) / det))
}

/// Upsamples a class map to the guide's size by a joint-bilateral weighted vote.
pub fn upsample_classes(map: &ClassMap, guide: &RgbImage, filter: JointBilateral) -> ClassMap {
    let guide_low = resize::rgb(guide, map.width, map.height);
    let mut classes = vec![0u8; (guide.width() * guide.height()) as usize];
    for_each_row(guide, &guide_low, filter, &mut classes, |taps, row| {
        for (out, tap) in row.iter_mut().zip(taps) {
            let mut votes: [(u8, f32); TAPS] = [(0, 0.0); TAPS];
            let mut used = 0;
            for (&i, &w) in tap.index.iter().zip(&tap.weight) {
                let class = map.classes[i as usize];
                match votes[..used].iter_mut().find(|(c, _)| *c == class) {
                    Some(vote) => vote.1 += w,
                    None => {
                        votes[used] = (class, w);
                        used += 1;
                    }
                }
            }
            *out = votes[..used].iter().max_by(|a, b| a.1.total_cmp(&b.1)).map_or(0, |v| v.0);
        }
    });
    ClassMap {
        width: guide.width(),
        height: guide.height(),
        classes,
        labels: map.labels.clone(),
        probabilities: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame split into a dark left half and a bright right half at a column that is not on the
    /// low-resolution grid; the upsampled mask must switch exactly at the frame's edge.
    #[test]
    fn mask_edges_follow_the_guide_not_the_grid() {
        let (width, height, edge) = (64u32, 8u32, 27u32);
        let guide = RgbImage::from_fn(width, height, |x, _| {
            if x < edge { image::Rgb([20, 20, 20]) } else { image::Rgb([230, 230, 230]) }
        });
        let low_w = 8;
        let low = ScalarMap {
            width: low_w,
            height: 1,
            values: (0..low_w)
                .map(|x| if (x * width / low_w) < edge { 0.0 } else { 1.0 })
                .collect(),
        };
        let up = upsample_scalar(&low, &guide, JointBilateral::for_maps());
        for x in 0..width {
            let v = up.at(x, 4);
            if x < edge - 1 {
                assert!(v < 0.2, "x={x} v={v}");
            } else if x > edge {
                assert!(v > 0.8, "x={x} v={v}");
            }
        }
    }
}
