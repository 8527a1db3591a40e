//! The `stall` fault: sessions stay up, their media stops.
//!
//! A stalled session's stream transports are switched off (`set_active(false)`), which takes them
//! out of the shared media's fan-out. gst-rtsp-server counts active transports per media and
//! pauses a shared pipeline when the count reaches zero, so the simulator switches back on only
//! the transports it switched off itself; otherwise a client that paused during the stall would
//! be counted twice and leave the count short, pausing the pipeline under other cameras.

use std::sync::Mutex;

use gstreamer::glib;
use gstreamer::glib::prelude::*;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// Stream transports switched off, per stalled camera: (camera, session media, stream indices).
type Stopped = (usize, glib::WeakRef<rtsp::RTSPSessionMedia>, Vec<u32>);

/// Transports switched off per stalled camera.
#[derive(Debug, Default)]
pub struct Stalls {
    off: Mutex<Vec<Stopped>>,
}

impl Stalls {
    /// Stops the media of `session_media` (a session of camera `index`).
    pub fn stop(&self, index: usize, session_media: &rtsp::RTSPSessionMedia) {
        let mut stopped = Vec::new();
        for (i, t) in (0u32..).zip(session_media.transports()) {
            // Fails when already off (a paused session): then it is the client's to resume.
            if t.set_active(false).is_ok() {
                stopped.push(i);
            }
        }
        if !stopped.is_empty() {
            let mut off = self.off.lock().unwrap_or_else(|e| e.into_inner());
            off.push((index, session_media.downgrade(), stopped));
        }
    }

    /// Resumes the media this camera's stall stopped, for the sessions still open.
    pub fn resume(&self, index: usize) {
        for (_, media, streams) in self.take(index) {
            let Some(media) = media.upgrade() else {
                continue;
            };
            for t in streams.into_iter().filter_map(|i| media.transport(i)) {
                let _ = t.set_active(true);
            }
        }
    }

    /// Forgets camera `index`'s stopped transports (its sessions are being closed).
    pub fn forget(&self, index: usize) {
        drop(self.take(index));
    }

    fn take(&self, index: usize) -> Vec<Stopped> {
        let mut off = self.off.lock().unwrap_or_else(|e| e.into_inner());
        let (taken, kept) = std::mem::take(&mut *off)
            .into_iter()
            .partition(|s| s.0 == index);
        *off = kept;
        taken
    }
}
