//! Clips held in memory as H.264 access units, ready to be looped without re-encoding.
//!
//! The camera clip is demuxed once at startup. The `freeze` and `black` clips are encoded once at
//! startup (4 s at 10 fps, an IDR every 2 s) with `openh264enc`; serving them costs no encoding.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use gstreamer as gst;
use gstreamer::prelude::*;

/// Frames per second of the encoded still clips.
const STILL_FPS: i32 = 10;
/// Frames in one encoded still clip (4 s).
const STILL_FRAMES: usize = 40;
/// Frames between IDRs in the encoded still clips (2 s).
const STILL_GOP: i32 = 20;
/// The application message posted once a limited clip has all its frames.
const DONE: &str = "sharpeyes-sim-clip-done";
/// How long building one clip may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// A loopable H.264 clip: `video/x-h264, stream-format=avc, alignment=au` access units.
#[derive(Debug)]
pub struct Clip {
    /// Caps of every frame (with `codec_data`).
    pub caps: gst::Caps,
    /// The access units, in decode order, with their demuxed timestamps.
    pub frames: Vec<gst::Buffer>,
    /// How far timestamps advance per loop.
    pub period: gst::ClockTime,
}

impl Clip {
    /// Demuxes the H.264 track of the MP4 at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Clip> {
        if !path.is_file() {
            bail!(
                "clip {} not found: run from the repository root (the default is \
                 tests/data/cctv_gop20.mp4) or pass --clip PATH to an MP4 with an H.264 track",
                path.display()
            );
        }
        let desc = "filesrc name=src ! qtdemux ! h264parse ! \
                    video/x-h264,stream-format=avc,alignment=au ! fakesink name=sink sync=false";
        collect(desc, Some(path), None).with_context(|| format!("reading clip {}", path.display()))
    }

    /// Encodes a still clip repeating the first picture of the MP4 at `path`.
    pub fn frozen(path: &Path) -> anyhow::Result<Clip> {
        let desc = format!(
            "filesrc name=src ! qtdemux ! h264parse ! decodebin ! videoconvert ! \
             video/x-raw,format=I420 ! imagefreeze ! \
             video/x-raw,framerate={STILL_FPS}/1 ! {}",
            encoder_tail(400_000)
        );
        collect(&desc, Some(path), Some(STILL_FRAMES))
            .context("encoding the frozen clip (needs an H.264 decoder and openh264enc)")
    }

    /// Encodes a black clip of `width`x`height`.
    pub fn black(width: i32, height: i32) -> anyhow::Result<Clip> {
        let desc = format!(
            "videotestsrc pattern=black ! \
             video/x-raw,format=I420,width={width},height={height},framerate={STILL_FPS}/1 ! {}",
            encoder_tail(100_000)
        );
        collect(&desc, None, Some(STILL_FRAMES))
            .context("encoding the black clip (needs openh264enc)")
    }

    /// The picture size from the caps.
    pub fn size(&self) -> Option<(i32, i32)> {
        let s = self.caps.structure(0)?;
        Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?))
    }

    /// Frame `i` of loop `round`: timestamps shifted by `round` periods, so they keep increasing.
    pub fn frame(&self, round: u64, i: usize) -> Option<gst::Buffer> {
        let src = self.frames.get(i)?;
        let offset = self.period * round;
        let mut buf = src.copy();
        {
            let b = buf.make_mut();
            b.set_pts(src.pts().map(|t| t + offset));
            b.set_dts(src.dts().map(|t| t + offset));
            if round > 0 || i > 0 {
                b.unset_flags(gst::BufferFlags::DISCONT);
            }
        }
        Some(buf)
    }
}

/// Encodes raw video to `avc` access units (an IDR every [`STILL_GOP`] frames) into `sink`.
fn encoder_tail(bitrate: u32) -> String {
    format!(
        "openh264enc name=enc gop-size={STILL_GOP} bitrate={bitrate} ! h264parse ! \
         video/x-h264,stream-format=avc,alignment=au ! fakesink name=sink sync=false"
    )
}

