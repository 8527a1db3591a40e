//! The router: the one place vision results land. On its own thread (never a runtime worker),
//! it stores each [`VisionUpdate`] in the fleet (the verdict confirmed before it reaches the
//! history) and then hands it to the alert engine; once a second it gives the engine every
//! camera's online state (video-loss rules) and lets it sweep (restored alerts, retries of
//! refused outbox writes). The engine's disk work (snapshot, fsync) happens here, so a slow
//! disk slows this thread and, through the bounded channel, the workers: never ingest, the
//! HTTP service or `/healthz`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::sync::watch;

use crate::alerts::engine::{AlertEngine, Observation};
use crate::fleet::{CameraChange, ChangeKind, Fleet};
use crate::health::status::State;
use crate::pipeline::{VisionResult, VisionUpdate};

/// How often the engine sees the online states and sweeps.
pub const TICK: Duration = Duration::from_secs(1);

/// Starts the router thread. It stops once shutdown is signalled and every sender is gone
/// (the workers and the detector have stopped), after the updates still queued.
pub fn spawn(
    fleet: Arc<Fleet>,
    engine: Option<Arc<AlertEngine>>,
    updates: Receiver<VisionUpdate>,
    confirm_samples: u32,
    clock_check: ClockCheck,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("router".into())
        .spawn(move || {
            let mut changes = fleet.subscribe();
            let mut online = Online::default();
            online.resync(&fleet);
            let clock = fleet.clock().clone();
            let mut next_tick = clock.monotonic().after(TICK);
            loop {
                let wait = next_tick.since(clock.monotonic());
                match updates.recv_timeout(wait) {
                    Ok(u) => route(&fleet, engine.as_deref(), u, confirm_samples, clock_check),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        if *shutdown.borrow() {
                            return;
                        }
                        std::thread::sleep(wait);
                    }
                }
                let now = clock.monotonic();
                if now >= next_tick {
                    next_tick = now.after(TICK);
                    online.follow(&fleet, &mut changes);
                    if let Some(engine) = &engine {
                        tick(&fleet, engine, &online);
                    }
                }
            }
        })
}

/// The camera-clock check each verdict gets: `clock_drift` when the camera's last sender
/// report is more than `max_offset` seconds off (0: not judged); the fault makes the camera not
/// 完好 only when `counts` (`[quality] max_clock_offset`, `clock_drift_counts`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockCheck {
    /// Seconds off beyond which the fault is given; 0 turns the check off.
    pub max_offset: f32,
    /// Whether the fault counts against 完好率.
    pub counts: bool,
}

impl ClockCheck {
    /// The check a `[quality]` table configures.
    pub fn from_config(q: &crate::vision::quality::QualityConfig) -> Self {
        Self {
            max_offset: q.max_clock_offset,
            counts: q.clock_drift_counts,
        }
    }
}

/// Stores one update in the fleet, then gives it to the rules. A verdict gets the camera-clock
/// check ([`ClockCheck`]).
pub fn route(
    fleet: &Fleet,
    engine: Option<&AlertEngine>,
    u: VisionUpdate,
    confirm: u32,
    clock_check: ClockCheck,
) {
    // A camera removed meanwhile: nothing to store, no rule to feed.
    let Some(entry) = fleet.get(&u.camera) else {
        return;
    };
    match u.result {
        VisionResult::Verdict {
            mut quality,
            size,
            snapshot,
        } => {
            if let Some(offset) = entry.stats.clock_offset_s()
                && clock_check.max_offset > 0.0
                && offset.abs() > f64::from(clock_check.max_offset)
            {
                quality
                    .faults
                    .push(crate::vision::quality::Fault::ClockDrift);
                quality.ok &= !clock_check.counts;
            }
            let faults = quality.faults.clone();
            fleet.store_verdict(&entry, u.at, quality, size, snapshot.clone(), confirm);
            if let Some(engine) = engine {
                engine.observe(
                    &entry.camera,
                    u.at,
                    Observation::Faults {
                        faults: &faults,
                        picture: snapshot.as_deref().map(|v| v.as_slice()),
                    },
                );
            }
        }
        VisionResult::Detections {
            view,
            frame,
            snapshot,
        } => {
            if let Some(engine) = engine {
                engine.observe(
                    &entry.camera,
                    u.at,
                    Observation::Detections {
                        view: &view,
                        picture: snapshot.as_deref().map(|v| v.as_slice()),
                        frame: Some(&frame),
                    },
                );
            }
            entry.vision.lock().unwrap().detections = Some(view);
        }
    }
}

