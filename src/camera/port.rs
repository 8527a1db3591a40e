//! The one seam between a camera's supervisor and the rest of the daemon.
//!
//! A supervisor reads its camera's row and writes what it sees through a [`CameraPort`], as
//! MediaMTX's sources talk to their `parent`: it knows no fleet, no alert engine, no page. The
//! fleet implements the port for each of its cameras (`crate::fleet::CameraEntry`); unit tests
//! implement it with a recorder.

use std::time::Duration;

use crate::camera::stats::CameraStats;
use crate::config::inventory::{Camera, Mode};
use crate::health::status::Event;

/// What a supervisor reports to.
pub trait CameraPort: Send + Sync + 'static {
    /// The camera's inventory row.
    fn camera(&self) -> &Camera;
    /// How it is watched.
    fn mode(&self) -> Mode;
    /// How often a keyframe is sampled (zero: never).
    fn sample_interval(&self) -> Duration;
    /// The lock-free ingest counters the supervisor updates.
    fn stats(&self) -> &CameraStats;
    /// A session was set up with `codec` (held or probed).
    fn on_setup(&self, codec: &str);
    /// A held session started delivering (resets media throttling and keyframe spacing).
    fn on_session_started(&self);
    /// A frame arrived on a held session (`media_ms`: its media time, when known).
    fn on_frame(&self, keyframe: bool, bytes: usize, media_ms: Option<i64>);
    /// Something the status machine must hear of (a failure, a probe result).
    fn on_event(&self, event: Event);
}
