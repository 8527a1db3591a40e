//! Still images in and out of [`RgbFrame`] with GStreamer, and box outlines for annotation.
//!
//! - [`load`] decodes a JPEG or PNG (anything `decodebin` handles) with
//!   `filesrc ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink` ([`DECODE_PIPELINE`])
//!   and copies the first picture, row by row (GStreamer pads RGB rows to 4 bytes), into a packed
//!   [`RgbFrame`].
//! - [`write_jpeg`] / [`write_png`] encode with `appsrc ! videoconvert ! jpegenc|pngenc ! filesink`.
//! - [`draw_box`] draws a rectangle outline (no fonts).
//!
//! JPEG decoders do not agree to the last bit: GStreamer's `jpegdec` (I420 output, converted by
//! `videoconvert`) and libjpeg's own RGB path (PIL, OpenCV) differ by a few levels on most pixels,
//! enough to move detector scores by ~0.01-0.04. Comparisons against a reference therefore decode
//! with this same pipeline (`scripts/reference_detect.py` runs it with `gst-launch-1.0`). PNG
//! decoding is exact everywhere.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::frame::RgbFrame;

/// The decoding pipeline of [`load`] (the file name is set on `filesrc`'s `location`).
pub const DECODE_PIPELINE: &str =
    "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink";

/// How long decoding or encoding one picture may take before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(20);

fn init() -> anyhow::Result<()> {
    gst::init().context("initialising GStreamer")
}

/// The first error message on the pipeline's bus, as text, if any.
fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(match e.debug() {
            Some(debug) => format!("{} ({debug})", e.error()),
            None => e.error().to_string(),
        }),
        _ => None,
    }
}

/// Stops a pipeline when dropped, so that every exit path releases it.
struct Stop(gst::Pipeline);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

fn pipeline(description: &str) -> anyhow::Result<gst::Pipeline> {
    gst::parse::launch(description)
        .with_context(|| format!("building GStreamer pipeline `{description}`"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("`{description}` is not a pipeline"))
}

/// Decodes the image file at `path` (JPEG, PNG, or whatever `decodebin` recognises) into a packed
/// RGB24 frame. For a multi-picture file (a video), the first picture.
pub fn load(path: &Path) -> anyhow::Result<RgbFrame> {
    init()?;
    ensure!(path.is_file(), "image {} does not exist", path.display());
    let pipeline = pipeline(DECODE_PIPELINE)?;
    let stop = Stop(pipeline.clone());
    let src = pipeline.by_name("src").expect("filesrc named src");
    src.set_property(
        "location",
        path.to_str().context("image path is not UTF-8")?,
    );
    let sink = pipeline
        .by_name("sink")
        .expect("appsink named sink")
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("sink is not an appsink"))?;
    sink.set_property("sync", false);

    // PAUSED is enough: the sink prerolls on the first picture, which is all we want.
    let fail = |what: &str| {
        let detail = bus_error(&pipeline).unwrap_or_else(|| "no error message".into());
        anyhow!("cannot decode {}: {what}: {detail}", path.display())
    };
    if pipeline.set_state(gst::State::Paused).is_err() {
        return Err(fail("pipeline did not start"));
    }
    // Returns as soon as the sink has prerolled or an element has failed.
    let (reached, _, _) = pipeline.state(gst::ClockTime::from_mseconds(TIMEOUT.as_millis() as u64));
    if reached.is_err() {
        return Err(fail("not decodable"));
    }
    let sample = sink
        .try_pull_preroll(gst::ClockTime::ZERO)
        .ok_or_else(|| fail("no picture"))?;
    let frame = sample_to_frame(&sample)
        .with_context(|| format!("reading the decoded picture of {}", path.display()))?;
    drop(stop);
    Ok(frame)
}

