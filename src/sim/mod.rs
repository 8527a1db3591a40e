//! `sharpeyes sim`: a simulated camera fleet on loopback, serving real H.264 (or, per camera,
//! H.265) over RTSP, with per-camera faults switchable at runtime through an HTTP control API.
//!
//! Every healthy camera is a mount of one shared media per codec (one pipeline looping an
//! in-memory clip, no re-encoding), so a thousand cameras cost little more CPU than one. Each
//! fault is either another shared media (`freeze`, `black`: a still clip in the camera's codec;
//! `no_video`: audio), a change to the mounts (`not_found`), to authentication (`auth`), to the
//! camera's sessions (`stall`), or to its socket (`refuse`); so every fault works the same for
//! H.264 and H.265 cameras. The H.265 clip and its still clips (encoded with `x265enc`) are
//! loaded only when some camera is H.265 (`--h265 ID`).
//! The GLib main loop (RTSP) runs on a thread of its own, tokio (control API, signals) on the
//! calling thread.

mod auth;
mod clip;
mod codec;
mod control;
mod faults;
mod fleet;
mod media;
mod routing;
mod server;
mod stall;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use gstreamer as gst;
use gstreamer::glib;

pub use codec::Codec;
pub use control::CameraState;
pub use faults::{Fault, FaultSpec, UnknownFault};
pub use fleet::{INVENTORY_HEADER, SimCamera};

use clip::Clip;
use media::{Content, SimFactory};
use routing::Routing;
use server::{ApplyError, Factories, Rtsp, VideoFactories};

/// Options of `sharpeyes sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of cameras to simulate.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cameras: u32,

    /// Address to serve RTSP on (loopback by default; the fleet has one well-known password).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,

    /// RTSP port (0: any free port); with --port-per-camera, the first camera's port.
    #[arg(long, default_value_t = 8554)]
    pub port: u16,

    /// Address of the HTTP control API (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8555")]
    pub control: SocketAddr,

    /// The H.264 MP4 clip every healthy H.264 camera loops (served without re-encoding).
    #[arg(long, default_value = "tests/data/cctv_gop20.mp4")]
    pub clip: PathBuf,

    /// Serve camera ID in H.265 (looping --h265-clip) instead of H.264; repeatable.
    #[arg(long = "h265", value_name = "ID")]
    pub h265: Vec<String>,

    /// The H.265 MP4 clip the --h265 cameras loop (read only when there are some).
    #[arg(long, default_value = "tests/data/cctv_gop20_h265.mp4")]
    pub h265_clip: PathBuf,

    /// Prefix of camera ids: `cam` gives cam0001, cam0002, …
    #[arg(long, default_value = "cam")]
    pub id_prefix: String,

    /// RTSP user name every camera requires (Basic auth).
    #[arg(long, default_value = "admin")]
    pub username: String,

    /// RTSP password every camera requires.
    #[arg(long, default_value = "sim-pass")]
    pub password: String,

    /// Write the fleet's inventory CSV (id,name,url,username,password,region,unit,class,maintainer) here.
    #[arg(long, value_name = "FILE")]
    pub inventory_out: Option<PathBuf>,

    /// Start camera ID with FAULT (none, refuse, auth, not_found, stall, freeze, black,
    /// no_video); repeatable.
    #[arg(long = "fault", value_name = "ID=FAULT")]
    pub faults: Vec<FaultSpec>,

    /// Give each camera its own port (`port + index`; any free ports with --port 0), so the
    /// `refuse` fault can close one camera's socket.
    #[arg(long)]
    pub port_per_camera: bool,
}

/// Runs the simulator until SIGINT/SIGTERM.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    gst::init().context("initialising GStreamer")?;
    let n = args.cameras as usize;
    if args.port_per_camera
        && args.port != 0
        && usize::from(args.port) + n - 1 > usize::from(u16::MAX)
    {
        bail!("--port {} + {} cameras runs past port 65535", args.port, n);
    }
    let base = args.port;
    let per_camera = args.port_per_camera;
    let mut planned = fleet::plan(n, &args.id_prefix, |i| {
        if per_camera && base != 0 {
            base + i as u16
        } else {
            base
        }
    });
    let routing = Arc::new(Routing::new(planned.iter().map(|c| c.id.clone()).collect()));
    let initial = initial_faults(&args, &routing)?;
    for id in &args.h265 {
        let index = routing
            .index(id)
            .with_context(|| format!("--h265 {id}: no camera {id:?} in this fleet"))?;
        planned[index].codec = Codec::H265;
    }

    if !args.listen.is_loopback() {
        tracing::warn!(listen = %args.listen, "sim: serving beyond loopback with one shared password");
    }
    // A socket per camera port, and room for at least a session per camera.
    crate::fdlimit::raise(2 * n + if per_camera { n } else { 0 } + 64, "sim");
    let factories = load_factories(&args, &planned)?;
    let glib_loop = GlibLoop::start()?;
    let auth = auth::SimAuth::build(Arc::clone(&routing), &args.username, &args.password);
    let mut rtsp = Rtsp::start(
        Arc::clone(&routing),
        planned,
        args.listen,
        per_camera,
        factories,
        auth,
    )?;
    rtsp.anchor_media()?;
    for (index, fault) in initial {
        rtsp.set_fault(index, fault).map_err(anyhow::Error::from)?;
    }
    let cameras = rtsp.cameras().to_vec();
    let host = advertised_host(args.listen);
    if let Some(path) = &args.inventory_out {
        fleet::write_inventory_file(path, &cameras, host, &args.username, &args.password)?;
    }

    let listener = std::net::TcpListener::bind(args.control)
        .with_context(|| format!("binding the control API on {}", args.control))?;
    listener.set_nonblocking(true)?;
    let control_addr = listener.local_addr()?;
    print_banner(&cameras, host, per_camera, control_addr, &args);

    let rtsp = Arc::new(Mutex::new(rtsp));
    let api = control::Control::new(
        Arc::clone(&routing),
        &cameras,
        host,
        applier(Arc::clone(&rtsp)),
    );
    let result = serve_control(listener, api);
    drop(glib_loop);
    drop(rtsp);
    println!("sim: stopped");
    result
}

