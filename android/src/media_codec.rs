//! The phone's hardware encoders (`AMediaCodec`, buffer input): H.264 in NV12 behind the shared
//! video encoder seam, its output buffers through the shared `AccessUnits` into the project's
//! fragmented MP4 writer (so a killed app still leaves a playable file), and AAC-LC for the
//! microphone. [`Codec`] holds what both share: queueing input and draining output.

use std::time::{Duration, Instant};

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

/// A started encoder: queueing input buffers and draining output buffers.
pub struct Codec {
    codec: MediaCodec,
    /// True once the end-of-stream buffer came out.
    pub ended: bool,
}

// SAFETY: AMediaCodec may be called from any thread as long as calls are not concurrent; a
// codec is created by one thread and then used only by the thread that encodes.
unsafe impl Send for Codec {}

/// One output buffer: its bytes, flags and presentation time in microseconds.
pub struct Output<'a> {
    /// The encoded bytes.
    pub data: &'a [u8],
    /// `MediaCodec.BUFFER_FLAG_*`.
    pub flags: u32,
    /// Presentation time.
    pub time_us: i64,
}

impl Output<'_> {
    /// The codec-specific data (SPS/PPS, AudioSpecificConfig), sent once before the first frame.
    pub fn is_config(&self) -> bool {
        self.flags & FLAG_CODEC_CONFIG != 0
    }
}

fn failed(what: &str, error: impl std::fmt::Display) -> EncodeError {
    EncodeError(format!("the encoder failed {what}: {error}"))
}

impl Codec {
    /// Configures and starts an encoder for `format`'s MIME type.
    pub fn start(format: &MediaFormat, mime: &str) -> Result<Self, EncodeError> {
        let codec = MediaCodec::from_encoder_type(mime)
            .ok_or_else(|| EncodeError(format!("this phone has no {mime} encoder")))?;
        codec
            .configure(format, None, MediaCodecDirection::Encoder)
            .map_err(|e| EncodeError(format!("the {mime} encoder refused its format: {e}")))?;
        codec.start().map_err(|e| EncodeError(format!("the {mime} encoder did not start: {e}")))?;
        Ok(Self { codec, ended: false })
    }

