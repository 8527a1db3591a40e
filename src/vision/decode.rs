//! Keyframe decoding with GStreamer: a long-lived `h26xparse ! avdec_h26x ! videoconvert !
//! appsink` pipeline per codec and output layout, fed one IDR access unit at a time, reused for
//! every camera. The layout is RGB (for the detector) or I420 ([`Output::I420`], for diagnosis
//! alone: the decoder's own layout for 8-bit 4:2:0 streams, so `videoconvert` passes it
//! through and no pixel is converted).
//!
//! The access unit is pushed synchronously from the caller's thread into the parser's sink
//! pad, followed by EOS, which makes the decoder output it at once (a lone IDR would otherwise
//! wait in the reorder buffer for frames that never come); a flush then readies the same
//! pipeline for the next sample. No pipeline per frame, no decoding of frames not sampled.
//!
//! Input: Annex B with the parameter sets in front of the IDR (retina's
//! `FrameFormat::SIMPLE`), so every sample decodes on its own, whatever camera came before.

use anyhow::{Context as _, anyhow, bail};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::vision::frame::RgbFrame;
use crate::vision::yuv::{Matrix, Picture, YuvFrame};

/// Video codecs the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl Codec {
    /// From retina's encoding name (`h264`, `h265`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "h264" => Some(Codec::H264),
            "h265" | "hevc" => Some(Codec::H265),
            _ => None,
        }
    }

    fn caps(self) -> gst::Caps {
        let name = match self {
            Codec::H264 => "video/x-h264",
            Codec::H265 => "video/x-h265",
        };
        gst::Caps::builder(name)
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build()
    }

    fn elements(self) -> (&'static str, &'static str) {
        match self {
            Codec::H264 => ("h264parse", "avdec_h264"),
            Codec::H265 => ("h265parse", "avdec_h265"),
        }
    }
}

/// The layout a [`KeyframeDecoder`] hands its pictures over in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    /// Packed RGB24 ([`Picture::Rgb`]).
    Rgb,
    /// Planar 8-bit 4:2:0 ([`Picture::Yuv`]).
    I420,
}

impl Output {
    fn format(self) -> &'static str {
        match self {
            Output::Rgb => "RGB",
            Output::I420 => "I420",
        }
    }
}

/// A reusable keyframe decoder for one codec. Not `Sync`: use one per decode thread.
pub struct KeyframeDecoder {
    codec: Codec,
    output: Output,
    pipeline: gst::Pipeline,
    src_pad: gst::Pad,
    sink: gst_app::AppSink,
    pts: u64,
}

impl KeyframeDecoder {
    /// An RGB decoder ([`KeyframeDecoder::with_output`] with [`Output::Rgb`]).
    pub fn new(codec: Codec) -> anyhow::Result<Self> {
        Self::with_output(codec, Output::Rgb)
    }

    /// Builds and starts the pipeline. Fails with a clear message when a GStreamer plugin is
    /// missing (Debian: gstreamer1.0-plugins-bad for the parsers, gstreamer1.0-libav).
    pub fn with_output(codec: Codec, output: Output) -> anyhow::Result<Self> {
        gst::init().context("initialising GStreamer")?;
        let (parse_name, dec_name) = codec.elements();
        let make = |name: &str| {
            gst::ElementFactory::make(name).build().with_context(|| {
                format!("GStreamer element {name} missing (install gstreamer1.0-plugins-bad and gstreamer1.0-libav)")
            })
        };
        let parse = make(parse_name)?;
        let dec = make(dec_name)?;
        // One thread and no frame threading: a sample is one picture; latency matters more.
        dec.set_property("max-threads", 1i32);
        let convert = make("videoconvert")?;
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", output.format())
                    .build(),
            )
            .sync(false)
            .max_buffers(4)
            .drop(false)
            .build();
        // No preroll: the pipeline has no source, so it must not wait for one to reach PLAYING.
        sink.set_property("async", false);
        // EOS is pushed from our own thread: appsink must not wait there for us to pull.
        sink.set_wait_on_eos(false);
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([&parse, &dec, &convert, sink.upcast_ref()])?;
        gst::Element::link_many([&parse, &dec, &convert, sink.upcast_ref()])?;
        let src_pad = gst::Pad::builder(gst::PadDirection::Src)
            .name("feed")
            .build();
        src_pad
            .link(
                &parse
                    .static_pad("sink")
                    .ok_or_else(|| anyhow!("parser has no sink pad"))?,
            )
            .map_err(|e| anyhow!("linking the feed pad: {e:?}"))?;
        src_pad.set_active(true)?;
        pipeline
            .set_state(gst::State::Playing)
            .context("starting the decode pipeline")?;
        let (res, state, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        if res.is_err() || state != gst::State::Playing {
            bail!("the decode pipeline did not start ({res:?}, {state:?})");
        }
        let stream_id = format!("sharpeyes-{codec:?}");
        src_pad.push_event(gst::event::StreamStart::new(&stream_id));
        src_pad.push_event(gst::event::Caps::new(&codec.caps()));
        src_pad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
        Ok(Self {
            codec,
            output,
            pipeline,
            src_pad,
            sink,
            pts: 0,
        })
    }

    /// The codec this decoder takes.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The layout this decoder outputs.
    pub fn output(&self) -> Output {
        self.output
    }