/// Copies an RGB sample (rows possibly padded) into a packed [`RgbFrame`].
fn sample_to_frame(sample: &gst::Sample) -> anyhow::Result<RgbFrame> {
    let caps = sample.caps().context("sample has no caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).context("sample caps are not raw video")?;
    ensure!(
        info.format() == gst_video::VideoFormat::Rgb,
        "decoded format is {:?}, not RGB",
        info.format()
    );
    let buffer = sample.buffer().context("sample has no buffer")?;
    // A VideoMeta, when present, carries the real strides and offsets.
    let (width, height) = (info.width(), info.height());
    let (offset, stride) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset()[0], meta.stride()[0]),
        None => (info.offset()[0], info.stride()[0]),
    };
    ensure!(stride > 0, "negative or zero stride {stride}");
    let (stride, row) = (stride as usize, width as usize * 3);
    ensure!(
        stride >= row,
        "stride {stride} shorter than a row of {row} bytes"
    );
    let map = buffer
        .map_readable()
        .context("mapping the decoded buffer")?;
    let bytes = map.as_slice();
    let needed = offset + stride * (height as usize - 1) + row;
    ensure!(
        bytes.len() >= needed,
        "decoded buffer holds {} bytes, {width}x{height} RGB with stride {stride} needs {needed}",
        bytes.len()
    );
    let mut data = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let start = offset + y * stride;
        data.extend_from_slice(&bytes[start..start + row]);
    }
    Ok(RgbFrame::new(width, height, data)?)
}

/// Encodes `frame` as a JPEG file (quality 90) at `path`.
pub fn write_jpeg(frame: &RgbFrame, path: &Path) -> anyhow::Result<()> {
    encode(frame, path, "jpegenc quality=90")
}

/// Encodes `frame` as a PNG file at `path` (lossless).
pub fn write_png(frame: &RgbFrame, path: &Path) -> anyhow::Result<()> {
    encode(frame, path, "pngenc")
}

fn encode(frame: &RgbFrame, path: &Path, encoder: &str) -> anyhow::Result<()> {
    init()?;
    frame.validate()?;
    let pipeline = pipeline(&format!(
        "appsrc name=src format=time ! videoconvert ! {encoder} ! filesink name=sink"
    ))?;
    let stop = Stop(pipeline.clone());
    pipeline
        .by_name("sink")
        .expect("filesink named sink")
        .set_property(
            "location",
            path.to_str().context("output path is not UTF-8")?,
        );
    let src = pipeline
        .by_name("src")
        .expect("appsrc named src")
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| anyhow!("src is not an appsrc"))?;
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, frame.width, frame.height)
            .fps(gst::Fraction::new(0, 1))
            .build()
            .context("describing the frame to GStreamer")?;
    src.set_caps(Some(&info.to_caps().context("frame caps")?));

    // Lay the packed rows out with GStreamer's default stride (rows padded to 4 bytes).
    let stride = info.stride()[0] as usize;
    let row = frame.stride();
    let mut padded = vec![0u8; info.size()];
    for y in 0..frame.height {
        let at = info.offset()[0] + y as usize * stride;
        padded[at..at + row].copy_from_slice(frame.row(y));
    }
    let mut buffer = gst::Buffer::from_mut_slice(padded);
    buffer
        .get_mut()
        .expect("new buffer is writable")
        .set_pts(gst::ClockTime::ZERO);

    pipeline.set_state(gst::State::Playing).map_err(|_| {
        anyhow!(
            "cannot start encoding: {}",
            bus_error(&pipeline).unwrap_or_default()
        )
    })?;
    src.push_buffer(buffer)
        .map_err(|e| anyhow!("pushing the frame to the encoder: {e:?}"))?;
    src.end_of_stream()
        .map_err(|e| anyhow!("ending the encoder stream: {e:?}"))?;
    let bus = pipeline.bus().context("pipeline has no bus")?;
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_mseconds(TIMEOUT.as_millis() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or_else(|| anyhow!("encoding {} did not finish", path.display()))?;
    if let gst::MessageView::Error(e) = msg.view() {
        bail!("cannot write {}: {}", path.display(), e.error());
    }
    drop(stop);
    Ok(())
}

/// Draws the outline of `bbox` (`[x1, y1, x2, y2]` in frame pixels, clamped to the frame) in
/// `colour`, about 1/240 of the smaller frame side thick (at least 1 px), growing inwards.
pub fn draw_box(frame: &mut RgbFrame, bbox: [f32; 4], colour: [u8; 3]) {
    let thickness = (frame.width.min(frame.height) / 240).max(1);
    draw_box_with(frame, bbox, colour, thickness);
}

