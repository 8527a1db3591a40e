//! Clips held in memory as H.264 or H.265 access units, ready to be looped without re-encoding.
//!
//! The camera clip is demuxed once at startup. The `freeze` and `black` clips are encoded once at
//! startup (4 s at 10 fps, an IDR every 2 s) with the codec's still encoder (`openh264enc`,
//! `x265enc`); serving them costs no encoding.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::codec::Codec;

/// Frames per second of the encoded still clips.
const STILL_FPS: i32 = 10;
/// Frames in one encoded still clip (4 s).
const STILL_FRAMES: usize = 40;
/// Frames between IDRs in the encoded still clips (2 s).
const STILL_GOP: u32 = 20;
/// The application message posted once a limited clip has all its frames.
const DONE: &str = "sharpeyes-sim-clip-done";
/// How long building one clip may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);
/// What a buffer probe returns to discard a buffer. `Handled`, not `Drop`: the bindings take the
/// buffer out of the probe info (and free it) either way, and GStreamer 1.22 answers `Drop` by
/// unreffing the info's now empty data, printing a `gst_mini_object_unref` CRITICAL per buffer.
const SWALLOW: gst::PadProbeReturn = gst::PadProbeReturn::Handled;

/// A loopable clip: access units with the parameter sets in the caps ([`Codec::caps`]).
#[derive(Debug)]
pub struct Clip {
    /// What the frames are encoded with.
    pub codec: Codec,
    /// Caps of every frame (with `codec_data`).
    pub caps: gst::Caps,
    /// The access units, in decode order, with their demuxed timestamps.
    pub frames: Vec<gst::Buffer>,
    /// How far timestamps advance per loop.
    pub period: gst::ClockTime,
}

impl Clip {
    /// Demuxes the `codec` track of the MP4 at `path`; `flag` names the option giving the path
    /// (for the error message).
    pub fn load(path: &Path, codec: Codec, flag: &str) -> anyhow::Result<Clip> {
        let located = crate::install::locate(path);
        let path = located.as_path();
        if !path.is_file() {
            bail!(
                "clip {} not found (relative paths are also looked up next to the \
                 executable and under <prefix>/share/sharpeyes/): pass {flag} PATH to an MP4 with an {} track",
                path.display(),
                codec.as_str().to_uppercase()
            );
        }
        let desc = format!(
            "filesrc name=src ! qtdemux ! {} ! {} ! fakesink name=sink sync=false",
            codec.parser(),
            codec.caps()
        );
        collect(&desc, Some(path), None, codec)
            .with_context(|| format!("reading clip {}", path.display()))
    }

    /// Encodes a still clip repeating the first picture of the MP4 at `path` (a `codec` track),
    /// in `codec`.
    pub fn frozen(path: &Path, codec: Codec) -> anyhow::Result<Clip> {
        let desc = format!(
            "filesrc name=src ! qtdemux ! {} ! decodebin ! videoconvert ! \
             video/x-raw,format=I420 ! imagefreeze ! \
             video/x-raw,framerate={STILL_FPS}/1 ! {}",
            codec.parser(),
            encoder_tail(codec, 400)
        );
        collect(&desc, Some(path), Some(STILL_FRAMES), codec).with_context(|| {
            format!(
                "encoding the frozen {codec} clip (needs an {} decoder and {})",
                codec.as_str().to_uppercase(),
                codec.still_encoder_name()
            )
        })
    }

