//! The RTSP side: listening sockets, mounts, and applying a fault to a running camera.
//!
//! Faults are applied on the GLib thread (at startup, before any client, on the calling one);
//! the server's worker thread reads only the shared [`Routing`]. With a shared port there is one
//! listener for the whole fleet; with `--port-per-camera` each camera has its own (so `refuse`
//! can close it).
//! All listeners share one auth, one session pool and the server's default thread pool.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use super::codec::Codec;
use super::faults::Fault;
use super::fleet::SimCamera;
use super::routing::Routing;

/// The shared video factories of one codec, one per kind of picture.
#[derive(Debug, Clone)]
pub struct VideoFactories {
    /// The codec all three serve.
    pub codec: Codec,
    /// The looped camera clip.
    pub normal: rtsp::RTSPMediaFactory,
    /// One still picture.
    pub frozen: rtsp::RTSPMediaFactory,
    /// A black picture.
    pub black: rtsp::RTSPMediaFactory,
}

/// The shared factories: video per codec served, and audio (codec-neutral).
#[derive(Debug, Clone)]
pub struct Factories {
    /// Video, one set per codec some camera serves.
    pub video: Vec<VideoFactories>,
    /// Audio only.
    pub audio: rtsp::RTSPMediaFactory,
}

impl Factories {
    fn all(&self) -> Vec<&rtsp::RTSPMediaFactory> {
        self.video
            .iter()
            .flat_map(|v| [&v.normal, &v.frozen, &v.black])
            .chain([&self.audio])
            .collect()
    }

    /// What is mounted for a `codec` camera with `fault` (`None`: nothing, so DESCRIBE gets
    /// 404; also for a codec without factories, which [`Rtsp::start`] rules out).
    fn for_fault(&self, fault: Fault, codec: Codec) -> Option<&rtsp::RTSPMediaFactory> {
        let video = self.video.iter().find(|v| v.codec == codec);
        match fault {
            Fault::None | Fault::Auth | Fault::Stall | Fault::Refuse => video.map(|v| &v.normal),
            Fault::Freeze => video.map(|v| &v.frozen),
            Fault::Black => video.map(|v| &v.black),
            Fault::NoVideo => Some(&self.audio),
            Fault::NotFound => None,
        }
    }
}

/// Why a fault could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `refuse` needs a listening socket of the camera's own.
    #[error(
        "fault \"refuse\" needs a socket per camera: restart the simulator with --port-per-camera \
         (on a shared port, refusing one camera would refuse them all)"
    )]
    NeedsPortPerCamera,
    /// Reopening the camera's socket failed.
    #[error("reopening the camera's port failed: {0}")]
    Reopen(String),
    /// The RTSP side is shutting down.
    #[error("the simulator is shutting down")]
    Stopped,
}

/// One listening socket and the mounts it serves.
struct Listener {
    mounts: rtsp::RTSPMountPoints,
    /// The port asked for, then the one bound (so a reopened socket gets the same one).
    port: u16,
    open: Option<(rtsp::RTSPServer, glib::SourceId)>,
}

/// The running RTSP side of the simulator.
pub struct Rtsp {
    routing: Arc<Routing>,
    cameras: Vec<SimCamera>,
    listeners: Vec<Listener>,
    per_camera: bool,
    address: IpAddr,
    factories: Factories,
    auth: rtsp::RTSPAuth,
    sessions: rtsp::RTSPSessionPool,
    threads: Option<rtsp::RTSPThreadPool>,
    /// One prepared media per factory, held for the simulator's life.
    anchors: Vec<rtsp::RTSPMedia>,
}

impl Rtsp {
    /// Opens the listeners for `cameras` (their `port`s are those asked for, 0 for any) on
    /// `address` and mounts every camera healthy, in its codec. Afterwards [`Rtsp::cameras`] has
    /// bound ports.
    pub fn start(
        routing: Arc<Routing>,
        mut cameras: Vec<SimCamera>,
        address: IpAddr,
        per_camera: bool,
        factories: Factories,
        auth: rtsp::RTSPAuth,
    ) -> anyhow::Result<Rtsp> {
        let n_listeners = if per_camera { cameras.len() } else { 1 };
        let mut listeners = Vec::with_capacity(n_listeners);
        for i in 0..n_listeners {
            listeners.push(Listener {
                mounts: rtsp::RTSPMountPoints::new(),
                port: cameras.get(i).map_or(0, |c| c.port),
                open: None,
            });
        }
        for c in &cameras {
            let li = if per_camera { c.index } else { 0 };
            let factory = factories
                .for_fault(Fault::None, c.codec)
                .with_context(|| format!("no {} media for camera {}", c.codec, c.id))?;
            listeners[li].mounts.add_factory(&c.path(), factory.clone());
        }
        let mut me = Rtsp {
            routing,
            cameras: Vec::new(),
            listeners,
            per_camera,
            address,
            factories,
            auth,
            sessions: rtsp::RTSPSessionPool::new(),
            threads: None,
            anchors: Vec::new(),
        };
        for li in 0..me.listeners.len() {
            me.open(li).with_context(|| {
                format!(
                    "listening for RTSP on {}",
                    socket_text(address, me.listeners[li].port)
                )
            })?;
        }
        for c in &mut cameras {
            c.port = me.listeners[if per_camera { c.index } else { 0 }].port;
        }
        me.cameras = cameras;
        let pool = me.sessions.clone();
        glib::timeout_add_seconds(5, move || {
            pool.cleanup();
            glib::ControlFlow::Continue
        });
        Ok(me)
    }

