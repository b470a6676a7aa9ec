//! Camera pictures in YUV 4:2:0 with arbitrary row and pixel strides (Android's
//! `YUV_420_888`, as `AImageReader` hands it out) turned into upright RGB for the models and the
//! compositor. The chroma planes may be interleaved (pixel stride 2, NV12/NV21-like) or planar
//! (pixel stride 1, I420-like); rows may be padded. Colours are full-range BT.601, the JPEG
//! convention camera HALs use for this format.

use image::RgbImage;

use super::CaptureError;

/// One plane: its bytes and how to step through them.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// The plane's bytes, from its first sample.
    pub data: &'a [u8],
    /// Bytes from one row to the next.
    pub row_stride: usize,
    /// Bytes from one sample to the next in a row.
    pub pixel_stride: usize,
}

impl Plane<'_> {
    /// Checks that every sample of a `columns` x `rows` plane lies inside the data: the last row
    /// may end right after its last sample (Android's interleaved chroma planes do).
    fn check(&self, plane: &'static str, columns: usize, rows: usize) -> Result<(), YuvError> {
        let (row_stride, pixel_stride) = (self.row_stride, self.pixel_stride);
        if pixel_stride == 0 || row_stride < (columns - 1) * pixel_stride + 1 {
            return Err(YuvError::Strides { plane, row_stride, pixel_stride, columns });
        }
        let needed = (rows - 1) * row_stride + (columns - 1) * pixel_stride + 1;
        if self.data.len() < needed {
            return Err(YuvError::Short { plane, bytes: self.data.len(), columns, rows, needed });
        }
        Ok(())
    }
}

/// Why a camera's 4:2:0 picture cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum YuvError {
    /// A picture with no pixels.
    #[error("the camera delivered a {width}x{height} picture")]
    Empty {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
    /// A plane whose strides cannot hold a row.
    #[error(
        "the {plane} plane's strides (row {row_stride}, pixel {pixel_stride}) do not fit {columns} samples a row"
    )]
    Strides {
        /// Y, U or V.
        plane: &'static str,
        /// Bytes from row to row.
        row_stride: usize,
        /// Bytes from sample to sample.
        pixel_stride: usize,
        /// Samples a row.
        columns: usize,
    },
    /// A plane with fewer bytes than its samples need.
    #[error("the {plane} plane holds {bytes} bytes, {columns}x{rows} samples need {needed}")]
    Short {
        /// Y, U or V.
        plane: &'static str,
        /// Bytes it holds.
        bytes: usize,
        /// Samples a row.
        columns: usize,
        /// Rows.
        rows: usize,
        /// Bytes they need.
        needed: usize,
    },
}

/// A 4:2:0 picture as three strided planes; chroma is `ceil(width/2)` x `ceil(height/2)`.
#[derive(Debug, Clone, Copy)]
pub struct Yuv420<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma.
    pub y: Plane<'a>,
    /// Cb.
    pub u: Plane<'a>,
    /// Cr.
    pub v: Plane<'a>,
}

/// Full-range BT.601 in 16.16 fixed point: exact to within one level of the float formula.
fn rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let (y, u, v) = (i32::from(y) << 16, i32::from(u) - 128, i32::from(v) - 128);
    let round = 1 << 15;
    let r = (y + 91_881 * v + round) >> 16;
    let g = (y - 22_554 * u - 46_802 * v + round) >> 16;
    let b = (y + 116_130 * u + round) >> 16;
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

