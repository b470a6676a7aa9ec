//! Video files as frame sources, decoded with FFmpeg's libraries.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::{CaptureError, Frame, FrameSource};

/// Decodes a video file's best video stream to RGB frames.
pub struct VideoFile {
    path: PathBuf,
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    scaler: ffmpeg::software::scaling::Context,
    stream_index: usize,
    time_base: f64,
    frame_count: Option<u64>,
    next_index: u64,
    flushed: bool,
    finished: bool,
}

impl VideoFile {
    /// Opens `path` and prepares a decoder for its video stream.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let error =
            |problem: String| CaptureError::Open { input: path.display().to_string(), problem };
        ffmpeg::init().map_err(|e| error(format!("FFmpeg failed to start: {e}")))?;
        let input = ffmpeg::format::input(path)
            .map_err(|e| error(format!("not a readable video ({e})")))?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| error("has no video stream".into()))?;
        let stream_index = stream.index();
        let time_base = f64::from(stream.time_base());
        let frames = stream.frames();
        let context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| error(format!("unsupported codec parameters ({e})")))?;
        let decoder = context
            .decoder()
            .video()
            .map_err(|e| error(format!("no decoder for its codec ({e})")))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(error("has a video stream of size 0".into()));
        }
        let scaler = ffmpeg::software::scaling::Context::get(
            decoder.format(),
            decoder.width(),
            decoder.height(),
            ffmpeg::format::Pixel::RGB24,
            decoder.width(),
            decoder.height(),
            ffmpeg::software::scaling::Flags::BILINEAR,
        )
        .map_err(|e| error(format!("cannot convert its pixel format ({e})")))?;
        Ok(Self {
            path: path.to_owned(),
            input,
            decoder,
            scaler,
            stream_index,
            time_base,
            frame_count: (frames > 0).then_some(frames as u64),
            next_index: 0,
            flushed: false,
            finished: false,
        })
    }

    fn decode_error(&self, problem: String) -> CaptureError {
        CaptureError::Read { input: self.path.display().to_string(), problem }
    }

    fn convert(&mut self, decoded: &ffmpeg::frame::Video) -> Result<Frame, CaptureError> {
        let mut rgb = ffmpeg::frame::Video::empty();
        self.scaler
            .run(decoded, &mut rgb)
            .map_err(|e| self.decode_error(format!("pixel conversion failed: {e}")))?;
        let (width, height) = (rgb.width(), rgb.height());
        let stride = rgb.stride(0);
        let data = rgb.data(0);
        let mut pixels = Vec::with_capacity((width * height * 3) as usize);
        for row in 0..height as usize {
            pixels.extend_from_slice(&data[row * stride..row * stride + width as usize * 3]);
        }
        let image = RgbImage::from_raw(width, height, pixels).expect("sizes match");
        let time_s = decoded
            .timestamp()
            .map_or(self.next_index as f64 / 30.0, |pts| pts as f64 * self.time_base);
        let frame = Frame { image, index: self.next_index, time_s };
        self.next_index += 1;
        Ok(frame)
    }
}

impl FrameSource for VideoFile {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut decoded = ffmpeg::frame::Video::empty();
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.decoder.receive_frame(&mut decoded).is_ok() {
                return self.convert(&decoded).map(Some);
            }
            if self.flushed {
                self.finished = true;
                continue;
            }
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() == self.stream_index {
                        self.decoder.send_packet(&packet).map_err(|e| {
                            self.decode_error(format!(
                                "corrupt video data at frame {}: {e}",
                                self.next_index
                            ))
                        })?;
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    self.decoder.send_eof().map_err(|e| self.decode_error(e.to_string()))?;
                    self.flushed = true;
                }
                Err(e) => {
                    return Err(
                        self.decode_error(format!("read failed at frame {}: {e}", self.next_index))
                    );
                }
            }
        }
    }

    fn size(&self) -> (u32, u32) {
        (self.decoder.width(), self.decoder.height())
    }

    fn frame_count(&self) -> Option<u64> {
        self.frame_count
    }

    fn is_sequence(&self) -> bool {
        true
    }
}
