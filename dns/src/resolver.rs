//! One query in, one reply out: cluster names from the current records, ExternalName aliases
//! followed, everything else forwarded upstream, and UDP replies truncated to fit.

use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::records::{Answer, Records};
use crate::upstream::Upstreams;

/// What a plain DNS reply over UDP may hold without EDNS.
pub const UDP_LIMIT: usize = 512;
/// The largest UDP reply sent, whatever a client's EDNS offers.
pub const UDP_LIMIT_EDNS: usize = 4096;
/// The EDNS payload size this server advertises (the DNS flag day's figure).
const ADVERTISED_PAYLOAD: u16 = 1232;
/// How many aliases are followed before giving up.
const MAX_ALIASES: usize = 8;

/// How a query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The records being served, replaced whole by whoever watches the objects. `None` until the
/// first snapshot: the cluster domain is not known yet, so every query gets SERVFAIL.
#[derive(Debug, Clone, Default)]
pub struct SharedRecords(Arc<RwLock<Option<Arc<Records>>>>);

impl SharedRecords {
    pub fn set(&self, records: Records) {
        let records = Some(Arc::new(records));
        match self.0.write() {
            Ok(mut current) => *current = records,
            Err(poisoned) => *poisoned.into_inner() = records,
        }
    }

    pub fn get(&self) -> Option<Arc<Records>> {
        match self.0.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Answers queries from the shared records and the upstreams.
#[derive(Debug, Clone)]
pub struct Resolver {
    records: SharedRecords,
    upstreams: Arc<Upstreams>,
}

impl Resolver {
    pub fn new(records: SharedRecords, upstreams: Upstreams) -> Resolver {
        Resolver { records, upstreams: Arc::new(upstreams) }
    }

    /// The reply to one query in wire format, or `None` when nothing should be sent back (a
    /// message that is not a query, or too short to carry an id).
    pub async fn answer(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return None;
        }
        let request = match Message::from_vec(query) {
            Ok(request) => request,
            Err(err) => {
                tracing::debug!(error = %err, "malformed query");
                let id = u16::from_be_bytes([query[0], query[1]]);
                return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr).to_vec().ok();
            }
        };
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let limit = match transport {
            Transport::Udp => usize::from(request.max_payload()).clamp(UDP_LIMIT, UDP_LIMIT_EDNS),
            Transport::Tcp => usize::from(u16::MAX),
        };
        let reply = match self.reply(&request, query, transport).await {
            Reply::Message(message) => message,
            Reply::Forwarded(bytes) if bytes.len() <= limit => return Some(bytes),
            Reply::Forwarded(bytes) => match Message::from_vec(&bytes) {
                Ok(message) => message,
                Err(_) => failure(&request, ResponseCode::ServFail),
            },
        };
        encode(&reply, limit)
    }

    async fn reply(&self, request: &Message, raw: &[u8], transport: Transport) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::Message(failure(request, ResponseCode::NotImp));
        }
        let [question] = request.queries.as_slice() else {
            return Reply::Message(failure(request, ResponseCode::FormErr));
        };
        let Some(records) = self.records.get() else {
            return Reply::Message(failure(request, ResponseCode::ServFail));
        };
        let name = question.name();
        let qtype = question.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Reply::Message(failure(request, ResponseCode::Refused));
        }
        let in_class = matches!(question.query_class(), DNSClass::IN | DNSClass::ANY);
        let answer = if in_class { records.lookup(name, qtype) } else { Answer::Forward };
        let mut reply = response(request);
        reply.metadata.authoritative = !matches!(answer, Answer::Forward);
        match answer {
            Answer::Forward => {
                return match self.upstreams.forward(raw, transport == Transport::Tcp).await {
                    Ok(bytes) => Reply::Forwarded(bytes),
                    Err(err) => {
                        tracing::debug!(name = %name, error = %err, "forwarding failed");
                        Reply::Message(failure(request, ResponseCode::ServFail))
                    }
                };
            }
            Answer::Records { answers, additionals } => {
                reply.answers = answers;
                reply.additionals = additionals;
            }
            Answer::NoData { soa } => reply.authorities.push(soa),
            Answer::NxDomain { soa } => {
                reply.metadata.response_code = ResponseCode::NXDomain;
                reply.authorities.push(soa);
            }
            Answer::Alias { cname, target } => {
                reply.answers.push(cname);
                self.follow(&records, &mut reply, target, qtype, transport).await;
            }
        }
        Reply::Message(reply)
    }

    /// Follows an alias: inside the cluster domain from the records, outside by asking the
    /// upstreams. A target that cannot be resolved leaves the aliases alone in the answer.
    async fn follow(
        &self,
        records: &Records,
        reply: &mut Message,
        mut target: Name,
        qtype: RecordType,
        transport: Transport,
    ) {
        for _ in 0..MAX_ALIASES {
            if !records.domain().zone_of(&target) {
                let answers = self.ask_upstream(&target, qtype, transport).await;
                if let Some((code, answers)) = answers {
                    reply.metadata.response_code = code;
                    reply.answers.extend(answers);
                }
                return;
            }
            match records.lookup(&target, qtype) {
                Answer::Alias { cname, target: next } => {
                    reply.answers.push(cname);
                    target = next;
                }
                Answer::Records { answers, additionals } => {
                    reply.answers.extend(answers);
                    reply.additionals.extend(additionals);
                    return;
                }
                Answer::NxDomain { soa } => {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                    reply.authorities.push(soa);
                    return;
                }
                Answer::NoData { soa } => {
                    reply.authorities.push(soa);
                    return;
                }
                Answer::Forward => return,
            }
        }
    }

    async fn ask_upstream(
        &self,
        name: &Name,
        qtype: RecordType,
        transport: Transport,
    ) -> Option<(ResponseCode, Vec<Record>)> {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(name.clone(), qtype));
        let bytes = query.to_vec().ok()?;
        match self.upstreams.forward(&bytes, transport == Transport::Tcp).await {
            Ok(reply) => {
                let reply = Message::from_vec(&reply).ok()?;
                Some((reply.metadata.response_code, reply.answers))
            }
            Err(err) => {
                tracing::debug!(name = %name, error = %err, "following an alias upstream failed");
                None
            }
        }
    }
}