/// Runs pipeline `desc` and keeps the buffers reaching its `sink`: all of them up to EOS, or the
/// first `limit` (the pipeline is then stopped without EOS, which spares the encoder a drain and
/// the error openh264 prints on it; an element named `enc` is fed only `limit` buffers).
fn collect(desc: &str, location: Option<&Path>, limit: Option<usize>) -> anyhow::Result<Clip> {
    let pipeline = gst::parse::launch(desc)
        .context("building the pipeline (are the GStreamer plugins installed?)")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    if let Some(path) = location {
        let src = pipeline.by_name("src").context("no src")?;
        src.set_property("location", path.to_string_lossy().as_ref());
    }
    let sink = pipeline.by_name("sink").context("no sink")?;
    let pad = sink.static_pad("sink").context("no sink pad")?;
    let frames = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&frames);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buf) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let mut frames = store.lock().unwrap_or_else(|e| e.into_inner());
        if limit.is_some_and(|n| frames.len() >= n) {
            return gst::PadProbeReturn::Drop;
        }
        frames.push(buf.clone());
        if limit == Some(frames.len())
            && let Some(sink) = pad.parent_element()
        {
            let done = gst::message::Application::new(gst::Structure::new_empty(DONE));
            let _ = sink.post_message(done);
        }
        gst::PadProbeReturn::Ok
    });
    if let Some(n) = limit
        && let Some(enc) = pipeline.by_name("enc").and_then(|e| e.static_pad("sink"))
    {
        // Feed the encoder exactly `n` pictures: it then has nothing in flight when stopped.
        let fed = AtomicUsize::new(0);
        enc.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if fed.fetch_add(1, Ordering::Relaxed) < n {
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Drop
            }
        });
    }
    let result = run_to_eos(&pipeline);
    let caps = pad.current_caps();
    pipeline.set_state(gst::State::Null).ok();
    result?;
    let frames = std::mem::take(&mut *frames.lock().unwrap_or_else(|e| e.into_inner()));
    let caps = caps.context("no caps negotiated")?;
    let period = period(&frames)?;
    Ok(Clip {
        caps,
        frames,
        period,
    })
}

/// Plays `pipeline` until EOS, an error, or an application message (a limited clip is complete).
fn run_to_eos(pipeline: &gst::Pipeline) -> anyhow::Result<()> {
    pipeline
        .set_state(gst::State::Playing)
        .context("starting the pipeline")?;
    let bus = pipeline.bus().context("no bus")?;
    let timeout = gst::ClockTime::from_mseconds(BUILD_TIMEOUT.as_millis() as u64);
    let msg = bus
        .timed_pop_filtered(
            timeout,
            &[
                gst::MessageType::Eos,
                gst::MessageType::Error,
                gst::MessageType::Application,
            ],
        )
        .context("timed out")?;
    match msg.view() {
        gst::MessageView::Error(e) => bail!(
            "{} ({})",
            e.error(),
            e.debug().map(|d| d.to_string()).unwrap_or_default()
        ),
        _ => Ok(()),
    }
}

/// The loop period: from the first decode timestamp to the end of the last frame.
fn period(frames: &[gst::Buffer]) -> anyhow::Result<gst::ClockTime> {
    let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
        bail!("no frames");
    };
    if first.flags().contains(gst::BufferFlags::DELTA_UNIT) {
        bail!("the clip must start with a keyframe");
    }
    if frames.iter().any(|f| f.pts().is_none()) {
        bail!("the clip has frames without timestamps");
    }
    let (Some(t0), Some(t1)) = (first.dts_or_pts(), last.dts_or_pts()) else {
        bail!("the clip has frames without timestamps");
    };
    let step = last
        .duration()
        .unwrap_or(gst::ClockTime::from_mseconds(100));
    let period = t1.saturating_sub(t0) + step;
    if period.is_zero() {
        bail!("zero-length clip");
    }
    Ok(period)
}
