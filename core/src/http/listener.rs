//! The listener of [`bind`]: every accepted connection gets TCP_NODELAY, a kernel stall
//! timeout, and deadlines for a peer that sends nothing.
//!
//! `axum::serve` gives hyper no timer, so hyper's own header read timeout and keep-alive
//! timeout never fire: a client that opens connections and sends half a request head
//! (slowloris) or nothing at all holds a descriptor each, for ever. [`Guarded`] closes a
//! connection whose first request head is not complete within its head deadline, and any
//! connection with no byte read or written for its idle timeout (a live Socket.IO client
//! answers a ping every ping interval, so it is never idle that long).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// The longest a client may take to send its first request head (hyper's own default).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// A listener for `axum::serve`: every connection gets TCP_NODELAY (without it, small
/// Socket.IO packets wait for Nagle's algorithm: ack p99 ~40 ms instead of ~2 ms), a stall
/// timeout, a deadline for its first request head and an idle timeout (see
/// [`bind_with_stall_timeout`]).
pub type NoDelayListener = axum::serve::TapIo<GuardedListener, fn(&mut Guarded)>;

/// The stall timeout of [`bind`]: Engine.IO's default ping interval plus ping timeout.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(45);

/// Binds `addr` for `axum::serve` with [`DEFAULT_STALL_TIMEOUT`]; see
/// [`bind_with_stall_timeout`].
pub async fn bind(addr: SocketAddr) -> io::Result<NoDelayListener> {
    bind_with_stall_timeout(addr, DEFAULT_STALL_TIMEOUT).await
}

/// Binds `addr` for `axum::serve`. Every accepted connection gets TCP_NODELAY, and:
/// - `stall` as its TCP_USER_TIMEOUT: a peer that leaves what was sent unacknowledged —
///   or keeps its receive window shut, as a client that stopped reading does — for that
///   long is cut by the kernel. Without it such a socket is never freed: socketioxide's
///   writer waits on the full connection forever, so even the heartbeat's close never
///   completes.
/// - a deadline for its first request head ([`HEAD_TIMEOUT`], or `stall` if shorter) and
///   an idle timeout of `stall` (no byte either way): axum gives hyper no timer, so
///   without these a client that sends half a request head, or nothing, holds its
///   connection for ever (slowloris).
///
/// Use the ping interval plus the ping timeout: a live client is never silent that long.
pub async fn bind_with_stall_timeout(
    addr: SocketAddr,
    stall: Duration,
) -> io::Result<NoDelayListener> {
    Ok(guarded(TcpListener::bind(addr).await?, stall))
}

/// `listener`'s connections [`Guarded`] with `stall`, for `axum::serve`.
fn guarded(listener: TcpListener, stall: Duration) -> NoDelayListener {
    // The (empty) tap makes axum's `ConnectInfo<SocketAddr>` available for it.
    fn untouched(_: &mut Guarded) {}
    GuardedListener::new(listener, stall).tap_io(untouched as fn(&mut Guarded))
}

/// [`bind_with_stall_timeout`] with `SO_REUSEPORT`: several worker processes bind the same
/// port, and the kernel spreads the connections over them (see
/// [`Builder::workers`](crate::Builder::workers)).
pub(crate) fn bind_shared_with_stall_timeout(
    addr: SocketAddr,
    stall: Duration,
) -> io::Result<NoDelayListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(guarded(TcpListener::from_std(socket.into())?, stall))
}

/// A TCP listener for `axum::serve` whose connections are [`Guarded`].
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    stall: Duration,
}

