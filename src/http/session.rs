//! Server-side sessions: random 256-bit ids, a per-session CSRF token, absolute expiry.
//!
//! Sessions live in memory: a restart logs everyone out (the page shows the login form again),
//! which is the safe failure and avoids storing bearer secrets on disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::http::actor::Actor;

/// The session cookie's name.
pub const COOKIE: &str = "sharpeyes_session";

/// 32 random bytes from the OS, hex: a session id or CSRF token.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub actor: Actor,
    /// The token unsafe requests must carry in `X-CSRF-Token`.
    pub csrf: String,
    /// When it ends.
    pub expires: Instant,
}

/// The session table.
#[derive(Debug)]
pub struct SessionStore {
    ttl: Duration,
    sessions: Mutex<HashMap<String, Session>>,
}

impl SessionStore {
    /// An empty store whose sessions last `ttl` from login.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The session lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Starts a session for `actor`; returns its id and the session. Expired sessions are
    /// dropped on the way.
    pub fn create(&self, actor: Actor) -> (String, Session) {
        let now = Instant::now();
        let id = random_token();
        let s = Session {
            actor,
            csrf: random_token(),
            expires: now + self.ttl,
        };
        let mut map = self.sessions.lock().unwrap();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), s.clone());
        (id, s)
    }

    /// The live session with this id (an expired one is removed and not returned).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.sessions.lock().unwrap();
        let s = map.get(id)?;
        if s.expires <= Instant::now() {
            map.remove(id);
            return None;
        }
        Some(s.clone())
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) -> bool {
        self.sessions.lock().unwrap().remove(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::actor::Role;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &random_token()));
        assert!(!same_token(&a, "short"));
    }

    #[test]
    fn sessions_expire() {
        let st = SessionStore::new(Duration::from_millis(50));
        let (id, s) = st.create(Actor {
            user: "u".into(),
            role: Role::Viewer,
            maintainer: None,
        });
        assert_eq!(st.get(&id).unwrap().csrf, s.csrf);
        std::thread::sleep(Duration::from_millis(80));
        assert!(st.get(&id).is_none());
    }
}
