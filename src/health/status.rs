//! The camera status machine: `connecting`, `online`, `offline` with a reason.
//!
//! Pure: it owns no sockets and reads no clock. The network code feeds it [`Event`]s with
//! the time they happened; it answers with at most one [`Transition`].
//!
//! ## Rules
//! - A camera starts `connecting`. It goes `online` at its first video frame.
//! - **Down is reported at once**: a session error, or no media for the stall timeout
//!   (`stalled`), takes an `online` or `connecting` camera `offline` with a [`Reason`].
//! - **Up needs proof (hysteresis)**: an `offline` camera in hold mode goes back `online` only
//!   after media has flowed without a gap of a stall timeout and without a session error for
//!   `recovery_hold`. The transition is dated at the first frame of that run, so time-weighted
//!   availability is not understated. A camera that flaps faster than `recovery_hold` therefore
//!   produces one `offline` transition, not one pair per flap.
//! - In patrol mode a completed probe (a keyframe seen) is the proof: it goes `online` at once;
//!   probes run every round, which already bounds how often a camera can flap.
//! - While `offline`, a new failure updates the reason and detail shown live, but it is not a
//!   transition: the outage keeps the reason it started with in the history.
//! - A stall is dated at the last frame (or the session start when none came): the picture
//!   stopped then, even though it takes the stall timeout to be sure.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Stamp, Time};

/// The coarse state of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not yet known: the first session attempt is under way.
    Connecting,
    /// Video frames arrive.
    Online,
    /// No usable video; see the [`Reason`].
    Offline,
}

impl State {
    /// The name used in the API, metrics and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Online => "online",
            State::Offline => "offline",
        }
    }

    /// Parses the name written by [`State::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [State::Connecting, State::Online, State::Offline]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why a camera is offline: a fixed vocabulary, so dashboards and alerts can group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// TCP connection refused: nothing listens on the port (device down, service stopped).
    Refused,
    /// Timeout or no route: the device does not answer at all.
    Unreachable,
    /// 401/403: wrong or missing credentials.
    Auth,
    /// 404: the stream path does not exist on the device.
    NotFound,
    /// The session came up but offers no usable video track.
    NoVideo,
    /// The session is up but no media arrived for the stall timeout.
    Stalled,
    /// Anything else (RTSP or RTP protocol errors, unexpected answers), with the message.
    Protocol,
}

impl Reason {
    /// Every reason, in a stable order (for metrics and reports).
    pub const ALL: [Reason; 7] = [
        Reason::Refused,
        Reason::Unreachable,
        Reason::Auth,
        Reason::NotFound,
        Reason::NoVideo,
        Reason::Stalled,
        Reason::Protocol,
    ];

    /// The name used in the API, metrics and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Refused => "refused",
            Reason::Unreachable => "unreachable",
            Reason::Auth => "auth",
            Reason::NotFound => "not_found",
            Reason::NoVideo => "no_video",
            Reason::Stalled => "stalled",
            Reason::Protocol => "protocol",
        }
    }

    /// Parses the name written by [`Reason::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::config::inventory::Mode;

/// Timing rules of the machine.
#[derive(Debug, Clone, Copy)]
pub struct StatusConfig {
    /// No media for this long on an open session means `stalled`.
    pub stall_timeout: Duration,
    /// Media must flow this long before an `offline` camera is `online` again.
    pub recovery_hold: Duration,
    /// Hold or patrol.
    pub mode: Mode,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(10),
            recovery_hold: Duration::from_secs(10),
            mode: Mode::Hold,
        }
    }
}

/// Something that happened to a camera's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session is up (PLAY answered); media is now expected within the stall timeout.
    SessionStarted,
    /// A video frame arrived.
    Media,
    /// A patrol probe saw a keyframe and tore the session down.
    ProbeOk,
    /// The attempt or the session failed.
    Failed {
        /// Classified cause.
        reason: Reason,
        /// Human-readable message (already free of credentials).
        detail: String,
    },
    /// Time passed; lets the machine notice a stall.
    Tick,
}