    /// Decodes one keyframe access unit (Annex B, parameter sets included) to a picture in
    /// this decoder's [`Output`] layout.
    pub fn decode(&mut self, access_unit: &[u8]) -> anyhow::Result<Picture> {
        let mut buf = gst::Buffer::from_slice(access_unit.to_vec());
        {
            let b = buf.get_mut().expect("fresh buffer is writable");
            // Monotonic fake timestamps: samples of different cameras are independent pictures.
            b.set_pts(gst::ClockTime::from_mseconds(self.pts));
            b.set_dts(gst::ClockTime::from_mseconds(self.pts));
            self.pts += 40;
        }
        self.src_pad
            .push(buf)
            .map_err(|e| anyhow!("decoder refused the access unit: {e:?}"))?;
        // EOS makes the decoder output what it holds (a lone IDR would otherwise wait in the
        // reorder buffer); the flush right after resets the pipeline for the next sample.
        self.src_pad.push_event(gst::event::Eos::new());
        let mut last = None;
        while let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::ZERO) {
            last = Some(sample);
        }
        self.src_pad.push_event(gst::event::FlushStart::new());
        self.src_pad.push_event(gst::event::FlushStop::new(true));
        self.src_pad
            .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()));
        drain_bus(&self.pipeline, "decoder");
        let sample =
            last.ok_or_else(|| anyhow!("the decoder produced no picture for this keyframe"))?;
        match self.output {
            Output::Rgb => sample_to_rgb(&sample).map(Picture::Rgb),
            Output::I420 => sample_to_i420(&sample).map(Picture::Yuv),
        }
    }

    /// Messages waiting on the pipeline's bus (0 after every [`KeyframeDecoder::decode`]).
    pub fn pending_bus_messages(&self) -> usize {
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        let mut n = 0;
        while bus.pop().is_some() {
            n += 1;
        }
        n
    }
}

/// Pops every message a long-lived pipeline posted. Nobody else reads these buses, and a bus
/// without a reader keeps every message: the EOS (and stream-start, latency, ...) of every
/// sample would pile up, ~0.7 KB a sample, for ever. Errors and warnings are logged.
pub(crate) fn drain_bus(pipeline: &gst::Pipeline, what: &str) {
    let Some(bus) = pipeline.bus() else { return };
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => {
                tracing::warn!("{what} pipeline error: {} ({:?})", e.error(), e.debug())
            }
            gst::MessageView::Warning(w) => {
                tracing::debug!("{what} pipeline warning: {} ({:?})", w.error(), w.debug())
            }
            _ => {}
        }
    }
}

impl Drop for KeyframeDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A decoded sample's video layout and its buffer.
fn sample_parts(
    sample: &gst::Sample,
) -> anyhow::Result<(gstreamer_video::VideoInfo, &gst::BufferRef)> {
    let caps = sample
        .caps()
        .ok_or_else(|| anyhow!("decoded sample without caps"))?;
    let info = gstreamer_video::VideoInfo::from_caps(caps).context("decoded caps")?;
    let buffer = sample
        .buffer()
        .ok_or_else(|| anyhow!("decoded sample without buffer"))?;
    Ok((info, buffer))
}

fn sample_to_rgb(sample: &gst::Sample) -> anyhow::Result<RgbFrame> {
    let (info, buffer) = sample_parts(sample)?;
    let map = buffer.map_readable()?;
    let (w, h) = (info.width(), info.height());
    let stride = info.stride()[0] as usize;
    let row = w as usize * 3;
    if map.len() < stride * (h as usize - 1) + row {
        bail!("decoded buffer too small for {w}x{h}");
    }
    let mut data = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        data.extend_from_slice(&map[y * stride..y * stride + row]);
    }
    RgbFrame::new(w, h, data).map_err(|e| anyhow!("decoded frame: {e}"))
}

fn sample_to_i420(sample: &gst::Sample) -> anyhow::Result<YuvFrame> {
    use gstreamer_video::prelude::VideoFrameExt as _;
    use gstreamer_video::{VideoColorMatrix, VideoColorRange};
    let (info, buffer) = sample_parts(sample)?;
    // Through a video frame mapping: it honours the decoder's strides and plane offsets.
    let frame = gstreamer_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|e| anyhow!("mapping the decoded picture: {e}"))?;
    let (w, h) = (info.width(), info.height());
    let (cw, ch) = ((w as usize).div_ceil(2), (h as usize).div_ceil(2));
    let mut data = Vec::with_capacity(w as usize * h as usize + 2 * cw * ch);
    for (plane, (pw, ph)) in [(w as usize, h as usize), (cw, ch), (cw, ch)]
        .into_iter()
        .enumerate()
    {
        let stride = frame.plane_stride()[plane] as usize;
        let bytes = frame
            .plane_data(plane as u32)
            .map_err(|e| anyhow!("decoded plane {plane}: {e}"))?;
        if ph == 0 || bytes.len() < stride * (ph - 1) + pw {
            bail!("decoded plane {plane} too small for {w}x{h}");
        }
        for row in 0..ph {
            data.extend_from_slice(&bytes[row * stride..row * stride + pw]);
        }
    }
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        VideoColorMatrix::Bt709 => Matrix::Bt709,
        VideoColorMatrix::Bt601 | VideoColorMatrix::Fcc | VideoColorMatrix::Smpte240m => {
            Matrix::Bt601
        }
        _ => Matrix::default_for_height(h),
    };
    let full_range = colorimetry.range() == VideoColorRange::Range0_255;
    YuvFrame::new(w, h, data, matrix, full_range).map_err(|e| anyhow!("decoded frame: {e}"))
}
