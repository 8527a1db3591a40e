// Copyright (C) The Retina Authors
// SPDX-License-Identifier: MIT OR Apache-2.0

//! tokio-based [`Connection`].
//!
//! In theory there could be a similar async-std-based implementation.

use futures::{Sink, Stream};
use std::time::Instant;
use tokio::io::AsyncWrite;
use tokio::net::{TcpStream, UdpSocket};
use url::Host;

use crate::buf::MarkBuf;
use crate::inputs::{Input as _, Split};
use crate::rtsp::msg::OwnedMessage;
use crate::{Error, ErrorInt, RtspMessageContext};

use super::{ConnectionContext, ReceivedMessage, WallTime};

/// Default initial capacity for the read ring buffer (sharpeyes patch: 16 KiB, was 64; it
/// grows for a large pinned access unit and shrinks back once released).
const DEFAULT_READ_CAPACITY: usize = 16 * 1024;

/// The connection's socket: registered with tokio's reactor, or (sharpeyes patch) paced.
enum Socket {
    /// Read when the reactor says it is readable; the task is woken for each arrival.
    Registered(TcpStream),
    /// Not registered with the reactor: reads and writes are plain non-blocking calls,
    /// `Pending` registers no waker, and the owner polls again on its own schedule (a held
    /// session's read tick). An idle runtime is then not woken for every TCP segment.
    ///
    Paced {
        /// The non-blocking socket.
        stream: std::net::TcpStream,
        /// Set after a short read: the kernel's receive queue was empty when it returned, so
        /// the next read attempt answers `Pending` without a syscall (and clears the flag)
        /// instead of a `read` that would fail with `EAGAIN`. That halves the reads of a paced
        /// session: one per tick instead of one plus the one that finds nothing.
        drained: bool,
    },
    /// A switch between the two failed; every use is an error.
    Lost,
}

impl Socket {
    fn poll_read_vectored(
        &mut self,
        cx: &mut std::task::Context<'_>,
        bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::io::Read as _;
        match self {
            Socket::Registered(stream) => loop {
                std::task::ready!(stream.poll_read_ready(cx))?;
                match stream.try_read_vectored(bufs) {
                    // Spurious readiness; re-register and wait.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return std::task::Poll::Ready(r),
                }
            },
            Socket::Paced { stream, drained } => {
                if std::mem::take(drained) {
                    return std::task::Poll::Pending;
                }
                let room: usize = bufs.iter().map(|b| b.len()).sum();
                match (&*stream).read_vectored(bufs) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::task::Poll::Pending
                    }
                    Ok(n) => {
                        *drained = n > 0 && n < room;
                        std::task::Poll::Ready(Ok(n))
                    }
                    r => std::task::Poll::Ready(r),
                }
            }
            Socket::Lost => std::task::Poll::Ready(Err(lost())),
        }
    }

    fn poll_write(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::io::Write as _;
        match self {
            Socket::Registered(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
            Socket::Paced { stream, .. } => match (&*stream).write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::task::Poll::Pending,
                r => std::task::Poll::Ready(r),
            },
            Socket::Lost => std::task::Poll::Ready(Err(lost())),
        }
    }

    fn poll_flush(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self {
            Socket::Registered(stream) => std::pin::Pin::new(stream).poll_flush(cx),
            Socket::Paced { .. } => std::task::Poll::Ready(Ok(())),
            Socket::Lost => std::task::Poll::Ready(Err(lost())),
        }
    }

    fn poll_shutdown(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self {
            Socket::Registered(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
            Socket::Paced { stream, .. } => {
                std::task::Poll::Ready(stream.shutdown(std::net::Shutdown::Write))
            }
            Socket::Lost => std::task::Poll::Ready(Err(lost())),
        }
    }
}

fn lost() -> std::io::Error {
    std::io::Error::other("socket lost switching between paced and registered reads")
}

