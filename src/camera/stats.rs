//! A camera's ingest counters, updated lock-free by its session task and read by the fleet's
//! views and metrics.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::clock::Mono;

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
    /// Media time (ms) of the last keyframe, valid once `keyframe_media_seen`.
    pub last_keyframe_media: AtomicI64,
    /// A keyframe with a media time has been seen this session.
    pub keyframe_media_seen: std::sync::atomic::AtomicBool,
    /// Frames from one keyframe to the next, last measured (the GOP length).
    pub gop_frames: AtomicU32,
    /// Milliseconds from one keyframe to the next, last measured: on the media clock when
    /// the frames carry media times, else on arrival.
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
    /// Until when (monotonic ms, [`crate::clock::Mono::as_millis`]) someone wants this
    /// camera's pictures: its samples are encoded as JPEG snapshots until then (otherwise only
    /// faulty or detected pictures are). Monotonic: a wall-clock step neither ends nor
    /// stretches the window.
    pub snapshot_wanted_until_ms: AtomicI64,
    /// Take the next keyframe as a sample now, whatever the interval (a snapshot was asked for).
    pub sample_now: std::sync::atomic::AtomicBool,
}

/// How long a snapshot request keeps a camera's samples encoded as JPEG.
pub const SNAPSHOT_WANTED_MS: i64 = 10 * 60 * 1000;

impl CameraStats {
    /// Someone asked for this camera's picture at `now` (monotonic): encode its samples as
    /// JPEG for [`SNAPSHOT_WANTED_MS`], and, with `sample`, sample the next keyframe at once.
    pub fn want_snapshot(&self, now: Mono, sample: bool) {
        self.snapshot_wanted_until_ms
            .fetch_max(now.as_millis() + SNAPSHOT_WANTED_MS, Relaxed);
        if sample {
            self.sample_now.store(true, Relaxed);
        }
    }

    /// Whether a sample taken at `now` (monotonic) is to be encoded as a JPEG snapshot.
    pub fn snapshot_wanted(&self, now: Mono) -> bool {
        self.snapshot_wanted_until_ms.load(Relaxed) > now.as_millis()
    }

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

    /// Records a frame received at `now_ms`, of media time `media_ms` when known.
    pub fn on_frame(&self, keyframe: bool, bytes: usize, now_ms: i64, media_ms: Option<i64>) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
        self.last_frame_ms.store(now_ms, Relaxed);
        let since = self.frames_since_key.fetch_add(1, Relaxed) + 1;
        if keyframe {
            self.keyframes.fetch_add(1, Relaxed);
            let prev = self.last_keyframe_ms.swap(now_ms, Relaxed);
            let prev_media = media_ms.and_then(|m| {
                let prev = self.last_keyframe_media.swap(m, Relaxed);
                self.keyframe_media_seen.swap(true, Relaxed).then_some(prev)
            });
            let spacing = match (media_ms, prev_media) {
                (Some(m), Some(prev)) => Some(m - prev),
                (None, _) if prev != 0 => Some(now_ms - prev),
                _ => None,
            };
            if let Some(ms) = spacing {
                self.gop_frames.store(since, Relaxed);
                self.keyframe_interval_ms
                    .store(ms.clamp(0, u32::MAX as i64) as u32, Relaxed);
            }
            self.frames_since_key.store(0, Relaxed);
        }
    }

    /// A new session starts: keyframe spacing must not span sessions.
    pub fn on_session_start(&self) {
        self.last_keyframe_ms.store(0, Relaxed);
        self.keyframe_media_seen.store(false, Relaxed);
        self.frames_since_key.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_request_holds_for_ten_minutes_of_monotonic_time() {
        let s = CameraStats::default();
        let at = |secs: u64| Mono(std::time::Duration::from_secs(secs));
        assert!(!s.snapshot_wanted(at(0)), "nobody asked yet");
        s.want_snapshot(at(100), false);
        assert!(!s.sample_now.load(Relaxed));
        assert!(s.snapshot_wanted(at(100)));
        assert!(s.snapshot_wanted(at(100 + 599)));
        assert!(!s.snapshot_wanted(at(100 + 600)));
        // A later request extends the window, an earlier reading never shortens it.
        s.want_snapshot(at(400), true);
        assert!(s.sample_now.load(Relaxed));
        s.want_snapshot(at(50), false);
        assert!(s.snapshot_wanted(at(400 + 599)));
        assert!(!s.snapshot_wanted(at(400 + 600)));
    }

    #[test]
    fn keyframe_spacing_is_measured_on_media_time_when_frames_carry_it() {
        let s = CameraStats::default();
        // Read in batches: arrivals 0 / 1.2 s / 2.0 s, media times 0 / 1.0 / 2.0 s.
        s.on_frame(true, 10, 1_000, Some(0));
        for _ in 0..9 {
            s.on_frame(false, 10, 1_100, Some(500));
        }
        s.on_frame(true, 10, 2_200, Some(1_000));
        assert_eq!(s.keyframe_interval_ms.load(Relaxed), 1_000);
        assert_eq!(s.gop_frames.load(Relaxed), 10);
        s.on_frame(true, 10, 3_000, Some(2_000));
        assert_eq!(s.keyframe_interval_ms.load(Relaxed), 1_000);
        // A new session: no spacing across it; without media times, arrival is used.
        s.on_session_start();
        s.on_frame(true, 10, 9_000, None);
        assert_eq!(s.keyframe_interval_ms.load(Relaxed), 1_000);
        s.on_frame(true, 10, 10_500, None);
        assert_eq!(s.keyframe_interval_ms.load(Relaxed), 1_500);
    }
}
