//! The agent's HTTPS client (awc, rustls): a base URL, a TLS configuration (unverified only for
//! `/cacerts`, then pinned to the cluster CA, then with the node's certificate) and JSON or
//! text requests with a 10 s timeout.

use std::sync::Arc;
use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use crate::AgentError;

/// K3s's client timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTPS client for one server.
#[derive(Clone)]
pub struct Https {
    client: awc::Client,
    base: String,
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").field("base", &self.base).finish_non_exhaustive()
    }
}

/// An answer: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value, AgentError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| AgentError::Transport(format!("the server's answer is not JSON: {e}")))
    }

    /// The `message` of a Status body, or the body.
    pub fn message(&self) -> String {
        self.json()
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.text().trim().to_owned())
    }
}

impl Https {
    /// A client for `base` (`https://host:port`) with `tls`; `headers` go on every request.
    pub fn new(base: &str, tls: rustls::ClientConfig, headers: Vec<(String, String)>) -> Self {
        let connector = awc::Connector::new().rustls_0_23(Arc::new(tls)).timeout(TIMEOUT);
        let client = awc::Client::builder().connector(connector).timeout(TIMEOUT).finish();
        Https { client, base: base.trim_end_matches('/').to_owned(), headers }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Send a request; `body` is sent as is with `content_type`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer, AgentError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        for (k, v) in &self.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        let sent = match body {
            Some((content_type, bytes)) => {
                req.insert_header(("Content-Type", content_type)).send_body(bytes).await
            }
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| AgentError::Transport(format!("{method} {url}: {e}")))?;
        let body = res.body().limit(16 * 1024 * 1024).await.map_err(|e| {
            AgentError::Transport(format!("{method} {url}: reading the answer: {e}"))
        })?;
        Ok(Answer { code: res.status().as_u16(), body: body.to_vec() })
    }

    /// A long-running GET (a watch): its status code and its body as it arrives, in chunks;
    /// only `limit` bounds it, not the client's timeout.
    pub async fn stream(
        &self,
        path: &str,
        limit: Duration,
    ) -> Result<
        (u16, impl futures_util::Stream<Item = Result<Vec<u8>, AgentError>> + use<>),
        AgentError,
    > {
        use futures_util::StreamExt;
        let url = format!("{}{path}", self.base);
        let mut req = self.client.get(&url).timeout(limit);
        for (k, v) in &self.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        let res = req.send().await.map_err(|e| AgentError::Transport(format!("GET {url}: {e}")))?;
        let code = res.status().as_u16();
        let body = res.map(move |chunk| {
            chunk
                .map(|b| b.to_vec())
                .map_err(|e| AgentError::Transport(format!("reading a watch: {e}")))
        });
        Ok((code, body))
    }

    pub async fn get(&self, path: &str) -> Result<Answer, AgentError> {
        self.send(Method::GET, path, None).await
    }

    /// Send `value` as JSON.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        value: &Value,
    ) -> Result<Answer, AgentError> {
        self.send(method, path, Some(("application/json", value.to_string().into_bytes()))).await
    }
}
