//! A pod's status as the kubelet reports it, from what its containers are doing: each
//! container's state (waiting with a reason, running, terminated with exit code and reason),
//! restart count and readiness; the pod's phase and conditions; and the restart rules
//! (`restartPolicy`, exponential back-off from 10 s to 5 min as `CrashLoopBackOff`).

use std::time::Duration;

use serde_json::{Value, json};

/// What a container is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: String },
    Running { started_at: String },
    Terminated { exit_code: i32, reason: String, started_at: String, finished_at: String },
}

impl State {
    pub fn waiting(reason: &str, message: &str) -> Self {
        State::Waiting { reason: reason.to_owned(), message: message.to_owned() }
    }

    /// A terminated state, with the kubelet's reason for the exit code (`Completed`, `Error`,
    /// `OOMKilled` when the kernel killed it for memory).
    pub fn exited(exit_code: i32, oom: bool, started_at: &str, finished_at: &str) -> Self {
        let reason = match (oom, exit_code) {
            (true, _) => "OOMKilled",
            (false, 0) => "Completed",
            _ => "Error",
        };
        State::Terminated {
            exit_code,
            reason: reason.to_owned(),
            started_at: started_at.to_owned(),
            finished_at: finished_at.to_owned(),
        }
    }

    fn json(&self) -> Value {
        match self {
            State::Waiting { reason, message } if message.is_empty() => {
                json!({"waiting": {"reason": reason}})
            }
            State::Waiting { reason, message } => {
                json!({"waiting": {"reason": reason, "message": message}})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated { exit_code, reason, started_at, finished_at } => {
                json!({"terminated": {
                "exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at}})
            }
        }
    }
}

/// One container as the agent knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: State,
    pub last: Option<State>,
    pub restarts: u32,
    pub ready: bool,
}

impl ContainerState {
    pub fn new(name: &str, image: &str) -> Self {
        ContainerState {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            state: State::waiting("ContainerCreating", ""),
            last: None,
            restarts: 0,
            ready: false,
        }
    }

    fn json(&self, init: bool) -> Value {
        let mut v = json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "state": self.state.json(),
            "lastState": self.last.as_ref().map_or(json!({}), State::json),
            "ready": self.ready,
            "restartCount": self.restarts,
            "started": matches!(self.state, State::Running { .. }),
        });
        if !init {
            v["containerID"] = json!(format!("k3rs://{}", self.name));
        }
        v
    }

    fn succeeded(&self) -> bool {
        matches!(self.state, State::Terminated { exit_code: 0, .. })
    }

    fn terminated(&self) -> bool {
        matches!(self.state, State::Terminated { .. })
    }
}

/// Should a container that exited with `exit_code` run again under `policy`?
pub fn restarts(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// How long to wait before the `restarts`-th restart: 10 s doubling, at most 5 minutes.
pub fn backoff(restarts: u32) -> Duration {
    let secs = 10u64.saturating_mul(1u64 << restarts.min(6));
    Duration::from_secs(secs.min(300))
}

fn condition(kind: &str, ok: bool, now: &str, previous: &Value) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = previous["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind && c["status"] == status))
        .map_or(json!(now), |c| c["lastTransitionTime"].clone());
    json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since})
}

/// The pod's phase from its containers and restart policy.
pub fn phase(policy: &str, init: &[ContainerState], containers: &[ContainerState]) -> &'static str {
    if init.iter().any(|c| c.terminated() && !c.succeeded()) && policy == "Never" {
        return "Failed";
    }
    if !init.iter().all(ContainerState::succeeded) {
        return "Pending";
    }
    let running = containers.iter().any(|c| matches!(c.state, State::Running { .. }));
    let all_done = containers.iter().all(ContainerState::terminated);
    if all_done && !containers.is_empty() {
        let failed = containers.iter().any(|c| !c.succeeded());
        return match (policy, failed) {
            (_, false) if policy != "Always" => "Succeeded",
            ("Never", true) => "Failed",
            _ => "Running",
        };
    }
    let started = containers.iter().all(|c| {
        !matches!(&c.state, State::Waiting { reason, .. } if reason == "ContainerCreating")
            || c.restarts > 0
    });
    if running || (started && containers.iter().any(|c| c.restarts > 0)) {
        "Running"
    } else {
        "Pending"
    }
}

