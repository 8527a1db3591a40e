//! The HTTP webhook sink: every alert message is POSTed, one request per message, as a
//! structured-mode CloudEvent (`Content-Type: application/cloudevents+json`; the body is the
//! CloudEvent JSON exactly as stored in the outbox).
//!
//! ## Responses
//!
//! | receiver says | the sink |
//! |---|---|
//! | `2xx` | delivered: marked in the outbox |
//! | `408`, `425`, `429`, `5xx`, `3xx`, timeout, connection error | transient: retried with backoff, in order |
//! | `401`, `403`, `404` | transient too: the endpoint, not the message, is wrong (a receiver being deployed, a rotated token); dropping every alert meanwhile would be worse |
//! | any other `4xx` (`400`, `413`, `415`, `422`, ...) | **rejected for good**: logged at `error` with the event id and status, counted in `sharpeyes_alert_sink_dead_lettered_total`, removed from the pending set (the message itself stays in `alerts.db` until retention purges it) |
//!
//! Messages go out one at a time in enqueue order; the first transient failure stops the
//! batch, so a receiver sees them in order (but, after a failure, possibly twice: deduplicate
//! on the CloudEvent `id`).
//!
//! ## Signature
//!
//! With a shared secret ([`WebhookConfig::secret`]) every request carries
//! `X-Sharpeyes-Signature: sha256=<hex HMAC-SHA256 of the body>`; the receiver recomputes it
//! over the raw body with the same secret ([`signature`]). The secret, the extra header values
//! and any user-info in the URL are never logged.
//!
//! ## Transport
//!
//! `ureq` (blocking, run on tokio's blocking pool) over rustls for `https://`: the receiver's
//! certificate is checked against `[webhook] ca_file` (default: the system's CA bundle), and
//! `client_cert`/`client_key` give mutual TLS. Plain `http://` to a receiver off this machine
//! is allowed but warned about at start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::alerts::outbox::PendingEvent;
use crate::alerts::sinks::driver::{Attempt, Sink};
use crate::alerts::sinks::tls::{TlsFiles, TlsMaterial};
use crate::netaddr::is_loopback_host;

/// The outbox sink name the webhook uses unless told otherwise.
pub const SINK_NAME: &str = "webhook";

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Sharpeyes-Signature";

/// The content type of every request.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// Settings of the webhook sink.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver, `http://host:port/path`.
    pub url: String,
    /// Whole-request timeout (connect, send, response).
    pub timeout: Duration,
    /// Extra request headers (e.g. an `Authorization`); values are never logged.
    pub headers: Vec<(String, String)>,
    /// Shared secret for [`SIGNATURE_HEADER`]; none: no signature.
    pub secret: Option<Vec<u8>>,
    /// The outbox sink name.
    pub sink_name: String,
    /// The CA and client certificate for `https://` (refused on `http://`).
    pub tls: TlsFiles,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &crate::redact::url_for_display(&self.url))
            .field("timeout", &self.timeout)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("sink_name", &self.sink_name)
            .field("tls", &self.tls)
            .finish()
    }
}

impl WebhookConfig {
    /// Defaults (10 s timeout, no headers, no secret) for `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            secret: None,
            sink_name: SINK_NAME.to_string(),
            tls: TlsFiles::default(),
        }
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as sent in [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// How a receiver's answer is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged.
    Delivered,
    /// Try again later.
    Retry,
    /// Refused for good: dead-lettered.
    Rejected,
}

/// The [`Verdict`] for an HTTP status (see the module docs).
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 | 404 | 408 | 425 | 429 => Verdict::Retry,
        400..=499 => Verdict::Rejected,
        _ => Verdict::Retry,
    }
}

/// The webhook sink. See the module docs.
pub struct WebhookSink {
    inner: Arc<Inner>,
}

struct Inner {
    config: WebhookConfig,
    agent: ureq::Agent,
    /// The URL without user-info, query or fragment: what logs and errors show.
    endpoint: String,
}

impl WebhookSink {
    /// Checks the config and builds the HTTP client.
    pub fn new(config: WebhookConfig) -> anyhow::Result<Self> {
        let url = url::Url::parse(&config.url).context("webhook: bad url")?;
        let tls = match url.scheme() {
            "http" => {
                config.tls.refuse_on_plain("[webhook]", "http")?;
                None
            }
            "https" => Some(config.tls.load("[webhook]")?),
            s => bail!("webhook: unsupported url scheme {s:?} (use https:// or http://)"),
        };
        let host = url.host_str().context("webhook: url has no host")?;
        let endpoint = format!(
            "{}://{host}:{}{}",
            url.scheme(),
            url.port_or_known_default().unwrap_or(80),
            url.path()
        );
        if tls.is_none() && !is_loopback_host(host) {
            tracing::warn!(
                receiver = %endpoint,
                "webhook: plain http:// to a receiver off this machine: alerts cross the network \
                 in clear; use https:// (see [webhook] ca_file)"
            );
        }
        if config.timeout.is_zero() {
            bail!("webhook: timeout must be above 0");
        }
        for (k, v) in &config.headers {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                bail!("webhook: bad header name {k:?}");
            }
            if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                bail!("webhook: bad value for header {k:?}");
            }
        }
        let mut agent = ureq::Agent::config_builder();
        if let Some(t) = &tls {
            agent = agent.tls_config(tls_config(t)?);
        }
        let agent: ureq::Agent = agent
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("sharpeyes/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                agent,
                endpoint,
            }),
        })
    }

    /// The receiver as shown in logs (no credentials, no query).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }
}

