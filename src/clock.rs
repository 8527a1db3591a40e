//! Time as the daemon sees it: an injected clock so time-based behaviour is testable.
//!
//! Production code reads [`SystemClock`]; tests drive a [`ManualClock`] by hand. Pure
//! logic (the status machine, the online-rate maths) never reads a clock at all: it is
//! handed the time with every event.

use std::sync::Mutex;

/// A wall-clock instant in UTC. All persisted and reported times use this type.
pub type Time = chrono::DateTime<chrono::Utc>;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Time;
}

/// The real system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        chrono::Utc::now()
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Time>);

impl ManualClock {
    /// A clock frozen at `start`.
    pub fn new(start: Time) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: std::time::Duration) {
        let mut t = self.0.lock().unwrap();
        *t += chrono::Duration::from_std(d).expect("duration in range");
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: Time) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        *self.0.lock().unwrap()
    }
}

/// Parses an RFC 3339 timestamp; a convenience for tests and fixtures.
pub fn parse_time(s: &str) -> Time {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("valid RFC 3339 time")
        .with_timezone(&chrono::Utc)
}
