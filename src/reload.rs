//! The running fleet follows the inventory file: on SIGHUP, or when the file changes (checked
//! every 2 s), cameras added to it start, removed ones stop, changed ones restart, and the
//! status history of unchanged cameras is untouched.
//!
//! A file that cannot be read, or that leaves no usable camera, is reported and ignored: the
//! fleet keeps running as it was (bad input loses nothing). Two more guards keep a file that
//! is still being copied, or was cut short, from stopping cameras:
//! - **settled**: a changed file is applied only once it has stayed the same (size, mtime and
//!   content) across two polls, 2 s apart;
//! - **whole**: a file that rejects more rows than the version in force did is refused as a
//!   whole (a cut row, a broken edit), and so is one that would stop more than
//!   `[reload] max_removed_share` of the watched cameras. `kill -USR1` applies the file as it
//!   is (forced), for the day a region really is decommissioned.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use crate::camera::session::{Opener, RetinaOpener};
use crate::camera::supervisor::{SupervisorContext, supervise};
use crate::config::inventory::{self, Camera};
use crate::config::shard::Shard;
use crate::fleet::Fleet;
use crate::health::ledger::{CameraRow, LedgerSender};
use crate::health::status::{Mode, StatusConfig};
use crate::settings::Settings;

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Camera ids started.
    pub added: Vec<String>,
    /// Camera ids stopped.
    pub removed: Vec<String>,
    /// Camera ids restarted with new settings.
    pub changed: Vec<String>,
    /// Cameras left running as they were.
    pub unchanged: usize,
}

struct Watched {
    camera: Camera,
    mode: Mode,
    every: Duration,
    task: AbortHandle,
}

/// Keeps one supervisor per owned, enabled camera of the inventory; `O` opens the sessions
/// (retina in the daemon, a scripted one in tests).
pub struct Reconciler<O: Opener = RetinaOpener> {
    ctx: SupervisorContext<O>,
    fleet: Arc<Fleet>,
    settings: Arc<Settings>,
    shard: Shard,
    status: StatusConfig,
    ledger: LedgerSender,
    watched: BTreeMap<String, Watched>,
    tasks: JoinSet<()>,
    /// Rows the inventory in force rejected (a reload may not reject more).
    rejected: usize,
    /// The detection interval of each camera the detector looks at (see
    /// [`Reconciler::set_detection`]); `None`: no camera is sampled for detection.
    detection: Option<DetectionCadence>,
}

/// A camera id's detection interval, `None` for a camera the detector does not look at.
pub type DetectionCadence = Arc<dyn Fn(&str) -> Option<Duration> + Send + Sync>;

/// Why a reload is refused, if it is: the guards of the module docs, pure.
pub fn refuse(
    watched: usize,
    removed: usize,
    rejected_before: usize,
    rejected_now: usize,
    max_removed_share: f64,
) -> Option<String> {
    if rejected_now > rejected_before {
        return Some(format!(
            "{rejected_now} rows rejected where the inventory in force had {rejected_before}: \
             fix the rows named above (or the file was cut short)"
        ));
    }
    if watched > 0 && removed as f64 > max_removed_share * watched as f64 {
        return Some(format!(
            "it would stop {removed} of {watched} watched cameras, more than \
             [reload] max_removed_share = {max_removed_share}; `kill -USR1` applies it anyway"
        ));
    }
    None
}

impl<O: Opener> Reconciler<O> {
    /// An empty reconciler; call [`Reconciler::apply`] with the first inventory.
    pub fn new(
        ctx: SupervisorContext<O>,
        fleet: Arc<Fleet>,
        settings: Arc<Settings>,
        shard: Shard,
        status: StatusConfig,
        ledger: LedgerSender,
    ) -> Self {
        Self {
            fleet,
            settings,
            ctx,
            shard,
            status,
            ledger,
            watched: BTreeMap::new(),
            tasks: JoinSet::new(),
            rejected: 0,
            detection: None,
        }
    }

