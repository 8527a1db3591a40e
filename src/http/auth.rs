//! The access-control layer: who is asking (session cookie, trusted proxy header, or nobody
//! in open mode), what they may do, and the CSRF check on unsafe methods.
//!
//! Every request passes [`layer`]. It inserts [`Actor`] as a request extension, answers
//! `401` (JSON under `/api`, `/metrics` and health checks; the login form for the page) when
//! nobody is logged in, and refuses `POST`/`PUT`/`PATCH`/`DELETE` under `/api` with `403`
//! unless the actor is an operator and the request carries the session's CSRF token in
//! `X-CSRF-Token` (logout only needs the token).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{AuthMode, AuthSettings, Exposure, IpNet, UserEntry};
use super::login_guard::{LoginGuard, Refusal};
use super::session::{COOKIE, SessionStore, random_token, same_token};
use crate::http::actor::{Actor, Role};
use crate::http::error::error;

/// The client's address as the listener saw it (a request extension the layer sets).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

/// The header unsafe requests carry their CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How this instance authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effective {
    /// No users configured on a loopback listener: everyone is [`Actor::anonymous`].
    Open,
    /// Login form and sessions.
    Users,
    /// Trusted reverse-proxy headers.
    Proxy,
}

/// Access-control state shared by the layer and the login handlers.
pub struct Auth {
    mode: Effective,
    settings: AuthSettings,
    users: HashMap<String, UserEntry>,
    trusted: Vec<IpNet>,
    sessions: SessionStore,
    guard: LoginGuard,
    /// Open and proxy modes: a per-process secret the CSRF tokens derive from.
    secret: String,
    /// Event streams open now.
    streams: std::sync::atomic::AtomicUsize,
    /// `/metrics` without login (see `AuthSettings::metrics`).
    metrics_open: bool,
    /// The scrapers' bearer token, when configured.
    scrape_token: Option<String>,
}

