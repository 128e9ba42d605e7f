//! A sessionio server configured as the official Socket.IO protocol test suite
//! (socketio/socket.io-protocol, `test-suite/`) expects: ping interval 300 ms, ping
//! timeout 200 ms, max payload 1 000 000, connect timeout 1000 ms, any origin, anonymous
//! sockets, namespaces `/` and `/custom`, and `auth` treated as app data.
//!
//! On connection it emits `auth` with the handshake's auth; `message` is echoed as
//! `message-back`; `message-with-ack` is acknowledged with its arguments;
//! `emit-with-ack` is sent back to the client with an ack request, and the client's
//! ack arguments are emitted as `emit-with-ack`. `handshake` is acknowledged with the
//! socket's handshake in the one JSON shape every binding gives (tests/contract).
//!
//! Environment: `PORT` (default 3000, 0 = any free port).

use std::net::SocketAddr;
use std::time::Duration;

use sessionio::{Reply, SessionId, SessionIo};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| format!("PORT={p:?} is not a port"))?,
        Err(_) => 3000,
    };

    let io = SessionIo::builder()
        .secret(format!("{}{}", SessionId::default(), SessionId::default()))
        .allow_any_origin()
        .allow_anonymous(true)
        // The suite's `auth` is app data (`{"token": "123"}`), echoed back, not a credential.
        .token_auth(false)
        .namespaces(["/", "/custom"])
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .build()?;

    io.on_connection(|socket| async move {
        let auth = socket.handshake().auth;
        let _ = socket.emit("auth", &auth);
    });
    io.on("message", |ctx| async move {
        ctx.socket().emit_args("message-back", ctx.args())?;
        Ok(Reply::args(vec![]))
    });
    io.on("handshake", |ctx| async move {
        Ok(ctx.socket().handshake().to_json())
    });
    io.on("message-with-ack", |ctx| async move {
        Ok(Reply::args(ctx.args().to_vec()))
    });
    io.on("emit-with-ack", |ctx| async move {
        let socket = ctx.socket();
        let answer = socket
            .emit_with_ack("emit-with-ack", ctx.args(), Duration::from_secs(5))
            .await?;
        socket.emit_args("emit-with-ack", &answer)?;
        Ok(Reply::args(vec![]))
    });

    let server = io.serve(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let url = format!("http://{}", server.local_addr());
    println!("listening http={url} socket={url}");
    tokio::signal::ctrl_c().await?;
    server.close().await;
    Ok(())
}