impl Yuv420<'_> {
    /// Converts to RGB, turned clockwise by `quarter_turns` x 90 degrees (the sensor's
    /// orientation relative to the upright device), so the models see the room upright.
    pub fn to_rgb(&self, quarter_turns: u8) -> Result<RgbImage, CaptureError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let error = |cause| CaptureError::Picture { input: "camera".into(), cause };
        if w == 0 || h == 0 {
            return Err(error(YuvError::Empty { width: w, height: h }));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        self.y.check("Y", w, h).map_err(error)?;
        self.u.check("U", cw, ch).map_err(error)?;
        self.v.check("V", cw, ch).map_err(error)?;
        let turns = quarter_turns % 4;
        let (out_w, out_h) = if turns % 2 == 1 { (h, w) } else { (w, h) };
        let mut out = vec![0u8; out_w * out_h * 3];
        for row in 0..h {
            let luma = &self.y.data[row * self.y.row_stride..];
            let u_row = &self.u.data[(row / 2) * self.u.row_stride..];
            let v_row = &self.v.data[(row / 2) * self.v.row_stride..];
            for col in 0..w {
                let pixel = rgb(
                    luma[col * self.y.pixel_stride],
                    u_row[(col / 2) * self.u.pixel_stride],
                    v_row[(col / 2) * self.v.pixel_stride],
                );
                // Where source (col, row) lands after turning the picture clockwise.
                let (x, y) = match turns {
                    0 => (col, row),
                    1 => (h - 1 - row, col),
                    2 => (w - 1 - col, h - 1 - row),
                    _ => (row, w - 1 - col),
                };
                let at = (y * out_w + x) * 3;
                out[at..at + 3].copy_from_slice(&pixel);
            }
        }
        Ok(RgbImage::from_raw(out_w as u32, out_h as u32, out)
            .expect("the buffer holds out_w x out_h RGB pixels by construction"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formula in floating point, per pixel: the reference the fixed-point
    /// conversion must match.
    fn reference(y: f64, u: f64, v: f64) -> [f64; 3] {
        let (u, v) = (u - 128.0, v - 128.0);
        [y + 1.402 * v, y - 0.344_136 * u - 0.714_136 * v, y + 1.772 * u]
            .map(|c| c.clamp(0.0, 255.0))
    }

    /// Luma and chroma samples of a `w` x `h` picture, chosen so every pixel differs.
    fn samples(w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = (0..w * h).map(|i| (i * 37 % 256) as u8).collect();
        let u = (0..cw * ch).map(|i| (i * 53 % 256) as u8).collect();
        let v = (0..cw * ch).map(|i| (255 - i * 29 % 256) as u8).collect();
        (y, u, v)
    }

    /// Lays samples out with padding at the end of each row (and `pixel_stride` apart).
    fn strided(samples: &[u8], columns: usize, row_stride: usize, pixel_stride: usize) -> Vec<u8> {
        let rows = samples.len() / columns;
        let mut out = vec![0xEE; rows * row_stride];
        for (i, s) in samples.iter().enumerate() {
            out[(i / columns) * row_stride + (i % columns) * pixel_stride] = *s;
        }
        out
    }

    fn check_against_reference(picture: &Yuv420<'_>, y: &[u8], u: &[u8], v: &[u8]) {
        let (w, h) = (picture.width as usize, picture.height as usize);
        let converted = picture.to_rgb(0).expect("converts");
        assert_eq!(converted.dimensions(), (w as u32, h as u32));
        let cw = w.div_ceil(2);
        for row in 0..h {
            for col in 0..w {
                let c = (row / 2) * cw + col / 2;
                let want = reference(f64::from(y[row * w + col]), f64::from(u[c]), f64::from(v[c]));
                let got = converted.get_pixel(col as u32, row as u32).0;
                for (g, w) in got.iter().zip(want) {
                    assert!((f64::from(*g) - w).abs() <= 1.0, "({col},{row}): {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn planar_layout_with_padded_rows_matches_the_reference() {
        let (w, h) = (13, 7);
        let (y, u, v) = samples(w, h);
        let (y_buf, u_buf, v_buf) =
            (strided(&y, w, 16, 1), strided(&u, 7, 9, 1), strided(&v, 7, 9, 1));
        let picture = Yuv420 {
            width: w as u32,
            height: h as u32,
            y: Plane { data: &y_buf, row_stride: 16, pixel_stride: 1 },
            u: Plane { data: &u_buf, row_stride: 9, pixel_stride: 1 },
            v: Plane { data: &v_buf, row_stride: 9, pixel_stride: 1 },
        };
        check_against_reference(&picture, &y, &u, &v);
    }

    #[test]
    fn interleaved_chroma_in_both_orders_matches_the_reference() {
        let (w, h) = (10, 6);
        let (y, u, v) = samples(w, h);
        let (cw, ch) = (w / 2, h / 2);
        let row_stride = 16;
        // One buffer of pairs, as AImage exposes it: NV12 (Cb first) or NV21 (Cr first). The
        // second plane starts one byte in and ends one byte short of the first.
        for cb_first in [true, false] {
            let mut pairs = vec![0xEE; ch * row_stride];
            for i in 0..cw * ch {
                let at = (i / cw) * row_stride + (i % cw) * 2;
                let (first, second) = if cb_first { (u[i], v[i]) } else { (v[i], u[i]) };
                pairs[at] = first;
                pairs[at + 1] = second;
            }
            let last = (ch - 1) * row_stride + (cw - 1) * 2 + 1;
            let (first, second) = (&pairs[..last], &pairs[1..=last]);
            let (u_data, v_data) = if cb_first { (first, second) } else { (second, first) };
            let y_buf = strided(&y, w, 12, 1);
            let picture = Yuv420 {
                width: w as u32,
                height: h as u32,
                y: Plane { data: &y_buf, row_stride: 12, pixel_stride: 1 },
                u: Plane { data: u_data, row_stride, pixel_stride: 2 },
                v: Plane { data: v_data, row_stride, pixel_stride: 2 },
            };
            check_against_reference(&picture, &y, &u, &v);
        }
    }

    #[test]
    fn turning_puts_each_corner_where_the_sensor_orientation_says() {
        // A 4x2 picture with a bright top-left pixel; grey elsewhere.
        let mut y = vec![100u8; 8];
        y[0] = 250;
        let chroma = vec![128u8; 2];
        let picture = Yuv420 {
            width: 4,
            height: 2,
            y: Plane { data: &y, row_stride: 4, pixel_stride: 1 },
            u: Plane { data: &chroma, row_stride: 2, pixel_stride: 1 },
            v: Plane { data: &chroma, row_stride: 2, pixel_stride: 1 },
        };
        let bright = |image: &RgbImage| {
            image.enumerate_pixels().find(|(_, _, p)| p.0[0] == 250).map(|(x, y, _)| (x, y))
        };
        let expected = [((4, 2), (0, 0)), ((2, 4), (1, 0)), ((4, 2), (3, 1)), ((2, 4), (0, 3))];
        for (turns, (size, corner)) in expected.into_iter().enumerate() {
            let turned = picture.to_rgb(turns as u8).expect("converts");
            assert_eq!(turned.dimensions(), size, "{turns} quarter turns");
            assert_eq!(bright(&turned), Some(corner), "{turns} quarter turns");
        }
    }

    #[test]
    fn short_planes_and_bad_strides_are_errors() {
        let y = vec![0u8; 15];
        let chroma = vec![128u8; 4];
        let plane = |data, row_stride| Plane { data, row_stride, pixel_stride: 1 };
        let short = Yuv420 {
            width: 4,
            height: 4,
            y: plane(&y, 4),
            u: plane(&chroma, 2),
            v: plane(&chroma, 2),
        };
        let message = short.to_rgb(0).expect_err("15 bytes of luma for 16 pixels").to_string();
        assert!(message.contains("Y plane"), "{message}");
        let y = vec![0u8; 16];
        let narrow = Yuv420 {
            width: 4,
            height: 4,
            y: plane(&y, 3),
            u: plane(&chroma, 2),
            v: plane(&chroma, 2),
        };
        assert!(narrow.to_rgb(0).is_err(), "a row stride shorter than a row");
    }
}