impl Auth {
    /// Builds the access control for a listener at `addr`. No users and no proxy on a
    /// non-loopback address is refused: camera names and locations are sensitive.
    pub fn new(settings: &AuthSettings, addr: SocketAddr) -> anyhow::Result<Self> {
        let mode = match settings.mode {
            AuthMode::Proxy => {
                anyhow::ensure!(
                    !settings.proxy.trusted.is_empty(),
                    "[auth] mode = \"proxy\" needs [auth.proxy] trusted = [proxy addresses]"
                );
                Effective::Proxy
            }
            AuthMode::Users if !settings.users.is_empty() => Effective::Users,
            AuthMode::Users if addr.ip().is_loopback() => {
                tracing::warn!(
                    %addr,
                    "NO LOGIN: no [[auth.users]] configured, so the page and /api are open to \
                     anyone who can reach {addr} (loopback only). Add users before listening \
                     on another address."
                );
                Effective::Open
            }
            AuthMode::Users => anyhow::bail!(
                "refusing to listen on {addr} without access control: camera names and \
                 locations would be open to the network. Add [[auth.users]] (passwords from \
                 `sharpeyes hash-password`) or [auth] mode = \"proxy\" to the config, or listen \
                 on 127.0.0.1"
            ),
        };
        if mode == Effective::Users && !settings.secure_cookie && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "logins on a network address without [auth] secure_cookie = true: put HTTPS in \
                 front (docs/operations.md, \"Security\") and set it, or session cookies and \
                 passwords cross the network in clear"
            );
        }
        let scrape_token = match &settings.scrape_token_file {
            None => None,
            Some(path) => {
                let token = std::fs::read_to_string(path)
                    .map_err(|e| {
                        anyhow::anyhow!("[auth] scrape_token_file {}: {e}", path.display())
                    })?
                    .trim()
                    .to_string();
                anyhow::ensure!(
                    token.len() >= 16,
                    "[auth] scrape_token_file {}: the token is shorter than 16 characters",
                    path.display()
                );
                Some(token)
            }
        };
        let mut users = HashMap::new();
        for u in &settings.users {
            super::password::check_phc(&u.password_hash)
                .map_err(|e| anyhow::anyhow!("[[auth.users]] {:?}: {e}", u.name))?;
            anyhow::ensure!(
                (u.role == Role::Maintainer)
                    == u.maintainer.as_deref().is_some_and(|m| !m.is_empty()),
                "[[auth.users]] {:?}: a maintainer user needs `maintainer = \"...\"` (the inventory's \
                 maintainer value), and only a maintainer user has one",
                u.name
            );
            anyhow::ensure!(
                users.insert(u.name.clone(), u.clone()).is_none(),
                "[[auth.users]] {:?} appears twice",
                u.name
            );
        }
        let trusted = settings
            .proxy
            .trusted
            .iter()
            .map(|t| IpNet::parse(t).map_err(|e| anyhow::anyhow!("[auth.proxy] trusted: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            mode,
            users,
            trusted,
            sessions: SessionStore::new(settings.session_ttl),
            guard: LoginGuard::with_limits(settings.max_failures, settings.failure_window),
            secret: random_token(),
            streams: Default::default(),
            metrics_open: match settings.metrics {
                Some(e) => e == Exposure::Open,
                None => addr.ip().is_loopback(),
            },
            scrape_token,
            settings: settings.clone(),
        })
    }

    /// The effective mode.
    pub fn mode(&self) -> Effective {
        self.mode
    }

    fn derived_csrf(&self, user: &str) -> String {
        let d = Sha256::digest(format!("{}\0csrf\0{user}", self.secret));
        d.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Who is asking, and the CSRF token their unsafe requests must carry.
    fn identify(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<(Actor, String)> {
        match self.mode {
            Effective::Open => Some((Actor::anonymous(), self.derived_csrf("anonymous"))),
            Effective::Users => {
                let id = cookie(headers, COOKIE)?;
                let s = self.sessions.get(&id)?;
                Some((s.actor, s.csrf))
            }
            Effective::Proxy => {
                let peer = peer?;
                if !self.trusted.iter().any(|n| n.contains(peer)) {
                    return None;
                }
                let p = &self.settings.proxy;
                let user = headers.get(p.user_header.as_str())?.to_str().ok()?.trim();
                if user.is_empty() {
                    return None;
                }
                let role = match p.role_header.as_deref().and_then(|h| headers.get(h)) {
                    Some(v) => match v.to_str().ok()?.trim().to_ascii_lowercase().as_str() {
                        "operator" => Role::Operator,
                        "viewer" => Role::Viewer,
                        _ => return None,
                    },
                    None => p.default_role,
                };
                let actor = Actor {
                    user: user.to_string(),
                    role,
                    maintainer: None,
                };
                let csrf = self.derived_csrf(user);
                Some((actor, csrf))
            }
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser request from another site (open mode has no session to bind a token to, so a
/// cross-site write is recognised by the headers browsers always send).
fn cross_site(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site")
    {
        return true;
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
        _ => false,
    }
}

/// Whether a `Host` header names this machine's loopback interface (`localhost`,
/// `127.0.0.1:9090`, `[::1]`), or is absent (HTTP/1.0 tools). In open mode nothing else is
/// served: a web page on another site that rebinds its DNS name to 127.0.0.1 (DNS rebinding)
/// sends its own host name, and is refused.
pub fn loopback_host(host: Option<&str>) -> bool {
    host.is_none_or(crate::netaddr::is_loopback_host)
}

/// The access-control middleware (see the module docs).
pub async fn layer(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if auth.mode == Effective::Open
        && !loopback_host(
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok()),
        )
    {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "this instance has no login and answers only to a loopback Host (localhost, 127.0.0.1)",
        );
    }
    let path = req.uri().path().to_string();
    let public = path.starts_with("/assets/")
        || path == "/favicon.ico"
        || path == "/api/login"
        || (auth.metrics_open && path == "/metrics")
        || (auth.settings.health == Exposure::Open && (path == "/healthz" || path == "/readyz"))
        || (matches!(path.as_str(), "/metrics" | "/healthz" | "/readyz")
            && auth.scraper(req.headers()));
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    req.extensions_mut().insert(Peer(peer));
    let who = auth.identify(req.headers(), peer);
    if public {
        if let Some((actor, _)) = who {
            req.extensions_mut().insert(actor);
        }
        return next.run(req).await;
    }
    let Some((actor, csrf)) = who else {
        let machine = path.starts_with("/api")
            || path == "/metrics"
            || path == "/healthz"
            || path == "/readyz";
        return if machine || req.method() != Method::GET {
            error(StatusCode::UNAUTHORIZED, "login required")
        } else {
            (
                StatusCode::OK,
                super::assets::HTML_HEADERS,
                [(header::CACHE_CONTROL, "no-store")],
                Html(super::assets::LOGIN_HTML),
            )
                .into_response()
        };
    };
    if is_unsafe(req.method()) && path.starts_with("/api/") {
        let token_ok = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| same_token(t, &csrf));
        // Open mode: scripts and tests on the machine itself post without a token; browsers
        // from other sites are refused.
        let csrf_ok = token_ok || (auth.mode == Effective::Open && !cross_site(req.headers()));
        // A maintainer changes one thing: it acknowledges its tickets (the handler checks
        // that they are its own).
        let maintainer_ack = actor.role == Role::Maintainer
            && path.starts_with("/api/tickets/")
            && path.ends_with("/ack");
        if path != "/api/logout" && actor.role != Role::Operator && !maintainer_ack {
            return error(StatusCode::FORBIDDEN, "operator role required");
        }
        if !csrf_ok {
            return error(StatusCode::FORBIDDEN, "missing or invalid CSRF token");
        }
    }
    if auth.mode == Effective::Users
        && let Some(id) = cookie(req.headers(), COOKIE)
    {
        req.extensions_mut().insert(SessionId(id));
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

/// `POST /api/login` body.
#[derive(Deserialize)]
pub struct LoginBody {
    user: String,
    password: String,
}

/// What `/api/login` and `/api/session` answer.
#[derive(Serialize)]
pub struct SessionInfo {
    /// Login name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The token for `X-CSRF-Token`.
    pub csrf: String,
    /// open, users or proxy.
    pub mode: Effective,
}

/// `POST /api/login`: checks the password, starts a session, sets the cookie.
pub async fn login(
    State(auth): State<Arc<Auth>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if auth.mode != Effective::Users {
        return error(
            StatusCode::NOT_FOUND,
            "this instance has no login (open or proxy mode)",
        );
    }
    if cross_site(&headers) {
        return error(StatusCode::FORBIDDEN, "cross-site login refused");
    }
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send JSON {\"user\": …, \"password\": …}",
        );
    };
    let client = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let attempt = match auth.guard.begin(&body.user, client, Instant::now()) {
        Ok(a) => a,
        Err(refusal) => return refused(refusal),
    };
    let entry = auth.users.get(&body.user).cloned();
    let hash = entry
        .as_ref()
        .map_or_else(|| auth.dummy_hash_or_default(), |u| u.password_hash.clone());
    let password = body.password;
    let ok = match auth
        .guard
        .verify(move || super::password::verify(&password, &hash))
        .await
    {
        Ok(ok) => ok && entry.is_some(),
        Err(refusal) => {
            // Not checked: neither a failure nor a success.
            auth.guard.finish_unchecked(attempt);
            return refused(refusal);
        }
    };
    auth.guard.finish(attempt, ok, Instant::now());
    let Some(user) = entry.filter(|_| ok) else {
        tracing::warn!(user = %body.user, %client, "failed login");
        return error(StatusCode::UNAUTHORIZED, "wrong user name or password");
    };
    let (id, s) = auth.sessions.create(Actor {
        user: user.name.clone(),
        role: user.role,
        maintainer: user.maintainer.clone(),
    });
    tracing::info!(user = %user.name, role = ?user.role, "login");
    let secure = if auth.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth.sessions.ttl().as_secs()
    );
    let mut r = Json(SessionInfo {
        user: s.actor.user,
        role: s.actor.role,
        csrf: s.csrf,
        mode: auth.mode,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The answer to a login the guard did not let run.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Throttled(secs) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; try again later",
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Refusal::Busy => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many logins are being checked; try again in a moment",
        ),
    }
}

/// The session a request came with (users mode), for streams that must end with it.
#[derive(Debug, Clone)]
pub struct SessionId(pub String);

/// Event streams (`/api/events`) open at most at once; beyond, 503.
pub const MAX_STREAMS: usize = 256;

/// One open event stream; dropping it frees its place.
pub struct StreamSlot(Arc<Auth>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0
            .streams
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Auth {
    /// Whether the request carries the scrapers' bearer token.
    fn scraper(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.scrape_token else {
            return false;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same_token(t.trim(), token))
    }

    /// Takes one of [`MAX_STREAMS`] stream places, if one is free.
    pub fn open_stream(self: &Arc<Self>) -> Option<StreamSlot> {
        use std::sync::atomic::Ordering::Relaxed;
        let taken = self.streams.fetch_add(1, Relaxed);
        if taken >= MAX_STREAMS {
            self.streams.fetch_sub(1, Relaxed);
            return None;
        }
        Some(StreamSlot(self.clone()))
    }

    /// Whether a stream opened with `session` may go on: always without sessions (open and
    /// proxy modes), else while the session exists (not logged out, not expired).
    pub fn session_alive(&self, session: Option<&SessionId>) -> bool {
        match (self.mode, session) {
            (Effective::Users, Some(s)) => self.sessions.get(&s.0).is_some(),
            (Effective::Users, None) => false,
            _ => true,
        }
    }

    /// A hash to verify against when the user is unknown (same time as a known user).
    fn dummy_hash_or_default(&self) -> String {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DUMMY
            .get_or_init(|| super::password::hash(&random_token()).unwrap_or_default())
            .clone()
    }
}

/// `POST /api/logout`: ends the session and clears the cookie.
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        auth.sessions.remove(&id);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "sharpeyes_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// `GET /api/session`: who is logged in, their role and CSRF token.
pub async fn session(
    State(auth): State<Arc<Auth>>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    match auth.identify(&headers, peer) {
        Some((actor, csrf)) => Json(SessionInfo {
            user: actor.user,
            role: actor.role,
            csrf,
            mode: auth.mode,
        })
        .into_response(),
        None => error(StatusCode::UNAUTHORIZED, "login required"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_users_is_open_only_on_loopback() {
        let s = AuthSettings::default();
        let open = Auth::new(&s, "127.0.0.1:9090".parse().unwrap()).unwrap();
        assert_eq!(open.mode(), Effective::Open);
        assert_eq!(
            Auth::new(&s, "[::1]:9090".parse().unwrap()).unwrap().mode(),
            Effective::Open
        );
        let err = Auth::new(&s, "0.0.0.0:9090".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("refusing to listen"), "{err}");
        let err = Auth::new(&s, "10.1.2.3:9090".parse().unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("[[auth.users]]"));
    }

    #[test]
    fn proxy_mode_needs_trusted_addresses() {
        let s = AuthSettings {
            mode: AuthMode::Proxy,
            ..Default::default()
        };
        assert!(Auth::new(&s, "0.0.0.0:9090".parse().unwrap()).is_err());
    }

    #[test]
    fn only_loopback_hosts_in_open_mode() {
        for ok in [
            None,
            Some("localhost"),
            Some("localhost:9090"),
            Some("127.0.0.1:9090"),
            Some("127.0.0.2"),
            Some("[::1]:9090"),
            Some("LOCALHOST"),
        ] {
            assert!(loopback_host(ok), "{ok:?}");
        }
        for bad in [
            Some("evil.example:9090"),
            Some("10.0.0.5:9090"),
            Some("localhost.evil.example"),
            Some("127.0.0.1.nip.io"),
            Some("[2001:db8::1]:9090"),
        ] {
            assert!(!loopback_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn cross_site_detection() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!cross_site(&h(&[])));
        assert!(!cross_site(&h(&[
            ("host", "a:1"),
            ("origin", "http://a:1")
        ])));
        assert!(cross_site(&h(&[("host", "a:1"), ("origin", "http://b:1")])));
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&h(&[("sec-fetch-site", "same-origin")])));
    }
}
