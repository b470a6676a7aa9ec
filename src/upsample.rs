//! Edge-aware upsampling of low-resolution analysis maps to frame size on the CPU, guided by the
//! frame: joint bilateral upsampling (Kopf et al. 2007). Used by headless export; the live path
//! does the same on the GPU.
//!
//! Each output pixel blends the 4x4 nearest low-resolution samples, weighted by distance
//! (spatial Gaussian) and by how close the sample's guide colour is to the pixel's own colour
//! (range Gaussian). Class maps use the same weights as a weighted vote, so borders follow the
//! picture's edges instead of the model's coarse grid.

use image::RgbImage;

use crate::{
    resize,
    scene::{ClassMap, ScalarMap},
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

/// Runs `per_row` over output rows (`per_pixel` values a pixel) on all cores.
fn for_each_row<T: Send>(
    guide: &RgbImage,
    guide_low: &RgbImage,
    filter: JointBilateral,
    output: &mut [T],
    per_pixel: usize,
    per_row: impl Fn(&[PixelTaps], &mut [T]) + Sync,
) {
    let width = guide.width() as usize;
    let row_len = width * per_pixel.max(1);
    let rows = guide.height() as usize;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(rows.max(1));
    let rows_per_worker = rows.div_ceil(workers);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in output.chunks_mut(rows_per_worker * row_len).enumerate() {
            let per_row = &per_row;
            scope.spawn(move || {
                let mut taps = Vec::with_capacity(width);
                for (r, row) in chunk.chunks_mut(row_len).enumerate() {
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
    for_each_row(guide, &guide_low, filter, &mut values, 1, |taps, row| {
        for (out, tap) in row.iter_mut().zip(taps) {
            *out =
                tap.index.iter().zip(&tap.weight).map(|(&i, &w)| map.values[i as usize] * w).sum();
        }
    });
    ScalarMap { width: guide.width(), height: guide.height(), values }
}

/// Membership of every pixel of the guide in each class set (`sets[k]` lists its class ids),
/// `sets.len()` values per pixel: the map's [`ClassMap::set_membership`] on its region grid,
/// blended joint-bilaterally as the compositor's analysis pass blends it.
pub fn upsample_membership(
    map: &ClassMap,
    sets: &[Vec<u8>],
    guide: &RgbImage,
    filter: JointBilateral,
) -> Vec<f32> {
    let (grid_w, grid_h) = map.region_grid();
    let low = map.set_membership(sets);
    let guide_low = resize::rgb(guide, grid_w, grid_h);
    let k = sets.len();
    let mut values = vec![0f32; (guide.width() * guide.height()) as usize * k];
    for_each_row(guide, &guide_low, filter, &mut values, k, |taps, row| {
        for (out, tap) in row.chunks_exact_mut(k.max(1)).zip(taps) {
            for (&i, &w) in tap.index.iter().zip(&tap.weight) {
                for (o, v) in out.iter_mut().zip(&low[i as usize * k..]) {
                    *o += v * w;
                }
            }
        }
    });
    values
}

/// Upsamples a class map to the guide's size by a joint-bilateral weighted vote.
pub fn upsample_classes(map: &ClassMap, guide: &RgbImage, filter: JointBilateral) -> ClassMap {
    let guide_low = resize::rgb(guide, map.width, map.height);
    let mut classes = vec![0u8; (guide.width() * guide.height()) as usize];
    for_each_row(guide, &guide_low, filter, &mut classes, 1, |taps, row| {
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