/// A RTSP connection which implements `Stream`, `Sink`, and `Unpin`.
pub(crate) struct Connection {
    stream: Socket,
    ctx: ConnectionContext,
    parser: crate::rtsp::parse::Parser,
    read_buf: MarkBuf,
    /// Write buffer for outgoing messages (written then flushed).
    write_buf: Vec<u8>,
    /// sharpeyes patch: when the last read returned data. Every message decoded from the
    /// buffer is stamped with it (the time its last bytes were read) instead of reading both
    /// clocks once per message: an interleaved RTP packet is a message, so that was two
    /// clock reads per packet.
    last_read: (WallTime, Instant),
}

impl Connection {
    pub(crate) async fn connect(
        host: Host<&str>,
        port: u16,
        max_message_size: Option<usize>,
    ) -> Result<Self, std::io::Error> {
        let stream = match host {
            Host::Domain(h) => TcpStream::connect((h, port)).await,
            Host::Ipv4(h) => TcpStream::connect((h, port)).await,
            Host::Ipv6(h) => TcpStream::connect((h, port)).await,
        }?;
        let mut conn = Self::from_stream(stream)?;
        if let Some(n) = max_message_size {
            // sharpeyes patch: the parser's limit, which upstream leaves at usize::MAX.
            conn.parser = crate::rtsp::parse::Parser::builder()
                .max_message_size(n)
                .build();
        }
        Ok(conn)
    }

    pub(crate) fn from_stream(stream: TcpStream) -> Result<Self, std::io::Error> {
        let established_wall = WallTime::now();
        let established = Instant::now();
        let local_addr = stream.local_addr()?;
        let peer_addr = stream.peer_addr()?;
        Ok(Self {
            stream: Socket::Registered(stream),
            ctx: ConnectionContext {
                local_addr,
                peer_addr,
                established_wall,
            },
            parser: crate::rtsp::parse::Parser::default(),
            read_buf: MarkBuf::new(DEFAULT_READ_CAPACITY),
            write_buf: Vec::new(),
            last_read: (established_wall, established),
        })
    }

    pub(crate) fn ctx(&self) -> &ConnectionContext {
        &self.ctx
    }

    /// sharpeyes patch: takes the socket off tokio's reactor (`paced`) or puts it back. While
    /// paced, nothing wakes a task waiting on this connection: the owner must poll again on
    /// its own schedule. Putting it back needs a tokio runtime. On failure the connection is
    /// unusable (every later read or write errs).
    pub(crate) fn set_paced(&mut self, paced: bool) -> std::io::Result<()> {
        let r;
        (self.stream, r) = match (std::mem::replace(&mut self.stream, Socket::Lost), paced) {
            (Socket::Registered(s), true) => match s.into_std() {
                Ok(stream) => (
                    Socket::Paced {
                        stream,
                        drained: false,
                    },
                    Ok(()),
                ),
                Err(e) => (Socket::Lost, Err(e)),
            },
            (Socket::Paced { stream: s, .. }, false) => match TcpStream::from_std(s) {
                Ok(s) => (Socket::Registered(s), Ok(())),
                Err(e) => (Socket::Lost, Err(e)),
            },
            (s, _) => (s, Ok(())),
        };
        r
    }

    pub(crate) fn read_buf(&self) -> &MarkBuf {
        &self.read_buf
    }

    /// Reads body data from the ring buffer as `Bytes`.
    ///
    /// This copies the data out. Use for cold paths (RTSP responses) or the
    /// public `PacketItem` API. The `Demuxed` path reads directly from the
    /// ring buffer to avoid this copy.
    pub(crate) fn body_bytes(&self, body_pos: u64, body_len: u32) -> bytes::Bytes {
        let (s1, s2) = self.read_buf.split(body_pos, body_len as usize).slices();
        let mut buf = Vec::with_capacity(body_len as usize);
        buf.extend_from_slice(s1);
        buf.extend_from_slice(s2);
        bytes::Bytes::from(buf)
    }

    pub(crate) fn eof_ctx(&self) -> RtspMessageContext {
        RtspMessageContext {
            pos: self.parser.stream_pos() + self.read_buf.unparsed_len() as u64,
            received_wall: WallTime::now(),
            received: Instant::now(),
        }
    }
}