impl GuardedListener {
    pub(crate) fn new(inner: TcpListener, stall: Duration) -> Self {
        GuardedListener { inner, stall }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => return (Guarded::new(stream, self.stall), addr),
                // Out of descriptors, or a connection reset before it was accepted: as
                // axum's own listener does, wait a little and go on.
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// One accepted connection with its deadlines; see the module docs.
#[derive(Debug)]
pub struct Guarded {
    stream: TcpStream,
    /// Bytes the host already read from an adopted connection (its request head and
    /// what followed), read again before the stream's own.
    replay: bytes::Bytes,
    idle: Duration,
    /// Until the first request head is complete: when it must be.
    head_by: Option<Instant>,
    /// How much of `\r\n\r\n` (the end of a head) the last bytes read matched.
    head_end_seen: u8,
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    /// A connection another server accepted and read from (Node's `http.Server`, see
    /// [`Attached`](super::Attached)): `already_read` is read first, as if it came again.
    pub(crate) fn adopted(
        stream: TcpStream,
        already_read: bytes::Bytes,
        stall: Duration,
    ) -> Guarded {
        let mut guarded = Guarded::new(stream, stall);
        guarded.replay = already_read;
        guarded
    }

    pub(crate) fn new(stream: TcpStream, stall: Duration) -> Guarded {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Err(e) = socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(stall)) {
            tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
        }
        let now = Instant::now();
        let head_by = now + HEAD_TIMEOUT.min(stall);
        Guarded {
            stream,
            replay: bytes::Bytes::new(),
            idle: stall,
            head_by: Some(head_by),
            head_end_seen: 0,
            timer: Box::pin(tokio::time::sleep_until(head_by)),
        }
    }

    /// Bytes went through: the idle deadline moves (never past the head deadline).
    fn active(&mut self) {
        let mut deadline = Instant::now() + self.idle;
        if let Some(head_by) = self.head_by {
            deadline = deadline.min(head_by);
        }
        self.timer.as_mut().reset(deadline);
    }

    fn saw(&mut self, bytes: &[u8]) {
        if self.head_by.is_none() {
            return;
        }
        const END: &[u8; 4] = b"\r\n\r\n";
        for &b in bytes {
            self.head_end_seen = if b == END[self.head_end_seen as usize] {
                self.head_end_seen + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.head_end_seen == 4 {
                self.head_by = None;
                return;
            }
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            let replayed = this.replay.split_to(n);
            buf.put_slice(&replayed);
            this.saw(&replayed);
            this.active();
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.saw(read);
                    this.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => {
                Poll::Ready(Err(timed_out(if this.head_by.is_some() {
                    "request head not received in time"
                } else {
                    "connection idle"
                })))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                this.active();
            }
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            if n > 0 {
                this.active();
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(stall: Duration) -> (Guarded, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (Guarded::new(accepted.unwrap().0, stall), client.unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_never_ends_is_cut_at_the_head_deadline_even_if_bytes_trickle() {
        let (mut server, mut client) = pair(Duration::from_secs(45)).await;
        let started = Instant::now();
        let mut buf = [0u8; 64];
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        loop {
            // One more header byte every 10 s: the idle deadline alone would never fire.
            tokio::select! {
                r = server.read(&mut buf) => match r {
                    Ok(_) => {}
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                        break;
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(10)) => {
                    client.write_all(b"X").await.unwrap();
                }
            }
        }
        assert_eq!(started.elapsed().as_secs(), HEAD_TIMEOUT.as_secs());
    }

    #[tokio::test]
    async fn an_adopted_connection_reads_what_was_already_read_first() {
        let (server, mut client) = pair(Duration::from_secs(45)).await;
        let mut adopted = Guarded::adopted(
            server.stream,
            bytes::Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"),
            Duration::from_secs(45),
        );
        client.write_all(b"after").await.unwrap();
        let mut read = Vec::new();
        let mut buf = [0u8; 7];
        while read.len() < 23 {
            let n = adopted.read(&mut buf).await.unwrap();
            read.extend_from_slice(&buf[..n]);
        }
        assert_eq!(read, b"GET / HTTP/1.1\r\n\r\nafter");
        assert!(
            adopted.head_by.is_none(),
            "the replayed head counts as the head"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_head_only_silence_in_both_directions_cuts() {
        let (mut server, mut client) = pair(Duration::from_secs(5)).await;
        let mut buf = [0u8; 64];
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(server.read(&mut buf).await.unwrap() > 0);
        // The server writes every 3 s (a download, a websocket's pings): it stays open.
        let started = Instant::now();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            server.write_all(b"x").await.unwrap();
        }
        // Then 5 s of silence both ways.
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed().as_secs(), 12 + 5);
        drop(client);
    }
}
