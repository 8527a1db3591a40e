//! JPEG encoding of snapshots with a long-lived GStreamer pipeline
//! (`videoconvert ! jpegenc ! appsink`), fed synchronously from the caller's thread.

use anyhow::{Context as _, anyhow};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::vision::frame::RgbFrame;

/// A reusable JPEG encoder. Not `Sync`: use one per thread.
pub struct JpegEncoder {
    pipeline: gst::Pipeline,
    src_pad: gst::Pad,
    sink: gst_app::AppSink,
    size: Option<(u32, u32)>,
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
            size: None,
            quality,
        })
    }

    /// Encodes one frame.
    pub fn encode(&mut self, frame: &RgbFrame) -> anyhow::Result<Vec<u8>> {
        if self.size != Some((frame.width, frame.height)) {
            let caps = gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .field("width", frame.width as i32)
                .field("height", frame.height as i32)
                .field("framerate", gst::Fraction::new(0, 1))
                .build();
            self.src_pad.push_event(gst::event::Caps::new(&caps));
            if self.size.is_none() {
                self.src_pad
                    .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::ClockTime,
                    >::new()));
            }
            self.size = Some((frame.width, frame.height));
        }
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