/// Tries to decode a message from the read buffer without I/O.
///
/// Separated from `Connection` methods to avoid self-borrow issues.
///
/// When `eof` is true, the TCP stream has closed. `Incomplete` and empty
/// `Ok(None)` with leftover data are promoted to errors.
fn try_decode(
    parser: &mut crate::rtsp::parse::Parser,
    read_buf: &mut MarkBuf,
    eof: bool,
    (received_wall, received): (WallTime, Instant),
) -> Result<Option<ReceivedMessage>, CodecError> {
    use crate::rtsp::parse::FeedError;

    let pos = parser.stream_pos();
    let unparsed = read_buf.unparsed();
    let mut input = {
        let split = read_buf.unparsed_split();
        let (first, second) = split.slices();
        Split::new(first, second)
    };
    let initial_len = input.len();

    match parser.feed(&mut input) {
        Ok(None) => Ok(None), // idle, no data; caller distinguishes EOF from "need more"
        Ok(Some((msg, body_slice))) => {
            let consumed = initial_len - input.len();
            let body_len = body_slice.len();
            let body_pos = unparsed + (consumed - body_len) as u64;
            read_buf.advance_unparsed(unparsed + consumed as u64);
            Ok(Some(ReceivedMessage {
                msg,
                body_pos,
                body_len: body_len as u32,
                ctx: RtspMessageContext {
                    pos,
                    received_wall,
                    received,
                },
            }))
        }
        Err(FeedError::Incomplete(_)) if !eof => {
            // On Incomplete, the parser may have stably consumed some bytes
            // (e.g. header lines). Advance past them.
            let consumed = initial_len - input.len();
            if consumed > 0 {
                read_buf.advance_unparsed(unparsed + consumed as u64);
            }
            Ok(None)
        }
        Err(FeedError::Incomplete(inc)) => {
            // EOF with incomplete data: the message is truncated.
            Err(CodecError::ParseError {
                description: format!(
                    "Incomplete RTSP message at EOF ({inc}); buffered:\n{:#?}",
                    crate::hex::LimitedHex::from_split(read_buf.unparsed_split(), 128),
                ),
                pos,
            })
        }
        Err(FeedError::Invalid(inv)) => Err(CodecError::ParseError {
            description: format!(
                "Invalid RTSP message: {inv}; buffered:\n{:#?}",
                crate::hex::LimitedHex::from_split(read_buf.unparsed_split(), 128),
            ),
            pos: inv.pos,
        }),
    }
}

/// An intermediate error type used internally.
#[derive(Debug)]
#[allow(dead_code)] // IoError reserved for future use
enum CodecError {
    IoError(std::io::Error),
    ParseError { description: String, pos: u64 },
}

impl Stream for Connection {
    type Item = Result<ReceivedMessage, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            // Try decoding from existing buffered data.
            match try_decode(&mut this.parser, &mut this.read_buf, false, this.last_read) {
                Ok(Some(msg)) => return std::task::Poll::Ready(Some(Ok(msg))),
                Ok(None) => {}
                Err(e) => {
                    return std::task::Poll::Ready(Some(Err(codec_err_to_error(
                        &this.ctx,
                        &this.parser,
                        &this.read_buf,
                        e,
                    ))));
                }
            }

            // Need more data. Read from the stream into the ring buffer
            // using vectored I/O to fill both halves of the ring.
            let (first, second) = this.read_buf.spare_capacity(4096);
            let mut bufs = [
                std::io::IoSliceMut::new(first),
                std::io::IoSliceMut::new(second),
            ];
            match std::task::ready!(this.stream.poll_read_vectored(cx, &mut bufs)) {
                Ok(0) => {
                    // EOF. Try decode with eof=true.
                    return match try_decode(
                        &mut this.parser,
                        &mut this.read_buf,
                        true,
                        this.last_read,
                    ) {
                        Ok(Some(msg)) => std::task::Poll::Ready(Some(Ok(msg))),
                        Ok(None) => std::task::Poll::Ready(None),
                        Err(e) => std::task::Poll::Ready(Some(Err(codec_err_to_error(
                            &this.ctx,
                            &this.parser,
                            &this.read_buf,
                            e,
                        )))),
                    };
                }
                Ok(n) => {
                    this.read_buf.advance_end(n);
                    this.last_read = (WallTime::now(), Instant::now());
                    // Loop to try decoding again.
                }
                Err(error) => {
                    let pos = this.parser.stream_pos() + this.read_buf.unparsed_len() as u64;
                    return std::task::Poll::Ready(Some(Err(wrap!(ErrorInt::RtspReadError {
                        conn_ctx: this.ctx,
                        msg_ctx: RtspMessageContext {
                            pos,
                            received_wall: WallTime::now(),
                            received: Instant::now(),
                        },
                        source: error,
                    }))));
                }
            }
        }
    }
}

