//! The DNS server on 127.0.0.1: cluster names over UDP and TCP, truncation, swapping records,
//! and forwarding to a fake upstream that the test runs on another loopback port.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k3rs_dns::{Dns, Records, Upstreams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for any one reply.
const WAIT: Duration = Duration::from_secs(5);

fn loopback() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn query(qname: &str, qtype: RecordType) -> Message {
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name(qname), qtype));
    q
}

fn with_edns(mut q: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    q.set_edns(edns);
    q
}

async fn ask_udp(server: SocketAddr, q: &Message) -> Message {
    let socket = UdpSocket::bind(loopback()).await.expect("bind");
    socket.connect(server).await.expect("connect");
    socket.send(&q.to_vec().expect("encode")).await.expect("send");
    let mut buf = vec![0u8; 65_535];
    let len = tokio::time::timeout(WAIT, socket.recv(&mut buf))
        .await
        .expect("a reply in time")
        .expect("recv");
    let reply = Message::from_vec(&buf[..len]).expect("decode");
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

async fn ask_tcp(server: SocketAddr, q: &Message) -> Message {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.expect("connect");
        let bytes = q.to_vec().expect("encode");
        let len = u16::try_from(bytes.len()).expect("length");
        stream.write_all(&len.to_be_bytes()).await.expect("write");
        stream.write_all(&bytes).await.expect("write");
        let len = stream.read_u16().await.expect("length");
        let mut reply = vec![0u8; usize::from(len)];
        stream.read_exact(&mut reply).await.expect("read");
        reply
    };
    let bytes = tokio::time::timeout(WAIT, exchange).await.expect("a reply in time");
    let reply = Message::from_vec(&bytes).expect("decode");
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

fn addresses(reply: &Message) -> Vec<String> {
    let mut out: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            RData::AAAA(a) => Some(a.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn cluster() -> (Vec<Value>, Vec<Value>) {
    let services = vec![
        json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
        json!({"metadata": {"name": "many", "namespace": "default"}, "spec": {"clusterIP": "None"}}),
        json!({"metadata": {"name": "ext", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": "www.example.org"}}),
    ];
    // 60 ready endpoints: their A records do not fit in 512 bytes.
    let endpoints: Vec<Value> = (1..=60)
        .map(|i| json!({"addresses": [format!("10.42.0.{i}")], "conditions": {"ready": true}}))
        .collect();
    let slices = vec![json!({"metadata": {"name": "many-1", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "many"}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": []})];
    (services, slices)
}

/// A DNS server serving `cluster()`, and the way to stop it.
struct Server {
    addr: SocketAddr,
    records: k3rs_dns::SharedRecords,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), k3rs_dns::DnsError>>,
}

impl Server {
    async fn start(upstreams: Upstreams, with_records: bool) -> Server {
        let dns = Dns::bind(loopback(), upstreams).await.expect("bind");
        if with_records {
            let (services, slices) = cluster();
            dns.set_records(
                Records::build(&services, &slices, None, "cluster.local").expect("records"),
            );
        }
        let (addr, records) = (dns.local_addr(), dns.records());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dns.serve(async move {
            let _ = stopped.await;
        }));
        Server { addr, records, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = tokio::time::timeout(WAIT, &mut self.task).await.expect("stops in time");
        served.expect("no panic").expect("served without error");
    }
}

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP, one port): `example.org` and
/// `www.example.org` have an address, `big.example.org` has 60 (truncated over plain UDP),
/// everything else is NXDOMAIN. Counts the queries it gets.
struct Upstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Upstream {
    async fn start() -> Upstream {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind(loopback()).await.expect("bind");
            let addr = udp.local_addr().expect("addr");
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("addr");
        let queries = Arc::new(AtomicUsize::new(0));
        let counted = queries.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = udp.recv_from(&mut buf).await {
                counted.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = Upstream::answer(&buf[..len], true) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let counted = queries.clone();
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(len) = stream.read_u16().await else { continue };
                let mut q = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut q).await.is_err() {
                    continue;
                }
                if let Some(reply) = Upstream::answer(&q, false) {
                    let len = u16::try_from(reply.len()).expect("length");
                    let _ = stream.write_all(&len.to_be_bytes()).await;
                    let _ = stream.write_all(&reply).await;
                }
            }
        });
        Upstream { addr, queries, tasks: vec![udp_task, tcp_task] }
    }

    fn answer(bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        let q = Message::from_vec(bytes).ok()?;
        let question = q.queries.first()?.clone();
        let mut reply = Message::response(q.metadata.id, q.metadata.op_code);
        reply.metadata.recursion_desired = q.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.queries = q.queries.clone();
        let owner = question.name().clone();
        let a = |ip: [u8; 4]| {
            Record::from_rdata(owner.clone(), 300, RData::A(A::from(Ipv4Addr::from(ip))))
        };
        match (owner.to_ascii().to_ascii_lowercase().as_str(), question.query_type()) {
            ("example.org.", RecordType::A) => reply.answers.push(a([192, 0, 2, 1])),
            ("www.example.org.", RecordType::A) => reply.answers.push(a([192, 0, 2, 80])),
            ("big.example.org.", RecordType::A) => {
                reply.answers.extend((1..=60).map(|i| a([192, 0, 2, i])))
            }
            ("example.org.", _) | ("www.example.org.", _) | ("big.example.org.", _) => {}
            _ => reply.metadata.response_code = ResponseCode::NXDomain,
        }
        let bytes = reply.to_vec().ok()?;
        if udp && bytes.len() > usize::from(q.max_payload()) {
            return reply.truncate().to_vec().ok();
        }
        Some(bytes)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[tokio::test]
async fn cluster_names_over_udp_and_tcp() {
    let server = Server::start(Upstreams::new(Vec::new()), true).await;
    let q = query("web.default.svc.cluster.local.", RecordType::A);
    for reply in [ask_udp(server.addr, &q).await, ask_tcp(server.addr, &q).await] {
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        assert_eq!(addresses(&reply), vec!["10.43.0.20"]);
        assert_eq!(reply.answers[0].ttl, 5);
    }

    let reply =
        ask_udp(server.addr, &query("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV))
            .await;
    let RData::SRV(srv) = &reply.answers[0].data else {
        panic!("expected an SRV answer, got {reply:?}");
    };
    assert_eq!((srv.port, srv.target.clone()), (80, name("web.default.svc.cluster.local.")));
    assert_eq!(reply.additionals.len(), 1, "the target's address rides along");

    let reply =
        ask_tcp(server.addr, &query("nope.default.svc.cluster.local.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);

    let reply =
        ask_udp(server.addr, &query("web.default.svc.cluster.local.", RecordType::AAAA)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);

    let reply = ask_udp(server.addr, &query("20.0.43.10.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(
        reply.answers[0].data,
        RData::PTR(hickory_proto::rr::rdata::PTR(name("web.default.svc.cluster.local.")))
    );

    // Several queries on one TCP connection.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    for _ in 0..3 {
        let q = query("web.default.svc.cluster.local.", RecordType::A);
        let bytes = q.to_vec().expect("encode");
        let len = u16::try_from(bytes.len()).expect("length");
        stream.write_all(&len.to_be_bytes()).await.expect("write");
        stream.write_all(&bytes).await.expect("write");
        let len =
            tokio::time::timeout(WAIT, stream.read_u16()).await.expect("in time").expect("length");
        let mut reply = vec![0u8; usize::from(len)];
        stream.read_exact(&mut reply).await.expect("read");
        assert_eq!(Message::from_vec(&reply).expect("decode").metadata.id, q.metadata.id);
    }
    server.stop().await;
}

#[tokio::test]
async fn no_records_yet_is_servfail_and_records_are_swapped() {
    let server = Server::start(Upstreams::new(Vec::new()), false).await;
    let q = query("web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(ask_udp(server.addr, &q).await.metadata.response_code, ResponseCode::ServFail);

    let (services, slices) = cluster();
    server.records.set(Records::build(&services, &slices, None, "cluster.local").expect("records"));
    assert_eq!(addresses(&ask_udp(server.addr, &q).await), vec!["10.43.0.20"]);

    let moved = [
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "10.43.0.99"}}),
    ];
    server.records.set(Records::build(&moved, &[], None, "cluster.local").expect("records"));
    assert_eq!(addresses(&ask_udp(server.addr, &q).await), vec!["10.43.0.99"]);
    server.stop().await;
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp() {
    let server = Server::start(Upstreams::new(Vec::new()), true).await;
    let q = query("many.default.svc.cluster.local.", RecordType::A);

    let plain = ask_udp(server.addr, &q).await;
    assert!(plain.metadata.truncation, "60 addresses do not fit in 512 bytes");
    assert!(plain.answers.is_empty());
    assert_eq!(plain.queries, q.queries);

    let edns = ask_udp(server.addr, &with_edns(q.clone(), 4096)).await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 60);
    assert!(edns.edns.is_some(), "an EDNS query gets an OPT record back");

    let tcp = ask_tcp(server.addr, &q).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
    server.stop().await;
}

#[tokio::test]
async fn other_names_are_forwarded_upstream() {
    let upstream = Upstream::start().await;
    let server = Server::start(Upstreams::new(vec![upstream.addr]), true).await;

    for reply in [
        ask_udp(server.addr, &query("example.org.", RecordType::A)).await,
        ask_tcp(server.addr, &query("example.org.", RecordType::A)).await,
    ] {
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(!reply.metadata.authoritative);
        assert_eq!(addresses(&reply), vec!["192.0.2.1"]);
    }
    let reply = ask_udp(server.addr, &query("missing.example.org.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);

    // Reverse names the cluster does not own fall through upstream too.
    let before = upstream.queries.load(Ordering::SeqCst);
    let reply = ask_udp(server.addr, &query("1.2.0.192.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.queries.load(Ordering::SeqCst), before + 1);

    // Cluster names never leave the node.
    let before = upstream.queries.load(Ordering::SeqCst);
    ask_udp(server.addr, &query("nope.default.svc.cluster.local.", RecordType::A)).await;
    assert_eq!(upstream.queries.load(Ordering::SeqCst), before);

    // An ExternalName Service: the CNAME, then the target's address from upstream.
    let reply = ask_udp(server.addr, &query("ext.default.svc.cluster.local.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.answers[0].data, RData::CNAME(CNAME(name("www.example.org."))));
    assert_eq!(addresses(&reply), vec!["192.0.2.80"]);
    server.stop().await;
}

#[tokio::test]
async fn forwarded_answers_keep_their_size_limits() {
    let upstream = Upstream::start().await;
    let server = Server::start(Upstreams::new(vec![upstream.addr]), true).await;
    let q = query("big.example.org.", RecordType::A);
    // Over UDP the upstream's truncated answer is passed on; the client retries over TCP,
    // and then the upstream is asked over TCP for the whole answer.
    let udp = ask_udp(server.addr, &q).await;
    assert!(udp.metadata.truncation);
    let tcp = ask_tcp(server.addr, &q).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 60);
    server.stop().await;
}

#[tokio::test]
async fn a_silent_upstream_is_servfail() {
    // Bound but never read: queries to it go unanswered.
    let silent = UdpSocket::bind(loopback()).await.expect("bind");
    let upstreams = Upstreams::new(vec![silent.local_addr().expect("addr")])
        .with_timeout(Duration::from_millis(200));
    let server = Server::start(upstreams, true).await;
    let reply = ask_udp(server.addr, &query("example.org.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    // A failing upstream after a working one's turn: the next is tried.
    let upstream = Upstream::start().await;
    let upstreams = Upstreams::new(vec![silent.local_addr().expect("addr"), upstream.addr])
        .with_timeout(Duration::from_millis(200));
    let second = Server::start(upstreams, true).await;
    assert_eq!(
        addresses(&ask_udp(second.addr, &query("example.org.", RecordType::A)).await),
        vec!["192.0.2.1"]
    );
    second.stop().await;
    server.stop().await;
}
