//! H.264 encoding with OpenH264 (Cisco's BSD-licensed encoder, built from source).

use openh264::{
    OpenH264API,
    encoder::{
        BitRate, ColorPrimaries, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
        MatrixCoefficients, TransferCharacteristics, VuiConfig,
    },
    formats::YUVSlices,
};

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSettings {
    /// Target bit rate in bits per second.
    pub bitrate_bps: u32,
    /// A keyframe at least every this many frames; `None` leaves keyframes to the caller
    /// (`force_keyframe`) and to scene changes.
    pub keyframe_interval: Option<u32>,
    /// Frame rate hint for rate control (timestamps decide the real timing).
    pub frame_rate: f32,
}

/// One encoded picture: its NAL units (without start codes) and whether it is a keyframe.
#[derive(Debug, Clone)]
pub struct EncodedPicture {
    /// NAL units, payload only.
    pub nal_units: Vec<Vec<u8>>,
    /// True for IDR pictures.
    pub is_key: bool,
}

/// A 4:2:0 picture in three planes.
#[derive(Debug, Clone)]
pub struct I420 {
    /// Width (even).
    pub width: u32,
    /// Height (even).
    pub height: u32,
    /// Luma, `width * height`.
    pub y: Vec<u8>,
    /// Cb, `width/2 * height/2`.
    pub u: Vec<u8>,
    /// Cr, `width/2 * height/2`.
    pub v: Vec<u8>,
}

impl I420 {
    /// Splits a contiguous I420 buffer (luma, Cb, Cr) of `width` x `height`; `None` when the
    /// sizes are odd or the buffer has another length.
    pub fn from_planes(mut bytes: Vec<u8>, width: u32, height: u32) -> Option<Self> {
        let luma = (width * height) as usize;
        if width % 2 == 1 || height % 2 == 1 || bytes.len() != luma * 3 / 2 {
            return None;
        }
        let v = bytes.split_off(luma + luma / 4);
        let u = bytes.split_off(luma);
        Some(Self { width, height, y: bytes, u, v })
    }

    /// Converts RGBA (any size) to BT.601 limited-range 4:2:0, cropping an odd last column or
    /// row so both sizes are even as 4:2:0 requires.
    pub fn from_rgba(rgba: &[u8], width: u32, height: u32) -> Self {
        let (w, h) = (width & !1, height & !1);
        let stride = width as usize * 4;
        let mut y = vec![0u8; (w * h) as usize];
        let mut u = vec![0u8; (w * h / 4) as usize];
        let mut v = vec![0u8; (w * h / 4) as usize];
        let luma =
            |p: &[u8]| ((66 * p[0] as i32 + 129 * p[1] as i32 + 25 * p[2] as i32 + 128) >> 8) + 16;
        for row in 0..h as usize {
            let line = &rgba[row * stride..row * stride + w as usize * 4];
            for (x, p) in line.chunks_exact(4).enumerate() {
                y[row * w as usize + x] = luma(p) as u8;
            }
        }
        for row in 0..(h / 2) as usize {
            for col in 0..(w / 2) as usize {
                let mut sum = [0i32; 3];
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (row * 2 + dy) * stride + (col * 2 + dx) * 4;
                    for c in 0..3 {
                        sum[c] += rgba[i + c] as i32;
                    }
                }
                let [r, g, b] = sum.map(|s| s / 4);
                let i = row * (w / 2) as usize + col;
                u[i] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
                v[i] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            }
        }
        Self { width: w, height: h, y, u, v }
    }
}

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
#[error("H.264 encoder: {0}")]
pub struct EncodeError(pub String);

/// What the pictures are, written into the stream so players decode the colours as they were
/// encoded: sRGB pixels (BT.709 primaries, the sRGB curve) converted with the BT.601 matrix at
/// limited range, exactly as [`I420::from_rgba`] and `i420.wgsl` do. Without it players guess,
/// and most guess BT.709 for HD sizes, which shifts skin and wall colours.
pub fn colour_description() -> VuiConfig {
    VuiConfig::bt709()
        .color_primaries(ColorPrimaries::Bt709)
        .transfer_characteristics(TransferCharacteristics::Srgb)
        .matrix_coefficients(MatrixCoefficients::Smpte170M)
        .full_range(false)
}

/// A configured OpenH264 encoder.
pub struct H264Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl H264Encoder {
    /// An encoder for `width` x `height` (both even).
    pub fn new(width: u32, height: u32, settings: EncoderSettings) -> Result<Self, EncodeError> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(settings.frame_rate))
            .intra_frame_period(match settings.keyframe_interval {
                Some(frames) => IntraFramePeriod::from_num_frames(frames.max(1)),
                None => IntraFramePeriod::auto(),
            })
            .skip_frames(false)
            .vui(colour_description());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError(e.to_string()))?;
        Ok(Self { encoder, width, height })
    }

    /// Makes the next picture a keyframe.
    pub fn force_keyframe(&mut self) {
        self.encoder.force_intra_frame();
    }

    /// Encodes one picture.
    pub fn encode(&mut self, picture: &I420) -> Result<EncodedPicture, EncodeError> {
        if (picture.width, picture.height) != (self.width, self.height) {
            return Err(EncodeError(format!(
                "picture is {}x{}, the encoder was made for {}x{}",
                picture.width, picture.height, self.width, self.height
            )));
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let source =
            YUVSlices::new((&picture.y, &picture.u, &picture.v), (w, h), (w, w / 2, w / 2));
        let stream = self.encoder.encode(&source).map_err(|e| EncodeError(e.to_string()))?;
        let is_key = matches!(stream.frame_type(), FrameType::IDR);
        let mut nal_units = Vec::new();
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                if let Some(nal) = layer.nal_unit(n) {
                    nal_units.push(strip_start_code(nal).to_vec());
                }
            }
        }
        Ok(EncodedPicture { nal_units, is_key })
    }
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_are_cropped_to_even_and_grey_maps_to_mid_chroma() {
        let rgba = vec![128u8; 5 * 3 * 4];
        let picture = I420::from_rgba(&rgba, 5, 3);
        assert_eq!((picture.width, picture.height), (4, 2));
        assert_eq!(picture.u.len(), 2);
        assert!(picture.u.iter().chain(&picture.v).all(|&c| (127..=129).contains(&c)));
        assert!(picture.y.iter().all(|&y| (125..=127).contains(&y)), "{:?}", picture.y);
    }
}
