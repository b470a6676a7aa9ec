//! Cameras through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows).

use std::time::Instant;

use image::RgbImage;
use nokhwa::{
    Camera,
    pixel_format::RgbFormat,
    utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    },
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

/// Which camera, and the picture size and frame rate wanted from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraRequest {
    /// Camera index, as `dreamlens doctor` lists them.
    pub index: u32,
    /// Wanted width and height (the closest the camera offers is used).
    pub size: Option<(u32, u32)>,
    /// Wanted frames per second (the closest the camera offers is used).
    pub fps: Option<u32>,
}

/// The offered format closest to `request`: nearest pixel count (in ratio terms), then nearest
/// frame rate, then a compressed format (MJPEG keeps USB bandwidth for high rates). `None` when
/// nothing was requested or nothing is offered.
pub fn choose_format(offered: &[CameraFormat], request: &CameraRequest) -> Option<CameraFormat> {
    if request.size.is_none() && request.fps.is_none() {
        return None;
    }
    let cost = |f: &CameraFormat| {
        let size = request.size.map_or(0.0, |(w, h)| {
            let (want, got) = (f64::from(w) * f64::from(h), f64::from(f.width() * f.height()));
            (got / want).ln().abs()
        });
        let fps = request
            .fps
            .map_or(0.0, |want| (f64::from(f.frame_rate()) / f64::from(want.max(1))).ln().abs());
        let compressed = if f.format() == FrameFormat::MJPEG { 0.0 } else { 1e-3 };
        size * 4.0 + fps + compressed
    };
    offered.iter().copied().min_by(|a, b| cost(a).total_cmp(&cost(b)))
}

/// A streaming camera.
pub struct CameraSource {
    camera: Camera,
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
        let mut camera =
            Camera::new(CameraIndex::Index(index), format).map_err(|e| error(e.to_string()))?;
        let offered = camera.compatible_camera_formats().unwrap_or_default();
        if let Some(chosen) = choose_format(&offered, request) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<CameraFormat> {
        vec![
            CameraFormat::new_from(640, 480, FrameFormat::YUYV, 30),
            CameraFormat::new_from(640, 480, FrameFormat::MJPEG, 30),
            CameraFormat::new_from(1280, 720, FrameFormat::MJPEG, 30),
            CameraFormat::new_from(1280, 720, FrameFormat::YUYV, 10),
            CameraFormat::new_from(1920, 1080, FrameFormat::MJPEG, 15),
            CameraFormat::new_from(320, 240, FrameFormat::YUYV, 60),
        ]
    }

    #[test]
    fn the_closest_format_is_chosen() {
        let pick = |size, fps| choose_format(&offered(), &CameraRequest { index: 0, size, fps });
        assert_eq!(pick(None, None), None, "nothing asked: the camera's default");
        let hd = pick(Some((1280, 720)), Some(30)).expect("a format");
        assert_eq!((hd.width(), hd.frame_rate(), hd.format()), (1280, 30, FrameFormat::MJPEG));
        let fast = pick(None, Some(60)).expect("a format");
        assert_eq!(fast.frame_rate(), 60);
        let near = pick(Some((1200, 700)), None).expect("a format");
        assert_eq!(near.width(), 1280, "nearest size");
        let vga = pick(Some((640, 480)), Some(30)).expect("a format");
        assert_eq!(vga.format(), FrameFormat::MJPEG, "compressed preferred at equal fit");
    }
}