/// ureq's TLS settings from checked PEM material: only the given CAs are trusted.
fn tls_config(t: &TlsMaterial) -> anyhow::Result<ureq::tls::TlsConfig> {
    use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig, parse_pem};
    let mut roots = Vec::new();
    for item in parse_pem(&t.ca_pem) {
        if let PemItem::Certificate(c) = item.context("[webhook]: bad PEM in ca_file")? {
            roots.push(c);
        }
    }
    if roots.is_empty() {
        bail!("[webhook]: ca_file holds no certificate");
    }
    let mut b = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots));
    if let Some((cert, key)) = &t.client {
        let mut chain = Vec::new();
        for item in parse_pem(cert) {
            if let PemItem::Certificate(c) = item.context("[webhook]: bad PEM in client_cert")? {
                chain.push(c);
            }
        }
        let key = parse_pem(key)
            .filter_map(|i| match i {
                Ok(PemItem::PrivateKey(k)) => Some(k),
                _ => None,
            })
            .next()
            .context("[webhook]: client_key holds no private key")?;
        b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(b.build())
}

/// One POST: the status, or a transport error (already scrubbed of the URL).
fn post(inner: &Inner, body: &str) -> Result<(u16, String), String> {
    let c = &inner.config;
    let mut req = inner
        .agent
        .post(&c.url)
        .header("Content-Type", CONTENT_TYPE);
    for (k, v) in &c.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(secret) = &c.secret {
        req = req.header(SIGNATURE_HEADER, signature(secret, body.as_bytes()));
    }
    match req.send(body) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // A short excerpt of the answer, for the log of a rejection.
            let text = resp
                .body_mut()
                .with_config()
                .limit(512)
                .read_to_string()
                .unwrap_or_default();
            Ok((status, text.chars().take(200).collect()))
        }
        Err(e) => {
            let msg = e.to_string().replace(&c.url, &inner.endpoint);
            Err(match &c.secret {
                Some(s) => crate::redact::scrub(
                    &msg,
                    &[&crate::redact::Secret::new(String::from_utf8_lossy(s))],
                ),
                None => msg,
            })
        }
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.inner.config.sink_name
    }

    async fn deliver(&self, batch: &[PendingEvent]) -> Attempt {
        let mut attempt = Attempt::default();
        for e in batch {
            let inner = self.inner.clone();
            let body = e.payload.clone();
            let r = tokio::task::spawn_blocking(move || post(&inner, &body))
                .await
                .unwrap_or_else(|j| Err(format!("request task failed: {j}")));
            match r {
                Ok((status, text)) => match verdict(status) {
                    Verdict::Delivered => attempt.acked.push(e.event_id.clone()),
                    Verdict::Rejected => {
                        tracing::error!(
                            sink = %self.name(),
                            endpoint = %self.inner.endpoint,
                            event_id = %e.event_id,
                            status,
                            response = %text,
                            "webhook REJECTED an alert message for good (dead-lettered, not retried)"
                        );
                        attempt.rejected.push(e.event_id.clone());
                    }
                    Verdict::Retry => {
                        attempt.error =
                            Some(format!("{} answered HTTP {status}", self.inner.endpoint));
                        break;
                    }
                },
                Err(msg) => {
                    attempt.error = Some(format!("POST {}: {msg}", self.inner.endpoint));
                    break;
                }
            }
        }
        attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(200), Verdict::Delivered);
        assert_eq!(verdict(204), Verdict::Delivered);
        for s in [301, 401, 403, 404, 408, 429, 500, 502, 503, 504] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        for s in [400, 405, 410, 413, 415, 422] {
            assert_eq!(verdict(s), Verdict::Rejected, "{s}");
        }
    }

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn config_checks_and_debug_hides_secrets() {
        let mut tls = WebhookConfig::new("https://h/x");
        tls.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let e = format!("{:#}", WebhookSink::new(tls).err().unwrap());
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let mut plain = WebhookConfig::new("http://h/x");
        plain.tls.ca_file = Some("/etc/ssl/certs/ca-certificates.crt".into());
        assert!(
            WebhookSink::new(plain).is_err(),
            "TLS files on http:// are refused"
        );
        assert!(WebhookSink::new(WebhookConfig::new("ftp://h/x")).is_err());
        let mut c = WebhookConfig::new("http://user:pw@h:8080/hook?token=abc");
        c.headers = vec![("Authorization".into(), "Bearer tok".into())];
        c.secret = Some(b"s3cret".to_vec());
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("pw") && !dbg.contains("s3cret") && !dbg.contains("Bearer"),
            "{dbg}"
        );
        let s = WebhookSink::new(c.clone()).unwrap();
        assert_eq!(s.endpoint(), "http://h:8080/hook");
        c.headers = vec![("Bad Header".into(), "x".into())];
        assert!(WebhookSink::new(c).is_err());
    }
}
