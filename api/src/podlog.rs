//! `pods/log` and `pods/exec` requests as the API server checks them before asking the
//! kubelet: which container (the one named, the `kubectl.kubernetes.io/default-container`
//! annotation's, or the only one), and the query options, with upstream's messages for what
//! does not fit; and the status a remote command ends with.

use serde_json::Value;

use crate::Status;

/// The annotation naming the container `kubectl logs` and `exec` pick by default.
pub const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

fn names<'a>(pod: &'a Value, key: &str) -> Vec<&'a str> {
    pod["spec"][key].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect()
}

/// The container a log (or exec) request is for.
pub fn container(pod: &Value, requested: Option<&str>) -> Result<String, Status> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    if let Some(name) = requested.filter(|n| !n.is_empty()) {
        if containers.contains(&name) || init.contains(&name) || ephemeral.contains(&name) {
            return Ok(name.to_owned());
        }
        return Err(Status::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        )));
    }
    if let Some(name) = pod["metadata"]["annotations"][DEFAULT_CONTAINER].as_str()
        && containers.contains(&name)
    {
        return Ok(name.to_owned());
    }
    match containers.as_slice() {
        [only] => Ok((*only).to_owned()),
        _ => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(Status::bad_request(message))
        }
    }
}

/// The node the pod runs on, or upstream's refusal for a pod not scheduled yet.
pub fn node(pod: &Value) -> Result<String, Status> {
    match pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        Some(node) => Ok(node.to_owned()),
        None => Err(Status::bad_request(format!(
            "pod {} does not have a host assigned",
            pod["metadata"]["name"].as_str().unwrap_or_default()
        ))),
    }
}

/// A non-negative integer query parameter (`tailLines`, `limitBytes`, `sinceSeconds`).
pub fn count(name: &str, value: Option<&str>) -> Result<Option<u64>, Status> {
    let Some(value) = value else { return Ok(None) };
    match value.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n as u64)),
        Ok(_) => Err(Status::unprocessable(format!(
            "PodLogOptions \"\" is invalid: {name}: Invalid value: {value}: must be greater than or equal to 0"
        ))),
        Err(_) => Err(Status::bad_request(format!("invalid value {value:?} for {name}"))),
    }
}

/// How a remote command ended, for the exec protocol's error channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    Exited(i32),
    /// The runtime could not run it (its message).
    Failed(String),
}

/// The `Status` the kubelet writes on the error channel when a command ends.
pub fn exec_status(command: &[String], end: &ExecEnd) -> Value {
    match end {
        ExecEnd::Exited(0) => serde_json::json!({"metadata": {}, "status": "Success"}),
        ExecEnd::Exited(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: command '{}' exited with {code}",
                command.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        ExecEnd::Failed(message) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "Internal error occurred: error executing command in container: OCI runtime exec failed: {message}: unknown"
            ),
            "reason": "InternalError",
            "code": 500,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_container_is_the_named_the_annotated_or_the_only_one() {
        let one = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app"}]}});
        assert_eq!(container(&one, None).unwrap(), "app");
        let err = container(&one, Some("nope")).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, "container nope is not valid for pod web")
        );
        let two = json!({
            "metadata": {"name": "web", "annotations": {DEFAULT_CONTAINER: "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}
        });
        assert_eq!(container(&two, None).unwrap(), "b");
        assert_eq!(container(&two, Some("i")).unwrap(), "i");
        let mut plain = two.clone();
        plain["metadata"]["annotations"] = json!({});
        assert_eq!(
            container(&plain, None).unwrap_err().message,
            "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]"
        );
    }

    #[test]
    fn exec_ends_become_the_kubelet_status() {
        let cmd = ["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
        assert_eq!(exec_status(&cmd, &ExecEnd::Exited(0))["status"], "Success");
        let failed = exec_status(&cmd, &ExecEnd::Exited(3));
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        let broken = exec_status(&cmd, &ExecEnd::Failed("exec: \"x\": not found".into()));
        assert_eq!(broken["reason"], "InternalError");
    }

    #[test]
    fn counts_and_nodes_are_checked() {
        assert_eq!(count("tailLines", Some("10")).unwrap(), Some(10));
        assert_eq!(count("tailLines", None).unwrap(), None);
        assert_eq!(count("tailLines", Some("-1")).unwrap_err().code, 422);
        assert_eq!(count("tailLines", Some("x")).unwrap_err().code, 400);
        let pending = json!({"metadata": {"name": "web"}, "spec": {}});
        assert_eq!(node(&pending).unwrap_err().message, "pod web does not have a host assigned");
    }
}