/// A change of state, as stored in the history and counted in metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When the new state began (see the dating rules in the module docs).
    pub at: Time,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, when `to` is `offline`.
    pub reason: Option<Reason>,
    /// The message behind the reason, when there is one.
    pub detail: Option<String>,
}

/// A camera's status as shown live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Current state.
    pub state: State,
    /// Latest failure reason while offline.
    pub reason: Option<Reason>,
    /// Latest failure message while offline.
    pub detail: Option<String>,
    /// When the current state began.
    pub since: Time,
}

/// The per-camera status machine. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct StatusMachine {
    cfg: StatusConfig,
    status: Status,
    /// When the open session started; `None` when no session is open.
    session_started: Option<Stamp>,
    /// The last frame of the open session.
    last_media: Option<Stamp>,
    /// While offline: the first frame of the current unbroken run of media.
    recovering_since: Option<Stamp>,
}

impl StatusMachine {
    /// A machine for a camera first seen at `now`, in state `connecting`.
    pub fn new(cfg: StatusConfig, now: Time) -> Self {
        Self {
            cfg,
            status: Status {
                state: State::Connecting,
                reason: None,
                detail: None,
                since: now,
            },
            session_started: None,
            last_media: None,
            recovering_since: None,
        }
    }

    /// The live status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The timing rules in force.
    pub fn config(&self) -> &StatusConfig {
        &self.cfg
    }

    /// Feeds one event that happened at `at`; returns the transition it caused, if any.
    /// Durations (stall, recovery hold) are measured on `at.mono`; transitions are dated with
    /// `at.wall`.
    pub fn handle(&mut self, at: Stamp, event: Event) -> Option<Transition> {
        match event {
            Event::SessionStarted => {
                self.session_started = Some(at);
                self.last_media = None;
                self.recovering_since = None;
                None
            }
            Event::Media => self.on_media(at),
            Event::ProbeOk => {
                self.session_started = None;
                self.last_media = Some(at);
                self.recovering_since = None;
                self.go(at.wall, State::Online, None, None)
            }
            Event::Failed { reason, detail } => {
                // A stall began at the last frame (or the session start), whoever noticed it:
                // the supervisor's own timer or a tick.
                let began = match reason {
                    Reason::Stalled => self
                        .last_media
                        .or(self.session_started)
                        .map_or(at.wall, |s| s.wall),
                    _ => at.wall,
                };
                self.session_started = None;
                self.last_media = None;
                self.recovering_since = None;
                self.fail(began, reason, detail)
            }
            Event::Tick => self.on_tick(at),
        }
    }

    fn on_media(&mut self, at: Stamp) -> Option<Transition> {
        if self.session_started.is_none() {
            // Media without a reported session start (e.g. a lost event): treat the frame as
            // the start so the stall timer still runs.
            self.session_started = Some(at);
        }
        self.last_media = Some(at);
        match self.status.state {
            State::Online => None,
            State::Connecting => self.go(at.wall, State::Online, None, None),
            State::Offline => {
                let first = *self.recovering_since.get_or_insert(at);
                if at.since(&first) >= self.cfg.recovery_hold {
                    self.recovering_since = None;
                    // Dated at the proving run's first frame, never before the outage began
                    // (a backward wall step in between).
                    let from = first.wall.max(self.status.since);
                    self.go(from, State::Online, None, None)
                } else {
                    None
                }
            }
        }
    }

    fn on_tick(&mut self, at: Stamp) -> Option<Transition> {
        if self.cfg.mode != Mode::Hold {
            return None;
        }
        let started = self.session_started?;
        let last = self.last_media.unwrap_or(started);
        if at.since(&last) < self.cfg.stall_timeout {
            return None;
        }
        let detail = match self.last_media {
            Some(_) => format!("no media for {} s", self.cfg.stall_timeout.as_secs_f64()),
            None => "no media since the session started".to_string(),
        };
        self.session_started = None;
        self.last_media = None;
        self.recovering_since = None;
        self.fail(last.wall, Reason::Stalled, detail)
    }

