//! Waiting for a child process without blocking the actor thread: a pidfd in the reactor,
//! then `waitid` to reap it. The agent is its containers' subreaper, so container and exec
//! processes end up its children even when the runtime that started them has exited.

use std::os::fd::AsFd;

/// Wait until process `pid` (our child) ends; its exit code (128 + signal when killed).
pub async fn wait_for_exit(pid: u32) -> Option<i32> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()?;
    // `new` is deprecated for fds the AsyncFd does not own; this one owns its pidfd (an
    // `OwnedFd` moved in), and `register`, the replacement, is `unsafe`, which this crate
    // forbids.
    #[allow(deprecated)]
    let fd = tokio::io::unix::AsyncFd::new(fd).ok()?;
    let _ = fd.readable().await.ok()?;
    let status = rustix::process::waitid(
        rustix::process::WaitId::PidFd(fd.get_ref().as_fd()),
        rustix::process::WaitIdOptions::EXITED,
    )
    .ok()??;
    Some(k3rs_agent::runtime::exit_code(&status))
}
