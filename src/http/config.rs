//! `[web]` and `[auth]` settings: the ops page and who may use it.
//!
//! ```toml
//! [web]
//! target = 0.98             # the online-rate and 完好率 target the page measures the gap to
//! report_days = 7           # days of trend on the rates view
//! header_timeout = "10s"    # a client must send a request's head within this
//! max_pending = 256         # connections waiting for a first request; the oldest is dropped
//! max_connections = 1024    # open HTTP connections in all
//!
//! [auth]
//! mode = "users"            # "users" (login form, [[auth.users]]) or "proxy" (trusted header)
//! session_ttl = "12h"       # a session ends this long after login, whatever happens
//! secure_cookie = false     # set true behind HTTPS: the cookie gets `Secure`
//! metrics = "open"          # /metrics: "open" or "login" (default: open on loopback only)
//! scrape_token_file = "/etc/sharpeyes/scrape-token"   # bearer token for Prometheus
//! health = "open"           # /healthz and /readyz: "open" or "login"
//! max_failures = 5          # failed logins per client address (see web::login_guard) …
//! failure_window = "5m"     # … within this window, then 429 until it passes
//! initial_admin = "admin"   # first operator; password generated in <data-dir>/initial-admin-password
//!
//! [[auth.users]]
//! name = "zhangwei"
//! role = "operator"         # or "viewer", or "maintainer" with maintainer = "华安运维"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"   # `sharpeyes hash-password`
//!
//! [auth.proxy]              # mode = "proxy"
//! user_header = "X-Forwarded-User"
//! role_header = "X-Forwarded-Role"   # optional; its value "operator" or "viewer"
//! default_role = "viewer"
//! trusted = ["127.0.0.1", "10.1.2.0/24"]   # only requests from these addresses are believed
//! ```

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::duration::duration;
use crate::http::actor::Role;

/// `[web]`: the ops page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Online-rate and 完好率 target, a fraction (0.98).
    pub target: f64,
    /// Days of trend the rates view shows.
    pub report_days: u32,
    /// Time a client has to send a request's head (`crate::http::serve`).
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Connections waiting for their first request; beyond, the oldest is dropped.
    pub max_pending: usize,
    /// Open HTTP connections in all; beyond, new ones are closed at once.
    pub max_connections: usize,
}

impl WebSettings {
    /// The listener's limits.
    pub fn limits(&self) -> super::serve::Limits {
        super::serve::Limits {
            header_timeout: self.header_timeout,
            max_pending: self.max_pending.max(1),
            max_connections: self.max_connections.max(2),
        }
    }
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            target: crate::health::availability::DEFAULT_TARGET,
            report_days: 7,
            header_timeout: Duration::from_secs(10),
            max_pending: 256,
            max_connections: 1024,
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Users in the config log in with a password.
    #[default]
    Users,
    /// A reverse proxy in front authenticates and names the user in a header.
    Proxy,
}

/// Whether an endpoint needs a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Served to anyone who reaches the listener.
    #[default]
    Open,
    /// Needs a session (or a trusted proxy header), like `/api`.
    Login,
}

/// One user of the page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// Argon2 PHC string (`sharpeyes hash-password`).
    pub password_hash: String,
    /// For `role = "maintainer"`: the maintainer (运维单位, as in the inventory) whose tickets
    /// this user sees and acknowledges.
    #[serde(default)]
    pub maintainer: Option<String>,
}

/// `[auth.proxy]`: trusted reverse-proxy headers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Header naming the authenticated user.
    pub user_header: String,
    /// Optional header carrying the role (`operator` or `viewer`).
    pub role_header: Option<String>,
    /// Role when there is no role header.
    pub default_role: Role,
    /// Proxy addresses (IPs or CIDR blocks) whose headers are believed.
    pub trusted: Vec<String>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            user_header: "X-Forwarded-User".into(),
            role_header: None,
            default_role: Role::Viewer,
            trusted: Vec::new(),
        }
    }
}

/// `[auth]`: access control for the page, `/api`, `/metrics` and health checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Users or proxy.
    pub mode: AuthMode,
    /// Users (mode `users`).
    pub users: Vec<UserEntry>,
    /// Proxy headers (mode `proxy`).
    pub proxy: ProxySettings,
    /// Absolute session lifetime.
    #[serde(deserialize_with = "duration")]
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (HTTPS in front).
    pub secure_cookie: bool,
    /// `/metrics` open or behind login; unset: open on a loopback listener, login on any
    /// other (which cameras are blind now is not for everyone on the network).
    pub metrics: Option<Exposure>,
    /// A file holding a bearer token that scrapers send (`Authorization: Bearer …`, Prometheus'
    /// `authorization.credentials_file`) to read `/metrics` and the health checks without a
    /// session.
    pub scrape_token_file: Option<std::path::PathBuf>,
    /// `/healthz` and `/readyz` open or behind login.
    pub health: Exposure,
    /// Failed logins allowed per client address within `failure_window`, and the number of
    /// failing addresses that locks a user name ([`super::login_guard`]).
    pub max_failures: u32,
    /// The window failed logins are counted in.
    #[serde(deserialize_with = "duration")]
    pub failure_window: Duration,
    /// First operator of a fresh deployment, with a generated password in
    /// `<data-dir>/initial-admin-password` (see [`super::first_login`]).
    pub initial_admin: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Users,
            users: Vec::new(),
            proxy: ProxySettings::default(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            metrics: None,
            scrape_token_file: None,
            health: Exposure::Open,
            max_failures: 5,
            failure_window: Duration::from_secs(300),
            initial_admin: None,
        }
    }
}

/// An IP address or a CIDR block (`10.1.2.0/24`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d`, `a.b.c.d/n` or the IPv6 forms.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` lies in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let n = IpNet::parse("10.1.2.0/24").unwrap();
        assert!(n.contains("10.1.2.77".parse().unwrap()));
        assert!(!n.contains("10.1.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.2.9".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("host").is_err());
    }

    #[test]
    fn auth_section_parses() {
        let s = crate::settings::Settings::parse(
            "[auth]\nsession_ttl = \"2s\"\nmetrics = \"login\"\n[[auth.users]]\nname = \"a\"\n\
             role = \"operator\"\npassword_hash = \"x\"\n[web]\ntarget = 0.95\n",
        )
        .unwrap();
        assert_eq!(s.auth.session_ttl, Duration::from_secs(2));
        assert_eq!(s.auth.metrics, Some(Exposure::Login));
        assert_eq!(s.auth.users[0].role, Role::Operator);
        assert_eq!(s.web.target, 0.95);
    }
}