/// The pod status to report at `now`, keeping condition transition times from `previous`.
pub fn status(
    pod: &Value,
    init: &[ContainerState],
    containers: &[ContainerState],
    host_ip: &str,
    pod_ip: &str,
    start_time: &str,
    now: &str,
) -> Value {
    let previous = &pod["status"];
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let phase = phase(policy, init, containers);
    let initialized = init.iter().all(ContainerState::succeeded);
    let ready = !containers.is_empty() && containers.iter().all(|c| c.ready);
    let mut s = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", true, now, previous),
            condition("Initialized", initialized, now, previous),
            condition("Ready", ready, now, previous),
            condition("ContainersReady", ready, now, previous),
            condition("PodScheduled", true, now, previous),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "containerStatuses": containers.iter().map(|c| c.json(false)).collect::<Vec<_>>(),
        "qosClass": previous["qosClass"],
    });
    if !init.is_empty() {
        s["initContainerStatuses"] = json!(init.iter().map(|c| c.json(true)).collect::<Vec<_>>());
    }
    if !pod_ip.is_empty() {
        s["podIP"] = json!(pod_ip);
        s["podIPs"] = json!([{"ip": pod_ip}]);
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn running(name: &str) -> ContainerState {
        ContainerState {
            state: State::Running { started_at: "t".into() },
            ready: true,
            ..ContainerState::new(name, "busybox")
        }
    }

    fn exited(name: &str, code: i32) -> ContainerState {
        ContainerState {
            state: State::exited(code, false, "t", "t2"),
            ..ContainerState::new(name, "busybox")
        }
    }

    #[test]
    fn phases_follow_containers_and_restart_policy() {
        assert_eq!(phase("Always", &[], &[ContainerState::new("c", "i")]), "Pending");
        assert_eq!(phase("Always", &[], &[running("c")]), "Running");
        assert_eq!(phase("Never", &[], &[exited("c", 0)]), "Succeeded");
        assert_eq!(phase("OnFailure", &[], &[exited("c", 0)]), "Succeeded");
        assert_eq!(phase("Never", &[], &[exited("c", 1)]), "Failed");
        assert_eq!(phase("Always", &[], &[exited("c", 0)]), "Running", "about to restart");
        assert_eq!(
            phase("Always", &[ContainerState::new("i", "x")], &[ContainerState::new("c", "i")]),
            "Pending"
        );
        assert_eq!(phase("Never", &[exited("i", 2)], &[ContainerState::new("c", "i")]), "Failed");
    }

    #[test]
    fn restart_rules_and_back_off() {
        assert!(
            restarts("Always", 0)
                && restarts("OnFailure", 1)
                && !restarts("OnFailure", 0)
                && !restarts("Never", 1)
        );
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(20));
        assert_eq!(backoff(10), Duration::from_secs(300));
        assert_eq!(
            State::exited(137, true, "a", "b"),
            State::Terminated {
                exit_code: 137,
                reason: "OOMKilled".into(),
                started_at: "a".into(),
                finished_at: "b".into()
            }
        );
    }

    #[test]
    fn statuses_report_containers_conditions_and_addresses() {
        let pod = json!({"spec": {"restartPolicy": "Always"}, "status": {"qosClass": "BestEffort",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "t0"}]}});
        let s = status(&pod, &[], &[running("c")], "10.0.0.1", "10.42.0.7", "t1", "t2");
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.42.0.7");
        assert_eq!(s["containerStatuses"][0]["state"]["running"]["startedAt"], "t");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        let ready =
            s["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(
            (ready["status"].as_str(), ready["lastTransitionTime"].as_str()),
            (Some("True"), Some("t2"))
        );
        assert_eq!(s["qosClass"], "BestEffort");
        let waiting = status(
            &pod,
            &[],
            &[ContainerState {
                state: State::waiting("CrashLoopBackOff", "back-off 10s"),
                restarts: 1,
                ..ContainerState::new("c", "i")
            }],
            "h",
            "",
            "t1",
            "t2",
        );
        assert_eq!(
            waiting["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        assert!(waiting.get("podIP").is_none());
    }
}
