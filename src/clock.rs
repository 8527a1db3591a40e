//! Time as the daemon sees it: an injected clock so time-based behaviour is testable.
//!
//! Two readings, as Moonfire NVR keeps them apart:
//! - [`Clock::now`], the **wall** clock (UTC), dates things: transitions, intervals in the
//!   ledger, alert times. NTP may step it forwards or backwards at any moment.
//! - [`Clock::monotonic`] **measures** durations: stall timeouts, recovery holds, throttles. It
//!   never jumps, so an NTP step of a minute neither marks a fleet stalled nor writes a
//!   fleet-wide outage into the ledger the online rate is assessed on.
//!
//! A [`Stamp`] carries both for one moment. Production code reads [`SystemClock`]; tests drive
//! a [`ManualClock`] by hand (and can step its wall clock alone). Pure logic (the status
//! machine, the online-rate maths) never reads a clock at all: it is handed stamps.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A wall-clock instant in UTC. All persisted and reported times use this type.
pub type Time = chrono::DateTime<chrono::Utc>;

/// +08:00, China Standard Time: the assessment day is the Beijing day.
pub fn china() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A monotonic reading: time since the clock's origin (process start for [`SystemClock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mono(pub Duration);

impl Mono {
    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Mono) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// This reading plus `d`.
    pub fn after(self, d: Duration) -> Mono {
        Mono(self.0.saturating_add(d))
    }

    /// Whole milliseconds since the origin.
    pub fn as_millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

/// One moment on both clocks: `wall` to date it, `mono` to measure from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock time.
    pub wall: Time,
    /// Monotonic time.
    pub mono: Mono,
}

impl Stamp {
    /// Time from `earlier` to `self`, measured on the monotonic clock.
    pub fn since(&self, earlier: &Stamp) -> Duration {
        self.mono.since(earlier.mono)
    }
}

/// What [`Clock::sleep`] returns.
pub type Sleep = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A source of the current time.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Time;

    /// The current monotonic time.
    fn monotonic(&self) -> Mono;

    /// Waits `d`. The default is the tokio runtime's timer, which a test pauses and advances
    /// (`tokio::time::pause`); a test clock whose readings follow that timer (see
    /// `tests/supervisor_clock.rs`) is then one simulated clock for readings and sleeps.
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }

    /// Both readings of this moment.
    fn stamp(&self) -> Stamp {
        Stamp {
            wall: self.now(),
            mono: self.monotonic(),
        }
    }
}

/// The real system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        chrono::Utc::now()
    }

    fn monotonic(&self) -> Mono {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        Mono(ORIGIN.get_or_init(Instant::now).elapsed())
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<(Time, Duration)>);

impl ManualClock {
    /// A clock frozen at `start` (monotonic time zero).
    pub fn new(start: Time) -> Self {
        Self(Mutex::new((start, Duration::ZERO)))
    }

    /// Lets `d` pass: both clocks move forward.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        t.0 += chrono::Duration::from_std(d).expect("duration in range");
        t.1 += d;
    }

    /// Sets the wall clock to `t`, as an NTP step does; the monotonic clock does not move.
    pub fn set(&self, t: Time) {
        self.0.lock().unwrap().0 = t;
    }

    /// Steps the wall clock by `secs` (negative: backwards), as NTP does.
    pub fn step_wall(&self, secs: i64) {
        self.0.lock().unwrap().0 += chrono::Duration::seconds(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        self.0.lock().unwrap().0
    }

    fn monotonic(&self) -> Mono {
        Mono(self.0.lock().unwrap().1)
    }
}

/// Parses an RFC 3339 timestamp; a convenience for tests and fixtures.
pub fn parse_time(s: &str) -> Time {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("valid RFC 3339 time")
        .with_timezone(&chrono::Utc)
}
