//! The running fleet follows the inventory file: on SIGHUP, or when the file changes (checked
//! every 2 s), cameras added to it start, removed ones stop, changed ones restart, and the
//! status history of unchanged cameras is untouched.
//!
//! A file that cannot be read, or that leaves no usable camera, is reported and ignored: the
//! fleet keeps running as it was (bad input loses nothing).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

use crate::camera::session::RetinaOpener;
use crate::camera::supervisor::{SupervisorContext, supervise};
use crate::config::inventory::{self, Camera};
use crate::config::settings::Settings;
use crate::config::shard::Shard;
use crate::health::ledger::{CameraRow, LedgerSender};
use crate::health::status::{Mode, StatusConfig};

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

/// Keeps one supervisor per owned, enabled camera of the inventory.
pub struct Reconciler {
    ctx: SupervisorContext<RetinaOpener>,
    settings: Arc<Settings>,
    shard: Shard,
    status: StatusConfig,
    ledger: LedgerSender,
    watched: BTreeMap<String, Watched>,
    tasks: JoinSet<()>,
}

impl Reconciler {
    /// An empty reconciler; call [`Reconciler::apply`] with the first inventory.
    pub fn new(
        ctx: SupervisorContext<RetinaOpener>,
        shard: Shard,
        status: StatusConfig,
        ledger: LedgerSender,
    ) -> Self {
        Self {
            settings: ctx.settings.clone(),
            ctx,
            shard,
            status,
            ledger,
            watched: BTreeMap::new(),
            tasks: JoinSet::new(),
        }
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
        let fleet = self.ctx.fleet.clone();
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
            let every = self.settings.sample_interval_for(cam);
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

    fn stop(&mut self, id: &str) {
        if let Some(w) = self.watched.remove(id) {
            w.task.abort(); // drops the session: retina tears it down
            self.ctx.fleet.remove(id);
        }
    }

    /// Follows `inventory` until shutdown, then waits for every supervisor to stop.
    pub async fn run(mut self, inventory: PathBuf, mut shutdown: watch::Receiver<bool>) {
        let mut seen = modified(&inventory);
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let why = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = hangup => "SIGHUP",
                _ = poll.tick() => {
                    let now = modified(&inventory);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    "file changed"
                }
            };
            self.reload(&inventory, why);
        }
        while self.tasks.join_next().await.is_some() {}
    }

    fn reload(&mut self, path: &std::path::Path, why: &str) {
        let metrics = self.ctx.fleet.metrics().clone();
        let inv = match inventory::load(path) {
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

fn modified(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}
