//! `sharpeyes sim` end to end: the real binary on free loopback ports, probed with `ffprobe`
//! (an independent RTSP client) and with `retina` (the client the daemon uses), faults switched
//! through the control API while it runs; H.264 cameras and, with `--h265 ID`, H.265 ones.
//!
//! Every wait is bounded; each simulator is killed when its test ends, passing or not.
//! `SHARPEYES_BIN` points the tests at another build of the binary.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::CodecItem;

const USER: &str = "admin";
const PASS: &str = "sim-pass";
/// The stream's IDR interval is 2 s: a healthy session shows a frame well within this.
const FRAME_WAIT: Duration = Duration::from_secs(5);
/// How long a stalled session is watched for (absent) frames.
const STALL_WATCH: Duration = Duration::from_secs(3);

fn bin() -> PathBuf {
    std::env::var_os("SHARPEYES_BIN")
        .map_or_else(|| env!("CARGO_BIN_EXE_sharpeyes").into(), PathBuf::from)
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A running simulator, killed on drop.
struct Sim {
    child: Child,
    control: SocketAddr,
    http: ureq::Agent,
    /// (id, url) of each camera, from `GET /cameras`.
    cameras: Vec<(String, String)>,
}

impl Sim {
    /// Starts `sharpeyes sim` with `n` cameras on free ports, plus `extra` flags.
    fn start(n: u32, extra: &[&str]) -> Sim {
        let mut child = Command::new(bin())
            .args([
                "sim",
                "--cameras",
                &n.to_string(),
                "--port",
                "0",
                "--control",
                "127.0.0.1:0",
            ])
            .arg("--clip")
            .arg(data("cctv_gop20.mp4"))
            .arg("--h265-clip")
            .arg(data("cctv_gop20_h265.mp4"))
            .args(["--username", USER, "--password", PASS])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sharpeyes sim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let mut sim = Sim {
            child,
            control: "0.0.0.0:0".parse().unwrap(),
            http,
            cameras: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no control API line from sim: {e}"));
            if let Some(rest) = line.strip_prefix("sim: control API on http://") {
                sim.control = rest.split_whitespace().next().unwrap().parse().unwrap();
                break;
            }
        }
        let list: serde_json::Value = sim.get_json("/cameras");
        sim.cameras = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(sim.cameras.len(), n as usize);
        sim
    }

    fn url(&self, id: &str) -> String {
        self.cameras
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, u)| u.clone())
            .expect("known camera")
    }

    /// The socket address camera `id` is served on.
    fn addr(&self, id: &str) -> SocketAddr {
        let u = url::Url::parse(&self.url(id)).unwrap();
        SocketAddr::new(u.host_str().unwrap().parse().unwrap(), u.port().unwrap())
    }

    fn get_json(&self, path: &str) -> serde_json::Value {
        let mut resp = self
            .http
            .get(&format!("http://{}{path}", self.control))
            .call()
            .expect("GET");
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.body_mut().read_json().expect("JSON")
    }

    /// `PUT /cameras/{id}/fault`; returns the status and the body.
    fn put_fault(&self, id: &str, fault: &str) -> (u16, String) {
        let url = format!("http://{}/cameras/{id}/fault", self.control);
        let mut resp = self.http.put(&url).send(fault).expect("PUT");
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        (resp.status().as_u16(), body)
    }

    /// Sets a fault and checks the API reports it.
    fn set(&self, id: &str, fault: &str) {
        let (status, body) = self.put_fault(id, fault);
        assert_eq!(status, 200, "PUT {id} {fault}: {body}");
        let state: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(state["fault"], fault);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, killing it after `limit`; returns its stdout and stderr, or `None` on timeout.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Option<(String, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    child.stderr.take()?.read_to_string(&mut err).ok()?;
    Some((out, err))
}

/// The codec names `ffprobe` finds at `url` with `pass`, and its stderr.
fn ffprobe(url: &str, pass: &str) -> (Vec<String>, String) {
    let with_creds = url.replacen("rtsp://", &format!("rtsp://{USER}:{pass}@"), 1);
    let (out, err) = run_bounded(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
            &with_creds,
        ]),
        Duration::from_secs(15),
    )
    .expect("ffprobe finished in time");
    (
        out.lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect(),
        err,
    )
}

