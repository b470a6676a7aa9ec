//! The capture thread: frames from the camera (reconnecting when it goes away), a looped video or
//! photos, or the demo room, paced at their own rate and handed out newest-wins.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use super::LiveError;
use crate::{
    capture::{self, CameraRequest, Cameras, Frame},
    projection::Thumbnail,
    render::{
        FramePixels,
        staging::{FrameStaging, StagedFrame},
    },
    stages::Latest,
};

/// A frame with the moment it was captured.
#[derive(Debug)]
pub struct LiveFrame {
    /// The frame.
    pub frame: Frame,
    /// When it arrived.
    pub captured_at: Instant,
    /// The frame as RGBA, ready to upload (made here, off the window thread).
    pub rgba: LiveRgba,
    /// Its motion-estimation thumbnail (made here, off the window thread).
    pub thumbnail: Thumbnail,
}

/// Where a live frame's RGBA copy is.
#[derive(Debug)]
pub enum LiveRgba {
    /// In a GPU staging buffer: the window thread only records its copy.
    Staged(StagedFrame),
    /// In memory (no device yet, or every staging buffer in use).
    Bytes(Vec<u8>),
}

impl LiveFrame {
    /// Prepares `frame` for the window and the stages, staging its RGBA copy when it can.
    pub fn new(frame: Frame, captured_at: Instant, staging: &FrameStaging) -> Self {
        let rgba = match staging.stage(&frame.image) {
            Some(staged) => LiveRgba::Staged(staged),
            None => LiveRgba::Bytes(crate::render::rgba_bytes(&frame.image)),
        };
        let thumbnail = Thumbnail::of(&frame.image);
        Self { frame, captured_at, rgba, thumbnail }
    }

    /// The frame as the compositor takes it.
    pub fn pixels(&self) -> FramePixels<'_> {
        match &self.rgba {
            LiveRgba::Staged(staged) => FramePixels::Staged { staged, rgb: &self.frame.image },
            LiveRgba::Bytes(bytes) => FramePixels::Rgba(bytes),
        }
    }
}

/// The running capture thread.
pub struct LiveSource {
    /// Newest frame for display and the model stages.
    pub frames: Arc<Latest<Arc<LiveFrame>>>,
    stop: Arc<AtomicBool>,
    /// Set while the app is in the background: the camera is closed, no frames come.
    paused: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// What the picture comes from, and what went wrong with the camera (shown as a banner).
    banner: Arc<Mutex<String>>,
}

/// How long to wait before trying a lost camera again.
const RECONNECT: Duration = Duration::from_secs(2);

/// How often a paused capture thread looks whether it may go on.
const PAUSE_POLL: Duration = Duration::from_millis(20);

/// Waits while `paused` is set; false when told to stop meanwhile.
fn wait_while_paused(paused: &AtomicBool, stop: &AtomicBool) -> bool {
    while paused.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        thread::sleep(PAUSE_POLL);
    }
    !stop.load(Ordering::Relaxed)
}

