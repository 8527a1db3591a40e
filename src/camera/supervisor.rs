//! One long-lived task per camera: opens sessions, feeds the fleet, reconnects with backoff.
//!
//! - **hold**: keep a session open; every frame updates the counters; a session error or no
//!   frame for the stall timeout ends it; then wait a jittered backoff and open again. Reads
//!   are paced (`read_pace`, 200 ms): the session's socket is drained in batches, so a held
//!   camera costs a few wakeups a second instead of one per packet. A lost
//!   connection (EOF/reset on an established session) is retried once at once before it is
//!   reported, so a camera that simply dropped its TCP connection is not counted as an outage,
//!   and one that went away is reported with the reason the fresh attempt finds (`refused`…).
//! - **patrol**: every interval (first round at a random phase, so rounds spread evenly),
//!   take a slot from the shared semaphore, connect, PLAY until the first keyframe, TEARDOWN.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, watch};

use crate::backoff::{Backoff, Jitter};
use crate::camera::port::CameraPort;
use crate::camera::sampler::{Sample, SampleQueue};
use crate::camera::session::{Failure, MediaSource, Opener};
use crate::camera::settings::SupervisorSettings;
use crate::clock::Clock;
use crate::health::status::{Event, Mode, Reason};
use crate::telemetry::Metrics;

/// What a supervisor needs besides its camera.
pub struct SupervisorContext<O: Opener> {
    /// The clock samples are dated with.
    pub clock: Arc<dyn Clock>,
    /// Session set-up, reconnect and local-failure metrics.
    pub metrics: Arc<Metrics>,
    /// How to reach cameras.
    pub opener: Arc<O>,
    /// Timing settings.
    pub settings: Arc<SupervisorSettings>,
    /// Limits concurrent patrol probes.
    pub patrol_slots: Arc<Semaphore>,
    /// Limits concurrent hold-mode set-ups (`[backoff] max_concurrent_setups`).
    pub setup_slots: Arc<Semaphore>,
    /// Becomes `true` at shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Where sampled keyframes go; `None` when sampling is off.
    pub samples: Option<Arc<SampleQueue>>,
}

// By hand: a derive would ask `O: Clone`, but only the `Arc` is cloned.
impl<O: Opener> Clone for SupervisorContext<O> {
    fn clone(&self) -> Self {
        Self {
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
            opener: self.opener.clone(),
            settings: self.settings.clone(),
            patrol_slots: self.patrol_slots.clone(),
            setup_slots: self.setup_slots.clone(),
            shutdown: self.shutdown.clone(),
            samples: self.samples.clone(),
        }
    }
}

/// The retry after a lost connection waits up to this long (uniformly drawn).
pub const LOST_RETRY_JITTER: Duration = Duration::from_millis(500);

