//! One RTSP session with `retina`: DESCRIBE/SETUP/PLAY, then frames, never decoded.
//!
//! [`Opener`] and [`MediaSource`] are the one seam to the network: production uses
//! [`RetinaOpener`]; unit tests can script sessions; integration tests use a real RTSP server.
//! Every failure is classified into a [`Reason`] here, and nowhere else.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use retina::client::{
    Credentials, InitialSequenceNumberPolicy, PlayOptions, Session, SessionGroup, SessionOptions,
    SetupOptions, TcpTransportOptions, Transport, UdpTransportOptions,
};
use retina::codec::{CodecItem, FrameFormat};

use crate::config::inventory::Camera;
use crate::health::status::Reason;
use crate::redact::scrub;

/// RTP transport for held sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Interleaved over the RTSP TCP connection (default: works through NAT and firewalls).
    #[default]
    Tcp,
    /// RTP over UDP (LAN only).
    Udp,
}

/// Why an attempt or a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Classified cause.
    pub reason: Reason,
    /// Message for people (no credentials).
    pub detail: String,
    /// The established connection was lost (EOF/reset): the cause is unknown until a fresh
    /// attempt tells, so the supervisor retries once at once before reporting.
    pub connection_lost: bool,
    /// The daemon's own fault (out of file descriptors, memory or buffers): says nothing
    /// about the camera, so it is counted (`sharpeyes_local_failures_total`) and retried, never
    /// written into the camera's status or the ledger the online rate is assessed on.
    pub local: bool,
}

/// Longest `detail` kept, in characters: a hostile or broken camera's SDP or error text must
/// not grow the API, the ledger or the log without bound.
pub const MAX_DETAIL: usize = 300;

impl Failure {
    /// A failure with a reason and message.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            connection_lost: false,
            local: false,
        }
    }

    /// The detail cut to [`MAX_DETAIL`] characters (after credentials were scrubbed from the
    /// whole text, so no part of a password survives the cut).
    pub fn bounded_detail(&self) -> String {
        let mut d = self.detail.clone();
        if let Some((cut, _)) = d.char_indices().nth(MAX_DETAIL) {
            d.truncate(cut);
            d.push('…');
        }
        d
    }
}

/// Whether an error message names a local resource failure (EMFILE, ENFILE, ENOBUFS, ENOMEM).
pub fn is_local_resource_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "too many open files",
        "os error 24",
        "os error 23",
        "no buffer space available",
        "os error 105",
        "cannot allocate memory",
        "os error 12",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// What a session set-up learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Video encoding: `h264` or `h265`.
    pub codec: String,
    /// DESCRIBE to PLAY answered.
    pub setup: Duration,
}

/// One received video frame (access unit). The payload is kept only for a keyframe the
/// caller asked for (a sample); every other frame is counted and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// An IDR / random access point.
    pub keyframe: bool,
    /// Payload bytes.
    pub bytes: usize,
    /// The access unit (Annex B, parameter sets first) when it is a keyframe and was asked for.
    pub data: Option<Vec<u8>>,
    /// The camera's clock minus ours, in milliseconds, when an RTCP sender report arrived
    /// since the previous frame (see [`sender_report_offset_ms`]).
    pub clock_offset_ms: Option<i64>,
    /// The frame's media time (its RTP timestamp), milliseconds since the session's first
    /// frame: keyframe spacing is measured on it, not on arrival times (which batched
    /// reads blur).
    pub media_ms: Option<i64>,
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// The camera's clock minus ours from an RTCP sender report: the report's NTP time (the
/// camera's wall clock when it sent the report, paired with the RTP timestamp of that
/// instant) minus the wall time the packet was received here. Network delay (milliseconds)
/// is included, which is noise next to the drift that matters (时钟偏差 of tens of seconds or
/// more). `None` for an NTP time before 1970 (a camera that never set its clock reports from
/// 1900 or 2036 and is then far off anyway, reported by the caller as it is).
pub fn sender_report_offset_ms(ntp: u64, received_unix_ms: i64) -> Option<i64> {
    let secs = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET_S)?;
    let frac_ms = ((ntp & 0xffff_ffff) * 1000) >> 32;
    let camera_ms = i64::try_from(secs.checked_mul(1000)?.checked_add(frac_ms)?).ok()?;
    Some(camera_ms - received_unix_ms)
}