fn creds(pass: &str) -> SessionOptions {
    SessionOptions::default().creds(Some(Credentials {
        username: USER.into(),
        password: pass.into(),
    }))
}

async fn describe(
    url: &str,
    pass: &str,
) -> Result<Session<retina::client::Described>, retina::Error> {
    let url = url::Url::parse(url).unwrap();
    tokio::time::timeout(Duration::from_secs(10), Session::describe(url, creds(pass)))
        .await
        .expect("DESCRIBE answered in time")
}

fn status_of(r: Result<Session<retina::client::Described>, retina::Error>) -> Option<u16> {
    match r {
        Ok(_) => Some(200),
        Err(e) => e.status_code(),
    }
}

/// DESCRIBE, SETUP (video, interleaved), PLAY.
async fn play(url: &str) -> Demuxed {
    let mut s = describe(url, PASS).await.expect("DESCRIBE");
    let video = s
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .expect("a video stream");
    let steps = async {
        s.setup(
            video,
            SetupOptions::default().transport(Transport::Tcp(Default::default())),
        )
        .await?;
        s.play(PlayOptions::default()).await?.demuxed()
    };
    tokio::time::timeout(Duration::from_secs(10), steps)
        .await
        .expect("SETUP/PLAY in time")
        .expect("SETUP/PLAY")
}

/// Waits up to `within` for a video frame; `None` if none came (the session still open).
async fn next_frame(d: &mut Demuxed, within: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, d.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(CodecItem::VideoFrame(f)))) => return Some(f.is_random_access_point()),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("session failed: {e}"),
            Ok(None) => panic!("session ended"),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn plays_h264_with_the_password_and_answers_401_without_it() {
    let sim = Sim::start(3, &[]);
    let url = sim.url("cam0002");
    assert!(
        url.starts_with("rtsp://127.0.0.1:") && url.ends_with("/cam0002"),
        "{url}"
    );
    let (codecs, err) = ffprobe(&url, PASS);
    assert_eq!(codecs, ["h264,video"], "{err}");
    let (codecs, err) = ffprobe(&url, "wrong");
    assert!(codecs.is_empty() && err.contains("401"), "{codecs:?} {err}");
    assert_eq!(status_of(describe(&url, "wrong").await), Some(401));
    let mut s = play(&url).await;
    let mut keyframe = false;
    for _ in 0..40 {
        keyframe |= next_frame(&mut s, FRAME_WAIT)
            .await
            .expect("frames keep coming");
    }
    assert!(keyframe, "a keyframe within 40 frames");
    assert_eq!(sim.get_json("/cameras/cam0002")["fault"], "none");
    assert_eq!(sim.get_json("/cameras/cam0002")["codec"], "h264");
}

