//! Several workers on one port (`Builder::workers`): two engines on one Redis, a polling
//! session opened on one and carried on — polls, sends, the websocket upgrade — through
//! the other, which passes each request to the session's worker.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::{builder, connected, cookie, redis_server, server, Client, Connect, WAIT};

/// One HTTP/1.1 request on a connection of its own (as a browser's polling often is):
/// (status, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://app.test\r\nCookie: {cookie}\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // A chunked body (no Content-Length) is one chunk here: drop its framing.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n").nth(1).unwrap_or_default().to_owned()
    } else {
        body.to_owned()
    };
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_opened_on_one_worker_goes_on_through_another_and_upgrades_there() {
    let redis = redis_server::RedisServer::start();
    let worker = || {
        builder()
            .store_url(redis.url())
            .workers(true)
            .build()
            .unwrap()
    };
    let (a, b) = (worker(), worker());
    a.ready().await.unwrap();
    b.ready().await.unwrap();
    let (addr_a, _server_a) = server(&a).await;
    let (addr_b, _server_b) = server(&b).await;
    let s = a.create_session().await.unwrap();
    let cookie = cookie(&a, s.id());
    let path = "/socket.io/?EIO=4&transport=polling";

    // The handshake on A: its session id carries A's tag (11 characters) before the
    // engine's own (16).
    let (status, open) = http(addr_a, "GET", path, &cookie, "").await;
    assert_eq!(status, 200, "{open}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an open packet")
        .to_owned();
    assert_eq!(sid.len(), 27, "{open}");

    // Everything else through B: the CONNECT, its answer, a notification from B.
    let session_path = format!("{path}&sid={sid}");
    assert_eq!(
        http(addr_b, "POST", &session_path, &cookie, "40").await,
        (200, "ok".into())
    );
    // Polls (through B) until a packet `want` accepts comes; pings may come first, alone
    // or in the same answer (packets are separated by \x1e).
    let poll_for = |want: &'static str| {
        let (session_path, cookie) = (session_path.clone(), cookie.clone());
        async move {
            for _ in 0..20 {
                let (status, body) = http(addr_b, "GET", &session_path, &cookie, "").await;
                assert_eq!(status, 200, "{body}");
                if body.split('\x1e').any(|p| p.starts_with(want)) {
                    return;
                }
            }
            panic!("no {want} packet in 20 polls");
        }
    };
    poll_for("40{\"sid\":").await;
    let reached = b.notify_session(s.id(), "current count", &5).await.unwrap();
    assert_eq!(reached, 0, "the socket lives in A, not B");
    poll_for(r#"42["current count",5]"#).await;

    // The upgrade through B, spliced to A: probe, upgrade, then frames both ways.
    let mut req = format!("ws://{addr_b}/socket.io/?EIO=4&transport=websocket&sid={sid}")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut()
        .insert("origin", "http://app.test".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text("2probe")).await.unwrap();
    let probe = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(probe.to_text().unwrap(), "3probe");
    ws.send(Message::text("5")).await.unwrap();
    b.notify_session(s.id(), "current count", &6).await.unwrap();
    let pushed = loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Pings (2) and a noop for the old poll (6) may come first.
        if m.to_text().unwrap().starts_with("42") {
            break m;
        }
    };
    assert_eq!(pushed.to_text().unwrap(), r#"42["current count",6]"#);

    // A session id whose tag another secret made names no worker: the engine's answer
    // to an unknown session, with nothing forwarded.
    let forger = builder()
        .secret("another-integration-secret-0123456789abcdef")
        .store_url(redis.url())
        .workers(true)
        .build()
        .unwrap();
    let (forger_addr, _forger_server) = server(&forger).await;
    let (_, forged_open) = http(forger_addr, "GET", path, "", "").await;
    let forged = forged_open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (status, body) = http(addr_b, "GET", &format!("{path}&sid={forged}"), &cookie, "").await;
    assert_eq!(status, 400, "{body}");

    // Workers share their public port: a second engine binds A's.
    let c = worker();
    let shared = c.serve(addr_a).await;
    assert!(shared.is_ok(), "SO_REUSEPORT: {:?}", shared.err());

    // A gone: a request of its session through B gets the engine's answer to an unknown
    // session (the client then starts a new one), not a hang or a 5xx.
    a.close().await;
    let (status, body) =
        tokio::time::timeout(WAIT, http(addr_b, "GET", &session_path, &cookie, ""))
            .await
            .expect("an answer once A is gone");
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":"1","message":"Session ID unknown"}"#)
    );
}

#[test]
fn workers_need_a_shared_redis() {
    let err = builder().workers(true).build().unwrap_err();
    assert!(
        err.to_string().contains("workers(true) needs a redis://"),
        "{err}"
    );
}

/// The per-session cap counts the session's sockets on every linked process, not only
/// this one's: two on A and one on B fill a cap of 3, and a fourth is refused on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_session_cap_counts_the_sockets_of_every_process() {
    let redis = redis_server::RedisServer::start();
    let linked = || {
        builder()
            .store_url(redis.url())
            .max_connections_per_session(3)
            .build()
            .unwrap()
    };
    let (a, b) = (linked(), linked());
    a.ready().await.unwrap();
    b.ready().await.unwrap();
    let (addr_a, _server_a) = server(&a).await;
    let (addr_b, _server_b) = server(&b).await;
    let c = cookie(&a, a.create_session().await.unwrap().id());
    let _on_a = (connected(addr_a, &c).await, connected(addr_a, &c).await);
    let _on_b = connected(addr_b, &c).await;
    for addr in [addr_a, addr_b] {
        let (_refused, r) = Client::connect(addr, Some(&c), None, None).await;
        assert_eq!(
            r,
            Connect::Refused("too many connections for this session".into())
        );
    }
}
