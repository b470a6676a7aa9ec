//! The capture thread: frames from the demo room, a looped video or photos, paced at their own
//! rate and handed out newest-wins.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    capture::{self, Frame},
    stages::Latest,
};

/// A frame with the moment it was captured.
#[derive(Debug)]
pub struct LiveFrame {
    /// The frame.
    pub frame: Frame,
    /// When it arrived.
    pub captured_at: Instant,
}

/// The running capture thread.
pub struct LiveSource {
    /// Newest frame for display and the model stages.
    pub frames: Arc<Latest<Arc<LiveFrame>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// Why the app shows what it shows (no camera, looping a file...).
    pub banner: String,
}

impl LiveSource {
    /// Starts reading `input` (a video, photos, or `None` for the camera/demo).
    pub fn start(input: Option<String>) -> anyhow::Result<Self> {
        let banner = match &input {
            Some(input) => format!("Playing {input} in a loop as the camera"),
            None => {
                let cameras = capture::list_cameras();
                if cameras.is_empty() {
                    "No camera found: showing the built-in demo room".to_owned()
                } else {
                    format!(
                        "Found {} but this build cannot open cameras yet: showing the built-in demo room",
                        cameras[0].name
                    )
                }
            }
        };
        let name = input.clone().unwrap_or_else(|| "demo".into());
        // Open once here so a bad input is reported before the window opens.
        capture::open_input(&name, (1280, 720), u64::MAX)?;
        let frames: Arc<Latest<Arc<LiveFrame>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_frames, thread_stop) = (Arc::clone(&frames), Arc::clone(&stop));
        let thread = thread::Builder::new().name("capture".into()).spawn(move || {
            let mut index = 0u64;
            while !thread_stop.load(Ordering::Relaxed) {
                let Ok(mut source) = capture::open_input(&name, (1280, 720), u64::MAX) else {
                    return;
                };
                let sequence = source.is_sequence();
                let started = Instant::now();
                let mut first_time: Option<f64> = None;
                let mut frames_in_pass = 0u64;
                while !thread_stop.load(Ordering::Relaxed) {
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
                    let frame = Frame { index, ..frame };
                    thread_frames.put(Arc::new(LiveFrame { frame, captured_at: Instant::now() }));
                    index += 1;
                    frames_in_pass += 1;
                }
                if frames_in_pass == 0 {
                    return;
                }
            }
        })?;
        Ok(Self { frames, stop, thread: Some(thread), banner })
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
