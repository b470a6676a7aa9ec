//! Writing analysis results as image files a person or another program can read.

use std::path::Path;

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

use crate::scene::{ClassMap, DepthMap, PersonMask, Region};

/// Errors writing an output file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {cause}")]
pub struct ExportError {
    /// The file.
    pub path: String,
    /// The encoder or I/O error.
    pub cause: image::ImageError,
}

fn save<P, C>(image: &ImageBuffer<P, C>, path: &Path) -> Result<(), ExportError>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    image.save(path).map_err(|cause| ExportError { path: path.display().to_string(), cause })
}

/// 8-bit grey image whose pixel value is the class id.
pub fn write_classes(map: &ClassMap, path: &Path) -> Result<(), ExportError> {
    let image =
        GrayImage::from_raw(map.width, map.height, map.classes.clone()).expect("sizes match");
    save(&image, path)
}

/// 8-bit grey person probability, 0..255.
pub fn write_person(mask: &PersonMask, path: &Path) -> Result<(), ExportError> {
    let image = GrayImage::from_fn(mask.width, mask.height, |x, y| {
        Luma([(mask.at(x, y) * 255.0).round() as u8])
    });
    save(&image, path)
}

/// 16-bit grey relative inverse depth, 0..65535 (larger = closer).
pub fn write_depth(depth: &DepthMap, path: &Path) -> Result<(), ExportError> {
    let image: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(depth.width, depth.height, |x, y| {
            Luma([(depth.at(x, y).clamp(0.0, 1.0) * 65535.0).round() as u16])
        });
    save(&image, path)
}

/// Colour used for a region in overlays; `None` leaves the photo untinted.
pub fn region_colour(region: Region) -> Option<[u8; 3]> {
    match region {
        Region::Wall => Some([250, 200, 40]),
        Region::Floor => Some([40, 120, 250]),
        Region::Ceiling => Some([60, 230, 230]),
        Region::Furniture => Some([240, 50, 60]),
        Region::WindowCurtain => Some([60, 220, 80]),
        Region::Person => Some([230, 60, 230]),
        Region::Other => None,
    }
}

/// The Turbo colour map (polynomial fit by Mikhailov, 2019), `t` in 0..1.
pub fn turbo(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let poly = |c: [f32; 6]| {
        let v = c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))));
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    [
        poly([0.135_721_4, 4.615_392_6, -42.660_32, 132.131_08, -152.942_4, 59.286_38]),
        poly([0.091_402_61, 2.194_188_4, 4.842_966_6, -14.185_033, 4.277_298_6, 2.829_566]),
        poly([0.106_673_3, 12.641_946, -60.582_05, 110.362_77, -89.903_11, 27.348_25]),
    ]
}

/// A readable picture of an analysis: the photo with regions tinted and class borders drawn,
/// beside the depth map in Turbo colours, with a legend underneath.
pub fn overlay(photo: &RgbImage, classes: Option<&ClassMap>, depth: Option<&DepthMap>) -> RgbImage {
    let (width, height) = photo.dimensions();
    let legend_height = 24 * font::SCALE;
    let mut canvas = RgbImage::from_pixel(width * 2, height + legend_height, Rgb([24, 24, 24]));
    let regions = classes.map(|c| c.region_table());
    for (x, y, px) in photo.enumerate_pixels() {
        let mut out = px.0;
        if let (Some(map), Some(regions)) = (classes, &regions) {
            let class = map.class_at(x, y);
            let region = regions.get(class as usize).copied().unwrap_or(Region::Other);
            if let Some(colour) = region_colour(region) {
                for c in 0..3 {
                    out[c] = ((out[c] as u16 + colour[c] as u16 * 2) / 3) as u8;
                }
            }
            let border = (x + 1 < width && map.class_at(x + 1, y) != class)
                || (y + 1 < height && map.class_at(x, y + 1) != class);
            if border {
                out = [255, 255, 255];
            }
        }
        canvas.put_pixel(x, y, Rgb(out));
        let right = match depth {
            Some(d) => turbo(d.at(x, y)),
            None => [40, 40, 40],
        };
        canvas.put_pixel(width + x, y, Rgb(right));
    }
    let mut pen_x = 4 * font::SCALE;
    let mut pen_y = height + 3 * font::SCALE;
    for region in Region::ALL {
        if let Some(colour) = region_colour(region) {
            let entry_width = (10 + 6 * region.name().len() as u32) * font::SCALE;
            if pen_x + entry_width > width {
                pen_x = 4 * font::SCALE;
                pen_y += 10 * font::SCALE;
            }
            font::fill_rect(&mut canvas, pen_x, pen_y, 7 * font::SCALE, 7 * font::SCALE, colour);
            pen_x += 10 * font::SCALE;
            pen_x = font::draw_text(&mut canvas, pen_x, pen_y, region.name(), [230, 230, 230])
                + 6 * font::SCALE;
        }
    }
    let pen_y = height + 3 * font::SCALE;
    let mut pen_x = width + 4 * font::SCALE;
    pen_x = font::draw_text(&mut canvas, pen_x, pen_y, "far", [230, 230, 230]) + 3 * font::SCALE;
    for i in 0..60 * font::SCALE {
        font::fill_rect(
            &mut canvas,
            pen_x + i,
            pen_y,
            1,
            7 * font::SCALE,
            turbo(i as f32 / (60 * font::SCALE) as f32),
        );
    }
    font::draw_text(&mut canvas, pen_x + 63 * font::SCALE, pen_y, "near", [230, 230, 230]);
    canvas
}

/// A tiny 5x7 bitmap font for legends, so overlays need no font files.
mod font {
    use image::{Rgb, RgbImage};

    /// Pixel scale of the font.
    pub const SCALE: u32 = 2;

    fn glyph(c: char) -> [u8; 7] {
        match c.to_ascii_lowercase() {
            'a' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
            'c' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
            'd' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
            'e' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
            'f' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
            'g' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
            'h' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
            'i' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
            'l' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
            'n' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
            'o' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
            'p' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
            'r' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
            's' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
            't' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
            'u' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
            'w' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
            '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
            _ => [0; 7],
        }
    }

    /// Fills a rectangle, clipped to the image.
    pub fn fill_rect(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: [u8; 3]) {
        for yy in y..(y + h).min(image.height()) {
            for xx in x..(x + w).min(image.width()) {
                image.put_pixel(xx, yy, Rgb(colour));
            }
        }
    }

    /// Draws text and returns the pen position after it.
    pub fn draw_text(image: &mut RgbImage, mut x: u32, y: u32, text: &str, colour: [u8; 3]) -> u32 {
        for c in text.chars() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        fill_rect(
                            image,
                            x + col * SCALE,
                            y + row as u32 * SCALE,
                            SCALE,
                            SCALE,
                            colour,
                        );
                    }
                }
            }
            x += 6 * SCALE;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_runs_from_blue_to_red() {
        let far = turbo(0.15);
        let near = turbo(0.95);
        assert!(far[2] > far[0], "{far:?}");
        assert!(near[0] > near[2], "{near:?}");
    }
}
