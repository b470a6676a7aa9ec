//! Cameras through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows).

use std::time::Instant;

use image::RgbImage;
use nokhwa::{
    Camera,
    pixel_format::RgbFormat,
    utils::{ApiBackend, CameraIndex, RequestedFormat, RequestedFormatType},
};

use super::{CameraSummary, CaptureError, Frame, FrameSource};

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

/// A streaming camera.
pub struct CameraSource {
    camera: Camera,
    name: String,
    started: Instant,
    next_index: u64,
}

impl CameraSource {
    /// Opens camera `index` at its highest frame rate and starts streaming.
    pub fn open(index: u32) -> Result<Self, CaptureError> {
        let error =
            |problem: String| CaptureError::Open { input: format!("camera {index}"), problem };
        let format =
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera =
            Camera::new(CameraIndex::Index(index), format).map_err(|e| error(e.to_string()))?;
        camera.open_stream().map_err(|e| error(e.to_string()))?;
        let name = camera.info().human_name();
        Ok(Self { camera, name, started: Instant::now(), next_index: 0 })
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.name
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
