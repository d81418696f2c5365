//! Who is calling: the verified client certificate captured when the TLS connection was
//! accepted, or a bearer token, or nobody.

use std::any::Any;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use k3rs_api::Identity;

/// The DER of the client's leaf certificate, already verified by TLS against the client CA.
#[derive(Clone)]
struct PeerCertificate(Vec<u8>);

/// `on_connect` hook: remember the client certificate for every request on the connection.
pub fn capture_peer_certificate(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() {
        let (_, session) = tls.get_ref();
        if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
            ext.insert(PeerCertificate(leaf.to_vec()));
        }
    }
}

/// What the request's credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Known(Identity),
    /// Credentials were presented but are not valid (401).
    Rejected,
}

/// Authenticate a request. A client certificate wins; a bearer token is checked next (no token
/// kinds exist yet, so every token is rejected); no credentials means anonymous.
pub fn identify(req: &HttpRequest) -> Caller {
    if let Some(PeerCertificate(der)) = req.conn_data::<PeerCertificate>() {
        return match Identity::from_certificate(der) {
            Some(id) => Caller::Known(id),
            None => Caller::Rejected,
        };
    }
    if req.headers().contains_key(actix_web::http::header::AUTHORIZATION) {
        return Caller::Rejected;
    }
    Caller::Known(Identity::anonymous())
}

/// The node a request is authenticated as: a verified client certificate of
/// `system:node:<name>` in `system:nodes` (how agents open their tunnels).
pub fn node_name(req: &HttpRequest) -> Option<String> {
    match identify(req) {
        Caller::Known(who) => k3rs_api::authz::node_of(&who).map(str::to_owned),
        Caller::Rejected => None,
    }
}
