//! Frame sources: image files, video files and the built-in demo scene (cameras join them
//! behind the same trait), the platform seams for cameras and microphones, and the desktop's
//! implementations of both. The only module that decodes input media or talks to camera and
//! sound devices.

#[cfg(feature = "desktop")]
pub mod aac;
pub mod audio;
#[cfg(feature = "desktop")]
mod camera;
mod camera_choice;
pub mod demo;
#[cfg(feature = "desktop")]
pub mod microphone;
pub mod photo;
#[cfg(feature = "desktop")]
mod video;
pub mod yuv420;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use image::RgbImage;

#[cfg(feature = "desktop")]
pub use camera::{CameraSource, DesktopCameras};
pub use camera_choice::{
    CameraMode, CameraRequest, camera2_modes, choose_mode, upright_quarter_turns,
};
#[cfg(feature = "desktop")]
pub use video::VideoFile;

/// One input frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The picture.
    pub image: RgbImage,
    /// 0-based index in its source.
    pub index: u64,
    /// Capture or presentation time in seconds from the start of the source.
    pub time_s: f64,
}

/// Why an input cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The input cannot be opened.
    #[error("input {input}: {problem}")]
    Open {
        /// The input as named by the user.
        input: String,
        /// What is wrong.
        problem: String,
    },
    /// A frame cannot be read.
    #[error("input {input}: {problem}")]
    Read {
        /// The input.
        input: String,
        /// What is wrong.
        problem: String,
    },
    /// A camera picture's planes do not hold the picture they describe.
    #[error("input {input}: {cause}")]
    Picture {
        /// The input.
        input: String,
        /// What is wrong.
        cause: yuv420::YuvError,
    },
}

/// Anything that produces frames: files, videos, the demo, cameras.
pub trait FrameSource {
    /// The next frame, or `None` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError>;
    /// Frame size (the first frame's size for image lists).
    fn size(&self) -> (u32, u32);
    /// Number of frames, when known.
    fn frame_count(&self) -> Option<u64>;
    /// True when frames form one continuous shot (video, demo), so temporal smoothing applies.
    fn is_sequence(&self) -> bool;
}

/// A streaming camera.
pub trait Camera: FrameSource + Send {
    /// The camera's name, for the banner.
    fn name(&self) -> &str;
}

/// The platform's cameras (nokhwa on desktop, Camera2 on Android).
pub trait Cameras: Send + Sync {
    /// Cameras present now, in index order; empty when there are none or the query fails.
    fn list(&self) -> Vec<CameraSummary>;
    /// Opens the camera `request` names, at the mode [`choose_mode`] picks, and starts it.
    fn open(&self, request: &CameraRequest) -> Result<Box<dyn Camera>, CaptureError>;
}

/// A microphone delivering sound to a recording.
pub trait MicrophoneStream {
    /// The device's name.
    fn name(&self) -> &str;
    /// Stops capturing and waits until every packet went to the recorder.
    fn stop(self: Box<Self>);
}

/// The platform's microphones (cpal and FFmpeg's AAC encoder on desktop).
pub trait Microphones: Send + Sync {
    /// Input devices present now, by name.
    fn list(&self) -> Vec<String>;
    /// Starts the input device whose name contains `device` (the default input with `None`);
    /// packet times count from `origin`.
    fn start(
        &self,
        device: Option<&str>,
        origin: Instant,
    ) -> Result<(Box<dyn MicrophoneStream>, audio::LiveSound), CaptureError>;
}

/// Photos, in name order, upright. Each may have its own size.
pub struct ImageFiles {
    paths: Vec<PathBuf>,
    next: usize,
    size: (u32, u32),
    /// The first photo, decoded to learn its upright size.
    first: Option<RgbImage>,
}