/// The GLib main loop (the RTSP side) on a thread of its own; stopped when dropped.
struct GlibLoop {
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GlibLoop {
    fn start() -> anyhow::Result<GlibLoop> {
        let main_loop = glib::MainLoop::new(None, false);
        let runner = main_loop.clone();
        let thread = std::thread::Builder::new()
            .name("sim-glib".into())
            .spawn(move || runner.run())
            .context("starting the GLib thread")?;
        Ok(GlibLoop {
            main_loop,
            thread: Some(thread),
        })
    }
}

impl Drop for GlibLoop {
    fn drop(&mut self) {
        // Queued on the loop's context, so the quit is not lost if the loop has yet to run.
        let main_loop = self.main_loop.clone();
        glib::MainContext::default().invoke(move || main_loop.quit());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Checks the `--fault` flags against the fleet: (camera index, fault) for each.
fn initial_faults(args: &SimArgs, routing: &Routing) -> anyhow::Result<Vec<(usize, Fault)>> {
    let mut initial = Vec::new();
    for spec in &args.faults {
        let index = routing.index(&spec.id).with_context(|| {
            format!("--fault {}: no camera {:?} in this fleet", spec.id, spec.id)
        })?;
        if spec.fault == Fault::Refuse && !args.port_per_camera {
            bail!("--fault {}=refuse needs --port-per-camera", spec.id);
        }
        initial.push((index, spec.fault));
    }
    Ok(initial)
}

/// The address clients use: a wildcard listener is reached on loopback.
fn advertised_host(listen: IpAddr) -> IpAddr {
    match listen {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        a => a,
    }
}

/// Loads the clips and encodes the still ones: one shared factory per kind of content, for
/// H.264 and, when some of `cameras` are H.265, for H.265.
fn load_factories(args: &SimArgs, cameras: &[SimCamera]) -> anyhow::Result<Factories> {
    let mut video = vec![video_factories(Codec::H264, &args.clip, "--clip")?];
    if cameras.iter().any(|c| c.codec == Codec::H265) {
        video.push(video_factories(
            Codec::H265,
            &args.h265_clip,
            "--h265-clip",
        )?);
    }
    Ok(Factories {
        video,
        audio: SimFactory::build(Content::Audio),
    })
}

/// The `codec` factories: the clip at `path` (given by option `flag`) looped, and still clips of
/// its first picture and of black, encoded in `codec`.
fn video_factories(codec: Codec, path: &Path, flag: &str) -> anyhow::Result<VideoFactories> {
    let clip = Clip::load(path, codec, flag)?;
    let (width, height) = clip
        .size()
        .with_context(|| format!("the caps of clip {} have no picture size", path.display()))?;
    let frozen = Clip::frozen(path, codec)?;
    let black = Clip::black(width, height, codec)?;
    let build = |c: Clip| SimFactory::build(Content::Video(Arc::new(c)));
    Ok(VideoFactories {
        codec,
        normal: build(clip),
        frozen: build(frozen),
        black: build(black),
    })
}

/// Applies faults on the GLib thread, where the RTSP side lives.
fn applier(rtsp: Arc<Mutex<Rtsp>>) -> control::Apply {
    Box::new(move |index, fault| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let rtsp = Arc::clone(&rtsp);
        glib::MainContext::default().invoke(move || {
            let result = rtsp
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .set_fault(index, fault);
            let _ = tx.send(result);
        });
        Box::pin(async move { rx.await.unwrap_or(Err(ApplyError::Stopped)) })
    })
}

/// Prints where RTSP and the control API listen (tests read the control line).
fn print_banner(
    cameras: &[SimCamera],
    host: IpAddr,
    per_camera: bool,
    control: SocketAddr,
    args: &SimArgs,
) {
    let (Some(first), Some(last)) = (cameras.first(), cameras.last()) else {
        return;
    };
    let ports = if per_camera && first.port != last.port {
        format!("ports {}..{} (one per camera)", first.port, last.port)
    } else {
        format!("port {}", first.port)
    };
    println!(
        "sim: serving {} cameras over RTSP on {host} {ports}: {} … {} (user {:?})",
        cameras.len(),
        first.url(host),
        last.url(host),
        args.username
    );
    let h265: Vec<&str> = cameras
        .iter()
        .filter(|c| c.codec == Codec::H265)
        .map(|c| c.id.as_str())
        .collect();
    if !h265.is_empty() {
        println!(
            "sim: {} cameras serve H.265 ({}): {}",
            h265.len(),
            args.h265_clip.display(),
            h265.join(", ")
        );
    }
    println!("sim: control API on http://{control} (GET /cameras, PUT /cameras/{{id}}/fault)");
    if let Some(path) = &args.inventory_out {
        println!("sim: inventory written to {}", path.display());
    }
}

/// Serves the control API until SIGINT or SIGTERM.
fn serve_control(listener: std::net::TcpListener, api: control::Control) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        axum::serve(listener, api.router())
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the control API")
    })
}