    fn fail(&mut self, at: Time, reason: Reason, detail: String) -> Option<Transition> {
        match self.status.state {
            State::Offline => {
                self.status.reason = Some(reason);
                self.status.detail = Some(detail);
                None
            }
            State::Online | State::Connecting => {
                // Never date an outage before the state it ends began.
                let at = at.max(self.status.since);
                self.go(at, State::Offline, Some(reason), Some(detail))
            }
        }
    }

    fn go(
        &mut self,
        at: Time,
        to: State,
        reason: Option<Reason>,
        detail: Option<String>,
    ) -> Option<Transition> {
        let from = self.status.state;
        if from == to {
            return None;
        }
        self.status = Status {
            state: to,
            reason,
            detail: detail.clone(),
            since: at,
        };
        Some(Transition {
            at,
            from,
            to,
            reason,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock, parse_time};

    const STALL: Duration = Duration::from_secs(10);
    const HOLD: Duration = Duration::from_secs(5);

    fn cfg(mode: Mode) -> StatusConfig {
        StatusConfig {
            stall_timeout: STALL,
            recovery_hold: HOLD,
            mode,
        }
    }

    /// A machine on a manual clock.
    struct Rig {
        clock: ManualClock,
        m: StatusMachine,
    }

    impl Rig {
        fn new(mode: Mode) -> Self {
            let clock = ManualClock::new(parse_time("2026-11-23T08:00:00+08:00"));
            let m = StatusMachine::new(cfg(mode), clock.now());
            Self { clock, m }
        }
        /// An event `secs` after the start on both clocks.
        fn at(&mut self, secs: f64, e: Event) -> Option<Transition> {
            let stamp = Stamp {
                wall: self.t(secs),
                mono: crate::clock::Mono(Duration::from_secs_f64(secs)),
            };
            self.clock.set(stamp.wall);
            self.m.handle(stamp, e)
        }
        fn t(&self, secs: f64) -> Time {
            parse_time("2026-11-23T08:00:00+08:00")
                + chrono::Duration::milliseconds((secs * 1000.0) as i64)
        }
        fn state(&self) -> (State, Option<Reason>) {
            (self.m.status().state, self.m.status().reason)
        }
    }

    fn fail(r: Reason) -> Event {
        Event::Failed {
            reason: r,
            detail: format!("{r}"),
        }
    }

    #[test]
    fn first_frame_brings_a_camera_online() {
        let mut r = Rig::new(Mode::Hold);
        assert_eq!(r.state(), (State::Connecting, None));
        assert_eq!(r.at(0.1, Event::SessionStarted), None);
        let t = r.at(0.3, Event::Media).unwrap();
        assert_eq!(
            (t.from, t.to, t.at),
            (State::Connecting, State::Online, r.t(0.3))
        );
        assert_eq!(r.at(0.4, Event::Media), None);
    }

    #[test]
    fn every_reason_takes_a_camera_offline_at_once() {
        for reason in Reason::ALL {
            for warm in [false, true] {
                let mut r = Rig::new(Mode::Hold);
                if warm {
                    r.at(0.0, Event::SessionStarted);
                    r.at(0.1, Event::Media);
                }
                let t = r.at(1.0, fail(reason)).unwrap();
                // A stall is dated where it began, at the last frame, whether the supervisor's
                // timer or a tick noticed it; every other failure when it happened.
                let when = if reason == Reason::Stalled && warm {
                    r.t(0.1)
                } else {
                    r.t(1.0)
                };
                assert_eq!((t.to, t.reason, t.at), (State::Offline, Some(reason), when));
                assert_eq!(t.detail.as_deref(), Some(reason.as_str()));
                assert_eq!(r.state(), (State::Offline, Some(reason)));
            }
        }
    }

    #[test]
    fn no_media_for_the_stall_timeout_is_stalled_dated_at_the_last_frame() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, Event::SessionStarted);
        r.at(1.0, Event::Media);
        r.at(2.0, Event::Media);
        assert_eq!(r.at(11.99, Event::Tick), None);
        let t = r.at(12.0, Event::Tick).unwrap();
        assert_eq!(
            (t.to, t.reason, t.at),
            (State::Offline, Some(Reason::Stalled), r.t(2.0))
        );
        // The session's own timeout reports the same stall later: no second transition.
        assert_eq!(r.at(12.1, fail(Reason::Stalled)), None);
    }

