//! Recording edited clips: composited frames go to a `recorder` thread that converts them to
//! YUV 4:2:0, encodes H.264 and writes fragmented MP4. The thread is fed through a bounded
//! queue: batch processing waits for it (`push`), the live app never does (`try_push` drops the
//! frame and counts it).

pub mod annexb;
pub mod encoder;
mod mp4;
#[cfg(feature = "desktop")]
mod openh264;

use std::{
    io,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
};

pub use encoder::{EncodedPicture, EncoderSettings, I420, VideoEncoder, VideoEncoders};
pub use mp4::{FragmentSink, Mp4Writer};
#[cfg(feature = "desktop")]
pub use openh264::{H264Encoder, OpenH264Encoders, colour_description};

use crate::capture::audio::Sound;

/// Why recording failed. Every variant names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The disk is full; what was written before plays.
    #[error(
        "recording to {path} stopped: the disk is full. Everything recorded until then is kept and plays; free some space to record more"
    )]
    DiskFull {
        /// The output file.
        path: String,
    },
    /// Another write failure.
    #[error("recording to {path} failed: {cause}. Everything recorded until then is kept")]
    Write {
        /// The output file.
        path: String,
        /// The I/O error.
        cause: io::Error,
    },
    /// The output cannot be created at all.
    #[error("cannot record to {path}: {cause}")]
    Unwritable {
        /// The output file.
        path: String,
        /// Why.
        cause: Unwritable,
    },
    /// The recording cannot start with these pictures.
    #[error("cannot record {width}x{height} pictures at {out_w}x{out_h}: at least 2x2 is needed")]
    TooSmall {
        /// The pictures' width.
        width: u32,
        /// Their height.
        height: u32,
        /// The clip's width.
        out_w: u32,
        /// The clip's height.
        out_h: u32,
    },
    /// The encoder refused a picture.
    #[error("recording failed while encoding: {cause}")]
    Encode {
        /// The platform encoder's account.
        cause: encoder::EncodeError,
    },
    /// The MP4 muxer refused a sample.
    #[error("recording failed while writing MP4 samples: {cause}")]
    Mux {
        /// The muxer's account.
        cause: muxide::fragmented::FragmentedError,
    },
    /// A picture could not be scaled to the clip's size.
    #[error("recording failed while scaling a picture: {cause}")]
    Scale {
        /// The resizer's account.
        cause: crate::resize::ResizeError,
    },
    /// A planar picture of another size than the clip.
    #[error("an I420 frame of {width}x{height} does not fit the {out_w}x{out_h} recording")]
    FrameSize {
        /// The frame's width.
        width: u32,
        /// Its height.
        height: u32,
        /// The clip's width.
        out_w: u32,
        /// The clip's height.
        out_h: u32,
    },
    /// The encoder's first keyframe lacks the parameter sets an MP4 needs.
    #[error("recording failed: the first keyframe carries no SPS/PPS")]
    NoParameterSets,
    /// The recorder thread panicked; what it wrote before plays.
    #[error("the recorder thread panicked; what was written before it plays")]
    Panicked,
}

/// Why the output file cannot be recorded to.
#[derive(Debug, thiserror::Error)]
pub enum Unwritable {
    /// The file cannot be created.
    #[error("{0}; choose a writable .mp4 path")]
    Create(io::Error),
    /// The recorder thread cannot start.
    #[error("cannot start the recorder thread: {0}")]
    Thread(io::Error),
}

impl RecordError {
    fn io(path: &Path, source: io::Error) -> Self {
        let path = path.display().to_string();
        if source.kind() == io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            RecordError::DiskFull { path }
        } else {
            RecordError::Write { path, cause: source }
        }
    }
}

impl From<encoder::EncodeError> for RecordError {
    fn from(cause: encoder::EncodeError) -> Self {
        RecordError::Encode { cause }
    }
}

