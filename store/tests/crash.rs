//! Crash safety: a child process writes as fast as it can and prints every write the store
//! acknowledged; the test kills it with SIGKILL at random points and checks, on reopen, that every
//! acknowledged write is there and the revision never went backwards.
//!
//! The child is this same test binary, re-run with `K3RS_CRASH_CHILD` set.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use k3rs_store::backend::Backend;
use k3rs_store::{Datastore, KeyRange, Options, WatchItem};

const ROUNDS: u32 = 20;
const WRITERS: u32 = 32;

fn open(backend: &str, dir: &Path) -> Arc<dyn Backend> {
    match backend {
        "sled" => {
            Arc::new(k3rs_store::backend::sled::SledBackend::open(&dir.join("sled")).unwrap())
        }
        "sqlite" => Arc::new(
            k3rs_store::backend::sqlite::SqliteBackend::open(&dir.join("state.db")).unwrap(),
        ),
        other => panic!("unknown backend {other}"),
    }
}

/// The child: write until killed, printing `key revision` after each acknowledgement.
fn child(backend: &str, dir: &Path, round: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let ds = Datastore::open(open(backend, dir), Options::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, u64)>();
    for w in 0..WRITERS {
        let ds = ds.clone();
        let tx = tx.clone();
        rt.spawn(async move {
            let hot = format!("/crash/{round}/hot/{w}");
            let mut rev = ds.create(&hot, vec![]).await.unwrap().mod_revision;
            tx.send((hot.clone(), rev)).unwrap();
            for i in 0u64.. {
                // Alternate fresh keys and compare-and-swap updates of one key per writer.
                let (key, r) = if i % 2 == 0 {
                    let key = format!("/crash/{round}/new/{w}/{i}");
                    let r = ds.create(&key, i.to_le_bytes().to_vec()).await.unwrap().mod_revision;
                    (key, r)
                } else {
                    rev = ds
                        .update(&hot, i.to_le_bytes().to_vec(), Some(rev))
                        .await
                        .unwrap()
                        .mod_revision;
                    (hot.clone(), rev)
                };
                if tx.send((key, r)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    println!("ready");
    for (key, rev) in rx {
        writeln!(out, "{key} {rev}").unwrap();
        out.flush().unwrap();
    }
}

fn crash_loop(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let test_name = format!("{backend}_acknowledged_writes_survive_sigkill");
    let mut last_revision = 0;
    let mut total_acked = 0usize;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", &test_name, "--nocapture"])
            .env("K3RS_CRASH_CHILD", format!("{backend} {round} {}", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a random number of acknowledgements (sometimes right after start).
        let kill_after = fastrand::usize(0..3000);
        let mut acked: Vec<(String, u64)> = Vec::new();
        let mut started = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if !started {
                started = line.ends_with("ready");
                continue;
            }
            let Some((key, rev)) = line.rsplit_once(' ') else {
                continue;
            };
            acked.push((key.to_owned(), rev.parse().unwrap()));
            if acked.len() >= kill_after {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements printed before the kill landed also count.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some((key, rev)) = line.rsplit_once(' ')
                && let Ok(rev) = rev.parse()
            {
                acked.push((key.to_owned(), rev));
            }
        }
        assert!(started, "round {round}: the child never started");
        total_acked += acked.len();

        let ds = Datastore::open(open(backend, dir.path()), Options::default()).unwrap();
        let current = ds.current_revision();
        assert!(
            current >= last_revision,
            "round {round}: revision went back from {last_revision} to {current}"
        );
        for (key, rev) in &acked {
            let kv = ds
                .get(key)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged {key}@{rev} lost"));
            assert!(
                kv.mod_revision >= *rev,
                "round {round}: {key} is at {} but {rev} was acknowledged",
                kv.mod_revision
            );
            assert!(*rev <= current);
        }
        last_revision = current;
        ds.close();
    }
    // The whole history reads back without gaps: no torn batches.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let ds = Datastore::open(open(backend, dir.path()), Options::default()).unwrap();
    rt.block_on(async {
        let mut w = ds.watch(KeyRange::prefix("/"), 0).unwrap();
        let mut expect = 1;
        while expect <= last_revision {
            match w.next().await {
                Some(Ok(WatchItem::Event(ev))) => {
                    assert_eq!(ev.kv.mod_revision, expect, "history has a gap");
                    expect += 1;
                }
                Some(Ok(WatchItem::Progress(_))) => {}
                other => panic!("history ended early at {expect}: {other:?}"),
            }
        }
    });
    eprintln!(
        "{backend}: {ROUNDS} kills, {total_acked} acknowledged writes checked, final revision {last_revision}"
    );
}

fn run_child_if_asked() -> bool {
    let Ok(spec) = std::env::var("K3RS_CRASH_CHILD") else {
        return false;
    };
    let mut parts = spec.splitn(3, ' ');
    let (backend, round, dir) =
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    child(backend, Path::new(dir), round.parse().unwrap());
    true
}

#[test]
fn sled_acknowledged_writes_survive_sigkill() {
    if !run_child_if_asked() {
        crash_loop("sled");
    }
}

#[test]
fn sqlite_acknowledged_writes_survive_sigkill() {
    if !run_child_if_asked() {
        crash_loop("sqlite");
    }
}