fn codec_err_to_error(
    ctx: &ConnectionContext,
    parser: &crate::rtsp::parse::Parser,
    read_buf: &MarkBuf,
    e: CodecError,
) -> Error {
    wrap!(match e {
        CodecError::IoError(error) => ErrorInt::RtspReadError {
            conn_ctx: *ctx,
            msg_ctx: RtspMessageContext {
                pos: parser.stream_pos() + read_buf.unparsed_len() as u64,
                received_wall: WallTime::now(),
                received: Instant::now(),
            },
            source: error,
        },
        CodecError::ParseError { description, pos } => ErrorInt::RtspFramingError {
            conn_ctx: *ctx,
            msg_ctx: RtspMessageContext {
                pos,
                received_wall: WallTime::now(),
                received: Instant::now(),
            },
            description,
        },
    })
}

impl Sink<OwnedMessage> for Connection {
    type Error = ErrorInt;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        item: OwnedMessage,
    ) -> Result<(), Self::Error> {
        self.write_buf.clear();
        item.write(&mut self.write_buf)
            .expect("Vec Writer is infallible");
        Ok(())
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let this = &mut *self;
        while !this.write_buf.is_empty() {
            match this.stream.poll_write(cx, &this.write_buf) {
                std::task::Poll::Ready(Ok(n)) => {
                    this.write_buf.drain(..n);
                }
                std::task::Poll::Ready(Err(e)) => {
                    return std::task::Poll::Ready(Err(ErrorInt::WriteError {
                        conn_ctx: this.ctx,
                        source: e,
                    }));
                }
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
        }
        match this.stream.poll_flush(cx) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(())),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(ErrorInt::WriteError {
                conn_ctx: this.ctx,
                source: e,
            })),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        match self.as_mut().poll_flush(cx) {
            std::task::Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let this = &mut *self;
        match this.stream.poll_shutdown(cx) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(())),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(ErrorInt::WriteError {
                conn_ctx: this.ctx,
                source: e,
            })),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// tokio-specific version of [`crate::UdpPair`].
pub(crate) struct UdpPair {
    pub(crate) rtp_port: u16,
    pub(crate) rtp_socket: UdpSocket,
    pub(crate) rtcp_socket: UdpSocket,
}

