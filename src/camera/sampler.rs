//! Sampled keyframes on their way from the sessions to the vision workers.
//!
//! A bounded queue that drops the **oldest** sample when full: a slow decoder or detector
//! never stalls ingest, and what it eventually sees is the freshest picture. Dropped samples
//! are counted (`sharpeyes_samples_dropped_total`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::clock::Time;
use crate::fleet::CameraEntry;

/// One sampled keyframe: Annex B with its parameter sets, decodable on its own.
pub struct Sample {
    /// The camera it came from.
    pub camera: Arc<CameraEntry>,
    /// `h264` or `h265`.
    pub codec: String,
    /// The access unit.
    pub data: Vec<u8>,
    /// When it was received.
    pub at: Time,
}

/// The bounded, drop-oldest queue of samples.
pub struct SampleQueue {
    inner: Mutex<VecDeque<Sample>>,
    ready: Condvar,
    capacity: usize,
    closed: AtomicBool,
    /// Samples accepted into the queue.
    pub accepted: AtomicU64,
    /// Samples dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl SampleQueue {
    /// A queue holding at most `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Adds a sample, dropping the oldest when full. Never blocks on the consumer.
    pub fn push(&self, sample: Sample) {
        let mut q = self.inner.lock().unwrap();
        if q.len() >= self.capacity {
            q.pop_front();
            self.dropped.fetch_add(1, Relaxed);
        }
        q.push_back(sample);
        self.accepted.fetch_add(1, Relaxed);
        drop(q);
        self.ready.notify_one();
    }

    /// Takes the oldest sample, waiting up to `timeout`; `None` on timeout or once closed.
    pub fn pop(&self, timeout: Duration) -> Option<Sample> {
        let mut q = self.inner.lock().unwrap();
        loop {
            if let Some(s) = q.pop_front() {
                return Some(s);
            }
            if self.closed.load(Relaxed) {
                return None;
            }
            let (guard, res) = self.ready.wait_timeout(q, timeout).unwrap();
            q = guard;
            if res.timed_out() {
                return q.pop_front();
            }
        }
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once [`SampleQueue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Wakes every consumer and makes `pop` return `None` once empty.
    pub fn close(&self) {
        self.closed.store(true, Relaxed);
        self.ready.notify_all();
    }
}