/// A playing session that yields frames.
pub trait MediaSource: Send {
    /// The next video frame, or why the session ended. With `keep_keyframe`, a keyframe comes
    /// with its payload. Has no timeout of its own: the caller applies the stall timeout.
    fn next_frame(
        &mut self,
        keep_keyframe: bool,
    ) -> impl Future<Output = Result<FrameInfo, Failure>> + Send;

    /// From now on the caller polls `next_frame` on its own schedule (the read pace) and
    /// needs no wake-up when data arrives; a source may then stop asking for one. The
    /// default does nothing.
    fn pace_reads(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

/// Opens sessions to cameras.
pub trait Opener: Send + Sync + 'static {
    /// The playing session type.
    type Source: MediaSource + 'static;
    /// DESCRIBE/SETUP/PLAY the camera's video, within the opener's connect timeout.
    fn open(
        &self,
        cam: &Camera,
    ) -> impl Future<Output = Result<(Self::Source, SessionInfo), Failure>> + Send;
}

/// The production opener, on `retina`.
#[derive(Clone)]
pub struct RetinaOpener {
    transport: TransportKind,
    connect_timeout: Duration,
    max_frame_bytes: usize,
    max_message_bytes: Option<usize>,
    group: Arc<SessionGroup>,
}

impl RetinaOpener {
    /// An opener using `transport`, giving up on set-up after `connect_timeout`.
    pub fn new(transport: TransportKind, connect_timeout: Duration) -> Self {
        Self {
            transport,
            connect_timeout,
            max_frame_bytes: usize::MAX,
            max_message_bytes: None,
            group: Arc::new(SessionGroup::default()),
        }
    }

    /// Ends a session whose camera sends an access unit above `bytes` (a `protocol` failure).
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes.max(1);
        self
    }

    /// Ends set-up when the camera announces an RTSP message (a DESCRIBE answer, say) above
    /// `bytes`, before its body is read (a `protocol` failure). Uses the vendored retina's
    /// `SessionOptions::max_message_size` (third_party/retina/PATCHES.md).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = Some(bytes.max(1));
        self
    }
}

/// A playing retina session.
pub struct RetinaSource {
    demuxed: retina::client::Demuxed,
    video_stream: usize,
    max_frame_bytes: usize,
    /// The offset of the last sender report, until the next frame carries it.
    clock_offset_ms: Option<i64>,
    /// What was last given to `Demuxed::set_discard_payloads` (`None` before the first
    /// frame): it is set only when it changes, not at every frame.
    discarding: Option<bool>,
}

impl Opener for RetinaOpener {
    type Source = RetinaSource;