/// Recording options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordOptions {
    /// Target bit rate; `None` picks one from the frame size (about 0.1 bit per pixel at 30 fps).
    pub bitrate_bps: Option<u32>,
    /// Seconds between keyframes (also the fragment length, so at most this much is lost).
    pub keyframe_interval_s: f64,
    /// Stop after this much recorded time.
    pub max_duration_s: Option<f64>,
    /// Scale frames to this size before encoding (default: the frames' own size).
    pub output_size: Option<(u32, u32)>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            bitrate_bps: None,
            keyframe_interval_s: 1.0,
            max_duration_s: None,
            output_size: None,
        }
    }
}

/// The pixels of a frame for the recorder.
#[derive(Debug, Clone)]
pub enum Pixels {
    /// RGBA, converted to 4:2:0 (and scaled) on the recorder thread.
    Rgba(Vec<u8>),
    /// I420 already at the recording size (even sides), as `render::yuv` makes it on the GPU:
    /// luma, then Cb, then Cr.
    I420(Vec<u8>),
}

/// A composited frame for the recorder.
#[derive(Debug, Clone)]
pub struct RecordFrame {
    /// The picture.
    pub pixels: Pixels,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Capture time in seconds (timestamps come from here, so variable frame rate is kept).
    pub time_s: f64,
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordStats {
    /// Frames in the file.
    pub frames: u64,
    /// Frames dropped because the encoder was behind (live recording only).
    pub dropped: u64,
    /// Recorded duration in seconds.
    pub duration_s: f64,
}

/// A running recording.
pub struct Recorder {
    sender: Option<mpsc::SyncSender<RecordFrame>>,
    thread: Option<thread::JoinHandle<Result<RecordStats, RecordError>>>,
    dropped: Arc<AtomicU64>,
    path: PathBuf,
    max_duration_s: Option<f64>,
    first_time_s: Option<f64>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Frames the queue holds before `try_push` starts dropping.
const QUEUE: usize = 4;

impl Recorder {
    /// Starts recording with OpenH264; see [`Recorder::start_with`].
    #[cfg(feature = "desktop")]
    pub fn start(
        path: &Path,
        width: u32,
        height: u32,
        options: RecordOptions,
        audio: Option<Sound>,
    ) -> Result<Self, RecordError> {
        Self::start_with(path, width, height, options, audio, &OpenH264Encoders)
    }

    /// Starts recording `width` x `height` frames to `path` (odd sizes lose their last column or
    /// row) with an encoder from `encoders`, carrying `audio` along. Refuses at once a path that
    /// cannot be written or an encoder that cannot start.
    pub fn start_with(
        path: &Path,
        width: u32,
        height: u32,
        options: RecordOptions,
        audio: Option<Sound>,
        encoders: &dyn VideoEncoders,
    ) -> Result<Self, RecordError> {
        let unwritable =
            |cause| RecordError::Unwritable { path: path.display().to_string(), cause };
        let (out_w, out_h) = options.output_size.unwrap_or((width, height));
        if width < 2 || height < 2 || out_w < 2 || out_h < 2 {
            return Err(RecordError::TooSmall { width, height, out_w, out_h });
        }
        let (even_w, even_h) = (out_w & !1, out_h & !1);
        let mut writer = Mp4Writer::create(
            path,
            even_w,
            even_h,
            (options.keyframe_interval_s * 1000.0).round().max(100.0) as u32,
            audio,
        )
        .map_err(|error| match error {
            RecordError::Write { cause, .. } => unwritable(Unwritable::Create(cause)),
            other => other,
        })?;
        let settings = EncoderSettings {
            bitrate_bps: options
                .bitrate_bps
                .unwrap_or_else(|| ((even_w * even_h) as f64 * 0.1 * 30.0) as u32)
                .max(100_000),
            keyframe_interval: None,
            frame_rate: 30.0,
        };
        let mut encoder = encoders.create(even_w, even_h, settings)?;
        let (sender, receiver) = mpsc::sync_channel::<RecordFrame>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let dropped_in_thread = Arc::clone(&dropped);
        let keyframe_interval_s = options.keyframe_interval_s;
        let thread = thread::Builder::new()
            .name("recorder".into())
            .spawn(move || -> Result<RecordStats, RecordError> {
                let mut first = None;
                let mut last_key: Option<f64> = None;
                let mut last_time = 0.0;
                let result = (|| {
                    for frame in receiver {
                        let start = *first.get_or_insert_with(|| {
                            writer.set_origin(frame.time_s);
                            frame.time_s
                        });
                        let time_s = frame.time_s - start;
                        let keyframe = last_key.is_none_or(|k| time_s - k >= keyframe_interval_s);
                        if keyframe {
                            // Asked for now; a pipelined encoder delivers it later.
                            last_key = Some(time_s);
                        }
                        let planes = planes_of(frame, (out_w, out_h), (even_w, even_h))?;
                        for (time_s, picture) in encoder.encode(&planes, time_s, keyframe)? {
                            if picture.is_key {
                                // The encoder's own keyframes (scene cuts) restart the interval.
                                last_key = last_key.map(|k| k.max(time_s));
                            }
                            writer.write(time_s, &picture)?;
                            last_time = time_s;
                        }
                    }
                    for (time_s, picture) in encoder.finish()? {
                        writer.write(time_s, &picture)?;
                        last_time = time_s;
                    }
                    Ok(())
                })();
                // Whatever happened, close the last fragment so everything written plays.
                let finished = writer.finish(1.0 / 30.0);
                result.and(finished)?;
                Ok(RecordStats {
                    frames: writer.samples(),
                    dropped: dropped_in_thread.load(Ordering::Relaxed),
                    duration_s: last_time,
                })
            })
            .map_err(|e| unwritable(Unwritable::Thread(e)))?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
            dropped,
            path: path.to_owned(),
            max_duration_s: options.max_duration_s,
            first_time_s: None,
        })
    }

