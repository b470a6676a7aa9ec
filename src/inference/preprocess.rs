//! Contract-driven preprocessing: resize, normalise and lay out an RGB image as the model's input.

use image::RgbImage;
use ndarray::Array4;

use crate::store::manifest::{InputContract, Layout};

/// The input size for an image: the contract's fixed size, or the image's own size rounded down
/// to `multiple_of` (at least one multiple).
pub fn input_size(contract: &InputContract, image_width: u32, image_height: u32) -> (u32, u32) {
    let m = contract.multiple_of.max(1);
    let free = |v: u32| (v / m).max(1) * m;
    (
        contract.width.unwrap_or_else(|| free(image_width)),
        contract.height.unwrap_or_else(|| free(image_height)),
    )
}

/// Builds the `[1, 3, h, w]` or `[1, h, w, 3]` tensor `(px - mean) / std` from an image already
/// at the input size.
pub fn to_tensor(image: &RgbImage, contract: &InputContract) -> Array4<f32> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let scale = contract.std.map(|s| 1.0 / s);
    let mean = contract.mean;
    let pixels = image.as_raw();
    match contract.layout {
        Layout::Nchw => {
            let plane = width * height;
            let mut data = vec![0f32; 3 * plane];
            let (r, rest) = data.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            for (i, px) in pixels.chunks_exact(3).enumerate() {
                r[i] = (px[0] as f32 - mean[0]) * scale[0];
                g[i] = (px[1] as f32 - mean[1]) * scale[1];
                b[i] = (px[2] as f32 - mean[2]) * scale[2];
            }
            Array4::from_shape_vec((1, 3, height, width), data).expect("sizes match")
        }
        Layout::Nhwc => {
            let data = pixels
                .iter()
                .enumerate()
                .map(|(i, &v)| (v as f32 - mean[i % 3]) * scale[i % 3])
                .collect();
            Array4::from_shape_vec((1, height, width, 3), data).expect("sizes match")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(layout: Layout) -> InputContract {
        InputContract {
            name: "x".into(),
            layout,
            width: None,
            height: None,
            multiple_of: 4,
            mean: [128.0, 0.0, 0.0],
            std: [128.0, 255.0, 1.0],
        }
    }

    #[test]
    fn layouts_put_channels_where_the_contract_says() {
        let image = RgbImage::from_raw(2, 1, vec![0, 255, 7, 128, 0, 9]).expect("size");
        let nchw = to_tensor(&image, &contract(Layout::Nchw));
        assert_eq!(nchw.shape(), &[1, 3, 1, 2]);
        assert_eq!(nchw[[0, 0, 0, 0]], -1.0);
        assert_eq!(nchw[[0, 1, 0, 0]], 1.0);
        assert_eq!(nchw[[0, 2, 0, 1]], 9.0);
        let nhwc = to_tensor(&image, &contract(Layout::Nhwc));
        assert_eq!(nhwc.shape(), &[1, 1, 2, 3]);
        assert_eq!(nhwc[[0, 0, 1, 0]], 0.0);
        assert_eq!(nhwc[[0, 0, 0, 2]], 7.0);
    }

    #[test]
    fn free_sizes_round_down_to_the_multiple() {
        assert_eq!(input_size(&contract(Layout::Nchw), 641, 483), (640, 480));
        assert_eq!(input_size(&contract(Layout::Nchw), 2, 2), (4, 4));
    }
}