/// Runs a camera's supervisor until shutdown.
pub async fn supervise<O: Opener>(ctx: SupervisorContext<O>, entry: Arc<dyn CameraPort>) {
    let mut shutdown = ctx.shutdown.clone();
    let work = async {
        match entry.mode() {
            Mode::Hold => hold(&ctx, &entry).await,
            Mode::Patrol => patrol(&ctx, &entry).await,
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

async fn hold<O: Opener>(ctx: &SupervisorContext<O>, entry: &Arc<dyn CameraPort>) {
    let s = &ctx.settings;
    let mut backoff = Backoff::new(s.backoff.initial, s.backoff.max);
    let mut auth_backoff =
        Backoff::new(s.backoff.auth_initial, s.backoff.auth_max).with_jitter(Jitter::Equal);
    let mut retried_lost = false;
    loop {
        let opened = {
            let Ok(_slot) = ctx.setup_slots.acquire().await else {
                return;
            };
            entry.stats().attempts.fetch_add(1, Relaxed);
            ctx.opener.open(entry.camera()).await
        };
        let failure = match opened {
            Ok((mut source, info)) => {
                record_setup(ctx, entry.as_ref(), &info.codec, info.setup, "hold");
                entry.on_session_started();
                let started = ctx.clock.monotonic();
                // The first sample at a random point of the interval: cameras that (re)connect
                // together must not sample in one burst that overflows the decode queue.
                let mut next_sample = ctx.clock.monotonic().after(
                    entry
                        .sample_interval()
                        .mul_f64(rand::thread_rng().r#gen::<f64>()),
                );
                // One stall timer per session, pushed back at every frame (no timer per frame);
                // a tokio timer (it can be reset), on the same runtime clock as Clock::sleep.
                let stall = tokio::time::sleep(s.stall_timeout);
                tokio::pin!(stall);
                let failure = 'session: {
                    // Paced reads take the socket off the reactor: nothing wakes this task
                    // between ticks, and none is needed.
                    if !s.read_pace.is_zero()
                        && let Err(f) = source.pace_reads()
                    {
                        break 'session f;
                    }
                    loop {
                        let want = ctx.samples.is_some()
                            && !entry.sample_interval().is_zero()
                            && (ctx.clock.monotonic() >= next_sample
                                || entry.stats().sample_now.load(Relaxed));
                        let next = source.next_frame(want);
                        tokio::pin!(next);
                        let r = if s.read_pace.is_zero() {
                            tokio::select! {
                                biased;
                                r = &mut next => r,
                                _ = &mut stall => break 'session stalled(s.stall_timeout),
                            }
                        } else {
                            // Paced: look at the socket every `read_pace`, taking every frame
                            // that is there; a waiting session wakes neither for packets nor
                            // frames. The future lives across the pauses, so a source need not
                            // be cancel-safe.
                            loop {
                                if let Poll::Ready(r) =
                                    next.as_mut().poll(&mut Context::from_waker(Waker::noop()))
                                {
                                    break r;
                                }
                                tokio::select! {
                                    biased;
                                    _ = &mut stall => break 'session stalled(s.stall_timeout),
                                    _ = tokio::time::sleep_until(next_tick(s.read_pace)) => {}
                                }
                            }
                        };
                        match r {
                            Ok(f) => {
                                stall
                                    .as_mut()
                                    .reset(tokio::time::Instant::now() + s.stall_timeout);
                                entry.on_frame(f.keyframe, f.bytes, f.media_ms);
                                if let Some(offset) = f.clock_offset_ms {
                                    entry.stats().on_clock_offset(offset);
                                }
                                if let Some(data) = f.data {
                                    next_sample =
                                        ctx.clock.monotonic().after(entry.sample_interval());
                                    submit(ctx, entry, &info.codec, data);
                                }
                            }
                            Err(f) => break f,
                        }
                    }
                };
                drop(source);
                // A session that delivered for a while proves the camera healthy again.
                if ctx.clock.monotonic().since(started)
                    >= s.recovery_hold.max(Duration::from_secs(10))
                {
                    backoff.reset();
                    auth_backoff.reset();
                }
                failure
            }
            Err(f) => f,
        };
        if failure.connection_lost && !retried_lost {
            retried_lost = true;
            tracing::debug!(camera = %entry.camera().id, detail = %failure.detail, "connection lost; retrying at once");
            // "At once", jittered: a switch flap drops thousands of connections together.
            let delay = LOST_RETRY_JITTER.mul_f64(rand::thread_rng().r#gen::<f64>());
            ctx.clock.sleep(delay).await;
            continue;
        }
        retried_lost = false;
        if failure.local {
            // The daemon's fault, not the camera's: no status change, no outage in the ledger.
            tracing::error!(camera = %entry.camera().id, detail = %failure.detail, "local resource failure; retrying");
            ctx.metrics.local_failures.inc();
        } else {
            entry.on_event(Event::Failed {
                reason: failure.reason,
                detail: failure.bounded_detail(),
            });
        }
        entry.stats().reconnects.fetch_add(1, Relaxed);
        ctx.metrics
            .reconnects
            .with_label_values(&[failure.reason.as_str()])
            .inc();
        let delay = if failure.reason == Reason::Auth {
            auth_backoff.next_delay(&mut rand::thread_rng())
        } else {
            backoff.next_delay(&mut rand::thread_rng())
        };
        ctx.metrics.reconnect_delay.observe(delay.as_secs_f64());
        ctx.clock.sleep(delay).await;
    }
}

async fn patrol<O: Opener>(ctx: &SupervisorContext<O>, entry: &Arc<dyn CameraPort>) {
    let p = &ctx.settings.patrol;
    // Spread the first round over one interval so rounds do not bunch up.
    let phase = p.interval.mul_f64(rand::thread_rng().r#gen::<f64>());
    let mut next = ctx.clock.monotonic().after(phase);
    loop {
        ctx.clock.sleep(next.since(ctx.clock.monotonic())).await;
        next = next.after(p.interval);
        let Ok(_slot) = ctx.patrol_slots.acquire().await else {
            return;
        };
        entry.stats().attempts.fetch_add(1, Relaxed);
        let event = match tokio::time::timeout(p.probe_timeout, probe(ctx, entry)).await {
            Ok(Ok(())) => Event::ProbeOk,
            Ok(Err(f)) if f.local => {
                tracing::error!(camera = %entry.camera().id, detail = %f.detail, "local resource failure in a probe");
                ctx.metrics.local_failures.inc();
                continue;
            }
            Ok(Err(f)) => Event::Failed {
                reason: f.reason,
                detail: f.bounded_detail(),
            },
            Err(_) => Event::Failed {
                reason: Reason::Stalled,
                detail: format!("no keyframe within {} s", p.probe_timeout.as_secs_f64()),
            },
        };
        if let Event::Failed { reason, .. } = &event {
            entry.stats().reconnects.fetch_add(1, Relaxed);
            ctx.metrics
                .reconnects
                .with_label_values(&[reason.as_str()])
                .inc();
        }
        entry.on_event(event);
        let now = ctx.clock.monotonic();
        if now > next {
            next = now; // overran: start the next round at once
        }
    }
}

/// The next instant of the process-wide grid of `pace`. Every paced session wakes on the same
/// grid, so the runtime wakes once per tick for all of them instead of once per session at
/// scattered instants: measured on 1,000 held sessions, scattered wakeups spent a fifth of the
/// daemon's CPU in context switches and the timer wheel (docs/benchmarks.md).
fn next_tick(pace: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let now = tokio::time::Instant::now();
    let pace_ns = pace.as_nanos().max(1);
    let ticks = now.saturating_duration_since(epoch).as_nanos() / pace_ns + 1;
    epoch + Duration::from_nanos(u64::try_from(ticks * pace_ns).unwrap_or(u64::MAX / 2))
}

/// The failure of a session that delivered nothing for `timeout`.
fn stalled(timeout: Duration) -> Failure {
    Failure::new(
        Reason::Stalled,
        format!("no media for {} s", timeout.as_secs_f64()),
    )
}

/// Connect, PLAY until the first keyframe; the session is torn down when dropped.
async fn probe<O: Opener>(
    ctx: &SupervisorContext<O>,
    entry: &Arc<dyn CameraPort>,
) -> Result<(), Failure> {
    let (mut source, info) = ctx.opener.open(entry.camera()).await?;
    record_setup(ctx, entry.as_ref(), &info.codec, info.setup, "patrol");
    entry.stats().on_session_start();
    loop {
        let f = source
            .next_frame(ctx.samples.is_some() && !entry.sample_interval().is_zero())
            .await?;
        entry.stats().on_frame(
            f.keyframe,
            f.bytes,
            ctx.clock.now().timestamp_millis(),
            f.media_ms,
        );
        if let Some(offset) = f.clock_offset_ms {
            entry.stats().on_clock_offset(offset);
        }
        if let Some(data) = f.data {
            submit(ctx, entry, &info.codec, data);
        }
        if f.keyframe {
            return Ok(());
        }
    }
}

/// Hands a sampled keyframe to the vision workers (drop-oldest, never waits).
fn submit<O: Opener>(
    ctx: &SupervisorContext<O>,
    entry: &Arc<dyn CameraPort>,
    codec: &str,
    data: Vec<u8>,
) {
    if let Some(q) = &ctx.samples {
        let at = ctx.clock.now();
        entry.stats().sample_now.store(false, Relaxed);
        q.push(Sample {
            camera: entry.camera().id.as_str().into(),
            codec: codec.to_string(),
            data,
            at,
            snapshot: entry.stats().snapshot_wanted(ctx.clock.monotonic()),
        });
    }
}

fn record_setup<O: Opener>(
    ctx: &SupervisorContext<O>,
    entry: &dyn CameraPort,
    codec: &str,
    setup: Duration,
    mode: &str,
) {
    entry
        .stats()
        .last_setup_ms
        .store(setup.as_millis().clamp(1, u32::MAX as u128) as u32, Relaxed);
    entry.on_setup(codec);
    ctx.metrics
        .setup_seconds
        .with_label_values(&[mode])
        .observe(setup.as_secs_f64());
}