    async fn open(&self, cam: &Camera) -> Result<(RetinaSource, SessionInfo), Failure> {
        // On the runtime's clock (paused in tests), as the supervisor's sleeps.
        let started = tokio::time::Instant::now();
        let creds = cam.username.as_ref().map(|u| Credentials {
            username: u.clone(),
            password: cam.password.expose().to_string(),
        });
        let mut opts = SessionOptions::default();
        if let Some(n) = self.max_message_bytes {
            opts = opts.max_message_size(n);
        }
        let opts = opts
            .creds(creds)
            .user_agent(concat!("sharpeyes/", env!("CARGO_PKG_VERSION")).to_string())
            .session_group(self.group.clone());
        let transport = match self.transport {
            TransportKind::Tcp => Transport::Tcp(TcpTransportOptions::default()),
            TransportKind::Udp => Transport::Udp(UdpTransportOptions::default()),
        };
        let setup = async {
            let mut session = Session::describe(cam.url.clone(), opts)
                .await
                .map_err(classify)?;
            let Some((video_stream, codec)) = pick_video(session.streams()) else {
                let offered: Vec<String> = session
                    .streams()
                    .iter()
                    .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                    .collect();
                return Err(Failure::new(
                    Reason::NoVideo,
                    format!(
                        "no H.264/H.265 video track (offered: {})",
                        offered.join(", ")
                    ),
                ));
            };
            session
                .setup(
                    video_stream,
                    SetupOptions::default()
                        .transport(transport)
                        // Annex B with SPS/PPS before every keyframe: a sampled IDR decodes alone.
                        .frame_format(FrameFormat::SIMPLE),
                )
                .await
                .map_err(classify)?;
            // Start the sequence from the first packet rather than the PLAY answer's RTP-Info:
            // NVRs and proxies that share one upstream session across clients may send packets
            // numbered ahead of it, which retina would otherwise reject as loss.
            let playing = session
                .play(PlayOptions::default().initial_seq(InitialSequenceNumberPolicy::Ignore))
                .await
                .map_err(classify)?;
            let demuxed = playing.demuxed().map_err(classify)?;
            Ok((demuxed, video_stream, codec))
        };
        let (demuxed, video_stream, codec) = tokio::time::timeout(self.connect_timeout, setup)
            .await
            .map_err(|_| {
                Failure::new(
                    Reason::Unreachable,
                    format!(
                        "no answer to DESCRIBE/SETUP/PLAY within {} s",
                        self.connect_timeout.as_secs_f64()
                    ),
                )
            })?
            .map_err(|f| Failure {
                detail: scrub(&f.detail, &[&cam.password]),
                ..f
            })?;
        Ok((
            RetinaSource {
                demuxed,
                video_stream,
                max_frame_bytes: self.max_frame_bytes,
                clock_offset_ms: None,
                discarding: None,
            },
            SessionInfo {
                codec,
                setup: started.elapsed(),
            },
        ))
    }
}

/// The failure of a session whose camera sent an access unit above the cap.
fn frame_too_large(bytes: usize, cap: usize) -> Failure {
    Failure::new(
        Reason::Protocol,
        format!("an access unit of {bytes} bytes is above max_frame_bytes ({cap}); session ended"),
    )
}

impl MediaSource for RetinaSource {
    /// Takes the RTSP socket off the reactor (the vendored retina's
    /// `Demuxed::set_paced_reads`): a held camera then costs no wake-up per TCP segment.
    fn pace_reads(&mut self) -> Result<(), Failure> {
        self.demuxed.set_paced_reads(true).map_err(classify)
    }

