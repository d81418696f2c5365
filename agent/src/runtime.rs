//! Running containers with an OCI runtime (`runc`, or whatever `--runtime` names that speaks
//! its command line: crun, youki): start a bundle detached with its output going to the
//! container's log file, send signals, read state, delete. The agent is the containers'
//! child subreaper, so it reaps them and learns how they ended (`exit_of`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::AgentError;

/// An OCI runtime binary and the directory it keeps state in.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    pub root: PathBuf,
}

fn failed(what: &str, out: &std::process::Output) -> AgentError {
    AgentError::Runtime(format!(
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("failed")
    ))
}

/// The runtime's id of a pod's container: `k3rs-<first 12 of the pod uid>-<container>`.
pub fn container_id(uid: &str, container: &str) -> String {
    let short: String = uid.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    format!("k3rs-{short}-{container}")
}

/// A container's standard streams at start.
#[derive(Debug)]
pub enum ContainerStdio<'a> {
    Pipes {
        stdin: Option<std::fs::File>,
        stdout: std::fs::File,
        stderr: std::fs::File,
    },
    /// A terminal, its master sent to this socket.
    Terminal {
        console_socket: &'a Path,
    },
}

/// The terminal master runc sends over a console socket (SCM_RIGHTS), waiting at most the
/// stream's read timeout.
pub fn receive_console(stream: &std::os::unix::net::UnixStream) -> Option<std::os::fd::OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut name = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    recvmsg(stream, &mut iov, &mut control, RecvFlags::empty()).ok()?;
    control.drain().find_map(|message| match message {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    })
}

impl Runtime {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Start container `id` from `bundle`, detached: with `Stdio::Pipes`, `stdin` (else
    /// /dev/null), `stdout` and `stderr` are its own; with `Stdio::Terminal` (a bundle whose
    /// process has `terminal: true`), runc sends the terminal's master to the console socket
    /// (`receive_console`). The runtime's own messages go to `<bundle>/runc.log`. Returns the
    /// container's init pid.
    pub fn run(&self, id: &str, bundle: &Path, stdio: ContainerStdio) -> Result<u32, AgentError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AgentError::Io { path, source }
        };
        let log = bundle.join("runc.log");
        let _ = std::fs::remove_file(&log);
        // The pid file is written before the process starts: a container that exits at once
        // still has its pid known (and, as our child, stays a zombie until reaped).
        let pid_file = bundle.join("init.pid");
        let _ = std::fs::remove_file(&pid_file);
        let mut command = self.command();
        command.arg("--log").arg(&log).args(["run", "--detach", "--pid-file"]).arg(&pid_file);
        match stdio {
            ContainerStdio::Pipes { stdin, stdout, stderr } => {
                command
                    .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
                    .stdout(stdout)
                    .stderr(stderr);
            }
            ContainerStdio::Terminal { console_socket } => {
                command.arg("--console-socket").arg(console_socket);
                command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let out = command.arg("--bundle").arg(bundle).arg(id).output().map_err(io(&self.binary))?;
        if !out.status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text.lines().last().unwrap_or("failed");
            return Err(AgentError::Runtime(format!(
                "OCI runtime create failed: {}",
                runtime_message(last)
            )));
        }
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| AgentError::Runtime(format!("container {id} has no pid")))
    }

    /// The container's init pid while it exists.
    pub fn pid(&self, id: &str) -> Result<Option<u32>, AgentError> {
        let out = self
            .command()
            .args(["state", id])
            .output()
            .map_err(|source| AgentError::Io { path: self.binary.clone(), source })?;
        if !out.status.success() {
            return Ok(None);
        }
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| AgentError::Runtime(format!("state of {id}: {e}")))?;
        Ok(state["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0))
    }

    /// The init pid of container `id` if it is running (one left by an earlier agent).
    pub fn running(&self, id: &str) -> Option<u32> {
        let out = self.command().args(["state", id]).output().ok()?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (state["status"] == "running")
            .then(|| state["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
            .flatten()
            .filter(|p| *p > 0)
    }

    /// `runc exec` of `cmd` in container `id` (for `kubectl exec`), the runtime's messages in
    /// `log`. With `tty` (a console socket and a pid file) it detaches: runc hands the
    /// terminal's master to the socket and the process, reparented to the agent (the
    /// subreaper), is waited for by its pid.
    pub fn exec_command(
        &self,
        id: &str,
        cmd: &[String],
        log: &Path,
        tty: Option<(&Path, &Path)>,
    ) -> Command {
        let mut c = self.command();
        c.arg("--log").arg(log).arg("exec");
        if let Some((socket, pid_file)) = tty {
            c.args(["--detach", "--tty", "--console-socket"]).arg(socket);
            c.arg("--pid-file").arg(pid_file);
        }
        c.arg(id).args(cmd);
        c
    }

    /// Run `cmd` in the container (an exec probe): success is exit 0; otherwise the error is
    /// its output, or what stopped it (the timeout).
    pub fn exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        let child = self
            .command()
            .args(["exec", id])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.binary.display()))?;
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let text = text.trim();
                Err(if text.is_empty() {
                    format!("command {cmd:?} exited with {}", out.status.code().unwrap_or(-1))
                } else {
                    text.to_owned()
                })
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
                Err(format!("command {cmd:?} timed out"))
            }
        }
    }

    /// Send `signal` (`TERM`, `KILL`) to the container's processes.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), AgentError> {
        let out = self
            .command()
            .args(["kill", "--all", id, signal])
            .output()
            .map_err(|source| AgentError::Io { path: self.binary.clone(), source })?;
        if out.status.success() { Ok(()) } else { Err(failed(&format!("signalling {id}"), &out)) }
    }

    /// Remove the container (killing what is left).
    pub fn delete(&self, id: &str) -> Result<(), AgentError> {
        let out = self
            .command()
            .args(["delete", "--force", id])
            .output()
            .map_err(|source| AgentError::Io { path: self.binary.clone(), source })?;
        let gone = String::from_utf8_lossy(&out.stderr).contains("does not exist");
        if out.status.success() || gone {
            Ok(())
        } else {
            Err(failed(&format!("deleting {id}"), &out))
        }
    }
}

