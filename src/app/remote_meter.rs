//! What the models on an inference server cost per run, for the HUD: each stage thread records
//! its sessions' call counters around a run, the window reads the latest row per model.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use crate::{
    controls::RemoteRow,
    inference::{ModelSession, remote::CallStats},
};

/// Shared between the stage threads (writers) and the window (reader).
#[derive(Debug, Clone, Default)]
pub struct RemoteMeter(Arc<Mutex<BTreeMap<String, RemoteRow>>>);

/// Per remote session: model id and its call counters.
pub fn totals<'a>(sessions: impl Iterator<Item = &'a ModelSession>) -> Vec<(String, CallStats)> {
    sessions.filter_map(|s| Some((s.model_id().to_owned(), s.remote_stats()?))).collect()
}

impl RemoteMeter {
    /// Records what changed between two readings of [`totals`] taken around one run.
    pub fn record(&self, before: &[(String, CallStats)], after: &[(String, CallStats)]) {
        let Ok(mut rows) = self.0.lock() else { return };
        for (id, now) in after {
            let then = before.iter().find(|(b, _)| b == id).map(|(_, s)| *s).unwrap_or_default();
            if now.calls == then.calls {
                continue;
            }
            rows.insert(
                id.clone(),
                RemoteRow {
                    round_trip_ms: now.last_round_trip.as_secs_f32() * 1e3,
                    sent: now.bytes_sent.saturating_sub(then.bytes_sent),
                    received: now.bytes_received.saturating_sub(then.bytes_received),
                },
            );
        }
    }

    /// The latest row per model id.
    pub fn rows(&self) -> Vec<(String, RemoteRow)> {
        self.0
            .lock()
            .map(|rows| rows.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_run_records_its_own_bytes_and_last_round_trip() {
        let meter = RemoteMeter::default();
        let stats = |calls, sent, received| CallStats {
            calls,
            last_round_trip: Duration::from_millis(40),
            bytes_sent: sent,
            bytes_received: received,
        };
        let before = vec![("unet".to_owned(), stats(2, 1000, 500))];
        let after = vec![("unet".to_owned(), stats(4, 1600, 900))];
        meter.record(&before, &after);
        meter.record(&after, &after); // a run without calls changes nothing
        assert_eq!(
            meter.rows(),
            vec![("unet".to_owned(), RemoteRow { round_trip_ms: 40.0, sent: 600, received: 400 })]
        );
    }
}
