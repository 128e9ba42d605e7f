//! The server on the engine's own port: core's lifecycle (`sessionio::http::Standalone`:
//! not started, starting, running, closed), with the fork guard around it.

use std::future::Future;
use std::net::SocketAddr;

use sessionio::http::Standalone;
use sessionio::SessionIo;

use crate::errors::Failure;
use crate::fork_guard::ForkGuard;

/// Where the server listens and which state it is in.
pub struct Server {
    io: SessionIo,
    standalone: Standalone,
    fork_guard: ForkGuard,
}

impl Server {
    pub fn new(io: SessionIo, addr: SocketAddr, fork_guard: ForkGuard) -> Self {
        Server {
            io,
            standalone: Standalone::new(addr),
            fork_guard,
        }
    }

    /// Refuses to use the server from a forked child.
    pub fn check_process(&self) -> Result<(), Failure> {
        self.fork_guard.check()
    }

    /// Starts serving (the returned future binds); resolves to the bound port.
    pub fn start(
        &self,
    ) -> Result<impl Future<Output = Result<u16, Failure>> + Send + 'static, Failure> {
        self.check_process()?;
        let serving = self.standalone.start(&self.io)?;
        let fork_guard = self.fork_guard.clone();
        Ok(async move {
            let port = serving.await?;
            fork_guard.mark_started();
            Ok(port)
        })
    }

    /// Moves to closed; the returned future disconnects every socket and stops the server.
    pub fn close(&self) -> impl Future<Output = Result<(), Failure>> + Send + 'static {
        let closing = self.standalone.close(&self.io);
        async move {
            closing.await;
            Ok(())
        }
    }

    pub fn is_running(&self) -> bool {
        self.standalone.is_running()
    }

    /// The bound address, while the server runs.
    pub fn running_addr(&self) -> Result<SocketAddr, Failure> {
        Ok(self.standalone.local_addr()?)
    }

    /// The server's URL, e.g. `http://127.0.0.1:3001` (core's `Server::url`).
    pub fn url(&self) -> Result<String, Failure> {
        Ok(self.standalone.url()?)
    }

    /// `serving <addr>`, `closed` or `not started`.
    pub fn describe(&self) -> String {
        self.standalone.describe()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.fork_guard.started_in_another_process() {
            // A forked child: the server's threads are not here; never touch it.
            self.standalone.forget();
        }
        // Otherwise core's `Standalone` stops a server dropped without close() in the
        // background.
    }
}
