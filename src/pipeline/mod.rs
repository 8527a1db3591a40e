//! The vision pipeline's wiring: the stage between sampled keyframes and the fleet's store and
//! alert rules. It sits above `vision` (pure decoding, diagnosis, detection), `fleet` and
//! `alerts`, and nothing below imports it.
//!
//! ```text
//! sessions ──Sample{camera id}──▶ [drop-oldest] ──▶ workers (decode, diagnose, JPEG)
//!                                                     │            └─DetectJob─▶ [drop-oldest] ─▶ detector
//!                                                     ▼                                            │
//!                                         VisionUpdate (bounded channel) ◀─────────────────────────┘
//!                                                     ▼
//!                                   router thread: fleet store ─▶ alert engine (+ online, sweep)
//! ```
//!
//! Workers and the detector never touch the fleet or the engine: they send a
//! [`VisionUpdate`] down one channel, and the [`router`] is the one place that stores it and
//! hands observations to the rules.

pub mod detector;
pub mod router;
pub mod workers;

use std::sync::Arc;

use crate::clock::Time;
use crate::vision::detect::DetectionsView;
use crate::vision::frame::RgbFrame;
use crate::vision::quality::QualityView;

/// A vision result of one camera's sample.
pub struct VisionUpdate {
    /// The camera's id.
    pub camera: Arc<str>,
    /// When the sample was taken.
    pub at: Time,
    /// What was found.
    pub result: VisionResult,
}

/// What a stage found on a sample.
pub enum VisionResult {
    /// The picture-quality verdict (from a worker).
    Verdict {
        /// The verdict.
        quality: QualityView,
        /// Picture size.
        size: (u32, u32),
        /// The picture as JPEG, when encoded.
        snapshot: Option<Arc<Vec<u8>>>,
    },
    /// The detections (from the detector).
    Detections {
        /// What the detector found.
        view: DetectionsView,
        /// The decoded picture (rules that look closer, e.g. a truck's cargo area).
        frame: Arc<RgbFrame>,
        /// The same picture as JPEG.
        snapshot: Option<Arc<Vec<u8>>>,
    },
}

/// The sending end the workers and the detector share. Bounded: when the router falls behind
/// (a slow outbox disk) the workers wait, and the drop-oldest sample queue in front of them
/// keeps ingest from ever waiting.
pub type UpdateSender = std::sync::mpsc::SyncSender<VisionUpdate>;

/// Updates waiting for the router at most.
pub const UPDATE_QUEUE: usize = 256;