    /// Queues `bytes` as one input buffer at `time_s` (empty, with `FLAG_END_OF_STREAM`, to end
    /// the stream), waiting up to 2 s for a free buffer.
    pub fn queue(&mut self, bytes: &[u8], time_s: f64, flags: u32) -> Result<(), EncodeError> {
        let time_us = (time_s.max(0.0) * 1e6) as u64;
        let deadline = Instant::now() + DRAIN;
        loop {
            match self
                .codec
                .dequeue_input_buffer(WAIT)
                .map_err(|e| failed("taking an input buffer", e))?
            {
                DequeuedInputBufferResult::Buffer(mut buffer) => {
                    let target = buffer.buffer_mut();
                    if target.len() < bytes.len() {
                        return Err(EncodeError(format!(
                            "the encoder's input buffer holds {} bytes, the input needs {}",
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
                        .map_err(|e| failed("queueing input", e));
                }
                DequeuedInputBufferResult::TryAgainLater if Instant::now() < deadline => continue,
                DequeuedInputBufferResult::TryAgainLater => {
                    return Err(EncodeError("the encoder took no input for 2 s".into()));
                }
            }
        }
    }

    /// Hands every finished output buffer to `take`, waiting up to `wait` for the first.
    pub fn drain(
        &mut self,
        mut wait: Duration,
        mut take: impl FnMut(Output<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        loop {
            let buffer = match self
                .codec
                .dequeue_output_buffer(wait)
                .map_err(|e| failed("taking output", e))?
            {
                DequeuedOutputBufferInfoResult::Buffer(buffer) => buffer,
                DequeuedOutputBufferInfoResult::TryAgainLater => return Ok(()),
                DequeuedOutputBufferInfoResult::OutputFormatChanged
                | DequeuedOutputBufferInfoResult::OutputBuffersChanged => continue,
            };
            let info = *buffer.info();
            let data = &buffer.buffer()[info.offset() as usize..][..info.size() as usize];
            if !data.is_empty() {
                take(Output { data, flags: info.flags(), time_us: info.presentation_time_us() })?;
            }
            self.codec
                .release_output_buffer(buffer, false)
                .map_err(|e| failed("releasing output", e))?;
            if info.flags() & FLAG_END_OF_STREAM != 0 {
                self.ended = true;
                return Ok(());
            }
            wait = Duration::ZERO;
        }
    }

    /// Ends the stream and drains what is left (up to 2 s), handing it to `take`.
    pub fn finish(
        &mut self,
        mut take: impl FnMut(Output<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.queue(&[], 0.0, FLAG_END_OF_STREAM)?;
        let deadline = Instant::now() + DRAIN;
        while !self.ended && Instant::now() < deadline {
            self.drain(WAIT, &mut take)?;
        }
        Ok(())
    }

    /// Asks for the next frame to be a keyframe.
    fn request_keyframe(&self) -> Result<(), EncodeError> {
        let mut request = MediaFormat::new();
        // `MediaCodec.PARAMETER_KEY_REQUEST_SYNC_FRAME`.
        request.set_i32("request-sync", 0);
        self.codec.set_parameters(request).map_err(|e| failed("asking for a keyframe", e))
    }
}

impl Drop for Codec {
    fn drop(&mut self) {
        let _ = self.codec.stop();
    }
}

/// Makes hardware H.264 encoders.
pub struct MediaCodecEncoders;

impl VideoEncoders for MediaCodecEncoders {
    fn create(
        &self,
        width: u32,
        height: u32,
        settings: EncoderSettings,
    ) -> Result<Box<dyn VideoEncoder>, EncodeError> {
        let mut format = MediaFormat::new();
        format.set_str("mime", MIME);
        format.set_i32("width", width as i32);
        format.set_i32("height", height as i32);
        format.set_i32("color-format", COLOR_FORMAT_NV12);
        format.set_i32("bitrate", settings.bitrate_bps as i32);
        format.set_f32("frame-rate", settings.frame_rate);
        // Keyframes are asked for by the recorder; this is the encoder's own upper bound.
        let interval_s = settings.keyframe_interval.map_or(1.0, |f| f as f32 / settings.frame_rate);
        format.set_i32("i-frame-interval", (interval_s.ceil() as i32).max(1));
        format.set_i32("color-standard", COLOR_STANDARD_BT601);
        format.set_i32("color-transfer", COLOR_TRANSFER_SDR);
        format.set_i32("color-range", COLOR_RANGE_LIMITED);
        let codec = Codec::start(&format, MIME)?;
        Ok(Box::new(MediaCodecEncoder { codec, units: AccessUnits::default() }))
    }
}

/// A running hardware H.264 encoder.
struct MediaCodecEncoder {
    codec: Codec,
    units: AccessUnits,
}

impl MediaCodecEncoder {
    /// Turns an output buffer into a picture (or keeps the parameter sets it carries).
    fn take(
        units: &mut AccessUnits,
        pictures: &mut Vec<(f64, EncodedPicture)>,
        output: Output<'_>,
    ) -> Result<(), EncodeError> {
        if output.is_config() {
            return units.codec_config(output.data);
        }
        let picture = units.picture(output.data, output.flags & FLAG_KEY_FRAME != 0)?;
        pictures.push((output.time_us as f64 * 1e-6, picture));
        Ok(())
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
            self.codec.request_keyframe()?;
        }
        self.codec.queue(&picture.to_nv12(), time_s, 0)?;
        let mut pictures = Vec::new();
        let units = &mut self.units;
        self.codec.drain(Duration::ZERO, |output| Self::take(units, &mut pictures, output))?;
        Ok(pictures)
    }

    fn finish(&mut self) -> Result<Vec<(f64, EncodedPicture)>, EncodeError> {
        let mut pictures = Vec::new();
        let units = &mut self.units;
        self.codec.finish(|output| Self::take(units, &mut pictures, output))?;
        Ok(pictures)
    }
}
