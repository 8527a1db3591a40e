//! Picture-quality diagnosis on real frames: the project's CCTV clip (`tests/data/cctv_gop20.mp4`,
//! 768x576), decoded with ffmpeg at test time, then altered in Rust to carry each fault.
//!
//! The original frames must read clean; each altered frame must raise exactly the fault it was
//! given. Run with `--nocapture` to see the measures behind every decision. The time per frame
//! is measured by the ignored test `time_per_frame`:
//!
//! ```sh
//! cargo test --release --test quality_frames -- --ignored --nocapture time_per_frame
//! ```

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use sharpeyes::vision::frame::RgbFrame;
use sharpeyes::vision::quality::{Diagnosis, Fault, FrameSignature, QualityConfig, diagnose};

const CLIP: &str = "tests/data/cctv_gop20.mp4";
/// The sample times that must read clean, seconds.
const CLEAN_TIMES: [f32; 4] = [5.0, 20.0, 40.0, 60.0];

/// One frame of `video` at `t` seconds, as ffmpeg decodes it (PPM through a pipe).
fn grab(video: &Path, t: f32) -> RgbFrame {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-f", "image2pipe", "-vcodec", "ppm", "-"])
        .output()
        .expect("running ffmpeg (install it: apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg failed on {} at {t} s: {}",
        video.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let frame = RgbFrame::from_ppm(&out.stdout).expect("ffmpeg wrote a PPM");
    assert_eq!((frame.width, frame.height), (768, 576));
    frame
}

/// The clip's frames at [`CLEAN_TIMES`], decoded once per test binary.
fn clean_frames() -> &'static [RgbFrame] {
    static FRAMES: OnceLock<Vec<RgbFrame>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join(CLIP);
        CLEAN_TIMES.iter().map(|&t| grab(&clip, t)).collect()
    })
}

/// The frame at 20 s, the one most alterations start from.
fn base() -> &'static RgbFrame {
    &clean_frames()[1]
}

fn run(frame: &RgbFrame, previous: Option<&FrameSignature>) -> Diagnosis {
    diagnose(frame, previous, &QualityConfig::default())
}

/// Diagnoses `frame`, prints its measures, and checks the faults are exactly `faults`.
#[track_caller]
fn expect(
    name: &str,
    frame: &RgbFrame,
    previous: Option<&FrameSignature>,
    faults: &[Fault],
) -> Diagnosis {
    let d = run(frame, previous);
    let m = &d.measures;
    let opt = |v: Option<f32>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    println!(
        "{name:<22} luma {:6.1}  lapvar {:7.1}  occluded {:.3}  K {:5.2}  D {:5.1}  \
         noise {:.5}  stripe {:5.1}/{:4.1}  diff {:>6}  corr {:>5}  -> {:?}",
        m.mean_luma,
        m.laplacian_var,
        m.occluded_fraction,
        m.cast_factor,
        m.chroma_offset,
        m.noise_ratio,
        m.stripe_score,
        m.stripe_amplitude,
        opt(m.diff_to_previous),
        opt(m.scene_correlation),
        d.faults
    );
    assert_eq!(d.faults, faults, "{name}: measures {m:#?}");
    d
}

// ---- alterations -------------------------------------------------------------------------

/// Each pixel through `f(x, y, rgb)`.
fn map(frame: &RgbFrame, mut f: impl FnMut(u32, u32, [u8; 3]) -> [u8; 3]) -> RgbFrame {
    let w = frame.width as usize;
    let mut data = Vec::with_capacity(frame.data.len());
    for (i, p) in frame.data.chunks_exact(3).enumerate() {
        data.extend_from_slice(&f((i % w) as u32, (i / w) as u32, [p[0], p[1], p[2]]));
    }
    RgbFrame::new(frame.width, frame.height, data).unwrap()
}

/// Each output pixel taken from source pixel `f(x, y)` (geometric changes).
fn remap(frame: &RgbFrame, f: impl Fn(u32, u32) -> (u32, u32)) -> RgbFrame {
    map(frame, |x, y, _| {
        let (sx, sy) = f(x, y);
        frame.pixel(sx, sy)
    })
}

/// Box blur of radius `r`, separable, running sums, edges clamped.
fn box_blur(frame: &RgbFrame, r: usize) -> RgbFrame {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let n = (2 * r + 1) as u32;
    let mut tmp = vec![0u8; frame.data.len()];
    let mut out = vec![0u8; frame.data.len()];
    // One line of `len` pixels starting at byte `start`, `step` bytes apart.
    let blur_line = |src: &[u8], dst: &mut [u8], start: usize, step: usize, len: usize| {
        for c in 0..3 {
            let at = |i: isize| src[start + (i.clamp(0, len as isize - 1) as usize) * step + c];
            let mut sum: u32 = (-(r as isize)..=r as isize).map(|i| u32::from(at(i))).sum();
            for i in 0..len {
                dst[start + i * step + c] = (sum / n) as u8;
                sum += u32::from(at(i as isize + r as isize + 1));
                sum -= u32::from(at(i as isize - r as isize));
            }
        }
    };
    for y in 0..h {
        blur_line(&frame.data, &mut tmp, y * w * 3, 3, w);
    }
    for x in 0..w {
        blur_line(&tmp, &mut out, x * 3, w * 3, h);
    }
    RgbFrame::new(frame.width, frame.height, out).unwrap()
}

