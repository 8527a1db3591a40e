//! What stands between a login form and a password guesser, without locking out the operator.
//!
//! Design (stated, as Prometheus' and mosquitto's docs state theirs):
//! - **Per client address**: at most `max_failures` failed logins within `failure_window`,
//!   attempts *in flight* included — an attempt is counted before its password is checked, so
//!   150 parallel bad logins from one address run `max_failures` Argon2 verifications, not 150.
//!   A success clears the address.
//! - **Per user name, only against many clients**: a name is locked only when failures for it
//!   come from at least `max_failures` *different* addresses within the window (a distributed
//!   guess), and even then never for an address that logged in successfully as that user
//!   before (kept in memory for 30 days). So nobody can lock an operator out by typing their
//!   name wrong five times, and the operator's own workstation is never locked out.
//! - **Argon2 is bounded**: each verification allocates 19 MiB; at most `slots` run at once
//!   (one per core, at most 4) and at most `queue` wait; beyond, the answer is 503 at once.
//!
//! Limitation: behind a reverse proxy every client has the proxy's address. Use `[auth] mode =
//! "proxy"` there (the proxy authenticates), or expect the per-address limit to be shared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// How long a successful (user, address) pair is remembered.
const KNOWN_GOOD: Duration = Duration::from_secs(30 * 86_400);

/// Why a login attempt may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures: retry after this many seconds (429).
    Throttled(u64),
    /// Too many verifications running and waiting (503).
    Busy,
}

#[derive(Default)]
struct State {
    /// Per address: failure times and attempts in flight.
    clients: HashMap<IpAddr, (Vec<Instant>, u32)>,
    /// Per user name: failure times and the address each came from.
    users: HashMap<String, Vec<(Instant, IpAddr)>>,
    /// (user, address) pairs that logged in, and when.
    good: HashMap<(String, IpAddr), Instant>,
}

/// Login throttling and the Argon2 bound (see the module docs).
pub struct LoginGuard {
    max: u32,
    window: Duration,
    state: Mutex<State>,
    slots: Semaphore,
    queue: usize,
    waiting: AtomicUsize,
}

/// An admitted attempt: report its outcome with [`LoginGuard::finish`].
#[must_use]
pub struct Attempt {
    ip: IpAddr,
    user: String,
}

impl LoginGuard {
    /// `max` failures per `window`; `slots` concurrent verifications, `queue` waiting.
    pub fn new(max: u32, window: Duration, slots: usize, queue: usize) -> Self {
        Self {
            max,
            window,
            state: Mutex::new(State::default()),
            slots: Semaphore::new(slots.max(1)),
            queue,
            waiting: AtomicUsize::new(0),
        }
    }

    /// One verification slot per core, at most 4; 64 may wait.
    pub fn with_limits(max: u32, window: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(max, window, cores.min(4), 64)
    }

    /// Admits an attempt by `user` from `ip` at `now`, counting it in flight, or refuses it.
    pub fn begin(&self, user: &str, ip: IpAddr, now: Instant) -> Result<Attempt, Refusal> {
        let mut st = self.state.lock().expect("login guard lock");
        let window = self.window;
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < window;
        if st.clients.len() + st.users.len() > 100_000 {
            st.clients.retain(|_, (v, n)| *n > 0 || v.iter().any(fresh));
            st.users.retain(|_, v| v.iter().any(|(t, _)| fresh(t)));
            st.good
                .retain(|_, t| now.saturating_duration_since(*t) < KNOWN_GOOD);
        }
        if self.max > 0 {
            let (fails, in_flight) = st.clients.entry(ip).or_default();
            fails.retain(fresh);
            if fails.len() + *in_flight as usize >= self.max as usize {
                let wait = fails.first().map_or(1, |t| {
                    (window - now.saturating_duration_since(*t)).as_secs()
                });
                return Err(Refusal::Throttled(wait.max(1)));
            }
            let known = st
                .good
                .get(&(user.to_string(), ip))
                .is_some_and(|t| now.saturating_duration_since(*t) < KNOWN_GOOD);
            if !known && let Some(v) = st.users.get_mut(user) {
                v.retain(|(t, _)| fresh(t));
                let mut clients: Vec<IpAddr> = v.iter().map(|(_, a)| *a).collect();
                clients.sort();
                clients.dedup();
                if clients.len() >= self.max as usize {
                    let wait = v.first().map_or(1, |(t, _)| {
                        (window - now.saturating_duration_since(*t)).as_secs()
                    });
                    return Err(Refusal::Throttled(wait.max(1)));
                }
            }
        }
        st.clients.entry(ip).or_default().1 += 1;
        Ok(Attempt {
            ip,
            user: user.to_string(),
        })
    }

