//! Sampled keyframes on their way from the sessions to the vision workers.
//!
//! A bounded queue that drops the **oldest** sample when full: a slow decoder or detector
//! never stalls ingest, and what it eventually sees is the freshest picture. Dropped samples
//! are counted (`sharpeyes_samples_dropped_total`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus::proto::MetricType;

use crate::clock::Time;
use crate::queue::DropOldest;
use crate::telemetry::{MetricSource, counter, family, gauge};

/// One sampled keyframe: Annex B with its parameter sets, decodable on its own.
pub struct Sample {
    /// The id of the camera it came from (the sample holds no reference into the fleet).
    pub camera: Arc<str>,
    /// `h264` or `h265`.
    pub codec: String,
    /// The access unit.
    pub data: Vec<u8>,
    /// When it was received.
    pub at: Time,
    /// Encode it as a JPEG snapshot whatever the verdict (someone is looking at the camera).
    pub snapshot: bool,
}

/// The queue of samples between the sessions and the vision workers.
pub type SampleQueue = DropOldest<Sample>;

/// The queue's figures for `/metrics`: samples accepted, dropped, waiting.
pub fn metric_source(q: Arc<SampleQueue>) -> MetricSource {
    Arc::new(move || {
        vec![
            family(
                "sharpeyes_samples_total",
                "Keyframes sampled from sessions and queued for decoding.",
                MetricType::COUNTER,
                vec![counter(&[], q.accepted.load(Relaxed) as f64)],
            ),
            family(
                "sharpeyes_samples_dropped_total",
                "Samples dropped (oldest first) because the decoders fell behind.",
                MetricType::COUNTER,
                vec![counter(&[], q.dropped.load(Relaxed) as f64)],
            ),
            family(
                "sharpeyes_sample_queue_length",
                "Samples waiting for a decoder.",
                MetricType::GAUGE,
                vec![gauge(&[], q.len() as f64)],
            ),
        ]
    })
}
