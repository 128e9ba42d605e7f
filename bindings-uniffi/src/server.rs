//! The engine's own Socket.IO server: not started, starting, running, closed (never
//! restarted).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sessionio::http::Server as CoreServer;
use sessionio::SessionIo;

use crate::error::SessionioError;

/// How long `close()` waits for the server to finish before it gives up on it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

enum State {
    Idle,
    Starting,
    Running(Arc<CoreServer>),
    Closed,
}

/// Where the server listens and which state it is in.
pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_started() -> SessionioError {
    SessionioError::server("sessionio is not started: call start first")
}

impl Server {
    pub fn new(addr: SocketAddr) -> Self {
        Server {
            addr,
            state: Arc::new(Mutex::new(State::Idle)),
        }
    }

    /// Binds and serves; resolves to the bound port.
    pub async fn start(&self, io: SessionIo) -> Result<u16, SessionioError> {
        {
            let mut state = lock(&self.state);
            match *state {
                State::Idle => *state = State::Starting,
                State::Starting | State::Running(_) => {
                    return Err(SessionioError::server("sessionio is already started"))
                }
                State::Closed => {
                    return Err(SessionioError::server(
                        "this engine was closed; create a new one to serve again",
                    ))
                }
            }
        }
        let state = self.state.clone();
        let addr = self.addr;
        crate::runtime::run(async move {
            match io.serve(addr).await {
                Ok(server) => {
                    let port = server.local_addr().port();
                    let server = Arc::new(server);
                    {
                        let mut state = lock(&state);
                        if matches!(*state, State::Starting) {
                            *state = State::Running(server);
                            return Ok(port);
                        }
                    }
                    // close() was called while binding: it wins.
                    server.close().await;
                    Err(SessionioError::server(
                        "sessionio was closed while it was starting",
                    ))
                }
                Err(e) => {
                    let mut state = lock(&state);
                    if matches!(*state, State::Starting) {
                        *state = State::Idle;
                    }
                    Err(e.into())
                }
            }
        })
        .await
    }

    /// Disconnects every socket and stops the server; the engine stays closed.
    pub async fn close(&self, io: SessionIo) -> Result<(), SessionioError> {
        let running = match std::mem::replace(&mut *lock(&self.state), State::Closed) {
            State::Running(server) => Some(server),
            _ => None,
        };
        crate::runtime::run(async move {
            let closing = async {
                match running {
                    Some(server) => server.close().await,
                    // Never served: its sockets (none) and its background tasks.
                    None => io.close().await,
                }
            };
            if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
                tracing::warn!("sessionio server did not stop within {CLOSE_TIMEOUT:?}");
            }
            Ok(())
        })
        .await
    }

    fn running<R>(&self, f: impl FnOnce(&CoreServer) -> R) -> Result<R, SessionioError> {
        match &*lock(&self.state) {
            State::Running(server) => Ok(f(server)),
            _ => Err(not_started()),
        }
    }

    pub fn port(&self) -> Result<u16, SessionioError> {
        self.running(|s| s.local_addr().port())
    }

    pub fn url(&self) -> Result<String, SessionioError> {
        self.running(|s| s.url())
    }

    pub fn is_running(&self) -> bool {
        matches!(*lock(&self.state), State::Running(_))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Dropped without close(): stop the server in the background.
        if let State::Running(server) = std::mem::replace(&mut *lock(&self.state), State::Closed) {
            if let Ok(rt) = crate::runtime::runtime() {
                rt.spawn(async move {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, server.close()).await;
                });
            }
        }
    }
}
