//! Colour maths on the CPU: sRGB and luminance for uniforms, half floats for LUT textures, and
//! the per-region mean colour of the frame (a statistic on the model-resolution class map).

use super::ReferencePixels;
use crate::scene::ClassMap;

/// f32 to IEEE half bits (round to nearest), for 16-bit float textures.
pub(super) fn f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let mantissa = bits & 0x7f_ffff;
    if exponent <= 0 {
        return sign;
    }
    if exponent >= 31 {
        return sign | 0x7c00;
    }
    let rounded = (exponent as u32) << 10 | (mantissa + 0x1000) >> 13;
    sign | rounded.min(0x7bff) as u16
}

/// sRGB to linear, one channel.
pub(super) fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// Rec. 709 luminance of an sRGB colour, in linear light.
pub(super) fn linear_luminance(srgb: [f32; 3]) -> f32 {
    let [r, g, b] = srgb.map(srgb_to_linear);
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Half of a frame size, at least one pixel.
pub(super) fn half_size(size: (u32, u32)) -> (u32, u32) {
    (size.0.div_ceil(2), size.1.div_ceil(2))
}

/// The layer uniform's `size` (width, height and their inverses) of a pass at half `size`.
pub(super) fn half_size_uniform(size: (u32, u32)) -> [f32; 4] {
    let (w, h) = half_size(size);
    [w as f32, h as f32, 1.0 / w as f32, 1.0 / h as f32]
}

pub(super) fn srgb4(colour: [f32; 3], a: f32) -> [f32; 4] {
    [colour[0], colour[1], colour[2], a]
}

/// Mean sRGB colour of the frame over the pixels of a region set, sampled on the class map's
/// grid (the reference the repaint and texture shaders relight against), on `reference`: the
/// frame or a smaller copy of it.
pub(super) fn region_mean_colour(
    classes: &ClassMap,
    ids: &[u8],
    reference: ReferencePixels<'_>,
) -> [f32; 3] {
    let mut member = [false; 256];
    for &id in ids {
        member[id as usize] = true;
    }
    let ReferencePixels { bytes: frame, channels, size: (width, height) } = reference;
    let mut sum = [0f64; 3];
    let mut count = 0u64;
    // At most about 64x64 samples: the mean of a region barely moves with more, and this runs
    // on the window thread every frame (every other texel of a 512x512 map cost 1-2 ms there).
    let step = (classes.width.max(classes.height) / 64).max(1) as usize;
    for y in (0..classes.height).step_by(step) {
        let fy = ((y as f32 + 0.5) * height as f32 / classes.height as f32) as u32;
        for x in (0..classes.width).step_by(step) {
            if !member[classes.class_at(x, y) as usize] {
                continue;
            }
            let fx = ((x as f32 + 0.5) * width as f32 / classes.width as f32) as u32;
            let i = ((fy.min(height - 1) * width + fx.min(width - 1)) as usize) * channels;
            for c in 0..3 {
                sum[c] += f64::from(frame[i + c]) / 255.0;
            }
            count += 1;
        }
    }
    if count == 0 {
        return [0.5; 3];
    }
    sum.map(|s| (s / count as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 512x512 map whose left quarter is class 1 over a 1280x720 frame that is red there and
    /// grey elsewhere: the sparse sampling still sees only the region's own colour.
    #[test]
    fn region_mean_colour_is_the_regions_own_colour() {
        let (width, height) = (1280u32, 720u32);
        let classes = ClassMap {
            width: 512,
            height: 512,
            classes: (0..512 * 512).map(|i| u8::from(i % 512 < 128)).collect(),
            labels: vec!["other".to_owned(), "wall".to_owned()].into(),
            probabilities: None,
        };
        let rgba: Vec<u8> = (0..width * height)
            .flat_map(
                |i| if i % width < width / 4 { [200, 40, 20, 255] } else { [90, 90, 90, 255] },
            )
            .collect();
        let reference = |bytes, channels, size| ReferencePixels { bytes, channels, size };
        let mean = region_mean_colour(&classes, &[1], reference(&rgba, 4, (width, height)));
        for (got, want) in mean.iter().zip([200.0, 40.0, 20.0]) {
            assert!((got - want / 255.0).abs() < 1e-6, "{mean:?}");
        }
        let rest = region_mean_colour(&classes, &[0], reference(&rgba, 4, (width, height)));
        let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_eq!(region_mean_colour(&classes, &[1], reference(&rgb, 3, (width, height))), mean);
        assert!(rest.iter().all(|c| (c - 90.0 / 255.0).abs() < 1e-6), "{rest:?}");
        // A copy a tenth of the size (as the page takes it) gives the same means.
        let small: Vec<u8> = (0..128 * 72)
            .flat_map(|i| if i % 128 < 32 { [200, 40, 20, 255] } else { [90, 90, 90, 255] })
            .collect();
        assert_eq!(region_mean_colour(&classes, &[1], reference(&small, 4, (128, 72))), mean);
    }

    #[test]
    fn half_floats_round_trip_common_values() {
        assert_eq!(f16_bits(0.0), 0);
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(0.5), 0x3800);
        assert_eq!(f16_bits(-2.0), 0xc000);
    }
}