    /// Samples the cameras the detector looks at at their detection interval (when shorter
    /// than their quality interval). Call before the first [`Reconciler::apply`].
    pub fn set_detection(&mut self, cadence: DetectionCadence) {
        self.detection = Some(cadence);
    }

    /// Records how many rows the first inventory rejected (the baseline for reloads).
    pub fn set_rejected(&mut self, rejected: usize) {
        self.rejected = rejected;
    }

    /// Cameras watched, by mode.
    pub fn counts(&self) -> (usize, usize) {
        let held = self
            .watched
            .values()
            .filter(|w| w.mode == Mode::Hold)
            .count();
        (held, self.watched.len() - held)
    }

    /// Makes the running fleet match `cameras` (already validated; this filters enabled and
    /// owned ones).
    pub fn apply(&mut self, cameras: &[Camera]) -> Change {
        let fleet = self.fleet.clone();
        let wanted: BTreeMap<&str, &Camera> = cameras
            .iter()
            .filter(|c| c.enabled && self.shard.owns(&c.id))
            .map(|c| (c.id.as_str(), c))
            .collect();
        let mut change = Change::default();
        let gone: Vec<String> = self
            .watched
            .keys()
            .filter(|id| !wanted.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            self.stop(&id);
            change.removed.push(id);
        }
        let mut rows = Vec::new();
        for (id, cam) in wanted {
            let mode = self.settings.mode_for(cam);
            let detect = self.detection.as_ref().and_then(|f| f(&cam.id));
            let every = self.settings.sample_interval_for(cam, detect);
            match self.watched.get(id) {
                Some(w) if w.camera == *cam && w.mode == mode && w.every == every => {
                    change.unchanged += 1;
                    continue;
                }
                Some(_) => {
                    self.stop(id);
                    change.changed.push(id.to_string());
                }
                None => change.added.push(id.to_string()),
            }
            rows.push(CameraRow::from(cam));
            let entry = fleet.add(cam.clone(), mode, every, self.status);
            let task = self.tasks.spawn(supervise(self.ctx.clone(), entry));
            self.watched.insert(
                id.to_string(),
                Watched {
                    camera: cam.clone(),
                    mode,
                    every,
                    task,
                },
            );
        }
        if !rows.is_empty() {
            self.ledger.upsert_cameras(rows);
        }
        change
    }

    /// A supervisor task ended on its own: one that panicked is restarted (counted in
    /// `sharpeyes_supervisor_restarts_total`), so a bug in one camera's session code never
    /// silently stops its reconnects. Aborted ones (removed cameras) are expected.
    fn supervisor_ended(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let Err(e) = done else { return };
        if e.is_cancelled() {
            return;
        }
        let task_id = e.id();
        let Some(camera) = self
            .watched
            .iter()
            .find(|(_, w)| w.task.id() == task_id)
            .map(|(id, _)| id.clone())
        else {
            return;
        };
        tracing::error!(camera = %camera, "camera supervisor panicked: {e}; restarting it");
        self.fleet.metrics().supervisor_restarts.inc();
        if let Some(entry) = self.fleet.get(&camera) {
            let task = self.tasks.spawn(supervise(self.ctx.clone(), entry));
            if let Some(w) = self.watched.get_mut(&camera) {
                w.task = task;
            }
        }
    }

    fn stop(&mut self, id: &str) {
        if let Some(w) = self.watched.remove(id) {
            w.task.abort(); // drops the session: retina tears it down
            self.fleet.remove(id);
        }
    }

