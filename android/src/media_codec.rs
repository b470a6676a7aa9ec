//! Recording through the phone's hardware H.264 encoder (`AMediaCodec`, buffer input in NV12)
//! behind the shared encoder seam. Its output buffers go through the shared `AccessUnits`
//! into the project's fragmented MP4 writer, so a killed app still leaves a playable file.

use std::time::Duration;

use dreamlens::record::{
    EncodedPicture, EncoderSettings, I420, VideoEncoder, VideoEncoders, annexb::AccessUnits,
    encoder::EncodeError,
};
use ndk::media::{
    media_codec::{
        DequeuedInputBufferResult, DequeuedOutputBufferInfoResult, MediaCodec, MediaCodecDirection,
    },
    media_format::MediaFormat,
};

const MIME: &str = "video/avc";
/// `MediaCodecInfo.CodecCapabilities.COLOR_FormatYUV420SemiPlanar`: NV12.
const COLOR_FORMAT_NV12: i32 = 21;
/// `MediaCodec.BUFFER_FLAG_KEY_FRAME`, `BUFFER_FLAG_CODEC_CONFIG`, `BUFFER_FLAG_END_OF_STREAM`.
const FLAG_KEY_FRAME: u32 = 1;
const FLAG_CODEC_CONFIG: u32 = 2;
const FLAG_END_OF_STREAM: u32 = 4;
/// `MediaFormat.COLOR_STANDARD_BT601_NTSC`, `COLOR_TRANSFER_SDR_VIDEO`, `COLOR_RANGE_LIMITED`:
/// the colours the shared I420 conversion produces.
const COLOR_STANDARD_BT601: i32 = 4;
const COLOR_TRANSFER_SDR: i32 = 3;
const COLOR_RANGE_LIMITED: i32 = 2;
/// How long one call waits for a free input buffer or a finished picture.
const WAIT: Duration = Duration::from_millis(10);
/// How long the end of a recording waits for the encoder to drain.
const DRAIN: Duration = Duration::from_secs(2);

/// Makes hardware H.264 encoders.
pub struct MediaCodecEncoders;

impl VideoEncoders for MediaCodecEncoders {
    fn create(
        &self,
        width: u32,
        height: u32,
        settings: EncoderSettings,
    ) -> Result<Box<dyn VideoEncoder>, EncodeError> {
        let codec = MediaCodec::from_encoder_type(MIME)
            .ok_or_else(|| EncodeError("this phone has no H.264 encoder".into()))?;
        let mut format = MediaFormat::new();
        format.set_str("mime", MIME);
        format.set_i32("width", width as i32);
        format.set_i32("height", height as i32);
        format.set_i32("color-format", COLOR_FORMAT_NV12);
        format.set_i32("bitrate", settings.bitrate_bps as i32);
        format.set_f32("frame-rate", settings.frame_rate);
        // Keyframes are asked for by the recorder; this is the encoder's own upper bound.
        format.set_i32(
            "i-frame-interval",
            settings
                .keyframe_interval
                .map_or(1, |f| (f as f32 / settings.frame_rate).ceil() as i32)
                .max(1),
        );
        format.set_i32("color-standard", COLOR_STANDARD_BT601);
        format.set_i32("color-transfer", COLOR_TRANSFER_SDR);
        format.set_i32("color-range", COLOR_RANGE_LIMITED);
        codec
            .configure(&format, None, MediaCodecDirection::Encoder)
            .map_err(|e| EncodeError(format!("the H.264 encoder refused {width}x{height}: {e}")))?;
        codec.start().map_err(|e| EncodeError(format!("the H.264 encoder did not start: {e}")))?;
        Ok(Box::new(MediaCodecEncoder { codec, units: AccessUnits::default(), ended: false }))
    }
}

/// A running hardware encoder.
struct MediaCodecEncoder {
    codec: MediaCodec,
    units: AccessUnits,
    ended: bool,
}

// SAFETY: AMediaCodec may be called from any thread as long as calls are not concurrent; the
// encoder is created on the recorder's caller and then used only by the recorder thread.
unsafe impl Send for MediaCodecEncoder {}