/// Salt-and-pepper noise: `density` of the pixels set to black or white (deterministic).
fn salt_and_pepper(frame: &RgbFrame, density: f64) -> RgbFrame {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    map(frame, |_, _, p| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        if u < density / 2.0 {
            [0, 0, 0]
        } else if u < density {
            [255, 255, 255]
        } else {
            p
        }
    })
}

/// A sine of `amplitude` levels and `period` pixels added to every row (`rows`) or column.
fn add_sine(frame: &RgbFrame, rows: bool, period: f32, amplitude: f32) -> RgbFrame {
    map(frame, |x, y, p| {
        let t = if rows { y } else { x } as f32;
        let a = amplitude * (t * std::f32::consts::TAU / period).sin();
        p.map(|v| (f32::from(v) + a).clamp(0.0, 255.0) as u8)
    })
}

/// A flat rectangle of `rgb` over the top-left 3/4 x 2/3 of the picture: half its area.
fn half_covered(frame: &RgbFrame, rgb: [u8; 3]) -> RgbFrame {
    let (w, h) = (frame.width, frame.height);
    map(frame, |x, y, p| {
        if x < w * 3 / 4 && y < h * 2 / 3 {
            rgb
        } else {
            p
        }
    })
}

// ---- the clean clip ----------------------------------------------------------------------

#[test]
fn clean_frames_have_no_fault() {
    let mut previous: Option<FrameSignature> = None;
    for (t, frame) in CLEAN_TIMES.iter().zip(clean_frames()) {
        // Alone, and as a sequence of samples 15-20 s apart: neither frozen nor a scene change.
        expect(&format!("clip {t} s"), frame, None, &[]);
        let d = expect(
            &format!("clip {t} s after prev"),
            frame,
            previous.as_ref(),
            &[],
        );
        previous = Some(d.signature);
    }
}

// ---- one fault each ----------------------------------------------------------------------

#[test]
fn blacked_out_is_too_dark() {
    let black = map(base(), |_, _, _| [0, 0, 0]);
    let clean = run(base(), None);
    let d = expect("black", &black, Some(&clean.signature), &[Fault::TooDark]);
    // No picture to judge: not compared, so neither frozen nor scene change next time.
    assert_eq!(d.measures.diff_to_previous, None);
    // Underexposed to 1/12: the scene is still there, but too dark to use.
    let dim = map(base(), |_, _, p| p.map(|v| v / 12));
    expect("underexposed 1/12", &dim, None, &[Fault::TooDark]);
}

#[test]
fn washed_out_is_too_bright() {
    let white = map(base(), |_, _, p| {
        p.map(|v| (u16::from(v) * 2 + 100).min(255) as u8)
    });
    expect("washed out", &white, None, &[Fault::TooBright]);
}

#[test]
fn blurred_is_blur() {
    let mut soft = base().clone();
    for _ in 0..3 {
        soft = box_blur(&soft, 5);
    }
    expect("blur r5 x3", &soft, None, &[Fault::Blur]);
    // Gone soft since the last sample: blur only, the scene did not change.
    let clean = run(base(), None);
    expect(
        "blur r5 x3 after clean",
        &soft,
        Some(&clean.signature),
        &[Fault::Blur],
    );
    // One pass of radius 5 (11 px wide) is already flagged; radius 2 (a soft lens) is not.
    expect("blur r5 x1", &box_blur(base(), 5), None, &[Fault::Blur]);
    expect("blur r2 x1", &box_blur(base(), 2), None, &[]);
}

#[test]
fn tinted_is_color_cast() {
    let yellow = map(base(), |_, _, p| {
        [p[0], p[1], (f32::from(p[2]) * 0.4) as u8]
    });
    expect("blue x0.4", &yellow, None, &[Fault::ColorCast]);
    let mild = map(base(), |_, _, p| {
        [p[0], p[1], (f32::from(p[2]) * 0.8) as u8]
    });
    expect("blue x0.8", &mild, None, &[Fault::ColorCast]);
}

#[test]
fn half_covered_is_occlusion() {
    for (name, rgb) in [
        ("grey cover 50%", [128, 128, 128]),
        ("black cover 50%", [8, 8, 8]),
    ] {
        let clean = run(base(), None);
        let d = expect(name, &half_covered(base(), rgb), None, &[Fault::Occlusion]);
        assert!(d.measures.occluded_fraction >= 0.5, "{:?}", d.measures);
        // Covered since the last sample: occlusion, not a scene change.
        expect(
            &format!("{name} after clean"),
            &half_covered(base(), rgb),
            Some(&clean.signature),
            &[Fault::Occlusion],
        );
    }
}

#[test]
fn salt_and_pepper_is_snow_noise() {
    expect(
        "salt+pepper 3%",
        &salt_and_pepper(base(), 0.03),
        None,
        &[Fault::SnowNoise],
    );
    expect(
        "salt+pepper 1%",
        &salt_and_pepper(base(), 0.01),
        None,
        &[Fault::SnowNoise],
    );
}

