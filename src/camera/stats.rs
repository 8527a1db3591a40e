//! A camera's ingest counters, updated lock-free by its session task and read by the fleet's
//! views and metrics.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Counters of one camera, updated lock-free by its session task.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Video frames received.
    pub frames: AtomicU64,
    /// Video payload bytes received.
    pub bytes: AtomicU64,
    /// Keyframes (IDR) received.
    pub keyframes: AtomicU64,
    /// Unix ms of the last frame; 0 = never.
    pub last_frame_ms: AtomicI64,
    /// Unix ms of the last keyframe; 0 = never.
    pub last_keyframe_ms: AtomicI64,
    /// Frames from one keyframe to the next, last measured (the GOP length).
    pub gop_frames: AtomicU32,
    /// Milliseconds from one keyframe to the next, last measured.
    pub keyframe_interval_ms: AtomicU32,
    /// Frames since the last keyframe (session task only).
    pub frames_since_key: AtomicU32,
    /// Session attempts (hold) or probes (patrol).
    pub attempts: AtomicU64,
    /// Attempts that failed or sessions that ended, followed by a reconnect.
    pub reconnects: AtomicU64,
    /// Milliseconds DESCRIBE..PLAY took on the last successful set-up.
    pub last_setup_ms: AtomicU32,
    /// The camera's clock minus ours (ms) from its last RTCP sender report, valid once
    /// `clock_offset_seen`.
    pub clock_offset_ms: AtomicI64,
    /// A sender report has been seen.
    pub clock_offset_seen: std::sync::atomic::AtomicBool,
}

impl CameraStats {
    /// Records the offset of a sender report.
    pub fn on_clock_offset(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Relaxed);
        self.clock_offset_seen.store(true, Relaxed);
    }

    /// The camera's clock minus ours, seconds, from its last sender report.
    pub fn clock_offset_s(&self) -> Option<f64> {
        self.clock_offset_seen
            .load(Relaxed)
            .then(|| self.clock_offset_ms.load(Relaxed) as f64 / 1000.0)
    }

    /// Records a frame received at `now_ms`.
    pub fn on_frame(&self, keyframe: bool, bytes: usize, now_ms: i64) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
        self.last_frame_ms.store(now_ms, Relaxed);
        let since = self.frames_since_key.fetch_add(1, Relaxed) + 1;
        if keyframe {
            self.keyframes.fetch_add(1, Relaxed);
            let prev = self.last_keyframe_ms.swap(now_ms, Relaxed);
            if prev != 0 {
                self.gop_frames.store(since, Relaxed);
                self.keyframe_interval_ms
                    .store((now_ms - prev).clamp(0, u32::MAX as i64) as u32, Relaxed);
            }
            self.frames_since_key.store(0, Relaxed);
        }
    }

    /// A new session starts: keyframe spacing must not span sessions.
    pub fn on_session_start(&self) {
        self.last_keyframe_ms.store(0, Relaxed);
        self.frames_since_key.store(0, Relaxed);
    }
}
