//! JPEG encoding of snapshots with a long-lived GStreamer pipeline
//! (`videoconvert ! jpegenc ! appsink`), fed synchronously from the caller's thread.
//!
//! An I420 picture goes to `jpegenc` as it is (`videoconvert` passes it through: JPEG is
//! YCbCr 4:2:0 too), made full range first, as JFIF readers expect.

use anyhow::{Context as _, anyhow};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::vision::frame::RgbFrame;
use crate::vision::yuv::{Picture, YuvFrame};

/// A reusable JPEG encoder. Not `Sync`: use one per thread.
pub struct JpegEncoder {
    pipeline: gst::Pipeline,
    src_pad: gst::Pad,
    sink: gst_app::AppSink,
    /// The format and size of the caps last sent.
    caps: Option<(&'static str, u32, u32)>,
    quality: i32,
}

impl JpegEncoder {
    /// An encoder at JPEG `quality` (1..100).
    pub fn new(quality: i32) -> anyhow::Result<Self> {
        gst::init().context("initialising GStreamer")?;
        let convert = gst::ElementFactory::make("videoconvert").build()?;
        let enc = gst::ElementFactory::make("jpegenc")
            .property("quality", quality.clamp(1, 100))
            .build()
            .context("GStreamer jpegenc missing (install gstreamer1.0-plugins-good)")?;
        let sink = gst_app::AppSink::builder().sync(false).build();
        sink.set_property("async", false);
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([&convert, &enc, sink.upcast_ref()])?;
        gst::Element::link_many([&convert, &enc, sink.upcast_ref()])?;
        let src_pad = gst::Pad::builder(gst::PadDirection::Src)
            .name("feed")
            .build();
        src_pad
            .link(
                &convert
                    .static_pad("sink")
                    .ok_or_else(|| anyhow!("no sink pad"))?,
            )
            .map_err(|e| anyhow!("linking the feed pad: {e:?}"))?;
        src_pad.set_active(true)?;
        pipeline.set_state(gst::State::Playing)?;
        src_pad.push_event(gst::event::StreamStart::new("sharpeyes-jpeg"));
        Ok(Self {
            pipeline,
            src_pad,
            sink,
            caps: None,
            quality,
        })
    }

    /// Sends caps for `format` at `width x height` when they differ from the last ones.
    fn set_caps(&mut self, format: &'static str, width: u32, height: u32) {
        if self.caps == Some((format, width, height)) {
            return;
        }
        let mut caps = gst::Caps::builder("video/x-raw")
            .field("format", format)
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(0, 1));
        if format == "I420" {
            // Full-range BT.601: what a JFIF file holds, so nothing is converted.
            caps = caps.field("colorimetry", "1:4:0:0");
        }
        self.src_pad
            .push_event(gst::event::Caps::new(&caps.build()));
        if self.caps.is_none() {
            self.src_pad
                .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
        }
        self.caps = Some((format, width, height));
    }

    /// Encodes one picture, RGB or I420.
    pub fn encode_picture(&mut self, picture: &Picture) -> anyhow::Result<Vec<u8>> {
        match picture {
            Picture::Rgb(frame) => self.encode(frame),
            Picture::Yuv(frame) => self.encode_i420(frame),
        }
    }

    /// Encodes one I420 picture (made full range first when it is limited).
    fn encode_i420(&mut self, frame: &YuvFrame) -> anyhow::Result<Vec<u8>> {
        let full;
        let frame = if frame.full_range {
            frame
        } else {
            full = frame.to_full_range();
            &full
        };
        self.set_caps("I420", frame.width, frame.height);
        // GStreamer's default I420 layout: every plane's rows 4-byte aligned, U after the
        // Y plane, V after U.
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (cw, ch) = frame.chroma_size();
        let (ys, cs) = (w.div_ceil(4) * 4, cw.div_ceil(4) * 4);
        let data = if ys == w && cs == cw {
            frame.data.clone()
        } else {
            let mut v = vec![0u8; ys * h + 2 * cs * ch];
            let (uo, vo) = (ys * h, ys * h + cs * ch);
            for (y, src) in frame.y().chunks_exact(w).enumerate() {
                v[y * ys..y * ys + w].copy_from_slice(src);
            }
            for (y, (u, vv)) in frame
                .u()
                .chunks_exact(cw)
                .zip(frame.v().chunks_exact(cw))
                .enumerate()
            {
                v[uo + y * cs..uo + y * cs + cw].copy_from_slice(u);
                v[vo + y * cs..vo + y * cs + cw].copy_from_slice(vv);
            }
            v
        };
        self.push_and_pull(data)
    }

    /// Encodes one RGB frame.
    pub fn encode(&mut self, frame: &RgbFrame) -> anyhow::Result<Vec<u8>> {
        self.set_caps("RGB", frame.width, frame.height);
        // GStreamer's RGB rows are 4-byte aligned; repack when the width needs padding.
        let row = frame.width as usize * 3;
        let stride = row.div_ceil(4) * 4;
        let data = if stride == row {
            frame.data.clone()
        } else {
            let mut v = vec![0u8; stride * frame.height as usize];
            for (y, src) in frame.data.chunks_exact(row).enumerate() {
                v[y * stride..y * stride + row].copy_from_slice(src);
            }
            v
        };
        self.push_and_pull(data)
    }

    /// Pushes one raw picture laid out as the current caps say; returns its JPEG.
    fn push_and_pull(&mut self, data: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        self.src_pad
            .push(gst::Buffer::from_mut_slice(data))
            .map_err(|e| {
                anyhow!(
                    "jpegenc refused the frame: {e:?} (quality {})",
                    self.quality
                )
            })?;
        let sample = self.sink.try_pull_sample(gst::ClockTime::from_seconds(2));
        crate::vision::decode::drain_bus(&self.pipeline, "jpeg");
        let sample = sample.ok_or_else(|| anyhow!("jpegenc produced nothing"))?;
        let buf = sample
            .buffer()
            .ok_or_else(|| anyhow!("empty JPEG sample"))?;
        Ok(buf.map_readable()?.to_vec())
    }
}

impl Drop for JpegEncoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