#[test]
fn sine_bands_are_stripes() {
    let d = expect(
        "rows sine 10px 10lv",
        &add_sine(base(), true, 10.0, 10.0),
        None,
        &[Fault::Stripes],
    );
    assert!(
        (d.measures.stripe_period - 10.0).abs() < 0.5,
        "{:?}",
        d.measures
    );
    expect(
        "cols sine 7px 6lv",
        &add_sine(base(), false, 7.0, 6.0),
        None,
        &[Fault::Stripes],
    );
    expect(
        "rows sine 16px 6lv",
        &add_sine(base(), true, 16.0, 6.0),
        None,
        &[Fault::Stripes],
    );
}

#[test]
fn repeated_frame_is_frozen() {
    let first = run(base(), None);
    let d = expect(
        "same frame twice",
        base(),
        Some(&first.signature),
        &[Fault::Frozen],
    );
    assert_eq!(d.measures.diff_to_previous, Some(0.0));
}

#[test]
fn reencoded_still_is_frozen() {
    // What a frozen camera sends: one still picture encoded over and over (H.264, an IDR
    // every 2 s). Two samples 3 s apart come from different GOPs and differ by coding noise.
    let dir = tempfile::tempdir().unwrap();
    let still = dir.path().join("still.ppm");
    std::fs::write(&still, base().to_ppm()).unwrap();
    let video = dir.path().join("still.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-loop", "1", "-framerate", "10", "-i"])
        .arg(&still)
        .args(["-t", "4", "-c:v", "libx264", "-g", "20", "-b:v", "400k"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .expect("running ffmpeg");
    assert!(
        status.success(),
        "ffmpeg could not encode the still (needs libx264)"
    );
    let first = expect("still at 0.5 s", &grab(&video, 0.5), None, &[]);
    let d = expect(
        "still at 3.5 s",
        &grab(&video, 3.5),
        Some(&first.signature),
        &[Fault::Frozen],
    );
    assert!(
        d.measures.diff_to_previous.unwrap() > 0.0,
        "coding noise expected"
    );
}

#[test]
fn moved_camera_is_scene_change() {
    let (w, h) = (base().width, base().height);
    let first = run(base(), None);
    let prev = Some(&first.signature);
    // The same view 40 s later (other people, same scene): no change.
    expect("clip 60 s vs 20 s", &clean_frames()[3], prev, &[]);
    let panned = remap(base(), |x, y| ((x + w * 3 / 10) % w, y));
    expect("panned 30%", &panned, prev, &[Fault::SceneChange]);
    let mirrored = remap(base(), |x, y| (w - 1 - x, y));
    expect("mirrored", &mirrored, prev, &[Fault::SceneChange]);
    // Zoomed in: the centre 5/8 cropped and scaled back to 768x576.
    let zoomed = remap(base(), |x, y| {
        (w * 3 / 16 + x * 5 / 8, h * 3 / 16 + y * 5 / 8)
    });
    expect("zoomed 1.6x", &zoomed, prev, &[Fault::SceneChange]);
}

// ---- speed -------------------------------------------------------------------------------

/// Time per `diagnose` call on a 768x576 frame with a previous signature. Meaningful only in
/// an optimised build (see the module documentation); asserts nothing.
#[test]
#[ignore = "timing: run with --release --ignored --nocapture"]
fn time_per_frame() {
    let cfg = QualityConfig::default();
    let frame = base();
    let previous = run(&clean_frames()[0], None).signature;
    for _ in 0..10 {
        std::hint::black_box(diagnose(frame, Some(&previous), &cfg));
    }
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(diagnose(std::hint::black_box(frame), Some(&previous), &cfg));
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
    println!(
        "diagnose 768x576: {per:.3} ms per frame ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "optimised"
        }
    );
}

/// The labelled diagnosis set (`tests/data/diagnose`, real frames altered each way), through
/// `sharpeyes diagnose --labels` as a user runs it: tinted, veiled, brightened or dimmed clean
/// frames are never called `occlusion` or `blur`, and every real cover, blur, black and dark
/// frame is found. (Colour cast has known misses and one false call; see the set's README.)
#[test]
fn labelled_set_confusion_table() {
    let labels = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/diagnose/labels.json"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sharpeyes"))
        .args(["diagnose", "--json", "--labels", labels])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    println!("{}", serde_json::to_string(&r["faults"]).unwrap());
    for fault in ["occlusion", "blur", "too_dark", "too_bright"] {
        let c = &r["faults"][fault];
        assert_eq!(c["fp"], 0, "{fault}: false calls {r}");
        assert_eq!(c["fn_"], 0, "{fault}: misses {r}");
    }
    assert_eq!(r["faults"]["occlusion"]["tp"], 3);
    assert!(r["faults"]["color_cast"]["tp"].as_u64().unwrap() >= 4);
    assert!(r["faults"]["color_cast"]["fp"].as_u64().unwrap() <= 1);
}
