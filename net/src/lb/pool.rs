//! The servers an agent can reach and which one it uses, as K3s's load balancer decides:
//! every server has a state, FAILED < STANDBY < UNCHECKED < RECOVERING < HEALTHY < PREFERRED <
//! ACTIVE; dials try servers in state order (then fewest connections), so traffic sticks to
//! the ACTIVE server and fails over when it fails. Successful dials and health checks promote a
//! server, failures demote it to FAILED and close its connections, and a server becoming ACTIVE
//! closes the connections to the others. The `--server` address is kept as a STANDBY fallback
//! when the known list leaves it out; a listed server turning PREFERRED closes the fallback's
//! connections, so clients parked there come back. Time is passed in, so the rules are tested
//! without waiting.

use std::time::{Duration, Instant};

/// A server's state, in the order dials prefer them (last is best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerState {
    Failed,
    Standby,
    Unchecked,
    Recovering,
    Healthy,
    Preferred,
    Active,
}

impl ServerState {
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Failed => "FAILED",
            ServerState::Standby => "STANDBY",
            ServerState::Unchecked => "UNCHECKED",
            ServerState::Recovering => "RECOVERING",
            ServerState::Healthy => "HEALTHY",
            ServerState::Preferred => "PREFERRED",
            ServerState::Active => "ACTIVE",
        }
    }
}

/// How long a PREFERRED server may go undialed before it is only HEALTHY.
pub const PREFERRED_FOR: Duration = Duration::from_secs(60);

/// One server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `host:port`.
    pub address: String,
    pub state: ServerState,
    pub connections: usize,
    last_dial: Option<Instant>,
}

/// The pool.
#[derive(Debug, Clone)]
pub struct Pool {
    default: String,
    servers: Vec<Server>,
    /// The list leaves the default out: it is only the fallback.
    fallback: bool,
}

impl Pool {
    /// A pool for the `--server` address `default` and the other known servers.
    pub fn new(default: &str, known: &[String]) -> Self {
        let mut pool = Pool { default: default.to_owned(), servers: Vec::new(), fallback: false };
        pool.set_servers(known);
        pool
    }

