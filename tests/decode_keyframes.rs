//! Keyframe decoding through GStreamer matches ffmpeg's decode of the same frames, for H.264
//! and H.265, with one long-lived decoder reused across samples.

use std::process::Command;

use sharpeyes::vision::decode::{Codec, KeyframeDecoder};
use sharpeyes::vision::frame::RgbFrame;

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
        let frame = dec.decode(&keyframe(t, Codec::H264)).unwrap();
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
        let frame = dec.decode(&keyframe(t, Codec::H265)).unwrap();
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