    /// Follows `inventory` until shutdown, then waits for every supervisor to stop.
    pub async fn run(mut self, inventory: PathBuf, mut shutdown: watch::Receiver<bool>) {
        // The version in force, and a changed one waiting to settle.
        let mut seen = fingerprint(&inventory).await;
        let mut settling: Option<Fingerprint> = None;
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hup = signal(tokio::signal::unix::SignalKind::hangup());
        let mut usr1 = signal(tokio::signal::unix::SignalKind::user_defined1());
        loop {
            let (why, forced) = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = recv(&mut hup) => ("SIGHUP", false),
                _ = recv(&mut usr1) => ("SIGUSR1 (forced)", true),
                _ = poll.tick() => ("file changed", false),
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.supervisor_ended(done);
                    continue;
                }
            };
            if why == "file changed" {
                let now = fingerprint(&inventory).await;
                if now == seen {
                    settling = None;
                    continue;
                }
                if settling.as_ref() != Some(&now) {
                    // Changed since the last poll: wait until it stays put.
                    settling = Some(now);
                    continue;
                }
            }
            settling = None;
            seen = fingerprint(&inventory).await;
            let path = inventory.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                inventory::load(&path).map_err(|e| anyhow::anyhow!("{e}"))
            })
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("inventory reader failed: {e}")));
            self.reload(&inventory, loaded, why, forced);
        }
        while self.tasks.join_next().await.is_some() {}
    }

    fn reload(
        &mut self,
        path: &std::path::Path,
        loaded: anyhow::Result<inventory::Inventory>,
        why: &str,
        forced: bool,
    ) {
        let metrics = self.fleet.metrics().clone();
        let inv = match loaded {
            Ok(inv) if inv.enabled().next().is_some() => inv,
            Ok(inv) => {
                tracing::error!(
                    %why, rejected = inv.rejected.len(),
                    "inventory reload ignored: no usable camera in {}; the fleet keeps running as it was",
                    path.display()
                );
                metrics.reloads.with_label_values(&["rejected"]).inc();
                return;
            }
            Err(e) => {
                tracing::error!(%why, "inventory reload ignored: {e}; the fleet keeps running as it was");
                metrics.reloads.with_label_values(&["rejected"]).inc();
                return;
            }
        };
        for r in &inv.rejected {
            tracing::warn!(inventory = %path.display(), "skipped row: {r}");
        }
        let removed = self
            .watched
            .keys()
            .filter(|id| {
                !inv.cameras
                    .iter()
                    .any(|c| &c.id == *id && c.enabled && self.shard.owns(&c.id))
            })
            .count();
        let verdict = refuse(
            self.watched.len(),
            removed,
            self.rejected,
            inv.rejected.len(),
            self.settings.reload.max_removed_share,
        );
        if let Some(reason) = verdict.filter(|_| !forced) {
            tracing::error!(
                %why,
                "inventory reload of {} refused: {reason}; the fleet keeps running as it was",
                path.display()
            );
            metrics.reloads.with_label_values(&["rejected"]).inc();
            return;
        }
        self.rejected = inv.rejected.len();
        let change = self.apply(&inv.cameras);
        metrics.reloads.with_label_values(&["applied"]).inc();
        tracing::info!(
            %why,
            added = ?change.added,
            removed = ?change.removed,
            changed = ?change.changed,
            unchanged = change.unchanged,
            "inventory reloaded"
        );
    }
}

/// Modification time and size: what "unchanged" means for the file.
type Fingerprint = Option<(SystemTime, u64)>;

/// Reads the file's [`Fingerprint`] on a blocking thread (never disk I/O on a runtime worker).
async fn fingerprint(path: &std::path::Path) -> Fingerprint {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len()))
    })
    .await
    .ok()
    .flatten()
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn recv(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::refuse;

    #[test]
    fn guards() {
        // A plain edit: one of three removed, no new bad row.
        assert_eq!(refuse(3, 1, 0, 0, 0.5), None);
        // A cut file: most cameras gone.
        assert!(refuse(100, 60, 0, 0, 0.5).unwrap().contains("60 of 100"));
        // A cut row: one more rejected row than before.
        assert!(
            refuse(100, 0, 1, 2, 0.5)
                .unwrap()
                .contains("2 rows rejected")
        );
        // The same bad rows as before are not new.
        assert_eq!(refuse(100, 0, 2, 2, 0.5), None);
        // Share 1: any removal is allowed.
        assert_eq!(refuse(10, 10, 0, 0, 1.0), None);
    }
}
