//! A message drawn on the CPU, in the panel's own font: what a platform shows when the app
//! cannot go on and the GPU may be the reason (the phone writes it straight into its window).

use egui::{
    Color32, FontId,
    epaint::text::{FontDefinitions, Fonts, TextOptions},
};
use image::{Rgba, RgbaImage};

/// The page's colour, and the text's.
const BACKGROUND: [u8; 3] = [24, 24, 28];
const INK: [u8; 3] = [236, 236, 240];
/// Text size in points, and the margin around it.
const TEXT_POINTS: f32 = 18.0;
const MARGIN_POINTS: f32 = 24.0;

/// `text` wrapped to a `width` x `height` picture at `pixels_per_point` (the screen's density),
/// light on dark, from the top-left margin down; lines past the bottom are cut.
pub fn message_picture(text: &str, width: u32, height: u32, pixels_per_point: f32) -> RgbaImage {
    let [r, g, b] = BACKGROUND;
    let mut picture = RgbaImage::from_pixel(width, height, Rgba([r, g, b, 255]));
    let ppp = pixels_per_point.max(0.5);
    let margin = MARGIN_POINTS * ppp;
    let wrap_points = ((width as f32 - 2.0 * margin) / ppp).max(TEXT_POINTS);
    let mut fonts = Fonts::new(TextOptions::default(), FontDefinitions::default());
    let mut view = fonts.with_pixels_per_point(ppp);
    let galley = view.layout(
        text.to_owned(),
        FontId::proportional(TEXT_POINTS),
        Color32::WHITE,
        wrap_points,
    );
    let atlas = view.image();
    for placed in &galley.rows {
        for glyph in &placed.row.glyphs {
            let uv = glyph.uv_rect;
            if uv.is_nothing() {
                continue;
            }
            let at = (placed.pos + glyph.pos.to_vec2() + uv.offset) * ppp;
            let (x0, y0) = ((margin + at.x).round() as i64, (margin + at.y).round() as i64);
            for ty in uv.min[1]..uv.max[1] {
                for tx in uv.min[0]..uv.max[0] {
                    let coverage = atlas[(tx as usize, ty as usize)].a();
                    let x = x0 + i64::from(tx - uv.min[0]);
                    let y = y0 + i64::from(ty - uv.min[1]);
                    if coverage > 0
                        && (0..width as i64).contains(&x)
                        && (0..height as i64).contains(&y)
                    {
                        blend(picture.get_pixel_mut(x as u32, y as u32), coverage);
                    }
                }
            }
        }
    }
    picture
}

fn blend(pixel: &mut Rgba<u8>, coverage: u8) {
    let a = u16::from(coverage);
    for (channel, ink) in pixel.0.iter_mut().zip(INK) {
        *channel = ((u16::from(*channel) * (255 - a) + u16::from(ink) * a + 127) / 255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounding box of the text's pixels: (left, top, right, bottom), inclusive.
    fn ink_bounds(picture: &RgbaImage) -> Option<(u32, u32, u32, u32)> {
        let mut bounds: Option<(u32, u32, u32, u32)> = None;
        for (x, y, pixel) in picture.enumerate_pixels() {
            if pixel.0[..3] != BACKGROUND {
                let (l, t, r, b) = bounds.unwrap_or((x, y, x, y));
                bounds = Some((l.min(x), t.min(y), r.max(x), b.max(y)));
            }
        }
        bounds
    }

    #[test]
    fn a_message_is_written_inside_the_margins_and_wraps_to_the_width() {
        let short = message_picture("dreamlens stopped", 720, 1280, 2.0);
        let (left, top, right, bottom) = ink_bounds(&short).expect("the message is drawn");
        let margin = (MARGIN_POINTS * 2.0) as u32;
        assert!(left >= margin - 2 && top >= margin - 2, "starts at the margin: {left},{top}");
        assert!(right < 720 - margin && bottom < 1280 - margin);
        let line_height = bottom - top;

        let long = "dreamlens stopped: cannot draw to the window: no graphics adapter could be \
                    opened on this phone (Vulkan and OpenGL ES 3 were both refused)";
        let wrapped = message_picture(long, 720, 1280, 2.0);
        let (l, t, r, b) = ink_bounds(&wrapped).expect("the message is drawn");
        assert!(l >= margin - 2 && r < 720 - margin + 2, "wrapped within the width: {l}..{r}");
        assert!(b - t > 3 * line_height, "a long message takes several lines: {} px", b - t);
        assert!(t < margin + line_height, "from the top: {t}");
    }

    #[test]
    fn the_text_is_light_on_the_dark_page_and_different_words_draw_differently() {
        let one = message_picture("camera permission refused", 400, 200, 1.0);
        let other = message_picture("no graphics adapter", 400, 200, 1.0);
        let brightest = one.pixels().map(|p| p.0[0]).max().expect("pixels");
        assert!(brightest > 200, "the strokes reach the ink colour: {brightest}");
        assert_eq!(one.get_pixel(0, 0).0, [24, 24, 28, 255]);
        let differing = one.pixels().zip(other.pixels()).filter(|(a, b)| a != b).count();
        assert!(differing > 200, "{differing} pixels differ");
    }
}