    /// Prepares each factory's shared media and keeps it prepared for good.
    ///
    /// Without this, the last client leaving unprepares the shared media, and a client arriving
    /// while that is under way gets `503 Service Unavailable`: a fault nobody asked for. Must run
    /// while the GLib main loop runs on another thread (the media's bus is watched there).
    pub fn anchor_media(&mut self) -> anyhow::Result<()> {
        let url = gstreamer_rtsp::RTSPUrl::parse("rtsp://127.0.0.1/anchor")
            .1
            .context("anchor url")?;
        for factory in self.factories.all() {
            let media = factory
                .construct(&url)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            media
                .prepare(None)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("preparing a shared media (is the clip playable?)")?;
            self.anchors.push(media);
        }
        Ok(())
    }

    /// The cameras served, with their bound ports.
    pub fn cameras(&self) -> &[SimCamera] {
        &self.cameras
    }

    fn listener_of(&self, index: usize) -> usize {
        if self.per_camera { index } else { 0 }
    }

    fn open(&mut self, li: usize) -> anyhow::Result<()> {
        let l = &self.listeners[li];
        let server = rtsp::RTSPServer::new();
        server.set_address(&self.address.to_string());
        server.set_service(&l.port.to_string());
        server.set_backlog(1024);
        server.set_mount_points(Some(&l.mounts));
        server.set_auth(Some(&self.auth));
        server.set_session_pool(Some(&self.sessions));
        // One default thread pool for every listener (more threads upset shared media).
        match &self.threads {
            Some(t) => server.set_thread_pool(Some(t)),
            None => self.threads = server.thread_pool(),
        }
        let routing = Arc::clone(&self.routing);
        server
            .connect_client_connected(move |_, client| watch_client(client, Arc::clone(&routing)));
        let source = server.attach(None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let l = &mut self.listeners[li];
        l.port = u16::try_from(server.bound_port()).unwrap_or(l.port);
        l.open = Some((server, source));
        Ok(())
    }

    fn close(&mut self, li: usize) {
        if let Some((server, source)) = self.listeners[li].open.take() {
            for client in server.client_filter(None) {
                client.close();
            }
            source.remove();
        }
    }

    /// Sets camera `index`'s fault (its id checked by the caller); returns the previous one.
    pub fn set_fault(&mut self, index: usize, fault: Fault) -> Result<Fault, ApplyError> {
        if fault == Fault::Refuse && !self.per_camera {
            return Err(ApplyError::NeedsPortPerCamera);
        }
        let old = self.routing.faults.set(index, fault);
        if old == fault {
            return Ok(old);
        }
        let li = self.listener_of(index);
        let (path, codec) = (self.cameras[index].path(), self.cameras[index].codec);
        let (before, after) = (
            self.factories.for_fault(old, codec),
            self.factories.for_fault(fault, codec),
        );
        if before != after {
            let mounts = &self.listeners[li].mounts;
            mounts.remove_factory(&path);
            if let Some(f) = after {
                mounts.add_factory(&path, f.clone());
            }
        }
        if let Some((server, _)) = &self.listeners[li].open {
            let stalls = &self.routing.stalls;
            match (old, fault) {
                // A stall keeps the connections and stops their media; recovery resumes it.
                (_, Fault::Stall) => {
                    for (_, m) in sessions_on(server, &path) {
                        stalls.stop(index, &m);
                    }
                }
                (Fault::Stall, Fault::None) => stalls.resume(index),
                _ => {
                    stalls.forget(index);
                    close_clients(server, &path);
                }
            }
        }
        if fault == Fault::Refuse {
            self.close(li);
        } else if old == Fault::Refuse
            && let Err(e) = self.open(li)
        {
            self.routing.faults.set(index, Fault::Refuse);
            return Err(ApplyError::Reopen(e.to_string()));
        }
        tracing::info!(camera = %self.cameras[index].id, from = %old, to = %fault, "sim: fault changed");
        Ok(old)
    }
}

impl Drop for Rtsp {
    fn drop(&mut self) {
        for li in 0..self.listeners.len() {
            self.close(li);
        }
    }
}

fn socket_text(address: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(address, port).to_string()
}

/// Stops media to sessions that a stalled camera starts (PLAY activates their transports).
fn watch_client(client: &rtsp::RTSPClient, routing: Arc<Routing>) {
    client.connect_play_request(move |_, ctx| {
        let Some(index) = ctx.uri().and_then(|u| routing.camera_of(u)) else {
            return;
        };
        if routing.faults.get(index) != Fault::Stall {
            return;
        }
        if let Some(session) = ctx.session()
            && let Some(m) = media_of(session, &routing.path(index))
        {
            routing.stalls.stop(index, &m);
        }
    });
}

/// The session's media mounted exactly at `path`, if it has one.
fn media_of(session: &rtsp::RTSPSession, path: &str) -> Option<rtsp::RTSPSessionMedia> {
    match session.media(path) {
        (Some(m), matched) if usize::try_from(matched).ok() == Some(path.len()) => Some(m),
        _ => None,
    }
}

/// Each client with a session on `path`, with that session's media for `path`.
fn sessions_on(
    server: &rtsp::RTSPServer,
    path: &str,
) -> Vec<(rtsp::RTSPClient, rtsp::RTSPSessionMedia)> {
    let mut found = Vec::new();
    for client in server.client_filter(None) {
        for session in client.session_filter(None) {
            if let Some(m) = media_of(&session, path) {
                found.push((client.clone(), m));
            }
        }
    }
    found
}

fn close_clients(server: &rtsp::RTSPServer, path: &str) {
    let mut clients: Vec<rtsp::RTSPClient> = sessions_on(server, path)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    clients.dedup();
    for c in clients {
        c.close();
    }
}
