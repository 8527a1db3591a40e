//! A bounded queue that drops the oldest item when full: between stages whose producer must
//! never wait (sessions → vision workers, vision workers → the detector). What a slow
//! consumer eventually sees is the freshest item; drops are counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A bounded queue that drops the oldest item when full, for producers that must never wait.
pub struct DropOldest<T> {
    inner: Mutex<VecDeque<T>>,
    ready: Condvar,
    capacity: usize,
    closed: AtomicBool,
    /// Items accepted into the queue.
    pub accepted: AtomicU64,
    /// Items dropped because the queue was full.
    pub dropped: AtomicU64,
}

impl<T> DropOldest<T> {
    /// A queue holding at most `capacity` items.
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

    /// Adds an item, dropping the oldest when full. Never blocks on the consumer.
    pub fn push(&self, sample: T) {
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

    /// Takes up to `max` items (oldest first), waiting up to `timeout` for the first; empty on
    /// timeout or once closed and drained.
    pub fn pop_batch(&self, max: usize, timeout: Duration) -> Vec<T> {
        let Some(first) = self.pop(timeout) else {
            return Vec::new();
        };
        let mut q = self.inner.lock().unwrap();
        let mut out = vec![first];
        while out.len() < max.max(1) {
            match q.pop_front() {
                Some(x) => out.push(x),
                None => break,
            }
        }
        out
    }

    /// Takes the oldest item, waiting up to `timeout`; `None` on timeout or once closed.
    pub fn pop(&self, timeout: Duration) -> Option<T> {
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

    /// Items waiting.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drops_the_oldest_when_full_and_counts_it() {
        let q = DropOldest::new(3);
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.dropped.load(Relaxed), 2);
        assert_eq!(q.pop_batch(10, Duration::ZERO), vec![2, 3, 4]);
        assert!(q.pop(Duration::from_millis(10)).is_none());
    }

    #[test]
    fn close_wakes_consumers() {
        let q = Arc::new(DropOldest::<u32>::new(1));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.pop(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert_eq!(t.join().unwrap(), None);
    }
}
