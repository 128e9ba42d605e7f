//! Socket.IO through the host's `http.Server` (core's [`Attached`]): the JS layer
//! (`rt.attach(server)`) hands over websocket upgrades under the engine path — the
//! connection's descriptor, duplicated here, and the bytes Node already read — and
//! forwards polling requests. Which requests are the engine's, the body limit and every
//! answer come from core.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{within_runtime_if_available, Buffer, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use sessionio::http::{Accepting, Attached};

use crate::errors::{invalid_value, server, IntoNapi};
use crate::NativeSessionIo;

/// The engine's [`Attached`] (one, shared by every server it is attached to).
#[derive(Default)]
pub(crate) struct AttachedServers(Mutex<State>);

#[derive(Default)]
struct State {
    attached: Option<Arc<Attached>>,
    closed: bool,
}

impl AttachedServers {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> napi::Result<Arc<Attached>> {
        self.state().attached.clone().ok_or_else(|| {
            server("the engine is not attached to a server (call attach first)".into())
        })
    }

    /// For `close`: the attached engine, after which nothing attaches again.
    pub(crate) fn take_all(&self) -> Option<Arc<Attached>> {
        let mut state = self.state();
        state.closed = true;
        state.attached.take()
    }
}

/// The engine's answer to a forwarded request.
#[napi(object)]
pub struct ForwardedResponse {
    /// The HTTP status.
    pub status: u32,
    /// The headers as `[name, value, name, value, …]` (what `res.writeHead` takes).
    pub headers: Vec<String>,
    /// The body.
    pub body: Buffer,
}

#[napi]
impl NativeSessionIo {
    /// Makes the engine servable through host servers (idempotent).
    #[napi]
    pub fn attach(&self) -> napi::Result<()> {
        let mut state = self.attached.state();
        if state.closed {
            return Err(server("the engine is closed".into()));
        }
        if state.attached.is_none() {
            let attached = within_runtime_if_available(|| self.io.attach()).napi()?;
            state.attached = Some(Arc::new(attached));
        }
        Ok(())
    }

    /// Whether a request target (`req.url`) is the engine's (never, once closed: the
    /// app then answers it).
    #[napi]
    pub fn serves_path(&self, target: String) -> bool {
        self.attached
            .state()
            .attached
            .as_ref()
            .is_some_and(|attached| attached.serves(&target))
    }

    /// How long the JS layer waits for a new connection's first bytes before Node's HTTP
    /// server takes it anyway (core's `FIRST_BYTES_WAIT`).
    #[napi(getter)]
    pub fn first_bytes_wait_ms(&self) -> u32 {
        u32::try_from(sessionio::http::FIRST_BYTES_WAIT.as_millis()).unwrap_or(u32::MAX)
    }

    /// The most body bytes the JS layer reads of a forwarded request (it reads one more
    /// at most, and forwards what it read: the engine answers an oversized body).
    #[napi(getter)]
    pub fn max_body_bytes(&self) -> napi::Result<f64> {
        Ok(self.attached.get()?.max_body_bytes() as f64)
    }

    /// Serves a websocket upgrade's connection from now on: `fd` is the descriptor of
    /// Node's socket (duplicated here: Node then destroys its socket, which closes only its
    /// own descriptor), `alreadyRead` the request head and the bytes after it.
    #[napi]
    pub fn adopt(&self, fd: i32, already_read: Buffer) -> napi::Result<()> {
        let attached = self.attached.get()?;
        let stream: std::net::TcpStream = duplicate(fd)
            .map_err(|e| invalid_value(format!("invalid value: socket descriptor {fd}: {e}")))?;
        attached
            .adopt(stream, bytes::Bytes::copy_from_slice(&already_read))
            .napi()
    }

    /// Takes a new connection whole when core says its first bytes are the engine's (a
    /// websocket upgrade under the engine path): answers true, and Node then destroys its
    /// socket without parsing anything. False leaves it to Node (also once closed).
    #[napi]
    pub fn adopt_connection(&self, fd: i32, first_bytes: Buffer) -> napi::Result<bool> {
        let takes = self
            .attached
            .state()
            .attached
            .as_ref()
            .is_some_and(|attached| attached.takes_connection(&first_bytes));
        if takes {
            self.adopt(fd, first_bytes)?;
        }
        Ok(takes)
    }

