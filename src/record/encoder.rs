//! What every H.264 encoder takes and gives: 4:2:0 pictures in, NAL units out, behind the
//! [`VideoEncoder`] seam the platforms implement.

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

impl I420 {
    /// The picture as NV12 (luma, then Cb and Cr interleaved), the semi-planar layout hardware
    /// encoders take most widely.
    pub fn to_nv12(&self) -> Vec<u8> {
        let mut nv12 = Vec::with_capacity(self.y.len() + self.u.len() * 2);
        nv12.extend_from_slice(&self.y);
        nv12.extend(self.u.iter().zip(&self.v).flat_map(|(&u, &v)| [u, v]));
        nv12
    }
}

/// Why encoding failed.
#[derive(Debug, thiserror::Error)]
#[error("H.264 encoder: {0}")]
pub struct EncodeError(pub String);

/// A video encoder: OpenH264 on desktop, MediaCodec on Android.
pub trait VideoEncoder: Send {
    /// Encodes one picture shown at `time_s` (a keyframe when `keyframe`) and returns the
    /// pictures the encoder finished, with their times: none while a hardware encoder fills its
    /// pipeline, several when it catches up.
    fn encode(
        &mut self,
        picture: &I420,
        time_s: f64,
        keyframe: bool,
    ) -> Result<Vec<(f64, EncodedPicture)>, EncodeError>;

    /// Drains the pictures still inside at the end of a recording.
    fn finish(&mut self) -> Result<Vec<(f64, EncodedPicture)>, EncodeError>;
}

/// Makes the platform's video encoders.
pub trait VideoEncoders: Send + Sync {
    /// An encoder for `width` x `height` (both even) pictures.
    fn create(
        &self,
        width: u32,
        height: u32,
        settings: EncoderSettings,
    ) -> Result<Box<dyn VideoEncoder>, EncodeError>;
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

    #[test]
    fn nv12_interleaves_cb_then_cr_after_the_luma() {
        let picture = I420 { width: 2, height: 2, y: vec![1, 2, 3, 4], u: vec![5], v: vec![6] };
        assert_eq!(picture.to_nv12(), [1, 2, 3, 4, 5, 6]);
    }
}
