//! H.264 encoding with OpenH264 (Cisco's BSD-licensed encoder, built from source), the desktop's
//! [`VideoEncoder`].

use openh264::{
    OpenH264API,
    encoder::{
        BitRate, ColorPrimaries, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
        MatrixCoefficients, TransferCharacteristics, VuiConfig,
    },
    formats::YUVSlices,
};

use super::{
    annexb::strip_start_code,
    encoder::{EncodeError, EncodedPicture, EncoderSettings, I420, VideoEncoder, VideoEncoders},
};

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

impl VideoEncoder for H264Encoder {
    fn encode(
        &mut self,
        picture: &I420,
        time_s: f64,
        keyframe: bool,
    ) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        if keyframe {
            self.force_keyframe();
        }
        // OpenH264 returns each picture at once (no lookahead, no B-frames).
        Ok(vec![(time_s, H264Encoder::encode(self, picture)?)])
    }

    fn finish(&mut self) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        Ok(Vec::new())
    }
}

/// Makes OpenH264 encoders.
#[derive(Debug, Default)]
pub struct OpenH264Encoders;

impl VideoEncoders for OpenH264Encoders {
    fn create(
        &self,
        width: u32,
        height: u32,
        settings: EncoderSettings,
    ) -> Result<Box<dyn VideoEncoder>, EncodeError> {
        Ok(Box::new(H264Encoder::new(width, height, settings)?))
    }
}