/// [`draw_box`] with an explicit line thickness in pixels.
pub fn draw_box_with(frame: &mut RgbFrame, bbox: [f32; 4], colour: [u8; 3], thickness: u32) {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 || bbox.iter().any(|v| !v.is_finite()) {
        return;
    }
    // Pixel columns/rows covered by the box: [floor(x1), ceil(x2) - 1], clamped.
    let clamp = |v: f32, max: u32| (v.max(0.0) as u32).min(max - 1);
    let (x1, y1) = (clamp(bbox[0].floor(), w), clamp(bbox[1].floor(), h));
    let (x2, y2) = (
        clamp(bbox[2].ceil() - 1.0, w),
        clamp(bbox[3].ceil() - 1.0, h),
    );
    if x2 < x1 || y2 < y1 {
        return;
    }
    let t = thickness.max(1) - 1;
    let mut fill = |xa: u32, ya: u32, xb: u32, yb: u32| {
        for y in ya..=yb {
            for x in xa..=xb {
                frame.set_pixel(x, y, colour);
            }
        }
    };
    fill(x1, y1, x2, (y1 + t).min(y2)); // top
    fill(x1, y2.saturating_sub(t).max(y1), x2, y2); // bottom
    fill(x1, y1, (x1 + t).min(x2), y2); // left
    fill(x2.saturating_sub(t).max(x1), y1, x2, y2); // right
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_box_outlines_and_clamps() {
        let mut f = RgbFrame::filled(10, 8, [0, 0, 0]);
        draw_box_with(&mut f, [2.0, 1.0, 6.0, 5.0], [255, 0, 0], 1);
        let red = |f: &RgbFrame, x, y| f.pixel(x, y) == [255, 0, 0];
        // Corners and edges of columns 2..=5, rows 1..=4.
        for (x, y) in [
            (2, 1),
            (5, 1),
            (2, 4),
            (5, 4),
            (3, 1),
            (2, 3),
            (5, 2),
            (4, 4),
        ] {
            assert!(red(&f, x, y), "({x},{y}) not drawn");
        }
        for (x, y) in [(3, 2), (4, 3), (1, 1), (6, 1), (2, 5), (2, 0)] {
            assert!(!red(&f, x, y), "({x},{y}) drawn");
        }
        // Out-of-frame coordinates clamp; NaN draws nothing.
        let mut g = RgbFrame::filled(10, 8, [0, 0, 0]);
        draw_box_with(&mut g, [-5.0, -5.0, 50.0, 50.0], [0, 255, 0], 2);
        assert_eq!(g.pixel(0, 0), [0, 255, 0]);
        assert_eq!(g.pixel(9, 7), [0, 255, 0]);
        assert_eq!(g.pixel(1, 1), [0, 255, 0]);
        assert_eq!(g.pixel(2, 2), [0, 0, 0]);
        let mut n = RgbFrame::filled(4, 4, [0, 0, 0]);
        draw_box_with(&mut n, [f32::NAN, 0.0, 2.0, 2.0], [1, 1, 1], 1);
        assert_eq!(n, RgbFrame::filled(4, 4, [0, 0, 0]));
    }

    #[test]
    fn png_round_trip_is_exact_with_odd_width() {
        // Width 13: rows of 39 bytes, padded to 40 inside GStreamer.
        let frame = RgbFrame::from_fn(13, 7, |x, y| {
            [(x * 19) as u8, (y * 37) as u8, (x * y) as u8]
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.png");
        write_png(&frame, &path).unwrap();
        assert_eq!(load(&path).unwrap(), frame);
    }

    #[test]
    fn jpeg_round_trip_is_close() {
        let frame = RgbFrame::from_fn(64, 48, |x, y| [(x * 4) as u8, (y * 5) as u8, 128]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jpg");
        write_jpeg(&frame, &path).unwrap();
        let back = load(&path).unwrap();
        assert_eq!((back.width, back.height), (64, 48));
        let mean_err: f64 = frame
            .data
            .iter()
            .zip(&back.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / frame.data.len() as f64;
        assert!(mean_err < 3.0, "mean error {mean_err}");
    }

    #[test]
    fn missing_and_broken_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&dir.path().join("none.jpg")).unwrap_err();
        assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
        let junk = dir.path().join("junk.jpg");
        std::fs::write(&junk, b"this is not an image at all").unwrap();
        let err = load(&junk).unwrap_err();
        assert!(format!("{err:#}").contains("cannot decode"), "{err:#}");
    }
}
