//! Resizing pictures, one filter for every use: model inputs, thumbnails, guides, and recordings
//! of frames whose size differs from the clip's. Bilinear, area-aware when shrinking (a triangle
//! filter over the whole footprint), SIMD-accelerated; a no-op at equal size.

use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images};
use image::RgbImage;

/// Pixels that cannot be resized as given.
#[derive(Debug, thiserror::Error)]
#[error("cannot resize a {from_w}x{from_h} picture of {bytes} bytes to {to_w}x{to_h}: {cause}")]
pub struct ResizeError {
    from_w: u32,
    from_h: u32,
    bytes: usize,
    to_w: u32,
    to_h: u32,
    cause: ResizeFailure,
}

/// What the resizer refused.
#[derive(Debug, thiserror::Error)]
enum ResizeFailure {
    #[error("the target size is empty")]
    EmptyTarget,
    #[error("{0}")]
    Pixels(fast_image_resize::ImageBufferError),
    #[error("{0}")]
    Resize(fast_image_resize::ResizeError),
}

/// `pixels` (tightly packed, `kind` per pixel) at `from`, resized to `to`.
fn convolve(
    pixels: &[u8],
    from: (u32, u32),
    to: (u32, u32),
    kind: PixelType,
) -> Result<Vec<u8>, ResizeError> {
    let error = |cause| ResizeError {
        from_w: from.0,
        from_h: from.1,
        bytes: pixels.len(),
        to_w: to.0,
        to_h: to.1,
        cause,
    };
    if to.0 == 0 || to.1 == 0 {
        return Err(error(ResizeFailure::EmptyTarget));
    }
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    let source = images::ImageRef::new(from.0, from.1, pixels, kind)
        .map_err(|e| error(ResizeFailure::Pixels(e)))?;
    let mut target = images::Image::new(to.0, to.1, kind);
    let resized = Resizer::new().resize(&source, &mut target, &options);
    resized.map_err(|e| error(ResizeFailure::Resize(e)))?;
    Ok(target.into_vec())
}

/// `image` at `width` x `height` (each at least 1).
pub fn rgb(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.dimensions() == (width, height) {
        return image.clone();
    }
    let (width, height) = (width.max(1), height.max(1));
    let resized = convolve(image.as_raw(), image.dimensions(), (width, height), PixelType::U8x3)
        .ok()
        .and_then(|pixels| RgbImage::from_raw(width, height, pixels));
    // An `RgbImage` always matches its size, so only an empty source lands here.
    resized.unwrap_or_else(|| RgbImage::new(width, height))
}

/// RGBA bytes of a `from` picture, resized to `to`; an error when the bytes do not hold a
/// `from` picture.
pub fn rgba(pixels: &[u8], from: (u32, u32), to: (u32, u32)) -> Result<Vec<u8>, ResizeError> {
    if from == to {
        return Ok(pixels.to_vec());
    }
    convolve(pixels, from, to, PixelType::U8x4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_picture_stays_flat_and_shrinking_averages() {
        let flat = RgbImage::from_pixel(64, 48, image::Rgb([10, 200, 30]));
        assert!(rgb(&flat, 17, 9).pixels().all(|p| p.0 == [10, 200, 30]));
        // Alternating black and white columns shrunk 4x average to grey (the edge columns, whose
        // footprint is clipped, a few levels off), not to one of them as sampling would.
        let stripes = RgbImage::from_fn(64, 8, |x, _| image::Rgb([(x % 2 * 255) as u8; 3]));
        let small = rgb(&stripes, 16, 2);
        assert!(
            small.pixels().all(|p| (110..=145).contains(&p.0[0])),
            "{:?}",
            small.get_pixel(0, 0)
        );
    }

    #[test]
    fn rgba_bytes_that_are_not_the_stated_picture_are_an_error_not_a_black_frame() {
        let four = vec![255u8; 4 * 4 * 4];
        let scaled = rgba(&four, (4, 4), (2, 2)).expect("a whole picture resizes");
        assert_eq!(scaled, vec![255u8; 2 * 2 * 4]);
        let error = rgba(&four[..30], (4, 4), (2, 2)).expect_err("30 bytes are not 4x4 RGBA");
        assert!(error.to_string().contains("4x4 picture of 30 bytes"), "{error}");
    }
}
