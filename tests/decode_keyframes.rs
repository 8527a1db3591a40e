//! Keyframe decoding through GStreamer matches ffmpeg's decode of the same frames, for H.264
//! and H.265, with one long-lived decoder reused across samples; the I420 output diagnoses as
//! the RGB output does, and encodes to the same JPEG picture.

use std::process::Command;

use sharpeyes::vision::decode::{Codec, KeyframeDecoder, Output};
use sharpeyes::vision::frame::RgbFrame;
use sharpeyes::vision::quality::{FrameSignature, Measures, QualityConfig, diagnose_picture};
use sharpeyes::vision::yuv::{Matrix, Picture};

const CLIP: &str = "tests/data/cctv_gop20.mp4";

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The IDR access unit at `t` seconds, Annex B with SPS/PPS, as the sampler hands it over.
fn keyframe(t: &str, codec: Codec) -> Vec<u8> {
    match codec {
        Codec::H264 => ffmpeg(&[
            "-ss",
            t,
            "-i",
            CLIP,
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-frames:v",
            "1",
            "-f",
            "h264",
            "-",
        ]),
        Codec::H265 => ffmpeg(&[
            "-ss",
            t,
            "-i",
            CLIP,
            "-frames:v",
            "1",
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-f",
            "hevc",
            "-",
        ]),
    }
}

fn reference(t: &str) -> RgbFrame {
    RgbFrame::from_ppm(&ffmpeg(&[
        "-ss",
        t,
        "-i",
        CLIP,
        "-frames:v",
        "1",
        "-f",
        "image2pipe",
        "-vcodec",
        "ppm",
        "-",
    ]))
    .unwrap()
}

fn mean_abs_diff(a: &RgbFrame, b: &RgbFrame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.data.len() as f64
}

#[test]
fn h264_keyframes_decode_like_ffmpeg_with_one_reused_decoder() {
    let mut dec = KeyframeDecoder::new(Codec::H264).unwrap();
    for t in ["0", "20", "40", "20"] {
        let frame = dec.decode(&keyframe(t, Codec::H264)).unwrap().into_rgb();
        assert_eq!((frame.width, frame.height), (768, 576));
        let d = mean_abs_diff(&frame, &reference(t));
        println!("t={t}s: mean |gstreamer - ffmpeg| = {d:.3} per channel");
        assert!(
            d < 3.0,
            "t={t}: decoded picture differs from ffmpeg's by {d}"
        );
        // Nothing piles up on the long-lived pipeline's bus (it did: ~0.7 KB a sample).
        assert_eq!(
            dec.pending_bus_messages(),
            0,
            "bus drained after each sample"
        );
    }
}

#[test]
fn h265_keyframes_decode() {
    let mut dec = KeyframeDecoder::new(Codec::H265).unwrap();
    for t in ["5", "30"] {
        let frame = dec.decode(&keyframe(t, Codec::H265)).unwrap().into_rgb();
        assert_eq!((frame.width, frame.height), (768, 576));
        let d = mean_abs_diff(&frame, &reference(t));
        println!("h265 t={t}s: mean |decoded - ffmpeg h264 decode| = {d:.3}");
        assert!(d < 6.0, "t={t}: {d}"); // re-encoded, so lossy twice
    }
}

#[test]
fn garbage_is_an_error_not_a_hang() {
    let mut dec = KeyframeDecoder::new(Codec::H264).unwrap();
    assert!(dec.decode(&[0, 0, 0, 1, 0x65, 1, 2, 3]).is_err());
    // ... and the decoder still works afterwards.
    assert!(dec.decode(&keyframe("0", Codec::H264)).is_ok());
}

#[test]
fn i420_output_is_the_decoders_picture_without_conversion() {
    let mut dec = KeyframeDecoder::with_output(Codec::H264, Output::I420).unwrap();
    for t in ["0", "40"] {
        let Picture::Yuv(yuv) = dec.decode(&keyframe(t, Codec::H264)).unwrap() else {
            panic!("an I420 decoder gave RGB");
        };
        assert_eq!((yuv.width, yuv.height), (768, 576));
        // The clip is SD and limited range: BT.601, as videoconvert assumes.
        assert_eq!((yuv.matrix, yuv.full_range), (Matrix::Bt601, false));
        let d = mean_abs_diff(&yuv.to_rgb(), &reference(t));
        println!("t={t}s: mean |I420 to RGB - ffmpeg| = {d:.3} per channel");
        assert!(d < 3.5, "t={t}: {d}");
        assert_eq!(dec.pending_bus_messages(), 0);
    }
}