impl UdpPair {
    pub(crate) fn for_ip(ip_addr: std::net::IpAddr) -> Result<Self, std::io::Error> {
        let inner = crate::UdpPair::for_ip(ip_addr)?;
        inner.rtp_socket.set_nonblocking(true)?;
        inner.rtcp_socket.set_nonblocking(true)?;
        Ok(Self {
            rtp_port: inner.rtp_port,
            rtp_socket: UdpSocket::from_std(inner.rtp_socket)?,
            rtcp_socket: UdpSocket::from_std(inner.rtcp_socket)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sharpeyes patch: after a short read a paced connection answers the next poll
    /// `Pending` without reading (the queue was empty then), and reads again at the poll
    /// after; messages decoded from one read carry that read's receive time.
    #[tokio::test]
    async fn paced_connection_skips_the_read_after_a_short_one() {
        use std::io::Write as _;
        use std::task::{Context, Poll, Waker};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut conn = Connection::from_stream(client).unwrap();
        conn.set_paced(true).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut poll = |conn: &mut Connection| std::pin::Pin::new(conn).poll_next(&mut cx);

        // Two messages in one segment: one read, both decoded, one receive time.
        server.write_all(b"$\x00\x00\x02ab$\x00\x00\x02cd").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let first = loop {
            match poll(&mut conn) {
                Poll::Ready(Some(Ok(m))) => break m,
                Poll::Pending if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                o => panic!("unexpected {o:?}"),
            }
        };
        let Poll::Ready(Some(Ok(second))) = poll(&mut conn) else {
            panic!("the second message was in the same read");
        };
        assert_eq!(first.ctx.received, second.ctx.received);
        assert_eq!(
            &conn.body_bytes(second.body_pos, second.body_len)[..],
            b"cd"
        );

        // More data now waits in the kernel, but the read that found the queue empty is
        // skipped once: Pending, then the data at the poll after.
        server.write_all(b"$\x00\x00\x02ef").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            poll(&mut conn).is_pending(),
            "the read after a short one is skipped"
        );
        let Poll::Ready(Some(Ok(third))) = poll(&mut conn) else {
            panic!("read at the next poll");
        };
        assert_eq!(&conn.body_bytes(third.body_pos, third.body_len)[..], b"ef");
        assert!(
            third.ctx.received > second.ctx.received,
            "stamped by its own read"
        );
    }

    /// sharpeyes patch: a paced connection reads when polled, whatever the waker; writes
    /// and EOF work; put back on the reactor, arrivals wake the task again.
    #[tokio::test]
    async fn paced_connection_reads_when_polled() {
        use futures::StreamExt as _;
        use std::io::{Read as _, Write as _};
        use std::task::{Context, Poll, Waker};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut conn = Connection::from_stream(client).unwrap();
        conn.set_paced(true).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut poll = |conn: &mut Connection| std::pin::Pin::new(conn).poll_next(&mut cx);
        assert!(poll(&mut conn).is_pending());

        server.write_all(b"$\x00\x00\x04asdf").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let msg = loop {
            match poll(&mut conn) {
                Poll::Ready(Some(Ok(m))) => break m,
                Poll::Pending if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                o => panic!("unexpected {o:?}"),
            }
        };
        assert_eq!(&conn.body_bytes(msg.body_pos, msg.body_len)[..], b"asdf");

        conn.write_buf = b"ping".to_vec();
        assert!(matches!(
            std::pin::Pin::new(&mut conn).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");

        conn.set_paced(false).unwrap();
        server.write_all(b"$\x00\x00\x02hi").unwrap();
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), conn.next())
            .await
            .expect("a registered socket wakes its task")
            .unwrap()
            .unwrap();
        assert_eq!(&conn.body_bytes(msg.body_pos, msg.body_len)[..], b"hi");

        conn.set_paced(true).unwrap();
        drop(server);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match std::pin::Pin::new(&mut conn).poll_next(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(None) => break,
                Poll::Pending if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                o => panic!("unexpected {o:?}"),
            }
        }
    }

    #[test]
    fn crlf_data() {
        let mut read_buf = MarkBuf::new(64);
        let data = b"\r\n$\x00\x00\x04asdfrest";
        let (first, _) = read_buf.spare_capacity(data.len());
        first[..data.len()].copy_from_slice(data);
        read_buf.advance_end(data.len());

        let mut parser = crate::rtsp::parse::Parser::default();
        let msg = try_decode(
            &mut parser,
            &mut read_buf,
            false,
            (WallTime::now(), Instant::now()),
        )
        .unwrap()
        .unwrap();
        // Read body from ring buffer.
        let (s1, s2) = read_buf.split(msg.body_pos, msg.body_len as usize).slices();
        assert_eq!(s1, b"asdf");
        assert!(s2.is_empty());
        assert_eq!(read_buf.unparsed_len(), 4); // "rest" remains
    }

    #[test]
    fn response_decode() {
        let mut read_buf = MarkBuf::new(64);
        let data = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n";
        let (first, _) = read_buf.spare_capacity(data.len());
        first[..data.len()].copy_from_slice(data);
        read_buf.advance_end(data.len());

        let mut parser = crate::rtsp::parse::Parser::default();
        let msg = try_decode(
            &mut parser,
            &mut read_buf,
            false,
            (WallTime::now(), Instant::now()),
        )
        .unwrap()
        .unwrap();
        assert!(matches!(msg.msg, crate::rtsp::msg::Message::Response(_)));
        assert_eq!(msg.body_len, 0);
        assert_eq!(read_buf.unparsed_len(), 0);
    }
}
