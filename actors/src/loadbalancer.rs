//! LoadBalancerActor: the agent's client-side load balancer. It listens on 127.0.0.1
//! (`--lb-server-port`, 6444) and forwards each connection to one server, chosen and failed
//! over by `k3rs_net::lb::Pool`; it health-checks every server each second and persists the
//! server list to `<data-dir>/agent/etc/k3rs-agent-load-balancer.json`. All of an agent's API
//! and supervisor traffic goes through it. This is the shell: the rules are the pool's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use k3rs_net::lb::state::{self, LbState};
use k3rs_net::lb::{Pool, ServerState};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use crate::tree::{ActorState, Mailbox, Member};
use crate::tunnel::TunnelStatus;

const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const HEALTH_EVERY: Duration = Duration::from_secs(1);
pub const SERVICE: &str = "k3rs-agent-load-balancer";

/// Open connections by server, so a server's can be closed when the pool says so.
#[derive(Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, (String, oneshot::Sender<()>)>,
}

impl Connections {
    fn close(&mut self, servers: &[String]) {
        let ids: Vec<u64> =
            self.open.iter().filter(|(_, (a, _))| servers.contains(a)).map(|(id, _)| *id).collect();
        for id in ids {
            if let Some((_, stop)) = self.open.remove(&id) {
                let _ = stop.send(());
            }
        }
    }
}

/// Replace the known servers (from `/v1-k3rs/apiservers` or the `kubernetes` endpoints).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetServers(pub Vec<String>);

/// Judge `address`'s health by its tunnel's state: connected is healthy; once the tunnel has
/// been up, a lost tunnel is unhealthy even while the port still accepts connections (K3s's
/// rule). Before its first connection, a TCP dial decides.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TunnelHealth(pub String, pub watch::Receiver<TunnelStatus>);

/// Each server's address, state and open connections.
#[derive(Message)]
#[rtype(result = "Vec<(String, &'static str, usize)>")]
pub struct GetState;

/// The actor.
pub struct LoadBalancerActor {
    pool: Rc<RefCell<Pool>>,
    conns: Rc<RefCell<Connections>>,
    listener: Option<std::net::TcpListener>,
    local: SocketAddr,
    state_file: PathBuf,
    server_url: String,
    tunnels: HashMap<String, watch::Receiver<TunnelStatus>>,
    member: Member,
}

impl LoadBalancerActor {
    /// Listen on `127.0.0.1:port` (0: any free port) in front of `default` (`host:port` of
    /// `--server`), starting from the list saved in `state_file` when it is for this server.
    pub fn bind(port: u16, default: &str, state_file: PathBuf) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let server_url = format!("https://{default}");
        let known = state::load(&state_file, &server_url).unwrap_or_default();
        Ok(LoadBalancerActor {
            pool: Rc::new(RefCell::new(Pool::new(default, &known))),
            conns: Rc::new(RefCell::new(Connections::default())),
            listener: Some(listener),
            local,
            state_file,
            server_url,
            tunnels: HashMap::new(),
            member: Member::detached("LoadBalancerActor", local.to_string()),
        })
    }

    /// Report to the actor tree through `member`.
    pub fn with_member(mut self, member: Member) -> Self {
        self.member = member;
        self
    }

    /// Count messages sent to the actor through this (see [`crate::tree`]).
    pub fn mailbox(&self) -> Mailbox {
        self.member.mailbox().clone()
    }

    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn persist(&self) {
        let s = LbState {
            server_url: self.server_url.clone(),
            server_addresses: self.pool.borrow().addresses(),
        };
        if let Err(e) = state::save(&self.state_file, &s) {
            tracing::warn!(actor = "LoadBalancerActor", error = %e, "cannot save the server list");
        }
    }
}

/// Forward one client connection to the best server that answers.
async fn forward(mut client: TcpStream, pool: Rc<RefCell<Pool>>, conns: Rc<RefCell<Connections>>) {
    let order = pool.borrow().dial_order();
    for address in order {
        let dial = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&address)).await;
        let mut upstream = match dial {
            Ok(Ok(s)) => s,
            _ => {
                let closed = pool.borrow_mut().failed(&address);
                conns.borrow_mut().close(&closed);
                tracing::debug!(actor = "LoadBalancerActor", server = %address, "dial failed");
                continue;
            }
        };
        let _ = upstream.set_nodelay(true);
        let closed = pool.borrow_mut().dialed(&address, Instant::now());
        conns.borrow_mut().close(&closed);
        let (stop_tx, stop_rx) = oneshot::channel();
        let id = {
            let mut c = conns.borrow_mut();
            c.next += 1;
            let id = c.next;
            c.open.insert(id, (address.clone(), stop_tx));
            id
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            _ = stop_rx => {}
        }
        conns.borrow_mut().open.remove(&id);
        pool.borrow_mut().disconnected(&address);
        return;
    }
    tracing::warn!(actor = "LoadBalancerActor", "all servers failed");
}

/// Is `address` accepting connections?
async fn healthy(address: String) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&address)).await,
        Ok(Ok(_))
    )
}