/// Every measure of two diagnoses, side by side.
fn measures(m: &Measures) -> Vec<(&'static str, f32)> {
    vec![
        ("mean_luma", m.mean_luma),
        ("laplacian_var", m.laplacian_var),
        ("occluded_fraction", m.occluded_fraction),
        ("luma_std", m.luma_std),
        ("cast_factor", m.cast_factor),
        ("chroma_offset", m.chroma_offset),
        ("noise_ratio", m.noise_ratio),
        ("stripe_score", m.stripe_score),
        ("stripe_amplitude", m.stripe_amplitude),
        ("diff_to_previous", m.diff_to_previous.unwrap_or(-1.0)),
        ("scene_correlation", m.scene_correlation.unwrap_or(-1.0)),
    ]
}

/// The diagnosis thresholds were calibrated on the clip as ffmpeg decodes it to RGB
/// (`tests/quality_frames.rs`); the I420 path must read what those pictures read. (GStreamer's
/// own RGB conversion, the detector's path, reads a little darker: printed for the record.)
#[test]
fn diagnosis_on_i420_planes_reads_as_on_the_rgb_picture() {
    let cfg = QualityConfig::default();
    let mut rgb_dec = KeyframeDecoder::new(Codec::H264).unwrap();
    let mut yuv_dec = KeyframeDecoder::with_output(Codec::H264, Output::I420).unwrap();
    let (mut prev_ref, mut prev_yuv): (Option<FrameSignature>, Option<FrameSignature>) =
        (None, None);
    for t in ["0", "20", "40", "60"] {
        let au = keyframe(t, Codec::H264);
        let a = diagnose_picture(&Picture::Rgb(reference(t)), prev_ref.as_ref(), &cfg);
        let b = diagnose_picture(&yuv_dec.decode(&au).unwrap(), prev_yuv.as_ref(), &cfg);
        let g = diagnose_picture(&rgb_dec.decode(&au).unwrap(), None, &cfg);
        println!(
            "t={t}s mean_luma: ffmpeg RGB {:.2}, I420 {:.2}, GStreamer RGB {:.2}",
            a.measures.mean_luma, b.measures.mean_luma, g.measures.mean_luma
        );
        assert_eq!(a.faults, b.faults, "t={t}");
        for ((name, x), (_, y)) in measures(&a.measures).into_iter().zip(measures(&b.measures)) {
            // Relative for the large measures, absolute for the small ones.
            let tolerance = match name {
                "laplacian_var" => 0.05 * x,
                "stripe_score" => 0.15 * x.max(1.0),
                "noise_ratio" => 2e-5,
                "occluded_fraction" => 0.011,
                "scene_correlation" => 0.03,
                "cast_factor" => 0.1,
                // The LUT is BT.601's exact inverse; ffmpeg's (and more so GStreamer's)
                // integer RGB conversion rounds down, reading ~1 level (~3) darker.
                "mean_luma" => 2.0,
                _ => 1.0,
            };
            println!("t={t}s {name}: ffmpeg RGB {x:.4}, I420 {y:.4}");
            assert!(
                (x - y).abs() <= tolerance,
                "t={t}s {name}: ffmpeg RGB {x} vs I420 {y} (tolerance {tolerance})"
            );
        }
        (prev_ref, prev_yuv) = (Some(a.signature), Some(b.signature));
    }
}

#[test]
fn jpeg_of_an_i420_picture_shows_the_picture() {
    let mut dec = KeyframeDecoder::with_output(Codec::H264, Output::I420).unwrap();
    let picture = dec.decode(&keyframe("20", Codec::H264)).unwrap();
    let mut jpeg = sharpeyes::vision::jpeg::JpegEncoder::new(90).unwrap();
    let bytes = jpeg.encode_picture(&picture).unwrap();
    assert_eq!(&bytes[..2], &[0xff, 0xd8], "a JPEG");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let back = sharpeyes::vision::image::load(&path).unwrap();
    // Full range restored before encoding: the levels of the picture, not washed out.
    let d = mean_abs_diff(&back, &reference("20"));
    println!("mean |JPEG of I420 - ffmpeg| = {d:.3} per channel");
    assert!(d < 4.0, "{d}");
    // And an RGB picture through the same encoder after it (caps switch both ways).
    let rgb = jpeg.encode_picture(&Picture::Rgb(reference("20"))).unwrap();
    assert_eq!(&rgb[..2], &[0xff, 0xd8]);
}