/// The message of a runc log line (`time=... level=error msg="..."`), unquoted.
pub fn runtime_message(line: &str) -> String {
    let Some(start) = line.find("msg=\"") else { return line.trim().to_owned() };
    let rest = &line[start + 5..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

/// How a process ended: its exit code, or 128 + the signal that killed it (as the kubelet
/// reports SIGKILL as 137).
pub fn exit_code(status: &rustix::process::WaitIdStatus) -> i32 {
    if let Some(code) = status.exit_status() {
        return code;
    }
    status.terminating_signal().map_or(255, |s| 128 + s)
}

/// Did the kernel kill a process of the container's cgroup (`cgroupsPath`) for memory? Read
/// from cgroup v1's `memory.oom_control` or v2's `memory.events` (`oom_kill N`), before the
/// container (and its cgroup) is deleted.
pub fn oom_killed(cgroup: &str) -> bool {
    let rel = cgroup.trim_start_matches('/');
    let candidates = [
        Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
    ];
    candidates
        .iter()
        .any(|file| std::fs::read_to_string(file).is_ok_and(|text| oom_kills(&text) > 0))
}

/// The `oom_kill` count of a `memory.oom_control` or `memory.events` file.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Become the child subreaper, so detached containers stay our children.
pub fn become_subreaper() -> Result<(), AgentError> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| AgentError::Runtime(format!("cannot become child subreaper: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oom_kills_are_read_from_either_cgroup_version() {
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n"), 0);
        assert!(!oom_killed("/k3rs/no-such-pod/c"));
    }

    #[test]
    fn runc_log_lines_become_their_message() {
        let line = r#"time="2026-11-25T05:32:03Z" level=error msg="runc run failed: exec: \"sh\": executable file not found in $PATH""#;
        assert_eq!(
            runtime_message(line),
            r#"runc run failed: exec: "sh": executable file not found in $PATH"#
        );
        assert_eq!(runtime_message("plain"), "plain");
    }

    #[test]
    fn a_missing_container_has_no_pid_and_deletes_cleanly() {
        let Ok(runc) = which("runc") else {
            assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "runc is not installed");
            eprintln!("SKIPPED: runc is not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime { binary: runc, root: dir.path().join("state") };
        assert_eq!(rt.pid("nope").unwrap(), None);
        rt.delete("nope").unwrap();
    }

    fn which(name: &str) -> Result<PathBuf, ()> {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .ok_or(())
    }
}