    async fn next_frame(&mut self, keep_keyframe: bool) -> Result<FrameInfo, Failure> {
        // A frame nobody will decode is not assembled: retina counts its bytes and flags
        // without copying it or holding its read buffer (third_party/retina/PATCHES.md).
        // Switches at the next access unit; one already started keeps its mode, so a wanted
        // keyframe can come without data, and the caller waits for the next.
        if self.discarding != Some(!keep_keyframe) {
            self.demuxed.set_discard_payloads(!keep_keyframe);
            self.discarding = Some(!keep_keyframe);
        }
        loop {
            match self.demuxed.next().await {
                Some(Ok(CodecItem::VideoFrame(f))) if f.stream_id() == self.video_stream => {
                    let keyframe = f.is_random_access_point();
                    let bytes = f.encoded_len();
                    if bytes > self.max_frame_bytes {
                        return Err(frame_too_large(bytes, self.max_frame_bytes));
                    }
                    let media_ms = media_ms(f.timestamp());
                    let data = (keyframe && keep_keyframe && !f.is_payload_discarded())
                        .then(|| f.into_data());
                    return Ok(FrameInfo {
                        keyframe,
                        bytes,
                        data,
                        clock_offset_ms: self.clock_offset_ms.take(),
                        media_ms,
                    });
                }
                Some(Ok(CodecItem::Rtcp(pkt))) if pkt.stream_id() == self.video_stream => {
                    let received: std::time::SystemTime = pkt.ctx().received_wall().into();
                    let received_ms = received
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    for p in pkt.pkts() {
                        if let Ok(Some(sr)) = p.as_sender_report() {
                            self.clock_offset_ms =
                                sender_report_offset_ms(sr.ntp_timestamp().0, received_ms);
                        }
                    }
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(classify(e)),
                None => {
                    return Err(Failure {
                        connection_lost: true,
                        ..Failure::new(Reason::Protocol, "the server ended the session")
                    });
                }
            }
        }
    }
}

/// Milliseconds of media time since the session's first timestamp.
fn media_ms(t: retina::Timestamp) -> Option<i64> {
    let rate = i64::from(t.clock_rate().get());
    t.elapsed().checked_mul(1000).map(|v| v / rate)
}

fn pick_video(streams: &[retina::client::Stream]) -> Option<(usize, String)> {
    streams.iter().enumerate().find_map(|(i, s)| {
        let enc = s.encoding_name().to_ascii_lowercase();
        (s.media() == "video" && (enc == "h264" || enc == "h265")).then_some((i, enc))
    })
}

/// Classifies a retina error. retina's errors are opaque apart from the status code, so the
/// rest is recognised from the message (covered by tests against a real server).
pub fn classify(e: retina::Error) -> Failure {
    let msg = e.to_string();
    let first_line = msg.lines().next().unwrap_or_default().to_string();
    if is_local_resource_error(&msg) {
        return Failure {
            local: true,
            ..Failure::new(Reason::Unreachable, first_line)
        };
    }
    if let Some(code) = e.status_code() {
        let reason = match code {
            401 | 403 => Reason::Auth,
            404 => Reason::NotFound,
            _ => Reason::Protocol,
        };
        return Failure::new(reason, first_line);
    }
    let lower = msg.to_ascii_lowercase();
    if lower.starts_with("unable to connect") {
        let reason = if lower.contains("refused") {
            Reason::Refused
        } else {
            Reason::Unreachable
        };
        return Failure::new(reason, first_line);
    }
    let lost = lower.starts_with("error reading from rtsp peer")
        || lower.starts_with("error writing to rtsp peer");
    Failure {
        connection_lost: lost,
        ..Failure::new(Reason::Protocol, first_line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_offsets() {
        // 2026-11-10T01:00:00Z as NTP, half a second in the fraction.
        let unix = 1_762_736_400u64;
        let ntp = ((unix + NTP_UNIX_OFFSET_S) << 32) | 0x8000_0000;
        let at = (unix * 1000) as i64;
        assert_eq!(sender_report_offset_ms(ntp, at), Some(500));
        assert_eq!(sender_report_offset_ms(ntp, at + 90_500), Some(-90_000));
        // A clock never set (NTP era 0 near 1900) is not a Unix time.
        assert_eq!(sender_report_offset_ms(5 << 32, at), None);
    }

    #[test]
    fn local_resource_errors_are_recognised() {
        for m in [
            "Unable to connect to RTSP server: Too many open files (os error 24)",
            "Unable to connect: No buffer space available (os error 105)",
            "Cannot allocate memory (os error 12)",
        ] {
            assert!(is_local_resource_error(m), "{m}");
        }
        assert!(!is_local_resource_error(
            "Unable to connect: Connection refused (os error 111)"
        ));
    }

    #[test]
    fn long_details_are_cut() {
        let f = Failure::new(Reason::NoVideo, "v=0 ".repeat(1000));
        let d = f.bounded_detail();
        assert_eq!(d.chars().count(), MAX_DETAIL + 1);
        assert!(d.ends_with('…'));
        assert_eq!(Failure::new(Reason::Auth, "401").bounded_detail(), "401");
    }
}
