//! The phone's surface lifecycle driven through the live app's own winit handler, in a real
//! window under Xvfb: resume -> suspend -> resume, as Android delivers it when the user leaves
//! the app and comes back. While suspended there is no surface, the capture is paused and no
//! frame is presented; after resuming a new surface is made, the same model stages carry on
//! (their run counts keep rising from where they were) and frames are presented again.
//!
//! Runs without the test harness (`harness = false`): winit wants its event loop on the main
//! thread, and the display is chosen before any other thread exists.

mod common;

use std::time::{Duration, Instant};

use dreamlens::{
    app::{LiveApp, LiveOptions, LiveStatus},
    inference::SessionOptions,
    platform::{Folders, Platform},
};
use winit::{
    application::ApplicationHandler,
    event::{StartCause, WindowEvent},
    event_loop::{ActiveEventLoop, EventLoop},
    window::WindowId,
};

/// Where the drill is.
#[derive(Debug)]
enum Phase {
    /// Running until every stage has produced results and frames are shown.
    Warming,
    /// Suspended; counts the redraw requests seen without a surface.
    Suspended {
        before: LiveStatus,
        redraws: u32,
    },
    /// Resumed; waits for new frames and new stage results.
    Resumed {
        before: LiveStatus,
    },
    Done,
}

struct Drill {
    app: LiveApp,
    phase: Phase,
    /// When the drill began, to stop one that makes no progress.
    started: Instant,
}

/// Far more than the whole drill takes on a software GPU (2-4 s here); reaching it means
/// the app stalled. A count of redraws would not do: a redraw with nothing new to show is so
/// cheap that thousands pass while the first model loads.
const STALL_LIMIT: Duration = Duration::from_secs(300);

impl Drill {
    fn step(&mut self, event_loop: &ActiveEventLoop) {
        assert!(
            self.started.elapsed() < STALL_LIMIT,
            "no progress in {:?}: {:?}",
            self.phase,
            self.app.status()
        );
        let status = self.app.status();
        let stages_ran = |s: &LiveStatus| {
            !s.stage_runs.is_empty() && s.stage_runs.iter().all(|(_, runs)| *runs > 0)
        };
        self.phase = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Warming if stages_ran(&status) && status.frames_shown >= 5 => {
                assert!(status.has_surface && !status.capture_paused);
                assert_eq!(status.surfaces_made, 1);
                self.app.suspended(event_loop);
                let suspended = self.app.status();
                assert!(!suspended.has_surface, "the surface goes with the native window");
                assert!(suspended.capture_paused, "the camera is released in the background");
                Phase::Suspended { before: status, redraws: 0 }
            }
            Phase::Suspended { before, redraws } if redraws >= 30 => {
                assert_eq!(
                    status.frames_shown, before.frames_shown,
                    "nothing is presented while suspended"
                );
                self.app.resumed(event_loop);
                let resumed = self.app.status();
                assert!(resumed.has_surface && !resumed.capture_paused);
                assert_eq!(resumed.surfaces_made, 2, "resuming makes a new surface");
                Phase::Resumed { before }
            }
            Phase::Suspended { before, redraws } => {
                Phase::Suspended { before, redraws: redraws + 1 }
            }
            Phase::Resumed { before } => {
                let fresh_results = status.stage_runs.iter().zip(&before.stage_runs).all(
                    |((kind, after), (kind_before, runs_before))| {
                        kind == kind_before && after > runs_before
                    },
                );
                if status.frames_shown >= before.frames_shown + 5 && fresh_results {
                    assert_eq!(
                        status.presets_loaded, before.presets_loaded,
                        "the stages were kept, not reloaded"
                    );
                    assert_eq!(status.stage_runs.len(), before.stage_runs.len());
                    event_loop.exit();
                    Phase::Done
                } else {
                    Phase::Resumed { before }
                }
            }
            other => other,
        };
    }
}

impl ApplicationHandler for Drill {
    fn new_events(&mut self, event_loop: &ActiveEventLoop, cause: StartCause) {
        self.app.new_events(event_loop, cause);
    }

    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        self.app.resumed(event_loop);
    }

    fn suspended(&mut self, event_loop: &ActiveEventLoop) {
        self.app.suspended(event_loop);
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        let redraw = matches!(event, WindowEvent::RedrawRequested);
        self.app.window_event(event_loop, id, event);
        if redraw && !event_loop.exiting() {
            self.step(event_loop);
        }
    }

    fn exiting(&mut self, event_loop: &ActiveEventLoop) {
        self.app.exiting(event_loop);
    }
}

fn main() {
    let screen = common::xvfb();
    #[allow(unsafe_code)]
    // SAFETY: no other thread exists yet in this harness-less test, so nothing reads the
    // environment while it changes.
    unsafe {
        std::env::set_var("DISPLAY", &screen.display);
        std::env::remove_var("WAYLAND_DISPLAY");
        std::env::set_var("WGPU_BACKEND", "vulkan");
    }
    let cache = tempfile::tempdir().expect("temp");
    let store = common::mirror_store(cache.path());
    let platform = Platform {
        // The user's settings file is left alone.
        folders: Folders {
            settings: None,
            models: cache.path().to_owned(),
            outputs: cache.path().join("outputs"),
        },
        ..Platform::desktop()
    };
    let options = LiveOptions {
        input: Some("demo".into()),
        // Model stages whose maps are carried onto every frame.
        preset: Some("wall-paint".into()),
        window_size: Some((480, 320)),
        model_every: 1,
        ..LiveOptions::default()
    };
    let app =
        LiveApp::new(store, SessionOptions::default(), options, platform).expect("the app starts");
    let mut drill = Drill { app, phase: Phase::Warming, started: Instant::now() };
    let event_loop = EventLoop::new().expect("the Xvfb display");
    event_loop.run_app(&mut drill).expect("the event loop runs");
    assert!(matches!(drill.phase, Phase::Done), "the drill stopped in {:?}", drill.phase);
    drill.app.finish().expect("no failure");
    println!("lifecycle: resume -> suspend -> resume passed");
}