enum Reply {
    Message(Message),
    /// An upstream's reply, already carrying the client's id.
    Forwarded(Vec<u8>),
}

/// An empty reply to `request`: id, opcode, RD and CD copied, recursion available, the
/// question, and an OPT record when the query had one.
fn response(request: &Message) -> Message {
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.checking_disabled = request.metadata.checking_disabled;
    reply.metadata.recursion_available = true;
    reply.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(ADVERTISED_PAYLOAD);
        reply.set_edns(edns);
    }
    reply
}

fn failure(request: &Message, code: ResponseCode) -> Message {
    let mut reply = response(request);
    reply.metadata.response_code = code;
    reply
}

/// The reply's bytes; over `limit`, only its header and question with TC set.
fn encode(reply: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = match reply.to_vec() {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::warn!(error = %err, "encoding a reply failed");
            let mut failed = reply.truncate();
            failed.metadata.truncation = false;
            failed.metadata.response_code = ResponseCode::ServFail;
            return failed.to_vec().ok();
        }
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    reply.truncate().to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolver() -> Resolver {
        let services = [json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.20"}})];
        let shared = SharedRecords::default();
        shared.set(Records::build(&services, &[], None, "cluster.local").expect("records"));
        // No upstreams: anything forwarded fails.
        Resolver::new(shared, Upstreams::new(Vec::new()))
    }

    fn query(name: &str, qtype: RecordType) -> Message {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(name.parse().expect("name"), qtype));
        q
    }

    async fn ask(resolver: &Resolver, q: &Message) -> Message {
        let bytes =
            resolver.answer(&q.to_vec().expect("encode"), Transport::Udp).await.expect("a reply");
        Message::from_vec(&bytes).expect("decode")
    }

    #[tokio::test]
    async fn answers_cluster_names_authoritatively() {
        let r = resolver();
        let q = query("web.default.svc.cluster.local.", RecordType::A);
        let reply = ask(&r, &q).await;
        assert_eq!(reply.metadata.id, q.metadata.id);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert!(
            reply.metadata.authoritative
                && reply.metadata.recursion_desired
                && reply.metadata.recursion_available
        );
        assert_eq!(reply.queries, q.queries);
        assert_eq!(reply.answers.len(), 1);

        let reply = ask(&r, &query("nope.default.svc.cluster.local.", RecordType::A)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);
    }

    #[tokio::test]
    async fn failures() {
        let r = resolver();
        // Nothing upstream: SERVFAIL.
        let reply = ask(&r, &query("example.org.", RecordType::A)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        // No records yet: SERVFAIL.
        let empty = Resolver::new(SharedRecords::default(), Upstreams::new(Vec::new()));
        let reply = ask(&empty, &query("web.default.svc.cluster.local.", RecordType::A)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        // Zone transfers: REFUSED.
        let reply = ask(&r, &query("cluster.local.", RecordType::AXFR)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
        // Two questions: FORMERR.
        let mut two = query("a.cluster.local.", RecordType::A);
        two.add_query(Query::query("b.cluster.local.".parse().expect("name"), RecordType::A));
        assert_eq!(ask(&r, &two).await.metadata.response_code, ResponseCode::FormErr);
        // Garbage with an id: FORMERR; too short, or a response: nothing.
        let garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
        let reply = Message::from_vec(&r.answer(&garbage, Transport::Udp).await.expect("reply"))
            .expect("decode");
        assert_eq!(
            (reply.metadata.id, reply.metadata.response_code),
            (0x1234, ResponseCode::FormErr)
        );
        assert!(r.answer(&garbage[..5], Transport::Udp).await.is_none());
        let response = query("web.default.svc.cluster.local.", RecordType::A).into_response();
        assert!(r.answer(&response.to_vec().expect("encode"), Transport::Udp).await.is_none());
    }

    #[test]
    fn truncation_keeps_header_and_question() {
        let q = query("web.default.svc.cluster.local.", RecordType::A);
        let mut reply = response(&q);
        for i in 0..60u8 {
            reply.answers.push(Record::from_rdata(
                q.queries[0].name().clone(),
                5,
                hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(10, 42, 0, i)),
            ));
        }
        let full = encode(&reply, usize::from(u16::MAX)).expect("encode");
        assert!(full.len() > UDP_LIMIT);
        let cut = Message::from_vec(&encode(&reply, UDP_LIMIT).expect("encode")).expect("decode");
        assert!(cut.metadata.truncation);
        assert!(cut.answers.is_empty());
        assert_eq!(cut.queries, q.queries);
    }
}