    /// Records the outcome of an admitted attempt.
    pub fn finish(&self, attempt: Attempt, ok: bool, now: Instant) {
        let mut st = self.state.lock().expect("login guard lock");
        let entry = st.clients.entry(attempt.ip).or_default();
        entry.1 = entry.1.saturating_sub(1);
        if ok {
            // The address is cleared; the name's failures from other addresses are not: the
            // operator's own login must not lift a lock that holds off a distributed guess.
            entry.0.clear();
            st.good.insert((attempt.user, attempt.ip), now);
        } else {
            entry.0.push(now);
            st.users
                .entry(attempt.user)
                .or_default()
                .push((now, attempt.ip));
        }
    }

    /// Forgets an admitted attempt that was never checked (the verifier was busy).
    pub fn finish_unchecked(&self, attempt: Attempt) {
        let mut st = self.state.lock().expect("login guard lock");
        let entry = st.clients.entry(attempt.ip).or_default();
        entry.1 = entry.1.saturating_sub(1);
    }

    /// Runs `verify` (an Argon2 check) on a blocking thread within the verification bound.
    pub async fn verify(
        &self,
        verify: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<bool, Refusal> {
        if self.waiting.fetch_add(1, Relaxed) >= self.queue + self.slots.available_permits() {
            self.waiting.fetch_sub(1, Relaxed);
            return Err(Refusal::Busy);
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Relaxed);
        let _permit = permit.map_err(|_| Refusal::Busy)?;
        Ok(tokio::task::spawn_blocking(verify).await.unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn parallel_attempts_from_one_address_count_before_they_finish() {
        let g = LoginGuard::new(3, Duration::from_secs(60), 2, 8);
        let now = Instant::now();
        let admitted: Vec<Attempt> = (0..10)
            .filter_map(|_| g.begin("zhang", ip(1), now).ok())
            .collect();
        assert_eq!(admitted.len(), 3, "in-flight attempts count");
        for a in admitted {
            g.finish(a, false, now);
        }
        assert!(matches!(
            g.begin("zhang", ip(1), now),
            Err(Refusal::Throttled(_))
        ));
        // The window passes.
        assert!(
            g.begin("zhang", ip(1), now + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn one_client_cannot_lock_out_a_user_but_many_can_except_known_ones() {
        let g = LoginGuard::new(3, Duration::from_secs(60), 2, 8);
        let now = Instant::now();
        // The operator logs in once from the office.
        let a = g.begin("zhang", ip(9), now).unwrap();
        g.finish(a, true, now);
        // One attacker types the name wrong until throttled: the user is not locked.
        while let Ok(a) = g.begin("zhang", ip(1), now) {
            g.finish(a, false, now);
        }
        assert!(g.begin("zhang", ip(2), now).is_ok_and(|a| {
            g.finish(a, false, now);
            true
        }));
        // A third address: now failures come from three clients: the name is locked …
        let a = g.begin("zhang", ip(3), now).unwrap();
        g.finish(a, false, now);
        assert!(matches!(
            g.begin("zhang", ip(4), now),
            Err(Refusal::Throttled(_))
        ));
        // … except for the office, which logged in as zhang before.
        let a = g.begin("zhang", ip(9), now).expect("known client");
        g.finish(a, true, now);
        // Other users are untouched.
        assert!(g.begin("li", ip(4), now).is_ok());
    }

    #[tokio::test]
    async fn verifications_are_bounded() {
        let g = std::sync::Arc::new(LoginGuard::new(100, Duration::from_secs(60), 1, 2));
        let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
        let running = {
            let (g, gate) = (g.clone(), gate.clone());
            tokio::spawn(async move {
                g.verify(move || {
                    gate.wait();
                    true
                })
                .await
            })
        };
        // Let the first take the slot.
        while g.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.verify(|| false).await })
            })
            .collect();
        while g.waiting.load(Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(g.verify(|| true).await, Err(Refusal::Busy));
        gate.wait();
        assert_eq!(running.await.unwrap(), Ok(true));
        for q in queued {
            assert_eq!(q.await.unwrap(), Ok(false));
        }
    }
}
