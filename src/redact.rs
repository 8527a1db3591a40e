//! Keeping camera credentials out of everything that leaves the process.
//!
//! Credentials live beside the URL, never in it (the inventory refuses URLs that carry
//! them). [`Secret`] cannot be printed; [`url_for_display`] strips any user-info that slips in.

use std::fmt;

/// A password. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The password itself, for the one place that needs it (the RTSP client).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no password was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Names of URL parameters, inventory columns and labels whose values are credentials
/// (compared without case): `password=` in a query, Dahua's `…/user=admin_password=x_channel=1`,
/// a `pwd` column.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "apikey",
    "api_key",
    "密码",
];

/// Whether a column, label or parameter name names a credential.
pub fn is_secret_key(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    SECRET_KEYS.contains(&n.as_str())
}

/// Masks the value of every `key=value` whose key names a credential ([`is_secret_key`]): the
/// value runs to the next `&`, `_`, `;`, `/`, `?`, `#` or whitespace. The key must start the
/// text or follow one of those delimiters, so `compass=1` stays as it is.
pub fn mask_secret_params(text: &str) -> String {
    let is_delim =
        |c: char| matches!(c, '&' | '_' | ';' | '/' | '?' | '#' | ',') || c.is_whitespace();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_boundary = true;
    while !rest.is_empty() {
        if at_boundary && let Some(eq) = rest.find('=') {
            let key = &rest[..eq];
            if !key.is_empty() && !key.contains(is_delim) && is_secret_key(key) {
                out.push_str(key);
                out.push_str("=***");
                let value = &rest[eq + 1..];
                let end = value.find(is_delim).unwrap_or(value.len());
                rest = &value[end..];
                at_boundary = false;
                continue;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
        at_boundary = is_delim(c);
    }
    out
}

/// The URL text with any user name and password removed, safe to log or show: user-info is
/// dropped and credential parameters in the path or query are masked ([`mask_secret_params`]).
pub fn url_for_display(raw: &str) -> String {
    mask_secret_params(&strip_user_info(raw))
}

fn strip_user_info(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        // Unparsable: cut anything between "://" and the last '@' before the path.
        Err(_) => match (raw.find("://"), raw.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://***@{}", &raw[..s], &raw[at + 1..]),
            _ => raw.to_string(),
        },
    }
}

/// Replaces every occurrence of each non-empty secret in `text` with `***`.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.expose().len() >= 2 {
            out = out.replace(s.expose(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn url_user_info_removed() {
        assert_eq!(
            url_for_display("rtsp://admin:hunter2@10.0.0.1:554/Streaming/101"),
            "rtsp://10.0.0.1:554/Streaming/101"
        );
        assert_eq!(
            url_for_display("rtsp://admin:hun@ter2@bad host/x"),
            "rtsp://***@bad host/x"
        );
        assert_eq!(url_for_display("rtsp://10.0.0.1/x"), "rtsp://10.0.0.1/x");
    }

    #[test]
    fn credential_parameters_masked() {
        assert_eq!(
            url_for_display(
                "rtsp://10.0.0.1:554/user=admin_password=hunter2_channel=1_stream=0.sdp"
            ),
            "rtsp://10.0.0.1:554/user=admin_password=***_channel=1_stream=0.sdp"
        );
        assert_eq!(
            url_for_display("rtsp://10.0.0.1/live?user=a&password=hunter2&pwd=x2&ch=1"),
            "rtsp://10.0.0.1/live?user=a&password=***&pwd=***&ch=1"
        );
        assert_eq!(
            url_for_display("rtsp://10.0.0.1/live?PassWord=hunter2"),
            "rtsp://10.0.0.1/live?PassWord=***"
        );
        // Not a credential key, or not at a key boundary.
        assert_eq!(
            url_for_display("rtsp://10.0.0.1/x?compass=1&bypass=2"),
            "rtsp://10.0.0.1/x?compass=1&bypass=2"
        );
        assert!(is_secret_key("PWD") && is_secret_key("密码") && !is_secret_key("pole"));
    }

    #[test]
    fn scrub_replaces_secrets() {
        let s = Secret::new("hunter2");
        assert_eq!(scrub("auth hunter2 failed", &[&s]), "auth *** failed");
    }
}
