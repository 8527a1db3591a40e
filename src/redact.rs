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

/// The URL text with any user name and password removed, safe to log or show.
pub fn url_for_display(raw: &str) -> String {
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
    fn scrub_replaces_secrets() {
        let s = Secret::new("hunter2");
        assert_eq!(scrub("auth hunter2 failed", &[&s]), "auth *** failed");
    }
}