    /// Encodes a black clip of `width`x`height` in `codec`.
    pub fn black(width: i32, height: i32, codec: Codec) -> anyhow::Result<Clip> {
        let desc = format!(
            "videotestsrc pattern=black ! \
             video/x-raw,format=I420,width={width},height={height},framerate={STILL_FPS}/1 ! {}",
            encoder_tail(codec, 100)
        );
        collect(&desc, None, Some(STILL_FRAMES), codec).with_context(|| {
            format!(
                "encoding the black {codec} clip (needs {})",
                codec.still_encoder_name()
            )
        })
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

/// Encodes raw video to `codec` access units (an IDR every [`STILL_GOP`] frames) into `sink`.
fn encoder_tail(codec: Codec, bitrate_kbps: u32) -> String {
    format!(
        "{} ! {} ! {} ! fakesink name=sink sync=false",
        codec.still_encoder(STILL_GOP, bitrate_kbps),
        codec.parser(),
        codec.caps()
    )
}

/// Runs pipeline `desc` and keeps the buffers reaching its `sink`: all of them up to EOS, or the
/// first `limit` (the pipeline is then stopped without EOS, which spares the encoder a drain and
/// the error openh264 prints on it; an element named `enc` is fed only `limit` buffers).
fn collect(
    desc: &str,
    location: Option<&Path>,
    limit: Option<usize>,
    codec: Codec,
) -> anyhow::Result<Clip> {
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
            return SWALLOW;
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
                SWALLOW
            }
        });
    }
    let result = run_to_eos(&pipeline);
    let caps = pad.current_caps();
    pipeline.set_state(gst::State::Null).ok();
    result?;
    let mut frames = std::mem::take(&mut *frames.lock().unwrap_or_else(|e| e.into_inner()));
    let caps = caps.context("no caps negotiated")?;
    let period = period(&frames)?;
    rebase(&mut frames);
    Ok(Clip {
        codec,
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

/// Shifts every timestamp so the first frame decodes at zero. An encoder may start at an offset
/// (`x265enc` starts at 1000 h, to keep decode timestamps positive); served as is, the media's
/// sinks would wait that long before sending the first frame.
fn rebase(frames: &mut [gst::Buffer]) {
    let Some(t0) = frames.first().and_then(|f| f.dts_or_pts()) else {
        return;
    };
    if t0.is_zero() {
        return;
    }
    for f in frames {
        let b = f.make_mut();
        b.set_pts(b.pts().map(|t| t.saturating_sub(t0)));
        b.set_dts(b.dts().map(|t| t.saturating_sub(t0)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// Frame indices of the keyframes.
    fn keyframes(clip: &Clip) -> Vec<usize> {
        (0..clip.frames.len())
            .filter(|&i| {
                !clip.frames[i]
                    .flags()
                    .contains(gst::BufferFlags::DELTA_UNIT)
            })
            .collect()
    }

    #[test]
    fn both_camera_clips_load_with_an_idr_every_20_frames() {
        gst::init().unwrap();
        for (codec, file, frames) in [
            (Codec::H264, "cctv_gop20.mp4", 795),
            (Codec::H265, "cctv_gop20_h265.mp4", 300),
        ] {
            let clip = Clip::load(&data(file), codec, "--clip").unwrap();
            assert_eq!(clip.codec, codec);
            assert_eq!(clip.size(), Some((768, 576)), "{file}");
            assert_eq!(clip.frames.len(), frames, "{file}");
            assert_eq!(
                clip.period,
                gst::ClockTime::from_mseconds(frames as u64 * 100)
            );
            let keys = keyframes(&clip);
            assert_eq!(keys.len(), frames.div_ceil(20), "{file}");
            assert!(keys.iter().all(|k| k % 20 == 0), "{file}: {keys:?}");
            // Looping: the second round follows the first, timestamps still increasing.
            let last = clip.frame(0, frames - 1).unwrap().dts_or_pts().unwrap();
            let next = clip.frame(1, 0).unwrap().dts_or_pts().unwrap();
            assert_eq!(next - last, gst::ClockTime::from_mseconds(100), "{file}");
        }
        let err = Clip::load(&data("nope.mp4"), Codec::H265, "--h265-clip").unwrap_err();
        assert!(err.to_string().contains("--h265-clip PATH"), "{err}");
    }

    #[test]
    fn still_clips_are_encoded_in_either_codec_from_time_zero() {
        gst::init().unwrap();
        for codec in Codec::ALL {
            let clip = Clip::black(320, 240, codec).unwrap();
            assert_eq!(clip.codec, codec);
            assert_eq!(clip.size(), Some((320, 240)));
            assert_eq!(clip.frames.len(), STILL_FRAMES);
            assert_eq!(keyframes(&clip), [0, 20], "{codec}");
            // x265enc starts at 1000 h; served like that, nothing would play for 1000 h.
            assert_eq!(clip.frames[0].dts_or_pts(), Some(gst::ClockTime::ZERO));
            assert_eq!(clip.period, gst::ClockTime::from_seconds(4));
        }
    }
}
