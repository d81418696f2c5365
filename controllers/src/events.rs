//! Recording events for what the controllers do, and expiring old ones (upstream keeps events
//! for `--event-ttl`, 1 h by default). An event that cannot be written is logged and dropped:
//! it never fails the work it describes.

use std::time::Duration;

use k3rs_api::event::{self, EventSpec};
use k3rs_api::registry::SharedRegistry;
use k3rs_api::selector::Selectors;
use k3rs_api::service::Objects;
use k3rs_store::Datastore;
use serde_json::Value;

/// How long events are kept.
pub const TTL_SECONDS: i64 = 3600;
/// How often expired events are looked for.
pub const EXPIRY_PERIOD: Duration = Duration::from_secs(60);

/// Record `spec` about `involved`.
pub async fn record(objects: &Objects<'_>, involved: &Value, spec: EventSpec<'_>) {
    let Some(def) = objects.registry.get("", "v1", "events") else { return };
    let now = time::OffsetDateTime::now_utc();
    let stamp = k3rs_api::objects::timestamp(now);
    let nanos = u128::try_from(now.unix_timestamp_nanos()).unwrap_or_default();
    let ev = event::event(involved, &spec, &stamp, nanos);
    let ns = ev["metadata"]["namespace"].as_str().map(str::to_owned);
    if let Err(e) = objects.create(def, ns.as_deref(), ev, false).await {
        tracing::debug!(reason = spec.reason, error = %e.message, "event not recorded");
    }
}

/// Delete events older than the TTL.
pub async fn expire(
    objects: &Objects<'_>,
    now: time::OffsetDateTime,
) -> Result<usize, k3rs_api::Status> {
    let Some(def) = objects.registry.get("", "v1", "events") else { return Ok(0) };
    let (all, _) = objects.list(def, None, &Selectors::default())?;
    let mut removed = 0;
    for ev in all.iter().filter(|e| event::expired(e, now, TTL_SECONDS)) {
        let (Some(ns), Some(name)) =
            (ev["metadata"]["namespace"].as_str(), ev["metadata"]["name"].as_str())
        else {
            continue;
        };
        let opts = k3rs_api::delete::DeleteOptions::default();
        if objects.delete(def, Some(ns), name, &opts, false).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Expire events every `EXPIRY_PERIOD`, for as long as the caller keeps this future.
pub async fn run_expiry(store: Datastore, registry: SharedRegistry) {
    let mut tick = tokio::time::interval(EXPIRY_PERIOD);
    loop {
        tick.tick().await;
        let snapshot = registry.snapshot();
        let objects = Objects::new(&store, &snapshot);
        match expire(&objects, time::OffsetDateTime::now_utc()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(actor = "ControllerActor", removed = n, "expired events"),
            Err(e) => {
                tracing::warn!(actor = "ControllerActor", error = %e.message, "event expiry failed")
            }
        }
    }
}