    /// Accepts on the server's listening socket (`fd`, duplicated here) from now on: the
    /// engine serves the websocket upgrades under its path, and `toApp(fd)` gets every
    /// other connection, unread, for Node's HTTP server (core decides; see
    /// `sessionio::http::Attached::accept_on`). Node then closes its own listening
    /// handle; the answer stops accepting or gives the socket back to Node.
    #[napi]
    pub fn accept_on(
        &self,
        fd: i32,
        to_app: Function<'_, i32, ()>,
    ) -> napi::Result<NativeAccepting> {
        let attached = self.attached.get()?;
        let bad_fd = |e: std::io::Error| {
            invalid_value(format!("invalid value: listening descriptor {fd}: {e}"))
        };
        let listener: std::net::TcpListener = duplicate(fd).map_err(bad_fd)?;
        let kept = listener.try_clone().map_err(bad_fd)?;
        let to_app: AppConnectionFn = to_app
            .build_threadsafe_function::<std::net::TcpStream>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| Ok(into_raw_fd(ctx.value)))?;
        let accepting = attached
            .accept_on(listener, move |stream| {
                // Node gone: the stream is dropped, which closes the connection.
                let status = to_app.call(stream, ThreadsafeFunctionCallMode::NonBlocking);
                if status != Status::Ok {
                    tracing::debug!(?status, "a connection could not be passed to Node");
                }
            })
            .napi()?;
        Ok(NativeAccepting(Mutex::new(Some((accepting, kept)))))
    }

    /// Answers a request under the engine path (Engine.IO polling). `rawHeaders` is
    /// Node's `req.rawHeaders`; `requestId` names it for `cancelForward`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub async fn forward(
        &self,
        request_id: u32,
        method: String,
        target: String,
        raw_headers: Vec<String>,
        body: Buffer,
        peer_ip: Option<String>,
        peer_port: u32,
    ) -> napi::Result<ForwardedResponse> {
        let attached = self.attached.get()?;
        let peer = SocketAddr::new(
            peer_ip
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ip| ip.to_canonical()),
            u16::try_from(peer_port).unwrap_or(0),
        );
        let body = bytes::Bytes::copy_from_slice(&body);
        let headers: Vec<(String, Vec<u8>)> = raw_headers
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), latin1_bytes(&pair[1])))
            .collect();
        // The engine's futures run on the binding's runtime.
        let forwarded = tokio::spawn(async move {
            attached
                .forward(u64::from(request_id), &method, &target, headers, body, peer)
                .await
        })
        .await
        .map_err(|e| server(format!("forwarding a request failed: {e}")))?;
        Ok(ForwardedResponse {
            status: u32::from(forwarded.status),
            headers: forwarded
                .headers
                .into_iter()
                .flat_map(|(name, value)| [name, value])
                .collect(),
            body: forwarded.body.to_vec().into(),
        })
    }

    /// Gives up a forwarded request whose client went away (`forward` then answers 499,
    /// which nobody reads).
    #[napi]
    pub fn cancel_forward(&self, request_id: u32) {
        if let Some(attached) = &self.attached.state().attached {
            attached.give_up(u64::from(request_id));
        }
    }
}

/// The engine accepting on one server's listening socket (`acceptOn`), with a duplicate
/// of the socket kept to give back to Node.
#[napi]
pub struct NativeAccepting(Mutex<Option<(Accepting, std::net::TcpListener)>>);

#[napi]
impl NativeAccepting {
    /// Stops accepting and releases the engine's duplicates of the socket (Node's
    /// `server.close()`). Calling it again does nothing.
    #[napi]
    pub fn stop(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Stops accepting and returns a descriptor of the listening socket for Node to
    /// accept on again (`server.listen({ fd })`), when the engine closes before its
    /// server; `null` once stopped.
    #[napi]
    pub fn give_back(&self) -> Option<i32> {
        let (accepting, listener) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        drop(accepting);
        Some(into_raw_fd(listener))
    }
}

/// Node's callback for the connections the engine accepted and passes on: their descriptor.
type AppConnectionFn = ThreadsafeFunction<std::net::TcpStream, (), i32, Status, false, true>;

/// Node decodes header bytes as latin1: encode them back to the bytes the client sent.
fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// A descriptor of our own for the socket (a connection or a listening socket) that Node
/// holds as `fd`.
#[cfg(unix)]
fn duplicate<T: From<std::os::fd::OwnedFd>>(fd: i32) -> std::io::Result<T> {
    use std::os::fd::BorrowedFd;
    if fd < 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: the JS layer passes the `_handle.fd` of a socket or server that stays open
    // during this call (a socket is destroyed only after it); the duplicate is ours.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(T::from(borrowed.try_clone_to_owned()?))
}

/// Hands the descriptor of a socket of ours to Node, which closes it from then on.
#[cfg(unix)]
fn into_raw_fd<T: std::os::fd::IntoRawFd>(socket: T) -> i32 {
    socket.into_raw_fd()
}

#[cfg(not(unix))]
fn duplicate<T>(_fd: i32) -> std::io::Result<T> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "handing a socket between Node and the engine needs a Unix descriptor",
    ))
}

#[cfg(not(unix))]
fn into_raw_fd<T>(_socket: T) -> i32 {
    -1
}
