//! The engine's own server as a binding holds it: not started, starting, running, closed
//! (never restarted). Every binding's `start`/`close`/`url` maps this one lifecycle, with
//! its messages, instead of keeping its own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::serve::Server;
use crate::engine::SessionIo;
use crate::error::{Error, Result};

/// How long [`Standalone::close`] waits for the server to finish before it gives up on it.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

enum State {
    Idle,
    Starting,
    Running(Arc<Server>, tokio::runtime::Handle),
    Closed,
}

/// Where the engine's own server listens and which state it is in.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sessionio::http::Standalone;
/// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
/// let server = Standalone::new(([127, 0, 0, 1], 0).into());
/// assert_eq!(server.describe(), "not started");
/// let port = server.start(&io).unwrap().await.unwrap();
/// assert_eq!(server.url().unwrap(), format!("http://127.0.0.1:{port}"));
/// assert!(server.start(&io).is_err(), "already started");
/// server.close(&io).await;
/// assert_eq!(server.describe(), "closed");
/// let again = server.start(&io).err().unwrap().to_string();
/// assert!(again.contains("was closed; create a new one"), "{again}");
/// # });
/// ```
pub struct Standalone {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Standalone {
    /// A server that will listen on `addr` (port 0: any free port).
    pub fn new(addr: SocketAddr) -> Self {
        Standalone {
            addr,
            state: Arc::new(Mutex::new(State::Idle)),
        }
    }

    /// Moves to starting (refused when already started, or closed); the returned future,
    /// run on the engine's runtime, binds and serves, moves to running (or back to not
    /// started when binding failed), and resolves to the bound port.
    pub fn start(
        &self,
        io: &SessionIo,
    ) -> Result<impl Future<Output = Result<u16>> + Send + 'static> {
        {
            let mut state = lock(&self.state);
            match *state {
                State::Idle => *state = State::Starting,
                State::Starting | State::Running(..) => {
                    return Err(Error::Server("sessionio is already started".into()))
                }
                State::Closed => {
                    return Err(Error::Server(
                        "this engine was closed; create a new one to serve again".into(),
                    ))
                }
            }
        }
        let (io, addr, state) = (io.clone(), self.addr, self.state.clone());
        Ok(async move {
            match io.serve(addr).await {
                Ok(server) => {
                    let port = server.local_addr().port();
                    let server = Arc::new(server);
                    {
                        let mut state = lock(&state);
                        if matches!(*state, State::Starting) {
                            let runtime = tokio::runtime::Handle::current();
                            *state = State::Running(server, runtime);
                            return Ok(port);
                        }
                    }
                    // close() was called while binding: it wins.
                    server.close().await;
                    Err(Error::Server(
                        "sessionio was closed while it was starting".into(),
                    ))
                }
                Err(e) => {
                    let mut state = lock(&state);
                    if matches!(*state, State::Starting) {
                        *state = State::Idle;
                    }
                    Err(e)
                }
            }
        })
    }

    /// Moves to closed from any state; the returned future disconnects every socket and
    /// stops the server (waiting [`CLOSE_TIMEOUT`] at most), or, never started, stops the
    /// engine's background work.
    pub fn close(&self, io: &SessionIo) -> impl Future<Output = ()> + Send + 'static {
        let running = match std::mem::replace(&mut *lock(&self.state), State::Closed) {
            State::Running(server, _) => Some(server),
            _ => None,
        };
        let io = io.clone();
        async move {
            let closing = async {
                match running {
                    Some(server) => server.close().await,
                    None => io.close().await,
                }
            };
            if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
                tracing::warn!("sessionio server did not stop within {CLOSE_TIMEOUT:?}");
            }
        }
    }

    fn running<R>(&self, f: impl FnOnce(&Server) -> R) -> Result<R> {
        match &*lock(&self.state) {
            State::Running(server, _) => Ok(f(server)),
            _ => Err(Error::Server(
                "sessionio is not started: call start first".into(),
            )),
        }
    }

    /// The bound address, while the server runs.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.running(|s| s.local_addr())
    }

    /// The server's URL ([`Server::url`]), while it runs.
    pub fn url(&self) -> Result<String> {
        self.running(|s| s.url())
    }

    /// Whether the server runs.
    pub fn is_running(&self) -> bool {
        matches!(*lock(&self.state), State::Running(..))
    }

    /// `serving <addr>`, `closed` or `not started`.
    pub fn describe(&self) -> String {
        match &*lock(&self.state) {
            State::Running(server, _) => format!("serving {}", server.local_addr()),
            State::Closed => "closed".into(),
            _ => "not started".into(),
        }
    }

    /// Forgets a running server without stopping it: for a forked child, where the
    /// server's threads do not exist and touching it would hang.
    pub fn forget(&self) {
        if let State::Running(server, runtime) =
            std::mem::replace(&mut *lock(&self.state), State::Closed)
        {
            std::mem::forget(server);
            std::mem::forget(runtime);
        }
    }
}

impl Drop for Standalone {
    /// Dropped without `close`: the server stops in the background.
    fn drop(&mut self) {
        if let State::Running(server, runtime) =
            std::mem::replace(&mut *lock(&self.state), State::Closed)
        {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, server.close()).await;
            });
        }
    }
}