#[tokio::test(flavor = "current_thread")]
async fn h265_cameras_play_hevc_and_take_every_session_fault() {
    let sim = Sim::start(
        3,
        &[
            "--port-per-camera",
            "--h265",
            "cam0002",
            "--fault",
            "cam0002=auth",
        ],
    );
    let list = sim.get_json("/cameras");
    let codecs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["codec"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["h264", "h265", "h264"], "{list}");
    let url = sim.url("cam0002");
    assert_eq!(
        status_of(describe(&url, PASS).await),
        Some(401),
        "auth fault from the command line"
    );
    sim.set("cam0002", "none");
    let (codecs, err) = ffprobe(&url, PASS);
    assert_eq!(codecs, ["hevc,video"], "{err}");
    let (codecs, err) = ffprobe(&sim.url("cam0001"), PASS);
    assert_eq!(codecs, ["h264,video"], "H.264 cameras beside it: {err}");
    let (codecs, err) = ffprobe(&url, "wrong");
    assert!(codecs.is_empty() && err.contains("401"), "{codecs:?} {err}");
    let described = describe(&url, PASS).await.expect("DESCRIBE");
    let encodings: Vec<&str> = described
        .streams()
        .iter()
        .map(|s| s.encoding_name())
        .collect();
    assert_eq!(encodings, ["h265"]);
    drop(described);

    // An IDR every 20 frames, as in the clip (41 frames hold two).
    let mut s = play(&url).await;
    let mut keyframes = Vec::new();
    for i in 0..41 {
        if next_frame(&mut s, FRAME_WAIT)
            .await
            .expect("frames keep coming")
        {
            keyframes.push(i);
        }
    }
    assert!(
        keyframes.len() >= 2 && keyframes.windows(2).all(|w| w[1] - w[0] == 20),
        "keyframes at {keyframes:?}"
    );
    drop(s);

    sim.set("cam0002", "not_found");
    assert_eq!(status_of(describe(&url, PASS).await), Some(404));
    sim.set("cam0002", "none");
    assert_eq!(status_of(describe(&url, PASS).await), Some(200));

    stall_and_restore(&sim, "cam0002", "cam0001").await;

    sim.set("cam0002", "refuse");
    let err = TcpStream::connect_timeout(&sim.addr("cam0002"), Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    sim.set("cam0002", "none");
    let mut s = play(&url).await;
    assert!(
        next_frame(&mut s, FRAME_WAIT).await.is_some(),
        "reopened on the same port"
    );
    drop(s);

    sim.set("cam0002", "no_video");
    let (codecs, err) = ffprobe(&url, PASS);
    assert_eq!(codecs, ["pcm_alaw,audio"], "{err}");
    sim.set("cam0002", "none");
    let (codecs, err) = ffprobe(&url, PASS);
    assert_eq!(codecs, ["hevc,video"], "back to its own codec: {err}");
}

#[test]
fn h265_for_a_camera_not_in_the_fleet_is_an_error() {
    let (_, err) = run_bounded(
        Command::new(bin()).args([
            "sim",
            "--cameras",
            "2",
            "--port",
            "0",
            "--control",
            "127.0.0.1:0",
            "--h265",
            "cam0009",
        ]),
        Duration::from_secs(15),
    )
    .expect("sim exited in time");
    assert!(err.contains("--h265 cam0009"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn not_found_and_auth_faults_answer_404_and_401_until_cleared() {
    let sim = Sim::start(2, &["--fault", "cam0002=auth"]);
    let (u1, u2) = (sim.url("cam0001"), sim.url("cam0002"));
    assert_eq!(
        status_of(describe(&u2, PASS).await),
        Some(401),
        "auth fault from the command line"
    );
    sim.set("cam0001", "not_found");
    assert_eq!(status_of(describe(&u1, PASS).await), Some(404));
    assert_eq!(
        status_of(describe(&u1, "wrong").await),
        Some(401),
        "credentials checked first"
    );
    sim.set("cam0001", "none");
    sim.set("cam0002", "none");
    assert_eq!(status_of(describe(&u1, PASS).await), Some(200));
    assert_eq!(status_of(describe(&u2, PASS).await), Some(200));

    // A session in progress is cut when its camera's fault changes.
    let mut s = play(&u2).await;
    assert!(next_frame(&mut s, FRAME_WAIT).await.is_some());
    sim.set("cam0002", "auth");
    let cut = tokio::time::timeout(FRAME_WAIT, async {
        // Frames may still be in flight; the stream then ends or fails.
        while let Some(Ok(_)) = s.next().await {}
    });
    assert!(cut.await.is_ok(), "the connection was closed");
    assert_eq!(status_of(describe(&u2, PASS).await), Some(401));
}

#[tokio::test(flavor = "current_thread")]
async fn refuse_closes_only_that_cameras_port() {
    let sim = Sim::start(3, &["--port-per-camera"]);
    let addr = |id: &str| sim.addr(id);
    let ports: std::collections::HashSet<u16> = ["cam0001", "cam0002", "cam0003"]
        .iter()
        .map(|id| addr(id).port())
        .collect();
    assert_eq!(ports.len(), 3, "a port per camera");
    sim.set("cam0002", "refuse");
    let err = TcpStream::connect_timeout(&addr("cam0002"), Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    TcpStream::connect_timeout(&addr("cam0001"), Duration::from_secs(5))
        .expect("cam0001 still listens");
    assert!(describe(&sim.url("cam0002"), PASS).await.is_err());
    sim.set("cam0002", "none");
    let mut s = play(&sim.url("cam0002")).await;
    assert!(
        next_frame(&mut s, FRAME_WAIT).await.is_some(),
        "reopened on the same port"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn refuse_on_a_shared_port_is_a_conflict_and_bad_requests_are_explained() {
    let sim = Sim::start(2, &[]);
    let (status, body) = sim.put_fault("cam0001", "refuse");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("--port-per-camera"), "{body}");
    let (status, body) = sim.put_fault("cam0001", "smoke");
    assert_eq!(status, 400);
    assert!(
        body.contains("stall") && body.contains("no_video"),
        "lists the valid faults: {body}"
    );
    assert_eq!(sim.put_fault("cam0099", "stall").0, 404);
    assert_eq!(sim.get_json("/cameras")[0]["fault"], "none");
    let mut resp = sim
        .http
        .get(&format!("http://{}/healthz", sim.control))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap().trim(), "ok");
}

#[tokio::test(flavor = "current_thread")]
async fn no_video_serves_audio_only() {
    let sim = Sim::start(2, &[]);
    sim.set("cam0001", "no_video");
    let url = sim.url("cam0001");
    let (codecs, err) = ffprobe(&url, PASS);
    assert_eq!(codecs, ["pcm_alaw,audio"], "{err}");
    let s = describe(&url, PASS).await.expect("DESCRIBE");
    assert!(s.streams().iter().all(|s| s.media() != "video"));
}

#[tokio::test(flavor = "current_thread")]
async fn stall_keeps_sessions_but_stops_frames_and_none_restores() {
    let sim = Sim::start(2, &[]);
    stall_and_restore(&sim, "cam0001", "cam0002").await;
}

/// Stalls camera `id` with a session open and checks it, a new session and camera `other`;
/// then clears the stall.
async fn stall_and_restore(sim: &Sim, id: &str, other: &str) {
    let url = sim.url(id);
    let mut old = play(&url).await;
    assert!(next_frame(&mut old, FRAME_WAIT).await.is_some());
    sim.set(id, "stall");
    // A frame already on the wire may still arrive; after that, nothing.
    let _ = next_frame(&mut old, Duration::from_millis(300)).await;
    assert_eq!(
        next_frame(&mut old, STALL_WATCH).await,
        None,
        "no frames while stalled"
    );

    let mut new = play(&url).await;
    assert_eq!(
        next_frame(&mut new, STALL_WATCH).await,
        None,
        "a new session gets no frames either"
    );
    let mut other = play(&sim.url(other)).await;
    assert!(
        next_frame(&mut other, FRAME_WAIT).await.is_some(),
        "other cameras unaffected"
    );

    sim.set(id, "none");
    assert!(
        next_frame(&mut old, FRAME_WAIT).await.is_some(),
        "the stalled session resumes"
    );
    drop((new, old));
    let mut fresh = play(&url).await;
    assert!(next_frame(&mut fresh, FRAME_WAIT).await.is_some());
}

/// Decodes 3 frames 1 s apart from a keyframe on, scaled to 96x72 grey.
fn grey_frames(url: &str) -> Vec<Vec<u8>> {
    let with_creds = url.replacen("rtsp://", &format!("rtsp://{USER}:{PASS}@"), 1);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-rtsp_transport", "tcp", "-i", &with_creds])
        .args([
            "-vf",
            // Every 10th frame from the first keyframe on: joining mid-GOP, the HEVC decoder
            // outputs the pictures before it against made-up grey references.
            "select='if(key,st(0,1);st(1,n));ld(0)*not(mod(n-ld(1),10))',scale=96:72",
            "-fps_mode",
            "passthrough",
        ])
        .args(["-frames:v", "3", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let mut child = out;
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ffmpeg timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut raw = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
    raw.chunks(96 * 72)
        .filter(|c| c.len() == 96 * 72)
        .map(<[u8]>::to_vec)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn freeze_and_black_are_valid_h264() {
    freeze_and_black("h264", &[]).await;
}

#[tokio::test(flavor = "current_thread")]
async fn freeze_and_black_are_valid_h265_on_h265_cameras() {
    freeze_and_black("hevc", &["--h265", "cam0001", "--h265", "cam0002"]).await;
}

/// cam0001 frozen and cam0002 black (started with `extra`) serve `codec` (ffprobe's name): a
/// still picture of the camera's view, a black one, and keyframes every 2 s.
async fn freeze_and_black(codec: &str, extra: &[&str]) {
    let mut args = vec!["--fault", "cam0001=freeze", "--fault", "cam0002=black"];
    args.extend_from_slice(extra);
    let sim = Sim::start(3, &args);
    for id in ["cam0001", "cam0002"] {
        let (codecs, err) = ffprobe(&sim.url(id), PASS);
        assert_eq!(codecs, [format!("{codec},video")], "{id}: {err}");
    }
    let frozen = grey_frames(&sim.url("cam0001"));
    assert_eq!(frozen.len(), 3);
    let diff = |a: &[u8], b: &[u8]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    };
    assert!(
        diff(&frozen[0], &frozen[2]) < 2.0,
        "frozen picture: {}",
        diff(&frozen[0], &frozen[2])
    );
    let mean = |a: &[u8]| a.iter().map(|&v| f64::from(v)).sum::<f64>() / a.len() as f64;
    assert!(
        mean(&frozen[0]) > 40.0,
        "the frozen picture is the camera's, not black"
    );
    let black = grey_frames(&sim.url("cam0002"));
    assert_eq!(black.len(), 3);
    assert!(
        black.iter().all(|f| mean(f) < 20.0),
        "black: {}",
        mean(&black[0])
    );
    // Keyframes keep coming (every 2 s) so a client joining late can decode.
    let mut s = play(&sim.url("cam0001")).await;
    let mut keyframes = 0;
    let start = Instant::now();
    while keyframes < 2 && start.elapsed() < Duration::from_secs(6) {
        if next_frame(&mut s, FRAME_WAIT).await == Some(true) {
            keyframes += 1;
        }
    }
    assert_eq!(keyframes, 2, "two IDRs within 6 s");
    sim.set("cam0001", "none");
    sim.set("cam0002", "none");
}

/// Sets up 300 sessions against one simulator and reports how long it took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load figure; run with --ignored"]
async fn three_hundred_concurrent_sessions() {
    let n = 300;
    let sim = Sim::start(n, &[]);
    let start = Instant::now();
    let tasks: Vec<_> = sim
        .cameras
        .iter()
        .map(|(_, url)| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut s = play(&url).await;
                next_frame(&mut s, Duration::from_secs(30))
                    .await
                    .expect("a frame");
                s
            })
        })
        .collect();
    let mut sessions = Vec::new();
    for t in tasks {
        sessions.push(t.await.expect("session"));
    }
    let setup = start.elapsed();
    eprintln!("{n} sessions set up and receiving frames in {setup:?}");
    assert!(setup < Duration::from_secs(60));
}