/// Each camera's online state as the fleet's change stream tells it (connecting cameras are
/// left out: video-loss rules judge only online and offline).
#[derive(Default)]
pub struct Online(BTreeMap<Arc<str>, bool>);

impl Online {
    /// Rebuilds the map from the fleet (at start, and after falling behind the stream).
    pub fn resync(&mut self, fleet: &Fleet) {
        self.0.clear();
        for e in fleet.entries() {
            match e.status().state {
                State::Online => self.0.insert(e.camera.id.as_str().into(), true),
                State::Offline => self.0.insert(e.camera.id.as_str().into(), false),
                State::Connecting => None,
            };
        }
    }

    /// Applies the changes waiting on the stream.
    pub fn follow(&mut self, fleet: &Fleet, changes: &mut broadcast::Receiver<CameraChange>) {
        loop {
            match changes.try_recv() {
                Ok(c) => match c.kind {
                    ChangeKind::Status(State::Online) => {
                        self.0.insert(c.camera, true);
                    }
                    ChangeKind::Status(State::Offline) => {
                        self.0.insert(c.camera, false);
                    }
                    ChangeKind::Status(State::Connecting) | ChangeKind::Removed => {
                        self.0.remove(&c.camera);
                    }
                    ChangeKind::Added | ChangeKind::Picture => {}
                },
                Err(TryRecvError::Lagged(_)) => self.resync(fleet),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }
}

/// Every camera's online state to the video-loss rules (with its last snapshot, for an alert
/// raised on it), then the engine's sweep.
fn tick(fleet: &Fleet, engine: &AlertEngine, online: &Online) {
    let now = fleet.now();
    for (id, on) in &online.0 {
        let Some(e) = fleet.get(id) else { continue };
        let picture = e.vision.lock().unwrap().snapshot.clone();
        engine.observe(
            &e.camera,
            now,
            Observation::Online {
                online: *on,
                picture: picture.as_deref().map(|v| v.as_slice()),
            },
        );
    }
    engine.sweep(now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::port::CameraPort;
    use crate::clock::ManualClock;
    use crate::health::status::{Event, Mode, Reason, StatusConfig};

    #[test]
    fn online_states_follow_the_change_stream_and_resync_after_a_lag() {
        let fleet = Fleet::new(
            Arc::new(ManualClock::new(crate::clock::parse_time(
                "2026-11-23T08:00:00Z",
            ))),
            Arc::new(crate::telemetry::Metrics::new()),
            None,
        );
        let mut rx = fleet.subscribe();
        let inv = crate::config::inventory::parse_csv(
            "id,url\nc1,rtsp://10.0.0.1/x\nc2,rtsp://10.0.0.2/x\n",
        )
        .unwrap();
        let mut online = Online::default();
        let add = |i: usize| {
            fleet.add(
                inv.cameras[i].clone(),
                Mode::Hold,
                Duration::ZERO,
                StatusConfig::default(),
            )
        };
        let (c1, c2) = (add(0), add(1));
        online.follow(&fleet, &mut rx);
        assert!(online.0.is_empty(), "connecting cameras are left out");
        c1.on_event(Event::Failed {
            reason: Reason::Refused,
            detail: String::new(),
        });
        online.follow(&fleet, &mut rx);
        assert_eq!(online.0.get("c1"), Some(&false));
        fleet.remove("c1");
        online.follow(&fleet, &mut rx);
        assert!(online.0.is_empty());
        // Far behind: the map is rebuilt from the fleet.
        for _ in 0..crate::fleet::CHANGES_CAPACITY + 10 {
            c2.on_event(Event::Failed {
                reason: Reason::Refused,
                detail: String::new(),
            });
            c2.on_event(Event::Failed {
                reason: Reason::Unreachable,
                detail: String::new(),
            });
        }
        online.follow(&fleet, &mut rx);
        assert_eq!(online.0.get("c2"), Some(&false));
        assert_eq!(online.0.len(), 1);
    }
}
