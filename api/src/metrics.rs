//! `/metrics`: request counts and latencies by verb, resource and code, and the datastore's
//! figures, in the Prometheus text format (names as upstream's `apiserver_*` where they match).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
}

/// The server's request metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Figures read from the datastore when `/metrics` is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFigures {
    pub revision: u64,
    pub watchers: usize,
    pub commits: u64,
    pub writes: u64,
    pub commit_seconds_total: f64,
}

impl Metrics {
    /// Record one request. `verb` is upstream's (`get`, `list`, `watch`, `create`, ...).
    pub fn record(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g.requests.entry((verb.to_owned(), resource.to_owned(), code)).or_default() += 1;
        if verb != "watch" {
            g.latency
                .entry((verb.to_owned(), resource.to_owned()))
                .or_default()
                .observe(took.as_secs_f64());
        }
    }

    /// The text exposition.
    pub fn render(&self, store: StoreFigures) -> String {
        let g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests by verb, resource and HTTP code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), n) in &g.requests {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Request latency by verb and resource (watches excluded).\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in &g.latency {
            let labels = format!("verb=\"{verb}\",resource=\"{resource}\"");
            for (bound, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "apiserver_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ =
                writeln!(out, "apiserver_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        let gauges = [
            ("k3rs_datastore_revision", "The datastore's current revision.", store.revision as f64),
            (
                "apiserver_registered_watchers",
                "Open watches on the datastore.",
                store.watchers as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "k3rs_datastore_commits_total",
                "Durable commits (batches) by the writer.",
                store.commits as f64,
            ),
            ("k3rs_datastore_writes_total", "Writes committed.", store.writes as f64),
            (
                "k3rs_datastore_commit_seconds_total",
                "Time spent committing.",
                store.commit_seconds_total,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        out
    }
}

/// Upstream's verb for a request: `list` and `watch` are GETs of collections, `deletecollection`
/// a DELETE of one.
pub fn verb(method: &str, named: bool, watch: bool) -> &'static str {
    match (method, named, watch) {
        (_, _, true) => "watch",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_timed() {
        let m = Metrics::default();
        m.record("get", "pods", 200, Duration::from_millis(3));
        m.record("get", "pods", 200, Duration::from_millis(30));
        m.record("watch", "pods", 200, Duration::from_secs(300));
        let text = m.render(StoreFigures { revision: 7, watchers: 1, ..Default::default() });
        assert!(
            text.contains("apiserver_request_total{verb=\"get\",resource=\"pods\",code=\"200\"} 2")
        );
        assert!(text.contains("apiserver_request_duration_seconds_bucket{verb=\"get\",resource=\"pods\",le=\"0.005\"} 1"));
        assert!(text.contains(
            "apiserver_request_duration_seconds_count{verb=\"get\",resource=\"pods\"} 2"
        ));
        assert!(!text.contains("duration_seconds_count{verb=\"watch\""));
        assert!(text.contains("k3rs_datastore_revision 7"));
        assert_eq!(verb("DELETE", false, false), "deletecollection");
        assert_eq!(verb("GET", false, true), "watch");
    }
}