    #[test]
    fn a_session_that_never_sends_media_stalls_from_its_start() {
        let mut r = Rig::new(Mode::Hold);
        r.at(3.0, Event::SessionStarted);
        assert_eq!(r.at(12.9, Event::Tick), None);
        let t = r.at(13.0, Event::Tick).unwrap();
        assert_eq!(
            (t.from, t.to, t.at),
            (State::Connecting, State::Offline, r.t(3.0))
        );
        assert_eq!(
            t.detail.as_deref(),
            Some("no media since the session started")
        );
    }

    #[test]
    fn ticks_without_a_session_do_nothing() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, fail(Reason::Refused));
        for s in 1..100 {
            assert_eq!(r.at(s as f64, Event::Tick), None);
        }
        assert_eq!(r.state(), (State::Offline, Some(Reason::Refused)));
    }

    #[test]
    fn recovery_needs_media_for_the_hold_and_is_dated_at_its_first_frame() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, fail(Reason::Refused));
        r.at(10.0, Event::SessionStarted);
        assert_eq!(r.at(10.5, Event::Media), None);
        assert_eq!(r.at(14.0, Event::Media), None);
        let t = r.at(15.5, Event::Media).unwrap();
        assert_eq!(
            (t.from, t.to, t.at),
            (State::Offline, State::Online, r.t(10.5))
        );
        assert_eq!(r.m.status().since, r.t(10.5));
    }

    #[test]
    fn a_gap_in_media_restarts_the_recovery_hold() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, fail(Reason::Unreachable));
        r.at(1.0, Event::SessionStarted);
        r.at(1.0, Event::Media);
        // Media stops for the stall timeout: still offline, run forgotten.
        assert_eq!(r.at(11.0, Event::Tick), None);
        r.at(12.0, Event::SessionStarted);
        assert_eq!(r.at(12.0, Event::Media), None);
        assert_eq!(r.at(16.9, Event::Media), None);
        let t = r.at(17.0, Event::Media).unwrap();
        assert_eq!(t.at, r.t(12.0));
    }

    #[test]
    fn a_flapping_camera_makes_one_transition_not_one_per_flap() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, Event::SessionStarted);
        let mut transitions = vec![r.at(0.1, Event::Media).unwrap()];
        // Up 2 s, down: 50 times.
        for i in 0..50 {
            let base = 1.0 + i as f64 * 3.0;
            transitions.extend(r.at(base, Event::SessionStarted));
            transitions.extend(r.at(base + 0.1, Event::Media));
            transitions.extend(r.at(base + 2.0, Event::Media));
            transitions.extend(r.at(base + 2.5, fail(Reason::Protocol)));
            transitions.extend(r.at(base + 2.9, Event::Tick));
        }
        let states: Vec<_> = transitions.iter().map(|t| t.to).collect();
        assert_eq!(states, [State::Online, State::Offline]);
    }

    #[test]
    fn failures_while_offline_update_the_reason_without_a_transition() {
        let mut r = Rig::new(Mode::Hold);
        r.at(0.0, fail(Reason::Stalled));
        assert_eq!(r.at(5.0, fail(Reason::Refused)), None);
        assert_eq!(r.state(), (State::Offline, Some(Reason::Refused)));
        assert_eq!(r.m.status().since, r.t(0.0));
    }

    #[test]
    fn wall_clock_steps_while_media_flows_change_nothing() {
        let start = parse_time("2026-11-23T08:00:00+08:00");
        let mut m = StatusMachine::new(cfg(Mode::Hold), start);
        // Frames every 200 ms for 60 s; the wall clock steps +60 s at 20 s and -60 s (twice)
        // at 40 s, as NTP does on a badly set host. Ticks every 250 ms.
        let mut transitions = Vec::new();
        let stamp = |mono_ms: u64| {
            let wall_step = match mono_ms {
                0..20_000 => 0,
                20_000..40_000 => 60,
                _ => -60,
            };
            Stamp {
                wall: start
                    + chrono::Duration::milliseconds(mono_ms as i64)
                    + chrono::Duration::seconds(wall_step),
                mono: crate::clock::Mono(Duration::from_millis(mono_ms)),
            }
        };
        m.handle(stamp(0), Event::SessionStarted);
        for ms in (0..60_000u64).step_by(50) {
            if ms % 200 == 0 {
                transitions.extend(m.handle(stamp(ms), Event::Media));
            }
            if ms % 250 == 0 {
                transitions.extend(m.handle(stamp(ms), Event::Tick));
            }
        }
        assert_eq!(transitions.len(), 1, "{transitions:?}");
        assert_eq!(transitions[0].to, State::Online);
        assert_eq!(m.status().state, State::Online);
        // And a real stall is still found, measured on the monotonic clock.
        let t = m.handle(stamp(60_000 + 10_500), Event::Tick).unwrap();
        assert_eq!((t.to, t.reason), (State::Offline, Some(Reason::Stalled)));
    }

    #[test]
    fn patrol_probe_is_proof_and_silence_between_rounds_is_not_a_stall() {
        let mut r = Rig::new(Mode::Patrol);
        let t = r.at(1.0, Event::ProbeOk).unwrap();
        assert_eq!(t.to, State::Online);
        assert_eq!(r.at(1000.0, Event::Tick), None);
        let t = r.at(1001.0, fail(Reason::Stalled)).unwrap();
        assert_eq!(t.to, State::Offline);
        let t = r.at(1301.0, Event::ProbeOk).unwrap();
        assert_eq!((t.to, t.at), (State::Online, r.t(1301.0)));
    }

    /// Every sequence of up to 4 events drawn from a small alphabet at a few time steps keeps
    /// the machine's invariants.
    #[test]
    fn exhaustive_invariants() {
        let events = [
            Event::SessionStarted,
            Event::Media,
            Event::Tick,
            Event::ProbeOk,
            fail(Reason::Refused),
            fail(Reason::Stalled),
        ];
        let steps = [0.0, 1.0, HOLD.as_secs_f64(), STALL.as_secs_f64()];
        let alphabet: Vec<(usize, usize)> = (0..events.len())
            .flat_map(|e| (0..steps.len()).map(move |s| (e, s)))
            .collect();
        let mut checked = 0u64;
        for mode in [Mode::Hold, Mode::Patrol] {
            let n = alphabet.len();
            for len in 1..=4u32 {
                for code in 0..n.pow(len) {
                    let mut r = Rig::new(mode);
                    let mut c = code;
                    let mut now = 0.0;
                    let mut last_at = r.m.status().since;
                    for _ in 0..len {
                        let (e, s) = alphabet[c % n];
                        c /= n;
                        now += steps[s];
                        let before = r.m.status().clone();
                        let ev = events[e].clone();
                        let t = r.at(now, ev.clone());
                        let after = r.m.status().clone();
                        match &t {
                            Some(t) => {
                                assert_eq!(t.from, before.state);
                                assert_ne!(t.from, t.to);
                                assert_eq!(t.to, after.state);
                                assert_eq!(after.since, t.at);
                                assert!(t.at >= last_at, "transition dated before the last one");
                                assert!(t.at <= r.t(now), "transition dated in the future");
                                assert_eq!(t.reason.is_some(), t.to == State::Offline);
                                last_at = t.at;
                            }
                            None => {
                                assert_eq!(before.state, after.state);
                                assert_eq!(before.since, after.since);
                            }
                        }
                        // Down is reported at once.
                        if matches!(ev, Event::Failed { .. }) {
                            assert_eq!(after.state, State::Offline);
                        }
                        if ev == Event::ProbeOk {
                            assert_eq!(after.state, State::Online);
                        }
                        // Tick in patrol mode never changes anything.
                        if mode == Mode::Patrol && ev == Event::Tick {
                            assert!(t.is_none());
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000_000, "checked {checked} steps");
    }
}
