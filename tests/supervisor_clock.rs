//! The camera supervisor — hold and patrol modes, reconnect backoff (full jitter, and equal
//! jitter in minutes after `auth`), the lost-connection retry and stall detection — on tokio's
//! paused clock through a scripted opener: no network and no real waiting, so minutes of a
//! camera's life run in milliseconds and every time is exact.
//!
//! The fleet reads a clock built on the same paused time ([`PausedClock`]), so the status
//! machine's durations and the supervisor's timers agree.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sharpeyes::camera::session::{Failure, FrameInfo, MediaSource, Opener, SessionInfo};
use sharpeyes::camera::supervisor::{SupervisorContext, supervise};
use sharpeyes::clock::{Clock, Mono, Time, parse_time};
use sharpeyes::config::inventory::{Camera, parse_csv};
use sharpeyes::fleet::Fleet;
use sharpeyes::health::status::{Mode, Reason, State, StatusConfig};
use sharpeyes::settings::Settings;
use sharpeyes::telemetry::Metrics;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// Wall and monotonic time from tokio's (paused) clock.
#[derive(Debug)]
struct PausedClock {
    origin: Instant,
    start: Time,
}

impl Clock for PausedClock {
    fn now(&self) -> Time {
        self.start + chrono::Duration::from_std(self.origin.elapsed()).unwrap()
    }
    fn monotonic(&self) -> Mono {
        Mono(self.origin.elapsed())
    }
}

/// What one `open` does.
#[derive(Clone)]
enum Step {
    /// The set-up fails with this reason.
    Fail(Reason),
    /// The opener panics (a bug in session code).
    Panic,
    /// A session that yields a frame every `every`, `count` times, then goes silent (or, with
    /// `lost`, ends as a dropped connection).
    Frames {
        every: Duration,
        count: usize,
        lost: bool,
    },
}

/// An opener that plays a script, then repeats its last step; records when each open came.
struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    last: Mutex<Option<Step>>,
    opens: Mutex<Vec<Duration>>,
    /// How many sessions were asked to pace their reads (`MediaSource::pace_reads`).
    paced: Arc<AtomicUsize>,
    origin: Instant,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into()),
            last: Mutex::new(None),
            opens: Mutex::new(Vec::new()),
            paced: Arc::new(AtomicUsize::new(0)),
            origin: Instant::now(),
        })
    }
    fn opens(&self) -> Vec<Duration> {
        self.opens.lock().unwrap().clone()
    }
}

/// A session whose frames arrive every `every` from its start, like a socket's: a frame that
/// arrived while nobody read is there at once for the next read (paced reads take them in
/// batches).
struct Source {
    every: Duration,
    left: usize,
    lost: bool,
    next_at: tokio::time::Instant,
    paced: Arc<AtomicUsize>,
}

