//! Serving Socket.IO alone on a port of its own, for hosts whose HTTP app runs elsewhere.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::serve::Listener as _;
use http::StatusCode;

use super::listener::{bind_shared_with_stall_timeout, bind_with_stall_timeout};
use crate::engine::SessionIo;
use crate::error::{Error, Result};

impl SessionIo {
    /// Serves Socket.IO alone on `addr` (port 0 picks a free port), for hosts whose HTTP
    /// app runs elsewhere (Node, Python). Sockets get TCP_NODELAY, and a client that stops
    /// reading is cut after the ping interval plus the ping timeout
    /// (see [`bind_with_stall_timeout`]).
    pub async fn serve(&self, addr: SocketAddr) -> Result<Server> {
        self.ready().await?;
        let t = &self.0.config.transport;
        let stall = t.ping_interval + t.ping_timeout;
        let listener = match self.0.workers {
            Some(_) => bind_shared_with_stall_timeout(addr, stall),
            None => bind_with_stall_timeout(addr, stall).await,
        }
        .map_err(|e| Error::Server(format!("bind {addr}: {e}")))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))?;
        let app = axum::Router::new()
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(self.layer());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sessionio server stopped");
            }
        });
        Ok(Server {
            io: self.clone(),
            local_addr,
            stop: Mutex::new(Some((stop_tx, task))),
        })
    }
}

/// A running standalone server; see [`SessionIo::serve`].
pub struct Server {
    io: SessionIo,
    local_addr: SocketAddr,
    stop: Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::task::JoinHandle<()>,
        )>,
    >,
}

impl Server {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL clients reach the server at, e.g. `http://127.0.0.1:3001`: an unspecified
    /// bind address (`0.0.0.0`, `::`) is reached on loopback.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let server = io.serve(([0, 0, 0, 0], 0).into()).await.unwrap();
    /// let port = server.local_addr().port();
    /// assert_eq!(server.url(), format!("http://127.0.0.1:{port}"));
    /// server.close().await;
    /// # });
    /// ```
    pub fn url(&self) -> String {
        let ip = match self.local_addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("http://{ip}:{}", self.local_addr.port())
    }

    /// Disconnects every socket, stops accepting and waits for the server to finish.
    /// Calling it again does nothing.
    pub async fn close(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, task)) = stop {
            self.io.close().await;
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}