    /// True when `frame` lies beyond the maximum duration.
    fn past_limit(&mut self, frame: &RecordFrame) -> bool {
        let first = *self.first_time_s.get_or_insert(frame.time_s);
        self.max_duration_s.is_some_and(|max| frame.time_s - first >= max)
    }

    /// Queues a frame, waiting while the encoder is busy (batch processing). Returns `false` once
    /// the maximum duration is reached or the recorder stopped (then `finish` says why).
    pub fn push(&mut self, frame: RecordFrame) -> bool {
        if self.past_limit(&frame) {
            return false;
        }
        self.sender.as_ref().is_some_and(|s| s.send(frame).is_ok())
    }

    /// Queues a frame if there is room, else drops it and counts the drop (live recording).
    /// Returns `false` once the maximum duration is reached or the recorder stopped.
    pub fn try_push(&mut self, frame: RecordFrame) -> bool {
        if self.past_limit(&frame) {
            return false;
        }
        match self.sender.as_ref().map(|s| s.try_send(frame)) {
            Some(Ok(())) => true,
            Some(Err(mpsc::TrySendError::Full(_))) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(Err(mpsc::TrySendError::Disconnected(_))) | None => false,
        }
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Closes the file cleanly and reports what it holds, or the error that stopped it.
    pub fn finish(mut self) -> Result<RecordStats, RecordError> {
        drop(self.sender.take());
        let thread = self.thread.take().expect("finish runs once");
        thread.join().map_err(|_| RecordError::Panicked)?
    }
}

/// A frame's picture as the encoder's planes: I420 made on the GPU (of the recording's even
/// size), or RGBA converted here, scaled first when it is not of the output size `out`.
fn planes_of(frame: RecordFrame, out: (u32, u32), even: (u32, u32)) -> Result<I420, RecordError> {
    match frame.pixels {
        Pixels::I420(bytes) => I420::from_planes(bytes, frame.width, frame.height)
            .filter(|p| (p.width, p.height) == even)
            .ok_or(RecordError::FrameSize {
                width: frame.width,
                height: frame.height,
                out_w: even.0,
                out_h: even.1,
            }),
        Pixels::Rgba(rgba) if (frame.width, frame.height) == out => {
            Ok(I420::from_rgba(&rgba, out.0, out.1))
        }
        Pixels::Rgba(rgba) => {
            let scaled = crate::resize::rgba(&rgba, (frame.width, frame.height), out)
                .map_err(|cause| RecordError::Scale { cause })?;
            Ok(I420::from_rgba(&scaled, out.0, out.1))
        }
    }
}