impl ImageFiles {
    /// Frames from these image files.
    pub fn new(paths: Vec<PathBuf>) -> Result<Self, CaptureError> {
        let first = paths.first().ok_or_else(|| CaptureError::Open {
            input: "(no files)".into(),
            problem: "no images given".into(),
        })?;
        // Decoded, not only probed: EXIF orientation can swap width and height.
        let first = photo::read_photo_logged(first)?;
        Ok(Self { paths, next: 0, size: first.dimensions(), first: Some(first) })
    }
}

impl FrameSource for ImageFiles {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Some(path) = self.paths.get(self.next) else { return Ok(None) };
        let image = match self.first.take() {
            Some(first) => first,
            None => photo::read_photo_logged(path)?,
        };
        let frame = Frame { image, index: self.next as u64, time_s: 0.0 };
        self.next += 1;
        Ok(Some(frame))
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn frame_count(&self) -> Option<u64> {
        Some(self.paths.len() as u64)
    }

    fn is_sequence(&self) -> bool {
        false
    }
}

/// The built-in demo room with a moving camera, at a fixed frame rate.
pub struct DemoScene {
    size: (u32, u32),
    fps: f64,
    frames: u64,
    next: u64,
}

impl DemoScene {
    /// `frames` frames at `fps` of a `width` x `height` demo.
    pub fn new(width: u32, height: u32, fps: f64, frames: u64) -> Self {
        Self { size: (width, height), fps, frames, next: 0 }
    }
}

impl FrameSource for DemoScene {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.next >= self.frames {
            return Ok(None);
        }
        let time_s = self.next as f64 / self.fps;
        let frame = Frame {
            image: demo::render(self.size.0, self.size.1, time_s as f32),
            index: self.next,
            time_s,
        };
        self.next += 1;
        Ok(Some(frame))
    }

    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn frame_count(&self) -> Option<u64> {
        Some(self.frames)
    }

    fn is_sequence(&self) -> bool {
        true
    }
}

/// Image extensions read as photos.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// True for a path with an image extension.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The images in a folder, sorted by name.
pub fn images_in(folder: &Path) -> Result<Vec<PathBuf>, CaptureError> {
    let entries = std::fs::read_dir(folder).map_err(|e| CaptureError::Open {
        input: folder.display().to_string(),
        problem: format!("cannot read the folder ({e})"),
    })?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    images.sort();
    if images.is_empty() {
        return Err(CaptureError::Open {
            input: folder.display().to_string(),
            problem: "holds no .jpg or .png images".into(),
        });
    }
    Ok(images)
}

/// Opens what the user named: `demo`, an image, a folder of images, or a video file.
pub fn open_input(
    input: &str,
    demo_size: (u32, u32),
    demo_frames: u64,
) -> Result<Box<dyn FrameSource>, CaptureError> {
    if input == "demo" {
        return Ok(Box::new(DemoScene::new(demo_size.0, demo_size.1, 30.0, demo_frames)));
    }
    let path = Path::new(input);
    if path.is_dir() {
        return Ok(Box::new(ImageFiles::new(images_in(path)?)?));
    }
    if !path.exists() {
        return Err(CaptureError::Open {
            input: input.to_owned(),
            problem: "does not exist (give an image, a folder of images, a video file, or `demo`)"
                .into(),
        });
    }
    if is_image_path(path) {
        return Ok(Box::new(ImageFiles::new(vec![path.to_owned()])?));
    }
    open_video(path)
}

#[cfg(feature = "desktop")]
fn open_video(path: &Path) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(Box::new(VideoFile::open(path)?))
}

#[cfg(not(feature = "desktop"))]
fn open_video(path: &Path) -> Result<Box<dyn FrameSource>, CaptureError> {
    Err(CaptureError::Open {
        input: path.display().to_string(),
        problem: "video files are read with FFmpeg, which only the desktop build has; give \
                  photos or `demo`"
            .into(),
    })
}
/// A camera the system exposes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraSummary {
    /// Device index or path.
    pub device: String,
    /// Human-readable name.
    pub name: String,
}
