//! The server's lifecycle: Socket.IO served on the engine's own port, from not started
//! through starting and running to closed (never restarted), with the fork guard.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sessionio::http::Server as CoreServer;
use sessionio::SessionIo;

use crate::errors::Failure;
use crate::fork_guard::ForkGuard;
use crate::runtime::runtime;

/// How long `close()` waits for the server to finish before it gives up on it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

enum State {
    Idle,
    Starting,
    Running {
        server: Arc<CoreServer>,
        addr: SocketAddr,
    },
    Closed,
}

/// Where the server listens and which state it is in.
pub struct Server {
    io: SessionIo,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    fork_guard: ForkGuard,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    pub fn new(io: SessionIo, addr: SocketAddr, fork_guard: ForkGuard) -> Self {
        Server {
            io,
            addr,
            state: Arc::new(Mutex::new(State::Idle)),
            fork_guard,
        }
    }

    /// Refuses to use the server from a forked child.
    pub fn check_process(&self) -> Result<(), Failure> {
        self.fork_guard.check()
    }

    /// Moves Idle → Starting; the returned future binds, then moves Starting → Running (or
    /// back to Idle when binding failed) and resolves to the bound port.
    pub fn start(
        &self,
    ) -> Result<impl Future<Output = Result<u16, Failure>> + Send + 'static, Failure> {
        self.check_process()?;
        let addr = self.addr;
        {
            let mut state = lock(&self.state);
            match *state {
                State::Idle => *state = State::Starting,
                State::Starting | State::Running { .. } => {
                    return Err(Failure::server("sessionio is already started"))
                }
                State::Closed => {
                    return Err(Failure::server(
                        "this SessionIo was closed; create a new one to serve again",
                    ))
                }
            }
        }
        let io = self.io.clone();
        let state = self.state.clone();
        let fork_guard = self.fork_guard.clone();
        Ok(async move {
            match io.serve(addr).await {
                Ok(server) => {
                    let addr = server.local_addr();
                    {
                        let mut state = lock(&state);
                        if matches!(*state, State::Starting) {
                            fork_guard.mark_started();
                            *state = State::Running {
                                server: Arc::new(server),
                                addr,
                            };
                            return Ok(addr.port());
                        }
                    }
                    // close() was called while binding: it wins.
                    server.close().await;
                    Err(Failure::server(
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
    }

    /// Moves to Closed; the returned future disconnects every socket and stops the server.
    pub fn close(&self) -> impl Future<Output = Result<(), Failure>> + Send + 'static {
        let running = {
            let mut state = lock(&self.state);
            // From Starting too: the start sees Closed when it has bound, and stops.
            match std::mem::replace(&mut *state, State::Closed) {
                State::Running { server, .. } => Some(server),
                _ => None,
            }
        };
        async move {
            if let Some(server) = running {
                if tokio::time::timeout(CLOSE_TIMEOUT, server.close())
                    .await
                    .is_err()
                {
                    tracing::warn!("sessionio server did not stop within {CLOSE_TIMEOUT:?}");
                }
            }
            Ok(())
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(*lock(&self.state), State::Running { .. })
    }

    /// The bound address, while the server runs.
    pub fn running_addr(&self) -> Result<SocketAddr, Failure> {
        match *lock(&self.state) {
            State::Running { addr, .. } => Ok(addr),
            _ => Err(Failure::server(
                "sessionio is not started: call start() first",
            )),
        }
    }

    /// The server's URL, e.g. `http://127.0.0.1:3001` (core's `Server::url`).
    pub fn url(&self) -> Result<String, Failure> {
        match &*lock(&self.state) {
            State::Running { server, .. } => Ok(server.url()),
            _ => Err(Failure::server(
                "sessionio is not started: call start() first",
            )),
        }
    }

    /// `serving <addr>`, `closed` or `not started`.
    pub fn describe(&self) -> String {
        match *lock(&self.state) {
            State::Running { addr, .. } => format!("serving {addr}"),
            State::Closed => "closed".into(),
            _ => "not started".into(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let state = std::mem::replace(&mut *lock(&self.state), State::Closed);
        let State::Running { server, .. } = state else {
            return;
        };
        if self.fork_guard.started_in_another_process() {
            // A forked child: the server's threads are not here; never touch it.
            std::mem::forget(server);
            return;
        }
        // Dropped without close(): stop the server in the background.
        if let Ok(rt) = runtime() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, server.close()).await;
            });
        }
    }
}