impl LiveSource {
    /// Starts reading `input` (a video, photos, or `demo`: never a camera), or with `None` the
    /// camera `camera` names, or the demo room when there is no such camera.
    pub fn start(
        input: Option<String>,
        camera: CameraRequest,
        devices: Arc<dyn Cameras>,
        staging: FrameStaging,
    ) -> Result<Self, LiveError> {
        let cameras = if input.is_none() { devices.list() } else { Vec::new() };
        let wanted = cameras.get(camera.index as usize);
        let banner = Arc::new(Mutex::new(match (&input, wanted) {
            (Some(input), _) if input == "demo" => "The built-in demo room".to_owned(),
            (Some(input), _) => format!("Playing {input} in a loop as the camera"),
            (None, Some(found)) => format!("Camera: {}", found.name),
            (None, None) if cameras.is_empty() => {
                "No camera found: showing the built-in demo room".to_owned()
            }
            (None, None) => format!(
                "Camera {} not found (there are {}: {}): showing the built-in demo room",
                camera.index,
                cameras.len(),
                cameras.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }));
        let use_camera = input.is_none() && wanted.is_some();
        let name = input.unwrap_or_else(|| "demo".into());
        if !use_camera {
            // Open once here so a bad input is reported before the window opens.
            capture::open_input(&name, (1280, 720), u64::MAX)?;
        }
        let frames: Arc<Latest<Arc<LiveFrame>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (thread_frames, thread_banner) = (Arc::clone(&frames), Arc::clone(&banner));
        let control = Control { stop: Arc::clone(&stop), paused: Arc::clone(&paused) };
        let thread = thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                let mut index = 0u64;
                let publish = |frame: Frame, index: &mut u64| {
                    let frame = Frame { index: *index, ..frame };
                    thread_frames.put(Arc::new(LiveFrame::new(frame, Instant::now(), &staging)));
                    *index += 1;
                };
                if use_camera {
                    run_camera(devices.as_ref(), &camera, &control, &thread_banner, |frame| {
                        publish(frame, &mut index);
                    });
                } else {
                    run_file(&name, &control, |frame| publish(frame, &mut index));
                }
            })
            .map_err(LiveError::Thread)?;
        Ok(Self { frames, stop, paused, thread: Some(thread), banner })
    }

    /// Stops delivering frames and closes the camera until [`LiveSource::resume`].
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Delivers frames again (reopening the camera).
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// The current banner text.
    pub fn banner(&self) -> String {
        self.banner.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// The capture thread's instructions from the app.
struct Control {
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

impl Control {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && !self.paused.load(Ordering::Relaxed)
    }
}

/// Streams the requested camera; when it fails or disappears, says so and tries again. A pause
/// closes the camera; resuming opens it again.
fn run_camera(
    devices: &dyn Cameras,
    request: &CameraRequest,
    control: &Control,
    banner: &Mutex<String>,
    mut publish: impl FnMut(Frame),
) {
    let set_banner = |text: String| {
        if let Ok(mut banner) = banner.lock() {
            *banner = text;
        }
    };
    while wait_while_paused(&control.paused, &control.stop) {
        match devices.open(request) {
            Ok(mut camera) => {
                let (w, h) = camera.size();
                set_banner(format!("Camera: {} ({w}x{h})", camera.name()));
                while control.running() {
                    match camera.next_frame() {
                        Ok(Some(frame)) => publish(frame),
                        Ok(None) => break,
                        Err(error) => {
                            set_banner(format!("Camera lost ({error}); reconnecting..."));
                            break;
                        }
                    }
                }
                if !control.running() {
                    // Paused or stopping: the camera closes now, no reconnect delay.
                    continue;
                }
            }
            Err(error) => set_banner(format!("Camera unavailable ({error}); retrying...")),
        }
        thread::sleep(RECONNECT);
    }
}

/// Plays a video, photos or the demo in a loop at their own pace.
fn run_file(name: &str, control: &Control, mut publish: impl FnMut(Frame)) {
    while !control.stop.load(Ordering::Relaxed) {
        let Ok(mut source) = capture::open_input(name, (1280, 720), u64::MAX) else { return };
        let sequence = source.is_sequence();
        let started = Instant::now();
        let mut first_time: Option<f64> = None;
        let mut frames_in_pass = 0u64;
        while wait_while_paused(&control.paused, &control.stop) {
            let frame = match source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "capture failed; restarting the source");
                    break;
                }
            };
            // Pace to the source's own clock; photos are shown like a 30 fps camera.
            if sequence {
                let offset = frame.time_s - *first_time.get_or_insert(frame.time_s);
                let due = started + Duration::from_secs_f64(offset.max(0.0));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
            } else {
                thread::sleep(Duration::from_millis(33));
            }
            publish(frame);
            frames_in_pass += 1;
        }
        if frames_in_pass == 0 {
            return;
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.frames.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::capture::{Camera, CameraSummary, CaptureError};

    /// One camera, counting every look at it.
    #[derive(Default)]
    struct CountedCameras {
        looks: AtomicUsize,
    }

    impl Cameras for CountedCameras {
        fn list(&self) -> Vec<CameraSummary> {
            self.looks.fetch_add(1, Ordering::Relaxed);
            vec![CameraSummary { device: "0".into(), name: "a webcam".into() }]
        }

        fn open(&self, _: &CameraRequest) -> Result<Box<dyn Camera>, CaptureError> {
            self.looks.fetch_add(1, Ordering::Relaxed);
            Err(CaptureError::Open { input: "camera 0".into(), problem: "not in a test".into() })
        }
    }

    #[test]
    fn the_demo_input_never_looks_at_the_camera() {
        let cameras = Arc::new(CountedCameras::default());
        let source = LiveSource::start(
            Some("demo".into()),
            CameraRequest::default(),
            Arc::clone(&cameras) as Arc<dyn Cameras>,
            FrameStaging::default(),
        )
        .expect("the demo starts");
        assert!(source.frames.take().is_some(), "the demo delivers frames");
        assert_eq!(source.banner(), "The built-in demo room");
        assert_eq!(cameras.looks.load(Ordering::Relaxed), 0, "the camera was looked at");
        // Without an input the same cameras are used: the check above can fail.
        let source = LiveSource::start(
            None,
            CameraRequest::default(),
            Arc::clone(&cameras) as Arc<dyn Cameras>,
            FrameStaging::default(),
        )
        .expect("starts");
        drop(source);
        assert!(cameras.looks.load(Ordering::Relaxed) > 0);
    }
}
