//! Datastore benchmark: durable creates/s with 1 and 64 writers, gets/s, a 10,000-key list, and
//! watch delivery latency with 1,000 watchers, for each backend side by side.
//!
//! Run: `cargo bench -p k3rs-store --bench store` (set `K3RS_BENCH_BACKENDS=sled` to pick).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k3rs_store::backend::Backend;
use k3rs_store::{Datastore, KeyRange, ListRequest, Options, WatchItem};

const SERIAL_CREATES: usize = 2_000;
const WRITERS: usize = 64;
const CONCURRENT_CREATES: usize = 64_000;
const KEYS: usize = 10_000;
const GETS: usize = 400_000;
const LISTS: usize = 20;
const WATCHERS: usize = 1_000;
const WATCH_EVENTS: usize = 200;

fn open(name: &str, dir: &Path) -> Arc<dyn Backend> {
    match name {
        "sled" => {
            Arc::new(k3rs_store::backend::sled::SledBackend::open(&dir.join("sled")).unwrap())
        }
        "sqlite" => Arc::new(
            k3rs_store::backend::sqlite::SqliteBackend::open(&dir.join("state.db")).unwrap(),
        ),
        other => panic!("unknown backend {other}"),
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A 1 KiB value, about the size of a small Kubernetes object.
fn value() -> Vec<u8> {
    vec![b'v'; 1024]
}

struct Figures {
    rows: Vec<(String, String)>,
}

impl Figures {
    fn add(&mut self, what: &str, v: String) {
        eprintln!("  {what}: {v}");
        self.rows.push((what.to_owned(), v));
    }
}

async fn run(name: &str) -> Figures {
    let dir = tempfile::tempdir_in(
        std::env::var_os("K3RS_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into),
    )
    .unwrap();
    let ds = Datastore::open(open(name, dir.path()), Options::default()).unwrap();
    let mut f = Figures { rows: Vec::new() };
    eprintln!("{name}:");

    // 1 writer: every create waits for its own durable commit.
    let mut lat = Vec::with_capacity(SERIAL_CREATES);
    let start = Instant::now();
    for i in 0..SERIAL_CREATES {
        let t = Instant::now();
        ds.create(&format!("/serial/{i:06}"), value()).await.unwrap();
        lat.push(t.elapsed());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    f.add("durable creates/s, 1 writer", format!("{:.0}", SERIAL_CREATES as f64 / secs));
    f.add(
        "create latency p50/p99, 1 writer",
        format!("{} / {}", ms(pct(&lat, 0.5)), ms(pct(&lat, 0.99))),
    );

    // 64 writers: group commit batches them.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let ds = ds.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(CONCURRENT_CREATES / WRITERS);
            for i in 0..CONCURRENT_CREATES / WRITERS {
                let t = Instant::now();
                ds.create(&format!("/conc/{w:02}/{i:06}"), value()).await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(CONCURRENT_CREATES);
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    f.add("durable creates/s, 64 writers", format!("{:.0}", CONCURRENT_CREATES as f64 / secs));
    f.add(
        "create latency p50/p99, 64 writers",
        format!("{} / {}", ms(pct(&lat, 0.5)), ms(pct(&lat, 0.99))),
    );
    let stats = ds.writer_stats();
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    let writes = stats.writes.load(std::sync::atomic::Ordering::Relaxed);
    f.add("mean writes per commit (all phases)", format!("{:.1}", writes as f64 / batches as f64));

    // A 10,000-key prefix for gets and lists.
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let ds = ds.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..KEYS).step_by(WRITERS) {
                ds.create(&format!("/registry/pods/default/pod-{i:05}"), value()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Gets from two threads.
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let ds = ds.clone();
            std::thread::spawn(move || {
                let mut x: usize = 12345 + t;
                for _ in 0..GETS / 2 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let i = (x >> 33) % KEYS;
                    assert!(
                        ds.get(&format!("/registry/pods/default/pod-{i:05}")).unwrap().is_some()
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    f.add("gets/s, 2 threads", format!("{:.0}", GETS as f64 / start.elapsed().as_secs_f64()));

    // Full lists of the 10,000 keys.
    let mut lat = Vec::new();
    for _ in 0..LISTS {
        let t = Instant::now();
        let page = ds
            .list(&ListRequest {
                range: KeyRange::prefix("/registry/pods/"),
                revision: 0,
                after: None,
                limit: 0,
            })
            .unwrap();
        assert_eq!(page.items.len(), KEYS);
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    f.add("list of 10,000 keys (median)", ms(pct(&lat, 0.5)));

    // Watch latency: 1,000 watchers, one at a time creates carrying their send time.
    let base = Instant::now();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut w = ds.watch(KeyRange::prefix("/w/"), ds.current_revision()).unwrap();
        watchers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(WATCH_EVENTS);
            while lat.len() < WATCH_EVENTS {
                match w.next().await {
                    Some(Ok(WatchItem::Event(ev))) => {
                        let sent = u64::from_le_bytes(ev.kv.value[..8].try_into().unwrap());
                        let now = base.elapsed().as_nanos() as u64;
                        lat.push(Duration::from_nanos(now.saturating_sub(sent)));
                    }
                    Some(Ok(WatchItem::Progress(_))) => {}
                    other => panic!("watch ended: {other:?}"),
                }
            }
            lat
        }));
    }
    for i in 0..WATCH_EVENTS {
        let sent = base.elapsed().as_nanos() as u64;
        ds.create(&format!("/w/{i:04}"), sent.to_le_bytes().to_vec()).await.unwrap();
    }
    let mut lat = Vec::with_capacity(WATCHERS * WATCH_EVENTS);
    for w in watchers {
        lat.extend(w.await.unwrap());
    }
    lat.sort_unstable();
    f.add(
        "watch delivery p50/p99, 1,000 watchers (from write request)",
        format!("{} / {}", ms(pct(&lat, 0.5)), ms(pct(&lat, 0.99))),
    );
    ds.close();
    f
}

fn main() {
    // `cargo bench` passes `--bench`; nextest/cargo test list passes other flags: ignore them.
    let backends = std::env::var("K3RS_BENCH_BACKENDS").unwrap_or_else(|_| "sled,sqlite".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let mut all = Vec::new();
    for name in backends.split(',') {
        all.push((name.to_owned(), rt.block_on(run(name))));
    }
    println!(
        "\n| figure | {} |",
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}", "---|".repeat(all.len()));
    for (i, (what, _)) in all[0].1.rows.iter().enumerate() {
        let cells: Vec<&str> = all.iter().map(|(_, f)| f.rows[i].1.as_str()).collect();
        println!("| {what} | {} |", cells.join(" | "));
    }
}
