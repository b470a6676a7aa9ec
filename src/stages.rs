//! Model stages on worker threads for live use: each stage holds at most one frame in flight and
//! always takes the newest frame offered (never a queue), so a slow model lowers its own rate but
//! never the display's, and its latency stays bounded by one run. Results carry the index and
//! capture time of the frame they came from.

use std::{
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

/// The live window's model stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageKind {
    /// Semantic segmentation (the class map).
    Segmentation,
    /// The person mask.
    Person,
    /// Monocular depth.
    Depth,
    /// Style transfer or the restyler (keyframes).
    Style,
}

impl StageKind {
    /// Its name in the HUD, summaries and thread names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Segmentation => "segmentation",
            Self::Person => "person",
            Self::Depth => "depth",
            Self::Style => "style",
        }
    }
}

/// Frames closer than this to the last one offered to the style stage are not stylized again
/// (the mean luma difference of their motion thumbnails, in levels): a still camera costs no
/// style or diffusion runs.
pub const STYLE_SKIP_LEVELS: f32 = 1.5;

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
    /// A run is going now.
    pub running: bool,
}

impl StageStats {
    /// Counts one result, made `latency` after its frame was captured and `since_last` after
    /// the stage's previous result (the rate is smoothed over the last few).
    pub fn count_result(&mut self, latency: Duration, since_last: Option<Duration>) {
        self.completed += 1;
        self.latency = latency;
        self.error = None;
        if let Some(gap) = since_last {
            let rate = 1.0 / gap.as_secs_f32().max(1e-6);
            self.rate_hz = if self.rate_hz == 0.0 { rate } else { self.rate_hz * 0.8 + rate * 0.2 };
        }
    }
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
    /// Starts `work` on a thread named `stage-NAME`. A failed run's error is kept, as text for
    /// the HUD, until the next run succeeds.
    pub fn spawn<E: std::fmt::Display>(
        name: &str,
        mut work: impl FnMut(&F) -> Result<O, E> + Send + 'static,
    ) -> std::io::Result<Self> {
        let input: Arc<Latest<StageInput<F>>> = Arc::default();
        let output = Arc::new(Mutex::new(None));
        let stats = Arc::new(Mutex::new(StageStats::default()));
        let (thread_input, thread_output, thread_stats) =
            (Arc::clone(&input), Arc::clone(&output), Arc::clone(&stats));
        let thread = thread::Builder::new().name(format!("stage-{name}")).spawn(move || {
            let mut last_done: Option<Instant> = None;
            while let Some(job) = thread_input.take() {
                thread_stats.lock().unwrap_or_else(|e| e.into_inner()).running = true;
                let result = work(&job.frame);
                let done = Instant::now();
                let mut stats = thread_stats.lock().unwrap_or_else(|e| e.into_inner());
                stats.running = false;
                match result {
                    Ok(value) => {
                        *thread_output.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stamped {
                            frame_index: job.index,
                            captured_at: job.captured_at,
                            value,
                        });
                        stats.count_result(done - job.captured_at, last_done.map(|l| done - l));
                        last_done = Some(done);
                    }
                    Err(error) => stats.error = Some(error.to_string()),
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

    #[test]
    fn results_are_counted_with_their_latency_and_a_smoothed_rate() {
        let mut stats =
            StageStats { error: Some("the last run failed".into()), ..StageStats::default() };
        stats.count_result(Duration::from_millis(300), None);
        assert_eq!((stats.completed, stats.rate_hz, stats.error.as_deref()), (1, 0.0, None));
        stats.count_result(Duration::from_millis(250), Some(Duration::from_millis(500)));
        assert!((stats.rate_hz - 2.0).abs() < 1e-4, "{stats:?}");
        // A result 250 ms later moves the rate a fifth of the way to 4/s.
        stats.count_result(Duration::from_millis(200), Some(Duration::from_millis(250)));
        assert!((stats.rate_hz - 2.4).abs() < 1e-4, "{stats:?}");
        assert_eq!((stats.completed, stats.latency), (3, Duration::from_millis(200)));
    }

    /// A stage held inside a run while the camera keeps offering frames: the offers return
    /// without waiting for it, the frames offered meanwhile replace each other instead of
    /// queueing, and the next run takes the newest. Checked by the order of events, not times.
    #[test]
    fn a_busy_stage_skips_to_the_newest_frame_and_never_blocks_the_producer() {
        use std::sync::mpsc;
        let (started_sender, started) = mpsc::channel::<u64>();
        let (release, gate) = mpsc::channel::<()>();
        let stage: Stage<u64, u64> = Stage::spawn("gated", move |frame: &u64| {
            started_sender.send(*frame).map_err(|e| e.to_string())?;
            // A generous bound so a broken stage fails the test instead of hanging it.
            gate.recv_timeout(Duration::from_secs(60)).map_err(|e| e.to_string())?;
            Ok::<_, String>(*frame * 10)
        })
        .expect("spawns");
        stage.offer(Arc::new(0), 0, Instant::now());
        assert_eq!(started.recv().expect("runs"), 0);
        // The stage is inside run 0 until released: these offers must return on their own.
        for index in 1..=10u64 {
            stage.offer(Arc::new(index), index, Instant::now());
        }
        assert_eq!(stage.stats().skipped, 9, "frames 1..9 were replaced while it was busy");
        assert!(stage.latest().is_none(), "no result before run 0 ends");
        release.send(()).expect("release 0");
        assert_eq!(started.recv().expect("runs again"), 10, "the next run takes the newest");
        release.send(()).expect("release 10");
        drop(stage); // joins the thread: every run has finished
        assert!(started.try_recv().is_err(), "nothing else ran");
    }

    #[test]
    fn results_carry_their_frame_and_counters_add_up() {
        use std::convert::Infallible;
        let stage: Stage<u64, u64> =
            Stage::spawn("echo", |frame: &u64| Ok::<_, Infallible>(*frame + 1)).expect("spawns");
        stage.offer(Arc::new(41), 7, Instant::now());
        let result = loop {
            if let Some(result) = stage.latest() {
                break result;
            }
            thread::yield_now();
        };
        assert_eq!((result.frame_index, result.value), (7, 42));
        let stats = stage.stats();
        assert_eq!((stats.completed, stats.skipped), (1, 0));
        assert!(stats.error.is_none());
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
