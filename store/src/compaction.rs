//! When to compact: keep history back to a time window or a number of revisions, whichever keeps
//! more. Time is passed in, never read here, so the policy is tested without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::types::Revision;

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Keep every revision written within this long.
    pub window: Duration,
    /// Keep at least this many of the newest revisions.
    pub min_revisions: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy { window: Duration::from_secs(5 * 60), min_revisions: 10_000 }
    }
}

/// Samples of (time, current revision), to tell which revisions are older than the window.
#[derive(Debug, Default)]
pub struct RevisionClock {
    samples: VecDeque<(Instant, Revision)>,
}

impl RevisionClock {
    /// Note that at `now` the newest revision was `current`.
    pub fn record(&mut self, now: Instant, current: Revision) {
        self.samples.push_back((now, current));
    }

    /// The revision to compact to at `now` (0 when nothing may be compacted yet). Drops samples
    /// it will never need again.
    pub fn target(
        &mut self,
        policy: &CompactionPolicy,
        now: Instant,
        current: Revision,
    ) -> Revision {
        let by_count = current.saturating_sub(policy.min_revisions);
        let Some(cutoff) = now.checked_sub(policy.window) else {
            return 0;
        };
        // The newest sample taken at or before the cutoff: every revision up to it is older than
        // the window. Older samples than that one are no longer useful.
        let idx = self.samples.iter().rposition(|(t, _)| *t <= cutoff);
        let by_time = match idx {
            Some(i) => {
                self.samples.drain(..i);
                self.samples.front().map_or(0, |(_, r)| *r)
            }
            None => 0,
        };
        by_count.min(by_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CompactionPolicy =
        CompactionPolicy { window: Duration::from_secs(300), min_revisions: 100 };

    #[test]
    fn nothing_is_compacted_before_the_window_has_passed() {
        let t0 = Instant::now();
        let mut clock = RevisionClock::default();
        clock.record(t0, 5_000);
        assert_eq!(clock.target(&POLICY, t0 + Duration::from_secs(299), 6_000), 0);
    }

    #[test]
    fn the_time_window_keeps_more_when_writes_are_fast() {
        let t0 = Instant::now();
        let mut clock = RevisionClock::default();
        clock.record(t0, 5_000);
        clock.record(t0 + Duration::from_secs(60), 9_000);
        // At t0+301 s only revisions up to 5,000 are older than 5 minutes.
        assert_eq!(clock.target(&POLICY, t0 + Duration::from_secs(301), 9_500), 5_000);
        // At t0+361 s revisions up to 9,000 are, but the count keeps the last 100.
        assert_eq!(clock.target(&POLICY, t0 + Duration::from_secs(361), 9_050), 8_950);
    }

    #[test]
    fn the_revision_count_keeps_more_when_writes_are_slow() {
        let t0 = Instant::now();
        let mut clock = RevisionClock::default();
        clock.record(t0, 150);
        assert_eq!(clock.target(&POLICY, t0 + Duration::from_secs(400), 180), 80);
    }

    #[test]
    fn old_samples_are_dropped() {
        let t0 = Instant::now();
        let mut clock = RevisionClock::default();
        for i in 0..10u64 {
            clock.record(t0 + Duration::from_secs(i * 60), i * 1_000);
        }
        clock.target(&POLICY, t0 + Duration::from_secs(10 * 60), 10_000);
        assert_eq!(clock.samples.len(), 5);
    }
}