impl MediaSource for Source {
    fn pace_reads(&mut self) -> Result<(), Failure> {
        self.paced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn next_frame(&mut self, _keep: bool) -> Result<FrameInfo, Failure> {
        if self.left == 0 {
            if self.lost {
                return Err(Failure {
                    connection_lost: true,
                    ..Failure::new(Reason::Protocol, "reset by peer")
                });
            }
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until(self.next_at).await;
        self.next_at += self.every;
        self.left -= 1;
        Ok(FrameInfo {
            keyframe: true,
            bytes: 1000,
            data: None,
            clock_offset_ms: None,
            media_ms: None,
        })
    }
}

impl Opener for Scripted {
    type Source = Source;
    async fn open(&self, _cam: &Camera) -> Result<(Source, SessionInfo), Failure> {
        self.opens.lock().unwrap().push(self.origin.elapsed());
        let step = {
            let mut steps = self.steps.lock().unwrap();
            let mut last = self.last.lock().unwrap();
            let s = steps
                .pop_front()
                .or_else(|| last.clone())
                .expect("a script");
            *last = Some(s.clone());
            s
        };
        match step {
            Step::Fail(reason) => Err(Failure::new(reason, "scripted")),
            Step::Panic => panic!("scripted bug in the session code"),
            Step::Frames { every, count, lost } => Ok((
                Source {
                    every,
                    left: count,
                    lost,
                    next_at: tokio::time::Instant::now() + every,
                    paced: self.paced.clone(),
                },
                SessionInfo {
                    codec: "h264".into(),
                    setup: Duration::from_millis(5),
                },
            )),
        }
    }
}

struct Rig {
    fleet: Arc<Fleet>,
    opener: Arc<Scripted>,
    entry: Arc<sharpeyes::fleet::CameraEntry>,
    _stop: watch::Sender<bool>,
}

/// The supervisors' context over a scripted opener and a fleet on the paused clock.
struct Parts {
    settings: Arc<Settings>,
    fleet: Arc<Fleet>,
    metrics: Arc<Metrics>,
    opener: Arc<Scripted>,
    ctx: SupervisorContext<Scripted>,
    stop: watch::Sender<bool>,
}

fn parts(settings_text: &str, steps: Vec<Step>) -> Parts {
    let settings = Arc::new(Settings::parse(settings_text).unwrap());
    let clock = Arc::new(PausedClock {
        origin: Instant::now(),
        start: parse_time("2026-11-23T08:00:00+08:00"),
    });
    let metrics = Arc::new(Metrics::new());
    let fleet = Arc::new(Fleet::new(clock.clone(), metrics.clone(), None));
    let opener = Scripted::new(steps);
    let (stop, shutdown) = watch::channel(false);
    let ctx = SupervisorContext {
        clock,
        metrics: metrics.clone(),
        opener: opener.clone(),
        settings: Arc::new(settings.supervisor()),
        patrol_slots: Arc::new(Semaphore::new(4)),
        setup_slots: Arc::new(Semaphore::new(4)),
        shutdown,
        samples: None,
    };
    Parts {
        settings,
        fleet,
        metrics,
        opener,
        ctx,
        stop,
    }
}

fn status_config(settings: &Settings, mode: Mode) -> StatusConfig {
    StatusConfig {
        stall_timeout: settings.stall_timeout,
        recovery_hold: settings.recovery_hold,
        mode,
    }
}

fn rig(mode: Mode, settings_text: &str, steps: Vec<Step>) -> Rig {
    let p = parts(settings_text, steps);
    let cam = parse_csv("id,url\nc1,rtsp://10.0.0.1/x\n").unwrap().cameras[0].clone();
    let entry = p
        .fleet
        .add(cam, mode, Duration::ZERO, status_config(&p.settings, mode));
    tokio::spawn(supervise(p.ctx, entry.clone()));
    Rig {
        fleet: p.fleet,
        opener: p.opener,
        entry,
        _stop: p.stop,
    }
}

impl Rig {
    fn state(&self) -> (State, Option<Reason>) {
        let s = self.entry.status();
        (s.state, s.reason)
    }

    /// When the opener was called, and the gaps between calls in seconds.
    fn attempts(&self) -> (Vec<Duration>, Vec<f64>) {
        let opens = self.opener.opens();
        let gaps = (opens.windows(2))
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        (opens, gaps)
    }

    /// Lets `secs` of virtual time pass, ticking the fleet every 250 ms as the daemon does.
    async fn run(&self, secs: f64) {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.fleet.tick();
        }
    }
}

fn frames(every_ms: u64, count: usize) -> Step {
    Step::Frames {
        every: Duration::from_millis(every_ms),
        count,
        lost: false,
    }
}

#[tokio::test(start_paused = true)]
async fn hold_goes_online_and_a_silent_session_is_stalled_after_the_timeout() {
    // 10 s of frames at 10 fps, then silence; stall timeout 3 s.
    let r = rig(
        Mode::Hold,
        "stall_timeout = 3\nrecovery_hold = 1\n",
        vec![frames(100, 100), frames(100, 100_000)],
    );
    r.run(1.0).await;
    assert_eq!(r.state(), (State::Online, None));
    r.run(11.0).await; // frames end at 10.0 s; stalled at 13.0 s
    assert_eq!(
        r.state(),
        (State::Online, None),
        "12 s: within the stall timeout"
    );
    r.run(1.5).await;
    assert_eq!(r.state(), (State::Offline, Some(Reason::Stalled)));
    let since = r.entry.status().since;
    let start = parse_time("2026-11-23T08:00:00+08:00");
    let dated = (since - start).num_milliseconds();
    // Reads are paced (read_pace 200 ms): the last frame is seen up to one pace after it came.
    assert!(
        (9_900..=10_300).contains(&dated),
        "dated at the last frame, seen within one read pace: {dated} ms"
    );
    // Reconnected (the backoff waits at most 1 s first) and online again after the hold.
    r.run(5.0).await;
    assert_eq!(r.state(), (State::Online, None));
    assert_eq!(r.opener.opens().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn refusals_back_off_with_full_jitter_up_to_the_maximum() {
    let r = rig(
        Mode::Hold,
        "[backoff]\ninitial = \"1s\"\nmax = \"8s\"\n",
        vec![Step::Fail(Reason::Refused)],
    );
    r.run(120.0).await;
    assert_eq!(r.state(), (State::Offline, Some(Reason::Refused)));
    let (opens, gaps) = r.attempts();
    println!(
        "refused: {} attempts in 120 s, gaps {gaps:.2?}",
        opens.len()
    );
    for (i, g) in gaps.iter().enumerate() {
        let ceiling = (1u64 << i.min(3)) as f64; // 1, 2, 4, 8, 8 …
        assert!(
            *g <= ceiling + 0.01,
            "gap {i} = {g} s over the ceiling {ceiling} s"
        );
    }
    // Full jitter over an 8 s ceiling: on average 4 s apart, so ~30 attempts in 120 s.
    assert!(
        (12..=120).contains(&opens.len()),
        "{} attempts",
        opens.len()
    );
}

#[tokio::test(start_paused = true)]
async fn wrong_credentials_are_retried_in_minutes_not_seconds() {
    let r = rig(Mode::Hold, "", vec![Step::Fail(Reason::Auth)]);
    r.run(3_600.0).await;
    assert_eq!(r.state(), (State::Offline, Some(Reason::Auth)));
    let (opens, gaps) = r.attempts();
    println!(
        "auth: {} attempts in an hour, gaps {gaps:.0?} s",
        opens.len()
    );
    // Equal jitter: the n-th wait lies in [ceiling/2, ceiling], ceiling 120 s doubling to 1800 s.
    for (i, g) in gaps.iter().enumerate() {
        let ceiling = (120u64 << i.min(4)).min(1800) as f64;
        assert!(
            *g >= ceiling / 2.0 - 0.01 && *g <= ceiling + 0.01,
            "wait {i} = {g} s outside [{}, {ceiling}]",
            ceiling / 2.0
        );
    }
    assert!(
        opens.len() <= 7,
        "an account-locking camera was asked {} times in an hour",
        opens.len()
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_retried_at_once_without_an_outage() {
    let r = rig(
        Mode::Hold,
        "stall_timeout = 3\nrecovery_hold = 1\n",
        vec![
            Step::Frames {
                every: Duration::from_millis(100),
                count: 50,
                lost: true,
            },
            frames(100, 100_000),
        ],
    );
    r.run(10.0).await;
    assert_eq!(r.state(), (State::Online, None));
    let opens = r.opener.opens();
    assert_eq!(opens.len(), 2);
    let retry = (opens[1] - Duration::from_secs(5)).as_secs_f64();
    assert!(
        (0.0..=0.5).contains(&retry),
        "retried {retry} s after the drop"
    );
    let offline = r
        .fleet
        .metrics()
        .state_changes
        .with_label_values(&["offline", "protocol"])
        .get();
    assert_eq!(offline, 0, "a dropped connection is not an outage");
}

/// Held sessions are asked to pace their reads (the real source takes its socket off the
/// reactor); with `read_pace = 0` they are not, and neither are patrol probes, which read a
/// keyframe and hang up.
#[tokio::test(start_paused = true)]
async fn held_sessions_pace_their_reads_unless_read_pace_is_zero_and_probes_never_do() {
    // Each session delivers 2 s of frames then drops, so several sessions are opened.
    let lost = Step::Frames {
        every: Duration::from_millis(100),
        count: 20,
        lost: true,
    };
    let paced = rig(Mode::Hold, "recovery_hold = 1\n", vec![lost.clone()]);
    let unpaced = rig(
        Mode::Hold,
        "recovery_hold = 1\nread_pace = 0\n",
        vec![lost.clone()],
    );
    let probes = rig(
        Mode::Patrol,
        "[patrol]\ninterval = \"5s\"\nprobe_timeout = \"2s\"\n",
        vec![frames(100, 100_000)],
    );
    paced.run(20.0).await;
    unpaced.run(0.0).await;
    probes.run(0.0).await;
    let opened = |r: &Rig| r.opener.opens().len();
    let asked = |r: &Rig| r.opener.paced.load(Ordering::Relaxed);
    assert!(opened(&paced) >= 3, "sessions opened: {}", opened(&paced));
    assert_eq!(asked(&paced), opened(&paced), "every held session paced");
    assert!(opened(&unpaced) >= 3 && opened(&probes) >= 3);
    assert_eq!(asked(&unpaced), 0, "read_pace = 0 reads at every packet");
    assert_eq!(asked(&probes), 0, "a probe is not paced");
}

#[tokio::test(start_paused = true)]
async fn patrol_probes_once_per_interval_and_silence_between_rounds_is_no_stall() {
    let r = rig(
        Mode::Patrol,
        "[patrol]\ninterval = \"60s\"\nprobe_timeout = \"5s\"\n",
        vec![frames(200, 100_000)],
    );
    r.run(61.0).await;
    assert_eq!(r.state(), (State::Online, None));
    r.run(180.0).await;
    assert_eq!(r.state(), (State::Online, None));
    let (opens, gaps) = r.attempts();
    println!("patrol: opens at {opens:.1?}");
    assert!(
        (3..=5).contains(&opens.len()),
        "{} probes in 241 s",
        opens.len()
    );
    for g in &gaps {
        assert!((*g - 60.0).abs() < 1.0, "rounds 60 s apart: {gaps:?}");
    }
}

/// A supervisor that panics (a bug in one camera's session code) is restarted by the
/// reconciler and counted in `sharpeyes_supervisor_restarts_total`; the camera then comes
/// online as if nothing happened, and the other camera was never disturbed.
#[tokio::test(start_paused = true)]
async fn a_panicking_supervisor_is_restarted_and_counted() {
    use sharpeyes::config::shard::Shard;
    use sharpeyes::health::ledger::{Ledger, LedgerWriter};
    use sharpeyes::reload::Reconciler;
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("cameras.csv");
    let csv = "id,url\nc1,rtsp://10.0.0.1/x\nc2,rtsp://10.0.0.2/x\n";
    std::fs::write(&inventory, csv).unwrap();
    // c1's first open panics; every later open (c1's restart, c2) streams.
    let p = parts(
        "recovery_hold = 1\n",
        vec![Step::Panic, frames(100, 1_000_000)],
    );
    let writer = LedgerWriter::spawn(Ledger::open(&dir.path().join("data")).unwrap()).unwrap();
    let mut rec = Reconciler::new(
        p.ctx,
        p.fleet.clone(),
        p.settings.clone(),
        Shard::new(0, 1).unwrap(),
        status_config(&p.settings, Mode::Hold),
        writer.sender().clone(),
    );
    rec.apply(&parse_csv(csv).unwrap().cameras);
    let shutdown = p.stop.subscribe();
    tokio::spawn(rec.run(inventory, shutdown));
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        p.fleet.tick();
    }
    assert_eq!(
        p.metrics.supervisor_restarts.get(),
        1,
        "one restart counted"
    );
    for id in ["c1", "c2"] {
        let s = p.fleet.get(id).unwrap().status();
        assert_eq!((s.state, s.reason), (State::Online, None), "{id}");
    }
    assert_eq!(
        p.opener.opens().len(),
        3,
        "c1 twice (panic, restart), c2 once"
    );
}
