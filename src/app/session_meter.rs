//! The live session's numbers, for benchmarks and bug reports: frames shown, the display rate,
//! the longest gap between two frames, the window thread's own CPU time per frame, and each
//! stage's rate, latency and skipped frames. Printed as one line at exit and, with
//! `--summary-json`, written as JSON.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::stages::{StageKind, StageStats};

/// Counts what the window thread shows; call [`SessionMeter::frame_shown`] on that thread.
#[derive(Debug, Default)]
pub struct SessionMeter {
    first: Option<Instant>,
    last: Option<Instant>,
    frames: u64,
    max_gap: Duration,
    /// Frames shown while a model run was going.
    beside_runs: u64,
    /// The window thread's CPU time when the first frame was shown.
    cpu_at_first: Option<Duration>,
}

/// One stage's share of the session.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSummary {
    /// Results made.
    pub runs: u64,
    /// Results per second over the session.
    pub runs_per_second: f64,
    /// Capture-to-result time of the last result, in milliseconds.
    pub latency_ms: f64,
    /// Frames replaced before the stage took them.
    pub skipped: u64,
    /// Its models and where each runs ("ade20k-mosaic on cpu (int8)"), as the HUD says.
    pub runs_on: String,
}

/// The whole session.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionSummary {
    /// Frames shown.
    pub frames: u64,
    /// From the first shown frame to the end.
    pub seconds: f64,
    /// Frames shown per second.
    pub display_fps: f64,
    /// The window thread's own CPU time per shown frame (thread CPU clock; a software GPU's
    /// rasteriser threads are not in it); `None` where the platform does not say.
    pub window_thread_cpu_ms_per_frame: Option<f64>,
    /// Longest time between two shown frames, in milliseconds.
    pub max_frame_gap_ms: f64,
    /// Frames shown while a model run was going: a window that waited for its models would
    /// show none.
    pub frames_beside_model_runs: u64,
    /// Per model stage.
    pub stages: BTreeMap<String, StageSummary>,
    /// Where the last picture was drawn, `[x0, y0, x1, y1]` in window pixels: letterboxed into
    /// the area the controls leave free. `None` before a picture was drawn.
    pub picture_rect: Option<[f64; 4]>,
    /// Each layer's region at the end, as picked (a click on the picture changes it).
    pub regions: Vec<String>,
}

impl SessionMeter {
    /// Records a frame shown now; `beside_a_run` while a model run was going.
    pub fn frame_shown(&mut self, beside_a_run: bool) {
        let now = Instant::now();
        self.beside_runs += u64::from(beside_a_run);
        if self.first.is_none() {
            self.first = Some(now);
            self.cpu_at_first = thread_cpu_time();
        } else {
            self.frames += 1;
        }
        if let Some(last) = self.last {
            self.max_gap = self.max_gap.max(now - last);
        }
        self.last = Some(now);
    }

    /// The summary so far (the first frame only starts the clocks).
    pub fn summary(&self, stages: &[(StageKind, StageStats)]) -> Option<SessionSummary> {
        let first = self.first?;
        let seconds = first.elapsed().as_secs_f64().max(1e-6);
        let frames = self.frames.max(1);
        let cpu = match (self.cpu_at_first, thread_cpu_time()) {
            (Some(start), Some(end)) => {
                Some(end.saturating_sub(start).as_secs_f64() * 1e3 / frames as f64)
            }
            _ => None,
        };
        Some(SessionSummary {
            frames: self.frames + 1,
            seconds,
            display_fps: self.frames as f64 / seconds,
            window_thread_cpu_ms_per_frame: cpu,
            max_frame_gap_ms: self.max_gap.as_secs_f64() * 1e3,
            frames_beside_model_runs: self.beside_runs,
            stages: stages
                .iter()
                .map(|(kind, stats)| {
                    let summary = StageSummary {
                        runs: stats.completed,
                        runs_per_second: stats.completed as f64 / seconds,
                        latency_ms: stats.latency.as_secs_f64() * 1e3,
                        skipped: stats.skipped,
                        runs_on: String::new(),
                    };
                    (kind.name().to_owned(), summary)
                })
                .collect(),
            picture_rect: None,
            regions: Vec::new(),
        })
    }
}

impl std::fmt::Display for SessionSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "live session: {} frames in {:.1} s ({:.1} fps shown)",
            self.frames, self.seconds, self.display_fps
        )?;
        for (name, stage) in &self.stages {
            write!(
                f,
                "; {name}: {} runs ({:.2}/s), last latency {:.0} ms, {} skipped",
                stage.runs, stage.runs_per_second, stage.latency_ms, stage.skipped
            )?;
        }
        Ok(())
    }
}

/// CPU time the calling thread has used: the first field of Linux's per-thread scheduler
/// statistics, in nanoseconds. `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_gaps_and_stages_are_summed_up() {
        let mut meter = SessionMeter::default();
        assert!(meter.summary(&[]).is_none(), "nothing shown yet");
        meter.frame_shown(false);
        std::thread::sleep(Duration::from_millis(30));
        meter.frame_shown(true);
        meter.frame_shown(true);
        let stats = StageStats { completed: 2, skipped: 5, ..StageStats::default() };
        let summary = meter.summary(&[(StageKind::Style, stats)]).expect("frames shown");
        assert_eq!(summary.frames, 3);
        assert_eq!(summary.frames_beside_model_runs, 2);
        assert!(summary.max_frame_gap_ms >= 30.0, "{summary:?}");
        assert_eq!(summary.stages["style"].runs, 2);
        assert_eq!(summary.stages["style"].skipped, 5);
        if cfg!(target_os = "linux") {
            assert!(summary.window_thread_cpu_ms_per_frame.is_some());
        }
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["frames"], 3);
        assert!(json["stages"]["style"]["runs_per_second"].is_number());
    }
}
