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
    /// Clockwise quarter turns that make the picture upright (phones store the sensor's
    /// orientation and a display matrix instead of turning the pixels).
    quarter_turns: u8,
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
        let quarter_turns = upright_quarter_turns(&stream);
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
            quarter_turns,
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
        let image = match self.quarter_turns {
            1 => image::imageops::rotate90(&image),
            2 => image::imageops::rotate180(&image),
            3 => image::imageops::rotate270(&image),
            _ => image,
        };
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
        let (width, height) = (self.decoder.width(), self.decoder.height());
        if self.quarter_turns % 2 == 1 { (height, width) } else { (width, height) }
    }

    fn frame_count(&self) -> Option<u64> {
        self.frame_count
    }

    fn is_sequence(&self) -> bool {
        true
    }
}

/// Clockwise quarter turns to show `stream` upright, from its display matrix (or the older
/// `rotate` tag), rounded to the nearest quarter as players do.
fn upright_quarter_turns(stream: &ffmpeg::format::stream::Stream<'_>) -> u8 {
    let from_matrix = stream.side_data().find_map(|side| {
        (side.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
            .then(|| display_matrix_degrees(side.data()))
            .flatten()
    });
    let degrees = from_matrix.or_else(|| stream.metadata().get("rotate")?.parse::<f64>().ok());
    degrees.map_or(0, |d| ((d / 90.0).round().rem_euclid(4.0)) as u8)
}

/// The clockwise rotation in degrees a 3x3 display matrix (16.16 fixed point, row-major, as
/// FFmpeg stores it) asks for.
fn display_matrix_degrees(data: &[u8]) -> Option<f64> {
    if data.len() < 36 {
        return None;
    }
    let at = |i: usize| {
        let bytes = [data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]];
        f64::from(i32::from_ne_bytes(bytes)) / 65536.0
    };
    let (a, b, c, d) = (at(0), at(1), at(3), at(4));
    let (scale_x, scale_y) = (a.hypot(c), b.hypot(d));
    if scale_x == 0.0 || scale_y == 0.0 {
        return None;
    }
    Some((b / scale_y).atan2(a / scale_x).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(a: i32, b: i32, c: i32, d: i32) -> Vec<u8> {
        [a, b, 0, c, d, 0, 0, 0, 1 << 30].iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrices_give_clockwise_turns() {
        let one = 1 << 16;
        // FFmpeg's av_display_rotation_set(m, -90): a phone held upright (turn 90 clockwise).
        assert_eq!(display_matrix_degrees(&matrix(0, one, -one, 0)).map(f64::round), Some(90.0));
        assert_eq!(display_matrix_degrees(&matrix(one, 0, 0, one)).map(f64::round), Some(0.0));
        assert_eq!(display_matrix_degrees(&matrix(-one, 0, 0, -one)).map(f64::abs), Some(180.0));
        assert_eq!(display_matrix_degrees(&matrix(0, -one, one, 0)).map(f64::round), Some(-90.0));
        assert_eq!(display_matrix_degrees(&[0; 8]), None);
        assert_eq!(display_matrix_degrees(&matrix(0, 0, 0, 0)), None);
    }
}
