//! Cameras through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows).

use std::time::Instant;

use image::RgbImage;
use nokhwa::{
    Camera as NokhwaCamera,
    pixel_format::RgbFormat,
    utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    },
};

use super::{
    Camera, CameraSummary, Cameras, CaptureError, Frame, FrameSource,
    camera_choice::{CameraMode, CameraRequest, choose_mode},
};

/// Cameras the platform reports, in index order; empty when there are none or the query fails.
pub fn list() -> Vec<CameraSummary> {
    nokhwa::query(ApiBackend::Auto)
        .map(|cameras| {
            cameras
                .into_iter()
                .map(|info| CameraSummary {
                    device: info.index().to_string(),
                    name: info.human_name(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// nokhwa's formats as the portable [`CameraMode`]s [`choose_mode`] picks from.
fn modes(offered: &[CameraFormat]) -> Vec<CameraMode> {
    offered
        .iter()
        .map(|f| CameraMode {
            width: f.width(),
            height: f.height(),
            fps: f.frame_rate(),
            compressed: f.format() == FrameFormat::MJPEG,
        })
        .collect()
}

/// A streaming camera.
pub struct CameraSource {
    camera: NokhwaCamera,
    name: String,
    started: Instant,
    next_index: u64,
}

impl CameraSource {
    /// Opens the camera `request` names, at the format closest to the wanted size and rate
    /// (its highest frame rate when none is wanted), and starts streaming.
    pub fn open(request: &CameraRequest) -> Result<Self, CaptureError> {
        let index = request.index;
        let error =
            |problem: String| CaptureError::Open { input: format!("camera {index}"), problem };
        let format =
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera = NokhwaCamera::new(CameraIndex::Index(index), format)
            .map_err(|e| error(e.to_string()))?;
        let offered = camera.compatible_camera_formats().unwrap_or_default();
        let offered_modes = modes(&offered);
        let chosen = choose_mode(&offered_modes, request)
            .and_then(|mode| offered_modes.iter().position(|m| *m == mode))
            .map(|i| offered[i]);
        if let Some(chosen) = chosen {
            camera
                .set_camera_requset(RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(
                    chosen,
                )))
                .map_err(|e| error(format!("cannot use {chosen}: {e}")))?;
        }
        camera.open_stream().map_err(|e| error(e.to_string()))?;
        let name = camera.info().human_name();
        Ok(Self { camera, name, started: Instant::now(), next_index: 0 })
    }
}

impl Camera for CameraSource {
    fn name(&self) -> &str {
        &self.name
    }
}

/// The desktop's cameras, through nokhwa.
#[derive(Debug, Default)]
pub struct DesktopCameras;

impl Cameras for DesktopCameras {
    fn list(&self) -> Vec<CameraSummary> {
        list()
    }

    fn open(&self, request: &CameraRequest) -> Result<Box<dyn Camera>, CaptureError> {
        Ok(Box::new(CameraSource::open(request)?))
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let read_error = |problem: String| CaptureError::Read { input: self.name.clone(), problem };
        let buffer = self.camera.frame().map_err(|e| read_error(e.to_string()))?;
        let decoded = buffer.decode_image::<RgbFormat>().map_err(|e| read_error(e.to_string()))?;
        let (width, height) = (decoded.width(), decoded.height());
        let image = RgbImage::from_raw(width, height, decoded.into_raw())
            .ok_or_else(|| read_error("the camera delivered a short frame".into()))?;
        let frame =
            Frame { image, index: self.next_index, time_s: self.started.elapsed().as_secs_f64() };
        self.next_index += 1;
        Ok(Some(frame))
    }

    fn size(&self) -> (u32, u32) {
        let resolution = self.camera.resolution();
        (resolution.width(), resolution.height())
    }

    fn frame_count(&self) -> Option<u64> {
        None
    }

    fn is_sequence(&self) -> bool {
        true
    }
}
