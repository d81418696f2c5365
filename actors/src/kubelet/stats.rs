//! `Request::Stats`: usage rates from two snapshots of `/proc` and the containers' cgroups.
//! The last snapshot is kept, so repeated asks (`kubectl top`, every few seconds) measure the
//! time since the previous one; a first or stale ask samples twice half a second apart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k3rs_agent::stats::{Snapshot, Sources, nanocores};
use k3rs_net::kubelet::{self, ContainerUsage, ProtocolError, Reply, Stats, Usage};
use tokio::io::DuplexStream;

/// The shortest and longest gap between the snapshots a rate is taken over.
const MIN_WINDOW: Duration = Duration::from_millis(500);
const MAX_WINDOW: Duration = Duration::from_secs(60);

/// The previous snapshot.
#[derive(Debug, Default)]
pub struct Sampler {
    last: Mutex<Option<(Instant, Snapshot)>>,
}

impl Sampler {
    async fn snapshot() -> (Instant, Snapshot) {
        let snap =
            tokio::task::spawn_blocking(|| Sources::default().snapshot()).await.unwrap_or_default();
        (Instant::now(), snap)
    }

    /// Usage between the previous snapshot (or a fresh one) and now.
    pub async fn stats(&self) -> Stats {
        let mut later = Self::snapshot().await;
        let earlier = {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            last.replace(later.clone())
        };
        let earlier = match earlier {
            Some(e) if (MIN_WINDOW..=MAX_WINDOW).contains(&later.0.duration_since(e.0)) => e,
            _ => {
                let first = later;
                // The window a first rate is measured over.
                tokio::time::sleep(MIN_WINDOW).await;
                later = Self::snapshot().await;
                if let Ok(mut last) = self.last.lock() {
                    *last = Some(later.clone());
                }
                first
            }
        };
        rates(&earlier, &later)
    }
}

/// Rates between two snapshots; containers present in both.
fn rates(earlier: &(Instant, Snapshot), later: &(Instant, Snapshot)) -> Stats {
    let elapsed = later.0.duration_since(earlier.0);
    let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let usage = |before: u64, after: u64, memory: u64| Usage {
        cpu_nanocores: nanocores(before, after, ns),
        memory_bytes: memory,
    };
    let (a, b) = (&earlier.1, &later.1);
    Stats {
        window_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        node: usage(a.node.cpu_ns, b.node.cpu_ns, b.node.memory),
        containers: b
            .containers
            .iter()
            .filter_map(|((uid, name), now)| {
                let before = a.containers.get(&(uid.clone(), name.clone()))?;
                Some(ContainerUsage {
                    pod_uid: uid.clone(),
                    name: name.clone(),
                    usage: usage(before.cpu_ns, now.cpu_ns, now.memory),
                })
            })
            .collect(),
    }
}

pub(super) async fn stats(sampler: &Sampler, io: &mut DuplexStream) -> Result<(), ProtocolError> {
    let stats = sampler.stats().await;
    kubelet::write_message(io, &Reply::Ok).await?;
    kubelet::write_message(io, &stats).await
}

#[cfg(test)]
mod tests {
    use k3rs_agent::stats::Reading;

    use super::*;

    #[test]
    fn rates_cover_containers_seen_twice() {
        let t0 = Instant::now();
        let mut a = Snapshot { node: Reading { cpu_ns: 0, memory: 1 }, ..Snapshot::default() };
        a.containers.insert(("u".into(), "c".into()), Reading { cpu_ns: 0, memory: 5 });
        let mut b =
            Snapshot { node: Reading { cpu_ns: 2_000_000_000, memory: 2 }, ..Snapshot::default() };
        b.containers.insert(("u".into(), "c".into()), Reading { cpu_ns: 100_000_000, memory: 7 });
        b.containers.insert(("u".into(), "new".into()), Reading { cpu_ns: 1, memory: 1 });
        let stats = rates(&(t0, a), &(t0 + Duration::from_secs(1), b));
        assert_eq!(stats.window_ms, 1000);
        assert_eq!(stats.node, Usage { cpu_nanocores: 2_000_000_000, memory_bytes: 2 });
        assert_eq!(stats.containers.len(), 1);
        assert_eq!(
            stats.containers[0].usage,
            Usage { cpu_nanocores: 100_000_000, memory_bytes: 7 }
        );
    }
}