    pub fn default_server(&self) -> &str {
        &self.default
    }

    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The servers the cluster lists now (from `/v1-k3rs/apiservers` or the `kubernetes`
    /// endpoints): new ones start UNCHECKED, gone ones leave (the default stays as STANDBY).
    /// Returns the servers whose connections must be closed.
    pub fn set_servers(&mut self, addresses: &[String]) -> Vec<String> {
        let mut closed = Vec::new();
        self.servers.retain(|s| {
            let keep = addresses.contains(&s.address) || s.address == self.default;
            if !keep && s.connections > 0 {
                closed.push(s.address.clone());
            }
            keep
        });
        for a in addresses {
            if !self.servers.iter().any(|s| s.address == *a) {
                self.servers.push(Server {
                    address: a.clone(),
                    state: ServerState::Unchecked,
                    connections: 0,
                    last_dial: None,
                });
            }
        }
        let listed = addresses.contains(&self.default);
        self.fallback = !listed && !addresses.is_empty();
        match self.servers.iter_mut().find(|s| s.address == self.default) {
            Some(d) if !listed && d.state > ServerState::Standby => d.state = ServerState::Standby,
            Some(_) => {}
            None => self.servers.push(Server {
                address: self.default.clone(),
                state: if listed || addresses.is_empty() {
                    ServerState::Unchecked
                } else {
                    ServerState::Standby
                },
                connections: 0,
                last_dial: None,
            }),
        }
        closed
    }

    /// The order to try servers in: best state first, then fewest connections.
    pub fn dial_order(&self) -> Vec<String> {
        let mut s: Vec<&Server> = self.servers.iter().collect();
        s.sort_by(|a, b| b.state.cmp(&a.state).then(a.connections.cmp(&b.connections)));
        s.into_iter().map(|s| s.address.clone()).collect()
    }

    fn get(&mut self, address: &str) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.address == address)
    }

    /// Make `address` ACTIVE; the connections of every other server are to be closed.
    fn activate(&mut self, address: &str) -> Vec<String> {
        let mut closed = Vec::new();
        for s in &mut self.servers {
            if s.address == address {
                s.state = ServerState::Active;
            } else {
                if s.state == ServerState::Active {
                    s.state = ServerState::Healthy;
                }
                if s.connections > 0 {
                    closed.push(s.address.clone());
                }
            }
        }
        closed
    }

    /// A dial to `address` succeeded: the connections to close, if it became ACTIVE.
    pub fn dialed(&mut self, address: &str, now: Instant) -> Vec<String> {
        let Some(s) = self.get(address) else { return Vec::new() };
        s.last_dial = Some(now);
        s.connections += 1;
        match s.state {
            ServerState::Failed | ServerState::Unchecked | ServerState::Standby => {
                s.state = ServerState::Recovering;
                // With no better server the one that answered carries the traffic.
                let better = self
                    .servers
                    .iter()
                    .any(|o| o.address != address && o.state >= ServerState::Healthy);
                if better { Vec::new() } else { self.activate(address) }
            }
            ServerState::Recovering | ServerState::Healthy | ServerState::Preferred => {
                self.activate(address)
            }
            ServerState::Active => Vec::new(),
        }
    }

    /// A dial to `address` failed, or its health check did: FAILED, its connections closed.
    pub fn failed(&mut self, address: &str) -> Vec<String> {
        let Some(s) = self.get(address) else { return Vec::new() };
        s.state = ServerState::Failed;
        if s.connections > 0 { vec![s.address.clone()] } else { Vec::new() }
    }

    /// A health check of `address` came back `ok`.
    pub fn checked(&mut self, address: &str, ok: bool, now: Instant) -> Vec<String> {
        if !ok {
            return self.failed(address);
        }
        let Some(s) = self.get(address) else { return Vec::new() };
        match s.state {
            ServerState::Failed | ServerState::Unchecked => s.state = ServerState::Recovering,
            ServerState::Recovering => {
                if s.connections > 0 {
                    return self.activate(address);
                }
                s.state = ServerState::Preferred;
                s.last_dial = Some(now);
                // Clients parked on the fallback come back to a listed server.
                // It goes back to STANDBY, so their next dials come here.
                let (fallback, default) = (self.fallback, self.default.clone());
                let Some(d) = self.get(&default).filter(|_| fallback) else { return Vec::new() };
                d.state = ServerState::Standby;
                return if d.connections > 0 { vec![default] } else { Vec::new() };
            }
            _ => {}
        }
        Vec::new()
    }

    /// A connection to `address` ended.
    pub fn disconnected(&mut self, address: &str) {
        if let Some(s) = self.get(address) {
            s.connections = s.connections.saturating_sub(1);
        }
    }

    /// Time passes: a PREFERRED server not dialed for a minute is only HEALTHY.
    pub fn tick(&mut self, now: Instant) {
        for s in &mut self.servers {
            if s.state == ServerState::Preferred
                && s.last_dial.is_none_or(|t| now.duration_since(t) >= PREFERRED_FOR)
            {
                s.state = ServerState::Healthy;
            }
        }
    }

    /// Every server's address (the list persisted).
    pub fn addresses(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.address.clone()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(p: &Pool, a: &str) -> ServerState {
        p.servers().iter().find(|s| s.address == a).unwrap().state
    }

    #[test]
    fn the_default_is_kept_as_standby_when_the_list_leaves_it_out() {
        let mut p = Pool::new("lb.example:6443", &[]);
        assert_eq!(state(&p, "lb.example:6443"), ServerState::Unchecked);
        p.set_servers(&["10.0.0.1:6443".into(), "10.0.0.2:6443".into()]);
        assert_eq!(state(&p, "lb.example:6443"), ServerState::Standby);
        assert_eq!(p.dial_order().last().unwrap(), "lb.example:6443", "tried last");
        let closed = p.set_servers(&["10.0.0.2:6443".into()]);
        assert!(closed.is_empty());
        assert_eq!(p.addresses(), ["lb.example:6443", "10.0.0.2:6443"]);
    }

    #[test]
    fn a_recovered_listed_server_takes_clients_back_from_the_standby_default() {
        let now = Instant::now();
        let mut p = Pool::new("lb.example:6443", &[]);
        p.set_servers(&["10.0.0.1:6443".into()]);
        p.failed("10.0.0.1:6443");
        // Nothing else answers: clients go to the fallback.
        assert_eq!(p.dial_order()[0], "lb.example:6443");
        p.dialed("lb.example:6443", now);
        assert!(p.checked("10.0.0.1:6443", true, now).is_empty(), "recovering only");
        assert_eq!(p.checked("10.0.0.1:6443", true, now), ["lb.example:6443"]);
        assert_eq!(state(&p, "lb.example:6443"), ServerState::Standby);
        assert_eq!(p.dial_order()[0], "10.0.0.1:6443");
    }

    #[test]
    fn dials_stick_to_the_active_server_and_fail_over() {
        let now = Instant::now();
        let (a, b) = ("a:1".to_owned(), "b:1".to_owned());
        let mut p = Pool::new("a:1", &[a.clone(), b.clone()]);
        assert_eq!(p.dialed(&a, now), Vec::<String>::new());
        assert_eq!(state(&p, &a), ServerState::Active);
        assert_eq!(p.dial_order()[0], a);
        p.dialed(&a, now);
        assert_eq!(p.servers()[0].connections, 2);
        // A fails: its connections close, the next dial goes to b, which becomes active.
        assert_eq!(p.failed(&a), vec![a.clone()]);
        p.disconnected(&a);
        p.disconnected(&a);
        assert_eq!(p.dial_order()[0], b);
        p.dialed(&b, now);
        assert_eq!(state(&p, &b), ServerState::Active);
        // A comes back: recovering, then preferred, but b keeps the traffic...
        p.checked(&a, true, now);
        assert_eq!(state(&p, &a), ServerState::Recovering);
        p.checked(&a, true, now);
        assert_eq!(state(&p, &a), ServerState::Preferred);
        assert_eq!(p.dial_order()[0], b);
        // ...until b fails: then traffic returns to a, closing what was left on b.
        p.failed(&b);
        assert_eq!(p.dial_order()[0], a);
        let closed = p.dialed(&a, now);
        assert_eq!(state(&p, &a), ServerState::Active);
        assert_eq!(closed, vec![b.clone()], "b still had a connection");
    }

    #[test]
    fn preferred_servers_fade_to_healthy_and_states_order_dials() {
        let now = Instant::now();
        let mut p = Pool::new("a:1", &["a:1".into(), "b:1".into()]);
        p.checked("b:1", true, now);
        p.checked("b:1", true, now);
        assert_eq!(state(&p, "b:1"), ServerState::Preferred);
        p.tick(now + Duration::from_secs(30));
        assert_eq!(state(&p, "b:1"), ServerState::Preferred);
        p.tick(now + PREFERRED_FOR);
        assert_eq!(state(&p, "b:1"), ServerState::Healthy);
        assert!(
            ServerState::Failed < ServerState::Standby
                && ServerState::Preferred < ServerState::Active
        );
        assert_eq!(p.dial_order(), ["b:1", "a:1"], "healthy before unchecked");
    }
}
