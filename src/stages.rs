//! Model stages on worker threads for live use: each stage holds at most one frame in flight and
//! always takes the newest frame offered (never a queue), so a slow model lowers its own rate but
//! never the display's, and its latency stays bounded by one run. Results carry the index and
//! capture time of the frame they came from.

use std::{
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

/// A slot that keeps only the newest value: `put` replaces, `take` waits for one.
pub struct Latest<T> {
    state: Mutex<(Option<T>, bool)>,
    ready: Condvar,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self { state: Mutex::new((None, false)), ready: Condvar::new() }
    }
}

impl<T> Latest<T> {
    /// Stores `value`; returns true when it replaced one nobody took (a dropped frame).
    pub fn put(&self, value: T) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let replaced = state.0.replace(value).is_some();
        self.ready.notify_one();
        replaced
    }

    /// The value if there is one, without waiting.
    pub fn try_take(&self) -> Option<T> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0.take()
    }

    /// Waits for a value; `None` once closed.
    pub fn take(&self) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = state.0.take() {
                return Some(value);
            }
            if state.1 {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes the taker for good.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.ready.notify_all();
    }
}

/// A value with the frame it came from.
#[derive(Debug, Clone)]
pub struct Stamped<T> {
    /// Index of the source frame.
    pub frame_index: u64,
    /// When that frame was captured.
    pub captured_at: Instant,
    /// The result.
    pub value: T,
}

/// What a stage has been doing, for the HUD.
#[derive(Debug, Clone, Default)]
pub struct StageStats {
    /// Frames processed.
    pub completed: u64,
    /// Frames replaced before the stage took them.
    pub skipped: u64,
    /// Capture-to-result time of the last result.
    pub latency: Duration,
    /// Results per second, smoothed.
    pub rate_hz: f32,
    /// The last failure, if the last run failed.
    pub error: Option<String>,
}

/// An input frame for a stage.
pub struct StageInput<F> {
    /// The frame.
    pub frame: Arc<F>,
    /// Its index.
    pub index: u64,
    /// When it was captured.
    pub captured_at: Instant,
}

/// One model stage on its own named thread.
pub struct Stage<F, O> {
    name: String,
    input: Arc<Latest<StageInput<F>>>,
    output: Arc<Mutex<Option<Stamped<O>>>>,
    stats: Arc<Mutex<StageStats>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<F, O> std::fmt::Debug for Stage<F, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<F: Send + Sync + 'static, O: Clone + Send + 'static> Stage<F, O> {
    /// Starts `work` on a thread named `stage-NAME`.
    pub fn spawn(
        name: &str,
        mut work: impl FnMut(&F) -> Result<O, String> + Send + 'static,
    ) -> std::io::Result<Self> {
        let input: Arc<Latest<StageInput<F>>> = Arc::default();
        let output = Arc::new(Mutex::new(None));
        let stats = Arc::new(Mutex::new(StageStats::default()));
        let (thread_input, thread_output, thread_stats) =
            (Arc::clone(&input), Arc::clone(&output), Arc::clone(&stats));
        let thread = thread::Builder::new().name(format!("stage-{name}")).spawn(move || {
            let mut last_done: Option<Instant> = None;
            while let Some(job) = thread_input.take() {
                let result = work(&job.frame);
                let done = Instant::now();
                let mut stats = thread_stats.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(value) => {
                        *thread_output.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stamped {
                            frame_index: job.index,
                            captured_at: job.captured_at,
                            value,
                        });
                        stats.completed += 1;
                        stats.latency = done - job.captured_at;
                        stats.error = None;
                        if let Some(last) = last_done {
                            let rate = 1.0 / (done - last).as_secs_f32().max(1e-6);
                            stats.rate_hz = if stats.rate_hz == 0.0 {
                                rate
                            } else {
                                stats.rate_hz * 0.8 + rate * 0.2
                            };
                        }
                        last_done = Some(done);
                    }
                    Err(error) => stats.error = Some(error),
                }
            }
        })?;
        Ok(Self { name: name.to_owned(), input, output, stats, thread: Some(thread) })
    }

    /// Offers a frame; it replaces any frame the stage has not started on yet.
    pub fn offer(&self, frame: Arc<F>, index: u64, captured_at: Instant) {
        if self.input.put(StageInput { frame, index, captured_at }) {
            self.stats.lock().unwrap_or_else(|e| e.into_inner()).skipped += 1;
        }
    }

    /// The newest result.
    pub fn latest(&self) -> Option<Stamped<O>> {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counters for the HUD.
    pub fn stats(&self) -> StageStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<F, O> Drop for Stage<F, O> {
    fn drop(&mut self) {
        self.input.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100 Hz camera feeding a 25 ms stage: the producer never waits, the stage skips frames
    /// instead of queueing them, and every result is at most about one run old.
    #[test]
    fn a_slow_stage_drops_frames_and_keeps_latency_bounded() {
        let stage: Stage<u64, u64> = Stage::spawn("slow", |frame: &u64| {
            thread::sleep(Duration::from_millis(25));
            Ok(*frame)
        })
        .expect("spawns");
        let started = Instant::now();
        let mut worst_offer = Duration::ZERO;
        let mut worst_lag = 0u64;
        for index in 0..100u64 {
            let offer_started = Instant::now();
            stage.offer(Arc::new(index), index, Instant::now());
            worst_offer = worst_offer.max(offer_started.elapsed());
            if let Some(result) = stage.latest() {
                worst_lag = worst_lag.max(index - result.frame_index);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let elapsed = started.elapsed();
        thread::sleep(Duration::from_millis(60));
        let stats = stage.stats();
        // The producer kept its own rate: 100 frames in about a second.
        assert!(elapsed < Duration::from_millis(1600), "producer slowed to {elapsed:?}");
        assert!(worst_offer < Duration::from_millis(5), "offer blocked for {worst_offer:?}");
        // The stage ran at its own pace and skipped the rest.
        assert!(stats.completed >= 20 && stats.completed <= 60, "{stats:?}");
        assert!(stats.skipped >= 40, "{stats:?}");
        assert_eq!(stats.completed + stats.skipped, 100, "every frame was either run or skipped");
        // Results are never more than a few frames behind and latency about one run.
        assert!(worst_lag <= 6, "results lag {worst_lag} frames");
        assert!(stats.latency < Duration::from_millis(80), "{stats:?}");
    }

    #[test]
    fn latest_keeps_only_the_newest_value() {
        let slot = Latest::default();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert_eq!(slot.take(), Some(2));
        slot.close();
        assert_eq!(slot.take(), None::<i32>);
    }
}