impl Actor for LoadBalancerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(std_listener) = self.listener.take() else { return };
        let listener = match TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(actor = "LoadBalancerActor", error = %e, "cannot listen");
                ctx.stop();
                return;
            }
        };
        tracing::info!(actor = "LoadBalancerActor", listen = %self.local, default = %self.pool.borrow().default_server(), "load balancer started");
        self.persist();
        self.member.set_state(ActorState::Running);
        let (pool, conns) = (self.pool.clone(), self.conns.clone());
        ctx.spawn(
            async move {
                loop {
                    match listener.accept().await {
                        Ok((client, _)) => {
                            let _ = client.set_nodelay(true);
                            actix::spawn(forward(client, pool.clone(), conns.clone()));
                        }
                        Err(e) => {
                            tracing::warn!(actor = "LoadBalancerActor", error = %e, "accept failed")
                        }
                    }
                }
            }
            .into_actor(self),
        );
        ctx.run_interval(HEALTH_EVERY, |act, ctx| {
            act.pool.borrow_mut().tick(Instant::now());
            let servers = act.pool.borrow().addresses();
            for address in servers {
                let (pool, conns) = (act.pool.clone(), act.conns.clone());
                let tunnel = act.tunnels.get(&address).map(|t| t.borrow().clone());
                ctx.spawn(
                    async move {
                        let ok = match tunnel {
                            Some(t) if t.connected => true,
                            Some(t) if t.connects > 0 => false,
                            _ => healthy(address.clone()).await,
                        };
                        let closed = pool.borrow_mut().checked(&address, ok, Instant::now());
                        conns.borrow_mut().close(&closed);
                    }
                    .into_actor(act),
                );
            }
        });
    }
}

impl Handler<SetServers> for LoadBalancerActor {
    type Result = ();

    fn handle(&mut self, msg: SetServers, _: &mut Self::Context) {
        self.member.mailbox().taken();
        self.tunnels.retain(|address, _| msg.0.contains(address));
        let closed = self.pool.borrow_mut().set_servers(&msg.0);
        self.conns.borrow_mut().close(&closed);
        tracing::info!(actor = "LoadBalancerActor", servers = ?self.pool.borrow().addresses(), "servers updated");
        self.persist();
    }
}

impl Handler<TunnelHealth> for LoadBalancerActor {
    type Result = ();

    fn handle(&mut self, msg: TunnelHealth, _: &mut Self::Context) {
        self.member.mailbox().taken();
        self.tunnels.insert(msg.0, msg.1);
    }
}

impl Handler<GetState> for LoadBalancerActor {
    type Result = Vec<(String, &'static str, usize)>;

    fn handle(&mut self, _: GetState, _: &mut Self::Context) -> Self::Result {
        self.member.mailbox().taken();
        self.pool
            .borrow()
            .servers()
            .iter()
            .map(|s| (s.address.clone(), ServerState::name(s.state), s.connections))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An echo server that prefixes what it returns with `tag`.
    async fn echo(tag: &'static str, listener: TcpListener) {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            actix::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(format!("{tag}:").as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = s.write_all(&buf[..n]).await;
                }
            });
        }
    }

    async fn ask(lb: SocketAddr) -> Option<String> {
        let mut s = TcpStream::connect(lb).await.ok()?;
        s.write_all(b"hi").await.ok()?;
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.ok()?.ok()?;
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Ask until the answer comes from `tag` (the pool needs a health check or a failed dial to
    /// learn), within a deadline.
    async fn until(lb: SocketAddr, tag: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = ask(lb).await
                && a.starts_with(tag)
            {
                return a;
            }
            assert!(Instant::now() < deadline, "never answered by {tag}");
            // A short pause between attempts of a deadline-bounded poll (health checks run
            // each second; there is no event to wait on).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[actix::test]
    async fn traffic_fails_over_and_returns_to_a_recovered_server_and_the_list_persists() {
        let dir = tempfile::tempdir().unwrap();
        let state_file = dir.path().join("etc/k3rs-agent-load-balancer.json");
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let a_task = actix::spawn(echo("a", a));
        let b_task = actix::spawn(echo("b", b));
        let lb = LoadBalancerActor::bind(0, &a_addr.to_string(), state_file.clone()).unwrap();
        let lb_addr = lb.local_addr();
        let actor = lb.start();
        actor.send(SetServers(vec![a_addr.to_string(), b_addr.to_string()])).await.unwrap();
        assert_eq!(until(lb_addr, "a").await, "a:hi", "the default first");

        // a goes away: the next connections fail over to b.
        a_task.abort();
        let _ = a_task.await;
        assert_eq!(until(lb_addr, "b").await, "b:hi");
        let states = actor.send(GetState).await.unwrap();
        assert!(
            states.iter().any(|(s, st, _)| *s == b_addr.to_string() && *st == "ACTIVE"),
            "{states:?}"
        );

        // a comes back on the same port, b goes away: traffic returns to a.
        let a2 = TcpListener::bind(a_addr).await.unwrap();
        actix::spawn(echo("a", a2));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = actor.send(GetState).await.unwrap();
            if s.iter().any(|(x, st, _)| {
                *x == a_addr.to_string() && (*st == "PREFERRED" || *st == "HEALTHY")
            }) {
                break;
            }
            assert!(Instant::now() < deadline, "a never recovered: {s:?}");
            // As above: a pause between attempts of a deadline-bounded poll.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b_task.abort();
        let _ = b_task.await;
        assert_eq!(until(lb_addr, "a").await, "a:hi", "back on the recovered server");

        // The list outlives the balancer: a new one for the same server starts from it.
        let saved = state::load(&state_file, &format!("https://{a_addr}")).unwrap();
        assert_eq!(saved, [a_addr.to_string(), b_addr.to_string()]);
        let again =
            LoadBalancerActor::bind(0, &a_addr.to_string(), state_file.clone()).unwrap().start();
        let servers: Vec<String> =
            again.send(GetState).await.unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(servers, [a_addr.to_string(), b_addr.to_string()]);
    }
}