impl MediaCodecEncoder {
    fn failed(what: &str, error: impl std::fmt::Display) -> EncodeError {
        EncodeError(format!("the H.264 encoder failed {what}: {error}"))
    }

    /// Takes every finished picture, waiting up to `wait` for the first.
    fn collect(&mut self, mut wait: Duration) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        let mut pictures = Vec::new();
        loop {
            let buffer = match self
                .codec
                .dequeue_output_buffer(wait)
                .map_err(|e| Self::failed("taking a picture", e))?
            {
                DequeuedOutputBufferInfoResult::Buffer(buffer) => buffer,
                DequeuedOutputBufferInfoResult::TryAgainLater => return Ok(pictures),
                DequeuedOutputBufferInfoResult::OutputFormatChanged
                | DequeuedOutputBufferInfoResult::OutputBuffersChanged => continue,
            };
            let info = *buffer.info();
            let data = &buffer.buffer()[info.offset() as usize..][..info.size() as usize];
            let flags = info.flags();
            if flags & FLAG_CODEC_CONFIG != 0 {
                self.units.codec_config(data)?;
            } else if !data.is_empty() {
                let picture = self.units.picture(data, flags & FLAG_KEY_FRAME != 0)?;
                pictures.push((info.presentation_time_us() as f64 * 1e-6, picture));
            }
            self.codec
                .release_output_buffer(buffer, false)
                .map_err(|e| Self::failed("releasing a picture", e))?;
            if flags & FLAG_END_OF_STREAM != 0 {
                self.ended = true;
                return Ok(pictures);
            }
            wait = Duration::ZERO;
        }
    }

    /// Queues `bytes` as one input buffer (empty with only `flags` to end the stream).
    fn queue(&mut self, bytes: &[u8], time_s: f64, flags: u32) -> Result<(), EncodeError> {
        let time_us = (time_s.max(0.0) * 1e6) as u64;
        let deadline = std::time::Instant::now() + DRAIN;
        loop {
            match self
                .codec
                .dequeue_input_buffer(WAIT)
                .map_err(|e| Self::failed("taking an input buffer", e))?
            {
                DequeuedInputBufferResult::Buffer(mut buffer) => {
                    let target = buffer.buffer_mut();
                    if target.len() < bytes.len() {
                        return Err(EncodeError(format!(
                            "the encoder's input buffer holds {} bytes, a picture needs {}",
                            target.len(),
                            bytes.len()
                        )));
                    }
                    for (slot, byte) in target.iter_mut().zip(bytes) {
                        slot.write(*byte);
                    }
                    return self
                        .codec
                        .queue_input_buffer(buffer, 0, bytes.len(), time_us, flags)
                        .map_err(|e| Self::failed("queueing a picture", e));
                }
                DequeuedInputBufferResult::TryAgainLater
                    if std::time::Instant::now() < deadline =>
                {
                    continue;
                }
                DequeuedInputBufferResult::TryAgainLater => {
                    return Err(EncodeError("the encoder took no picture for 2 s".into()));
                }
            }
        }
    }
}

impl VideoEncoder for MediaCodecEncoder {
    fn encode(
        &mut self,
        picture: &I420,
        time_s: f64,
        keyframe: bool,
    ) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        if keyframe {
            let mut request = MediaFormat::new();
            // `MediaCodec.PARAMETER_KEY_REQUEST_SYNC_FRAME`.
            request.set_i32("request-sync", 0);
            self.codec
                .set_parameters(request)
                .map_err(|e| Self::failed("asking for a keyframe", e))?;
        }
        self.queue(&picture.to_nv12(), time_s, 0)?;
        self.collect(Duration::ZERO)
    }

    fn finish(&mut self) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        self.queue(&[], 0.0, FLAG_END_OF_STREAM)?;
        let deadline = std::time::Instant::now() + DRAIN;
        let mut pictures = Vec::new();
        while !self.ended && std::time::Instant::now() < deadline {
            pictures.extend(self.collect(WAIT)?);
        }
        Ok(pictures)
    }
}

impl Drop for MediaCodecEncoder {
    fn drop(&mut self) {
        let _ = self.codec.stop();
    }
}
