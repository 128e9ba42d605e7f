//! The engine end to end, through a raw Engine.IO v4 / Socket.IO v5 websocket client:
//! handshake refusals, rooms by session, notify/destroy, the per-session cap, expiry,
//! event handlers with acks, regenerate and tokens.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sessionio::store::now_ms;
use sessionio::{HandlerError, Refusal, SessionId, SessionIo};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

#[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
#[path = "tower_sessions/mod.rs"]
mod tower_sessions_mode;

#[path = "users/mod.rs"]
mod users;

#[cfg(feature = "redis")]
#[path = "workers/mod.rs"]
mod workers;

const SECRET: &str = "integration-test-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(5);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client {
    ws: Ws,
}

#[derive(Debug, PartialEq)]
enum Connect {
    Ok,
    Refused(String),
}

impl Client {
    async fn connect(
        addr: SocketAddr,
        cookie: Option<&str>,
        origin: Option<&str>,
        auth: Option<serde_json::Value>,
    ) -> (Client, Connect) {
        let mut req = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
            .into_client_request()
            .unwrap();
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket");
        let mut client = Client { ws };
        let open = client.recv_raw().await.expect("open packet");
        assert!(open.starts_with("0{"), "engine.io open: {open}");
        let connect = match auth {
            Some(a) => format!("40{a}"),
            None => "40".into(),
        };
        client.ws.send(Message::text(connect)).await.unwrap();
        let answer = client.recv_raw().await.expect("connect answer");
        let result = if answer.starts_with("40") {
            Connect::Ok
        } else if let Some(err) = answer.strip_prefix("44") {
            let v: serde_json::Value = serde_json::from_str(err).unwrap();
            Connect::Refused(v["message"].as_str().unwrap().to_owned())
        } else {
            panic!("unexpected connect answer {answer}")
        };
        (client, result)
    }

    /// The next Engine.IO message that is not a ping (pings are answered), or `None` if
    /// the connection closed or nothing came within `WAIT`.
    async fn recv_raw(&mut self) -> Option<String> {
        self.recv_within(WAIT).await
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match msg.ok()? {
                Message::Text(t) if t.as_str() == "2" => {
                    self.ws.send(Message::text("3")).await.ok()?;
                }
                Message::Text(t) => return Some(t.to_string()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn send(&mut self, packet: &str) {
        self.ws.send(Message::text(packet)).await.unwrap();
    }
}

/// A handshake case: name, cookie, origin, auth, expected refusal.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<serde_json::Value>,
    Refusal,
);

async fn server(io: &SessionIo) -> (SocketAddr, sessionio::http::Server) {
    let server = io.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (server.local_addr(), server)
}

fn builder() -> sessionio::Builder {
    SessionIo::builder()
        .secret(SECRET)
        .allowed_origins(["http://app.test"])
}

/// `name=value` for a Cookie header, from the Set-Cookie the engine would send.
fn cookie(io: &SessionIo, id: SessionId) -> String {
    sessionio::host::set_cookie(io, id)
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The HTTP answer to a websocket handshake that must be refused before any Engine.IO
/// session exists: (status, body).
async fn refused_before_connect(
    addr: SocketAddr,
    cookie: Option<&str>,
    origin: &str,
) -> (u16, String) {
    let mut req = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket")
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    req.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => (
            res.status().as_u16(),
            String::from_utf8_lossy(res.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("expected an HTTP refusal, the websocket opened"),
    }
}

async fn connected(addr: SocketAddr, cookie: &str) -> Client {
    let (c, r) = Client::connect(addr, Some(cookie), None, None).await;
    assert_eq!(r, Connect::Ok);
    c
}

#[tokio::test]
async fn handshakes_are_refused_with_clear_messages() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let session = io.create_session().await.unwrap();
    let good = cookie(&io, session.id());
    let forged = {
        let mut c = good.clone().into_bytes();
        let last = c.len() - 1;
        c[last] = if c[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(c).unwrap()
    };
    let other_key = {
        let other = SessionIo::builder().secret([9u8; 32]).build().unwrap();
        cookie(&other, session.id())
    };
    let expired_token = {
        // A token whose expiry has passed by the time it is used.
        let t = io
            .issue_token(session.id(), Duration::from_millis(1))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        t
    };
    let cases: Vec<Case> = vec![
        ("no credentials", None, None, None, Refusal::SessionRequired),
        (
            "garbage cookie",
            Some("sessionio.sid=garbage"),
            None,
            None,
            Refusal::InvalidSession,
        ),
        (
            "forged signature",
            Some(&forged),
            None,
            None,
            Refusal::InvalidSession,
        ),
        (
            "other secret",
            Some(&other_key),
            None,
            None,
            Refusal::InvalidSession,
        ),
        (
            "bad token",
            None,
            None,
            Some(serde_json::json!({"token": "nope"})),
            Refusal::InvalidSession,
        ),
        (
            "expired token",
            None,
            None,
            Some(serde_json::json!({"token": expired_token})),
            Refusal::SessionExpired,
        ),
    ];
    for (name, cookie, origin, auth, refusal) in cases {
        let (_c, r) = Client::connect(addr, cookie, origin, auth).await;
        assert_eq!(r, Connect::Refused(refusal.message().into()), "{name}");
    }
    // A foreign Origin is refused at the Engine.IO handshake, before the engine
    // allocates a session: the websocket upgrade itself gets HTTP 403.
    assert_eq!(
        refused_before_connect(addr, Some(&good), "http://evil.test").await,
        (403, Refusal::OriginNotAllowed.message().into())
    );
    for origin in [None, Some("http://app.test")] {
        let (_c, r) = Client::connect(addr, Some(&good), origin, None).await;
        assert_eq!(r, Connect::Ok, "origin {origin:?}");
    }
}

#[tokio::test]
async fn notify_reaches_every_socket_of_the_session_and_no_other() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let (a, b) = (
        io.create_session().await.unwrap(),
        io.create_session().await.unwrap(),
    );
    let mut a1 = connected(addr, &cookie(&io, a.id())).await;
    let mut a2 = connected(addr, &cookie(&io, a.id())).await;
    let mut b1 = connected(addr, &cookie(&io, b.id())).await;
    assert_eq!(
        io.notify_session(a.id(), "current count", &7)
            .await
            .unwrap(),
        2
    );
    for c in [&mut a1, &mut a2] {
        assert_eq!(c.recv_raw().await.unwrap(), r#"42["current count",7]"#);
    }
    assert_eq!(
        b1.recv_within(Duration::from_millis(200)).await,
        None,
        "B heard A's notify"
    );
    assert_eq!(
        io.notify_session(SessionId::default(), "x", &1)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn destroy_disconnects_every_socket_and_the_cookie_is_refused_after() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    let mut s1 = connected(addr, &c).await;
    let mut s2 = connected(addr, &c).await;
    assert_eq!((io.stats().sockets, io.stats().rooms), (2, 1));
    assert_eq!(io.destroy_session(s.id()).await.unwrap(), 2);
    for sock in [&mut s1, &mut s2] {
        assert_eq!(
            sock.recv_raw().await.unwrap(),
            "41",
            "server-side namespace disconnect"
        );
    }
    let (_c, r) = Client::connect(addr, Some(&c), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    assert_eq!(
        sessionio::host::http_request(&io, Some(&c))
            .await
            .refusal()
            .unwrap(),
        Refusal::InvalidSession
    );
    // Nothing is left behind for the destroyed session.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = io.stats();
    assert_eq!(
        (stats.sockets, stats.sessions_with_sockets, stats.rooms),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_per_session_cap_refuses_extra_sockets_and_frees_places() {
    let io = builder().max_connections_per_session(2).build().unwrap();
    let (addr, _server) = server(&io).await;
    let c = cookie(&io, io.create_session().await.unwrap().id());
    let mut first = connected(addr, &c).await;
    let _second = connected(addr, &c).await;
    let (_third, r) = Client::connect(addr, Some(&c), None, None).await;
    assert_eq!(
        r,
        Connect::Refused("too many connections for this session".into())
    );
    first.send("41").await; // the client leaves the namespace
    let deadline = Instant::now() + WAIT;
    loop {
        let (_c, r) = Client::connect(addr, Some(&c), None, None).await;
        if r == Connect::Ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn expired_sessions_are_told_and_kicked_within_a_second() {
    let io = builder().ttl(Duration::from_millis(400)).build().unwrap();
    let (addr, _server) = server(&io).await;
    let mut worst = 0i64;
    for _ in 0..5 {
        let s = io.create_session().await.unwrap();
        let expires_at = s.expires_at().await.unwrap() as i64;
        let mut sock = connected(addr, &cookie(&io, s.id())).await;
        assert_eq!(
            sock.recv_raw().await.unwrap(),
            r#"42["session expired",null]"#
        );
        let kicked_at = now_ms() as i64;
        assert_eq!(sock.recv_raw().await.unwrap(), "41");
        assert!(
            kicked_at >= expires_at,
            "kicked {} ms early",
            expires_at - kicked_at
        );
        worst = worst.max(kicked_at - expires_at);
        let (_c, r) = Client::connect(addr, Some(&cookie(&io, s.id())), None, None).await;
        assert_eq!(r, Connect::Refused("session expired".into()));
        let http = sessionio::host::http_request(&io, Some(&cookie(&io, s.id())))
            .await
            .refusal()
            .unwrap();
        assert_eq!(http, Refusal::SessionExpired, "HTTP says why, too");
    }
    assert!(worst <= 1000, "worst kick delay {worst} ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(io.stats().sessions_with_sockets, 0, "timers left behind");
}

#[tokio::test]
async fn http_activity_keeps_the_session_alive() {
    let io = builder().ttl(Duration::from_millis(400)).build().unwrap();
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    let mut sock = connected(addr, &c).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let outcome = sessionio::host::http_request(&io, Some(&c)).await;
        assert!(outcome.session().is_some(), "{:?}", outcome.refusal());
    }
    // 960 ms > 2 × TTL have passed; the socket was never kicked.
    assert_eq!(sock.recv_within(Duration::from_millis(50)).await, None);
    assert_eq!(io.notify_session(s.id(), "still", &true).await.unwrap(), 1);
    assert_eq!(sock.recv_raw().await.unwrap(), r#"42["still",true]"#);
}

#[tokio::test]
async fn event_handlers_ack_with_values_errors_and_survive_panics() {
    let io = builder().build().unwrap();
    io.on("incr", |ctx| async move {
        let session = ctx.require_session()?;
        let n = session.increment("count", 1).await?;
        session.notify("current count", n).await?;
        Ok(n)
    });
    io.on("add", |ctx| async move {
        let (a, b): (i64, i64) = (ctx.arg(0)?, ctx.arg(1)?);
        Ok(a + b)
    });
    io.on("fail", |_ctx| async move {
        Err::<(), _>(HandlerError::new("nope"))
    });
    io.on("panic", |_ctx| async move {
        if true {
            panic!("handler bug");
        }
        Ok(())
    });
    io.use_event(|ctx| async move {
        if ctx.event() == "forbidden" {
            return Err(HandlerError::new("blocked by middleware"));
        }
        Ok(())
    });
    io.on("forbidden", |_ctx| async move { Ok("should not run") });
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    let mut a = connected(addr, &c).await;
    let mut b = connected(addr, &c).await;
    a.send(r#"421["incr"]"#).await;
    let mut got = vec![a.recv_raw().await.unwrap(), a.recv_raw().await.unwrap()];
    got.sort();
    assert_eq!(got, [r#"42["current count",1]"#, "431[1]"]);
    assert_eq!(b.recv_raw().await.unwrap(), r#"42["current count",1]"#);
    a.send(r#"422["add",2,3]"#).await;
    assert_eq!(a.recv_raw().await.unwrap(), "432[5]");
    a.send(r#"423["fail"]"#).await;
    assert_eq!(a.recv_raw().await.unwrap(), r#"433[{"error":"nope"}]"#);
    a.send(r#"424["panic"]"#).await;
    assert_eq!(
        a.recv_raw().await.unwrap(),
        r#"434[{"error":"internal error"}]"#
    );
    a.send(r#"425["forbidden"]"#).await;
    assert_eq!(
        a.recv_raw().await.unwrap(),
        r#"435[{"error":"blocked by middleware"}]"#
    );
    a.send(r#"426["add",2]"#).await;
    assert_eq!(
        a.recv_raw().await.unwrap(),
        r#"436[{"error":"argument 1 is missing"}]"#
    );
    // Still serving after the panic.
    a.send(r#"427["incr"]"#).await;
    let mut got = vec![a.recv_raw().await.unwrap(), a.recv_raw().await.unwrap()];
    got.sort();
    assert_eq!(got, [r#"42["current count",2]"#, "437[2]"]);
    assert_eq!(s.get::<i64>("count").await.unwrap(), Some(2));
}

#[tokio::test]
async fn token_handshakes_join_the_session() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let token = io.issue_token(s.id(), Duration::from_secs(60)).unwrap();
    let (mut sock, r) = Client::connect(
        addr,
        None,
        None,
        Some(serde_json::json!({ "token": token })),
    )
    .await;
    assert_eq!(r, Connect::Ok);
    assert_eq!(
        io.notify_session(s.id(), "hello", &"token").await.unwrap(),
        1
    );
    assert_eq!(sock.recv_raw().await.unwrap(), r#"42["hello","token"]"#);
    assert!(io.issue_token(s.id(), Duration::ZERO).is_err());
}

/// Finding 5: a token's expiry was checked at the handshake only, and every event of its
/// socket extended the session. A token-admitted socket is now told `session expired`
/// and disconnected at the token's expiry, and its events (the dispatch's activity check
/// and writes through its session handle) never extend the session past that instant.
#[tokio::test]
async fn finding_5_tokens_outlive_their_expiry_a_token_socket_leaves_at_it_and_never_extends_the_session(
) {
    // The session outlives the token unless the token socket's events extend it.
    let io = builder().ttl(Duration::from_millis(3000)).build().unwrap();
    io.on("incr", |ctx| async move {
        Ok(ctx.require_session()?.increment("count", 1).await?)
    });
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let session_expires_at = s.expires_at().await.unwrap();
    let token_ttl = Duration::from_millis(1200);
    let token = io.issue_token(s.id(), token_ttl).unwrap();
    let token_expires_at = now_ms() + token_ttl.as_millis() as u64;
    let (mut sock, r) = Client::connect(
        addr,
        None,
        None,
        Some(serde_json::json!({ "token": token })),
    )
    .await;
    assert_eq!(r, Connect::Ok);
    // Events every 100 ms: each would move the session's expiry 3 s past itself.
    let deadline = Instant::now() + token_ttl + Duration::from_millis(2500);
    let mut acked = 0;
    let told_at = loop {
        assert!(
            Instant::now() < deadline,
            "the socket was still connected {} ms after its token expired",
            now_ms().saturating_sub(token_expires_at)
        );
        sock.send(&format!(r#"42{acked}["incr"]"#)).await;
        let answer = sock.recv_raw().await.expect("an answer");
        if answer == r#"42["session expired",null]"# {
            break now_ms();
        }
        assert_eq!(
            answer,
            format!("43{acked}[{}]", acked + 1),
            "events work until then"
        );
        acked += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Later answers are acks of events sent at the same instant (refused or not); then
    // the disconnect.
    let mut next = sock.recv_raw().await;
    while next.as_deref().is_some_and(|m| m.starts_with("43")) {
        next = sock.recv_raw().await;
    }
    assert_eq!(next.as_deref(), Some("41"), "disconnected by the server");
    assert!(
        acked >= 5,
        "only {acked} events were answered before the token expired"
    );
    assert!(
        told_at + 50 >= token_expires_at,
        "told {} ms before the token expired",
        token_expires_at - told_at
    );
    assert!(
        told_at <= token_expires_at + 1000,
        "told {} ms after the token expired",
        told_at - token_expires_at
    );
    // An extension by any of the events would have outlived the token: none was made.
    assert_eq!(s.expires_at().await, Ok(session_expires_at));
}

#[tokio::test]
async fn regenerate_keeps_data_disconnects_old_sockets_and_retires_the_old_id() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let old = io.create_session().await.unwrap();
    old.set("user", "ada").await.unwrap();
    let old_cookie = cookie(&io, old.id());
    let mut sock = connected(addr, &old_cookie).await;
    let new = old.regenerate().await.unwrap();
    assert_ne!(new.id(), old.id());
    assert_eq!(
        new.get::<String>("user").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(sock.recv_raw().await.unwrap(), "41");
    assert_eq!(
        sessionio::host::http_request(&io, Some(&old_cookie))
            .await
            .refusal()
            .unwrap(),
        Refusal::InvalidSession
    );
    let _fresh = connected(addr, &cookie(&io, new.id())).await;
}

#[tokio::test]
async fn anonymous_sockets_only_when_allowed() {
    let io = builder().allow_anonymous(true).build().unwrap();
    let (addr, _server) = server(&io).await;
    let (_c, r) = Client::connect(addr, None, None, None).await;
    assert_eq!(r, Connect::Ok);
    // A credential that is present but bad is still refused.
    let (_c, r) = Client::connect(addr, Some("sessionio.sid=bad"), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    let token = Some(serde_json::json!({"token": "nope"}));
    let (_c, r) = Client::connect(addr, None, None, token.clone()).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    // With token auth off, `auth.token` is the app's business.
    let io = builder()
        .allow_anonymous(true)
        .token_auth(false)
        .build()
        .unwrap();
    let (addr, _server2) = server(&io).await;
    let (_c, r) = Client::connect(addr, None, None, token).await;
    assert_eq!(r, Connect::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_lose_nothing() {
    let io = builder().build().unwrap();
    let s = io.create_session().await.unwrap();
    let tasks: Vec<_> = (0..400)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.increment("count", 1).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=400).collect::<Vec<_>>());
    s.set("count", "text").await.unwrap();
    assert_eq!(
        s.increment("count", 1).await.unwrap_err(),
        sessionio::Error::InvalidValue("`count` is not an integer".into())
    );
    assert_eq!(
        s.get::<String>("count").await.unwrap().as_deref(),
        Some("text")
    );
}

#[tokio::test]
async fn http_sessions_are_created_reused_and_never_silently_replaced() {
    let io = builder().build().unwrap();
    let created = sessionio::host::http_request(&io, None).await;
    created.session().unwrap().save().await.unwrap();
    let set_cookie = created.set_cookie().expect("a new session sets its cookie");
    assert!(
        set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && set_cookie.contains("Secure")
    );
    let c = set_cookie.split(';').next().unwrap().to_owned();
    let again = sessionio::host::http_request(&io, Some(&c)).await;
    assert_eq!(
        again.session().unwrap().id(),
        created.session().unwrap().id()
    );
    assert!(again.set_cookie().is_none());
    assert_eq!(
        sessionio::host::http_request(&io, Some("sessionio.sid=x.y"))
            .await
            .refusal()
            .unwrap(),
        Refusal::InvalidSession
    );
    created.session().unwrap().destroy().await.unwrap();
    assert_eq!(
        sessionio::host::http_request(&io, Some(&c))
            .await
            .refusal()
            .unwrap(),
        Refusal::InvalidSession
    );
    assert!(matches!(
        io.session(created.session().unwrap().id()).await,
        Err(sessionio::Error::SessionNotFound)
    ));
}

/// The value of one sample line of the Prometheus text.
fn metric(io: &SessionIo, sample: &str) -> f64 {
    let text = io.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample:?} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_handshakes_refusals_notifications_and_destroys() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    let _a = connected(addr, &c).await;
    let _b = connected(addr, &c).await;
    let (_x, r) = Client::connect(addr, Some("sessionio.sid=forged"), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    assert_eq!(
        refused_before_connect(addr, Some(&c), "http://evil.test").await,
        (403, "origin not allowed".into())
    );
    assert_eq!(io.notify_session(s.id(), "n", &1).await.unwrap(), 2);

    assert_eq!(metric(&io, "sessionio_sockets_connected"), 2.0);
    assert_eq!(metric(&io, "sessionio_sessions_with_sockets"), 1.0);
    assert_eq!(metric(&io, "sessionio_handshakes_accepted_total"), 2.0);
    let refused = |reason: &str| {
        metric(
            &io,
            &format!("sessionio_handshakes_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refused("invalid session"), 1.0);
    assert_eq!(refused("origin not allowed"), 1.0);
    assert_eq!(refused("session required"), 0.0);
    assert_eq!(metric(&io, "sessionio_notifications_sent_total"), 2.0);
    assert!(metric(&io, "sessionio_store_seconds_count") >= 3.0);

    assert_eq!(io.destroy_session(s.id()).await.unwrap(), 2);
    assert_eq!(metric(&io, "sessionio_sessions_destroyed_total"), 1.0);
    assert_eq!(metric(&io, "sessionio_sockets_kicked_total"), 2.0);
}

/// Waits until `client` receives `expected`, calling `send` again every 100 ms (a
/// notification sent while the bus was reconnecting is lost); gives up after `within`.
#[cfg(feature = "redis")]
async fn until_received<F, Fut>(
    client: &mut Client,
    expected: &str,
    within: Duration,
    send: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        send().await;
        if let Some(msg) = client.recv_within(Duration::from_millis(100)).await {
            assert_eq!(msg, expected);
            return started.elapsed();
        }
    }
    panic!("{expected} not received within {within:?}");
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_on_one_redis_reach_each_others_sockets_and_survive_a_redis_restart() {
    let mut redis = redis_server::RedisServer::start();
    let linked = || builder().store_url(redis.url()).build().unwrap();
    let (a, b) = (linked(), linked());
    let (_addr_a, _server_a) = server(&a).await;
    let (addr_b, _server_b) = server(&b).await;

    // A session made by A; its sockets on B.
    let s = a.create_session().await.unwrap();
    let mut on_b = connected(addr_b, &cookie(&a, s.id())).await;
    let other = a.create_session().await.unwrap();
    let mut other_on_b = connected(addr_b, &cookie(&a, other.id())).await;

    // A has no socket of it, so it counts 0, but B's socket hears it; the other does not.
    assert_eq!(
        a.notify_session(s.id(), "current count", &7).await.unwrap(),
        0
    );
    assert_eq!(on_b.recv_raw().await.unwrap(), r#"42["current count",7]"#);
    assert_eq!(
        other_on_b.recv_within(Duration::from_millis(200)).await,
        None
    );

    // A session handle's notify (what handlers call) crosses too.
    s.notify("current count", 8).await.unwrap();
    assert_eq!(on_b.recv_raw().await.unwrap(), r#"42["current count",8]"#);

    // Redis stops: B's socket stays; a notify from A fails loudly (not quietly);
    // handshakes and HTTP sessions are refused (fail closed).
    redis.stop();
    let err = a
        .notify_session(other.id(), "current count", &9)
        .await
        .unwrap_err();
    assert!(
        matches!(err, sessionio::Error::StoreUnavailable(_)),
        "{err}"
    );
    let (_c, r) = Client::connect(addr_b, Some(&cookie(&a, s.id())), None, None).await;
    assert_eq!(r, Connect::Refused("store unavailable".into()));
    assert_eq!(
        sessionio::host::http_request(&b, Some(&cookie(&a, s.id())))
            .await
            .refusal()
            .unwrap(),
        Refusal::StoreUnavailable
    );

    // Redis is back (empty: this one keeps nothing): within 2 s A reaches B's old
    // socket again, without a restart of either engine.
    redis.restart();
    let id = other.id();
    let took = until_received(
        &mut other_on_b,
        r#"42["current count",10]"#,
        Duration::from_secs(2),
        || async {
            let _ = a.notify_session(id, "current count", &10).await;
        },
    )
    .await;
    eprintln!("cross-node notify back {took:?} after Redis restarted");

    // Destroy on A disconnects B's socket.
    let t = a.create_session().await.unwrap();
    let mut t_on_b = connected(addr_b, &cookie(&a, t.id())).await;
    assert_eq!(a.destroy_session(t.id()).await.unwrap(), 0);
    assert_eq!(t_on_b.recv_raw().await.unwrap(), "41");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn unlinked_engines_stay_apart() {
    let redis = redis_server::RedisServer::start();
    // One store, but `local://` adapters: sessions are shared, sockets are not.
    let unlinked = || {
        builder()
            .store_url(redis.url())
            .adapter_url("local://")
            .build()
            .unwrap()
    };
    let (a, b) = (unlinked(), unlinked());
    let (addr_b, _server_b) = server(&b).await;
    let s = a.create_session().await.unwrap();
    let mut on_b = connected(addr_b, &cookie(&a, s.id())).await;
    assert_eq!(
        a.notify_session(s.id(), "current count", &1).await.unwrap(),
        0
    );
    assert_eq!(on_b.recv_within(Duration::from_millis(300)).await, None);
    assert_eq!(
        b.notify_session(s.id(), "current count", &2).await.unwrap(),
        1
    );
    assert_eq!(on_b.recv_raw().await.unwrap(), r#"42["current count",2]"#);
    let bad = builder().adapter_url("mysql://x").build().unwrap_err();
    assert!(bad.to_string().contains("unknown adapter URL"), "{bad}");
}

#[tokio::test]
async fn secret_rotation_accepts_the_old_secret_until_it_is_removed() {
    const OLD: &str = "the old secret, at least thirty-two bytes";
    const NEW: &str = "the new secret, at least thirty-two bytes";
    // Three deployments of one app on one store: before, during and after the rotation.
    let store: std::sync::Arc<dyn sessionio::store::SessionStore> =
        std::sync::Arc::new(sessionio::store::MemoryStore::new());
    let engine = |secrets: &[&str]| {
        SessionIo::builder()
            .secrets(secrets.iter().copied())
            .store(store.clone())
            .build()
            .unwrap()
    };
    let (before, during, after) = (engine(&[OLD]), engine(&[NEW, OLD]), engine(&[NEW]));
    let s = before.create_session().await.unwrap();
    let old_cookie = cookie(&before, s.id());
    let old_token = before.issue_token(s.id(), Duration::from_secs(60)).unwrap();
    let token_auth = |t: &str| serde_json::json!({ "token": t });

    // During: the old cookie and token still work, over HTTP and at the handshake...
    let (addr, _server) = server(&during).await;
    assert_eq!(
        sessionio::host::http_request(&during, Some(&old_cookie))
            .await
            .session()
            .unwrap()
            .id(),
        s.id()
    );
    let _socket = connected(addr, &old_cookie).await;
    let (_t, r) = Client::connect(addr, None, None, Some(token_auth(&old_token))).await;
    assert_eq!(r, Connect::Ok);
    // ...and new cookies are signed with the new secret only.
    let new_cookie = cookie(&during, s.id());
    assert_ne!(new_cookie, old_cookie);
    assert!(sessionio::host::http_request(&before, Some(&new_cookie))
        .await
        .refusal()
        .is_some());

    // After the old secret is removed, its cookies and tokens are refused.
    let (addr, _server) = server(&after).await;
    assert_eq!(
        sessionio::host::http_request(&after, Some(&old_cookie))
            .await
            .refusal()
            .unwrap(),
        Refusal::InvalidSession
    );
    let (_c, r) = Client::connect(addr, Some(&old_cookie), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    let (_t, r) = Client::connect(addr, None, None, Some(token_auth(&old_token))).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    assert_eq!(
        sessionio::host::http_request(&after, Some(&new_cookie))
            .await
            .session()
            .unwrap()
            .id(),
        s.id()
    );

    // Secrets never show in Debug output (what a log line of the engine would print).
    for io in [&before, &during, &after] {
        let printed = format!("{io:?} {:?} {:?}", io.config(), sessionio::host::signer(io));
        assert!(!printed.contains("secret, at least"), "{printed}");
    }
    // Short secrets are refused.
    let short = SessionIo::builder()
        .secrets([NEW, "short"])
        .build()
        .unwrap_err();
    assert!(
        short.to_string().contains("secret #2 is 5 bytes"),
        "{short}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_counted_and_closed_not_silently_starved() {
    let io = builder()
        .max_buffer_size(16)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let (addr, _server) = server(&io).await;
    let (stalled, healthy) = (
        io.create_session().await.unwrap(),
        io.create_session().await.unwrap(),
    );
    // This client never reads again after its handshake.
    let _stalled_client = connected(addr, &cookie(&io, stalled.id())).await;

    // Big messages fill the kernel's socket buffers, then the 16-packet queue.
    let big = "x".repeat(256 * 1024);
    let mut reached = 0;
    for _ in 0..200 {
        reached += io.notify_session(stalled.id(), "big", &big).await.unwrap();
    }
    assert!(
        reached < 200,
        "every message was queued: the queue never filled"
    );
    // The message that found the queue full for a second is counted; the later ones
    // found the socket either behind (counted) or already closed by its heartbeat.
    let dropped = metric(&io, "sessionio_notifications_dropped_total") as usize;
    assert!(dropped >= 1, "drops not counted");
    assert!(reached + dropped <= 200);

    // (Connected only now: the notifications above took a second, longer than this
    // test's heartbeat, and this test reads a client only when it waits for a message.)
    let mut healthy_client = connected(addr, &cookie(&io, healthy.id())).await;

    // The stalled socket is cut (heartbeat, then the kernel's stall timeout frees the
    // writer stuck on the full connection); the healthy one is served meanwhile.
    let started = Instant::now();
    while io.stats().sockets > 1 {
        assert!(
            started.elapsed() < WAIT,
            "the stalled socket was never closed"
        );
        assert_eq!(
            io.notify_session(healthy.id(), "tick", &1).await.unwrap(),
            1
        );
        assert_eq!(healthy_client.recv_raw().await.unwrap(), r#"42["tick",1]"#);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(io.stats().sessions_with_sockets, 1);
}

#[tokio::test]
async fn a_connect_auth_that_is_not_an_object_is_refused() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    // (A bare number cannot be tried: after `40` the parser reads digits as a packet id.)
    for auth in [serde_json::json!("x"), serde_json::json!([1, 2])] {
        let (_c, r) = Client::connect(addr, Some(&c), None, Some(auth.clone())).await;
        assert_eq!(r, Connect::Refused("invalid auth payload".into()), "{auth}");
    }
    // An object, `null` or no auth at all is fine.
    let (_c, r) = Client::connect(addr, Some(&c), None, Some(serde_json::json!({}))).await;
    assert_eq!(r, Connect::Ok);
    let (_c, r) = Client::connect(addr, Some(&c), None, None).await;
    assert_eq!(r, Connect::Ok);
}

/// Reads `n` events `42["n",{"i":…}]` (after a pause), answering pings; then whatever
/// Socket.IO packet comes next, if any within a second.
async fn read_numbered(
    mut client: Client,
    pause: Duration,
    n: usize,
) -> (Vec<u64>, Option<String>) {
    tokio::time::sleep(pause).await;
    let mut seen = Vec::new();
    while seen.len() < n {
        let Some(msg) = client.recv_raw().await else {
            break;
        };
        let Some(json) = msg.strip_prefix("42") else {
            return (seen, Some(msg));
        };
        // Only the number, at the front: parsing 256 KB of padding per event in a debug
        // build would make this reader slower than the pause it stands for.
        let number = json
            .strip_prefix(r#"["n",{"i":"#)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok());
        seen.push(number.unwrap_or_else(|| panic!("not a numbered event: {:.60}", json)));
    }
    let next = client.recv_within(Duration::from_secs(1)).await;
    (seen, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_every_notification_and_one_that_falls_behind_is_disconnected() {
    let io = builder().max_buffer_size(16).build().unwrap();
    let (addr, _server) = server(&io).await;
    // 100 × 256 KB is more than the kernel's socket buffers and the 16-packet queue hold.
    let pad = "x".repeat(256 * 1024);
    const N: usize = 100;

    // A client that pauses 300 ms: notify waits for room, and nothing is lost.
    let slow = io.create_session().await.unwrap();
    let client = connected(addr, &cookie(&io, slow.id())).await;
    let reader = tokio::spawn(read_numbered(client, Duration::from_millis(300), N));
    for i in 0..N {
        let data = serde_json::json!({ "i": i, "pad": pad });
        assert_eq!(
            io.notify_session(slow.id(), "n", &data).await.unwrap(),
            1,
            "#{i}"
        );
    }
    let (seen, _) = reader.await.unwrap();
    assert_eq!(seen, (0..N as u64).collect::<Vec<_>>());
    assert_eq!(metric(&io, "sessionio_notifications_dropped_total"), 0.0);

    // A client that pauses 2.5 s falls behind: what did not fit is counted as dropped,
    // and after the messages it was given, it is disconnected by the server (`41`).
    let behind = io.create_session().await.unwrap();
    let client = connected(addr, &cookie(&io, behind.id())).await;
    let reader = tokio::spawn(read_numbered(client, Duration::from_millis(2500), N));
    let mut reached = 0;
    for i in 0..N {
        let data = serde_json::json!({ "i": i, "pad": pad });
        reached += io.notify_session(behind.id(), "n", &data).await.unwrap();
    }
    assert!(reached < N, "the queue never filled");
    let dropped = metric(&io, "sessionio_notifications_dropped_total") as usize;
    assert_eq!(dropped, N - reached);
    let (seen, next) = reader.await.unwrap();
    assert_eq!(seen, (0..reached as u64).collect::<Vec<_>>());
    assert_eq!(next.as_deref(), Some("41"));
    let started = Instant::now();
    while io.stats().sockets > 0 {
        assert!(
            started.elapsed() < WAIT,
            "the socket that fell behind stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A memory store whose writes fail as a real backend's would, with connection details
/// in the error (what must never reach a client).
struct WritesFail(std::sync::Arc<sessionio::store::MemoryStore>);

const LEAKY_DETAIL: &str = "redis://app:hunter2@db.internal:6379 refused the connection";

impl sessionio::store::SessionStore for WritesFail {
    fn create(
        &self,
        record: sessionio::store::Record,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        self.0.create(record)
    }
    fn load(
        &self,
        id: SessionId,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<Option<sessionio::store::Record>>> {
        self.0.load(id)
    }
    fn replace(
        &self,
        _record: sessionio::store::Record,
        _expected_version: u64,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        Box::pin(async { Err(sessionio::Error::StoreUnavailable(LEAKY_DETAIL.into())) })
    }
    fn touch(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<sessionio::store::Touch>> {
        self.0.touch(id, expires_at, now_ms)
    }
    fn delete(&self, id: SessionId) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        self.0.delete(id)
    }
    fn count(&self) -> sessionio::store::BoxFuture<'_, sessionio::Result<u64>> {
        self.0.count()
    }
    fn sweeper(&self) -> Option<&dyn sessionio::store::Sweep> {
        self.0.sweeper()
    }
}

/// The log of the current thread, captured (a current-thread runtime runs the server on
/// the test's own thread).
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_store_error_through_question_mark_answers_internal_error_and_is_logged() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let memory = std::sync::Arc::new(sessionio::store::MemoryStore::new());
    let io = builder()
        .store(std::sync::Arc::new(WritesFail(memory)))
        .build()
        .unwrap();
    io.on("incr", |ctx| async move {
        let n = ctx.require_session()?.increment("count", 1).await?;
        Ok(n)
    });
    io.on("chosen", |_ctx| async move {
        Err::<(), _>(HandlerError::new("try again later"))
    });
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let mut a = connected(addr, &cookie(&io, s.id())).await;
    a.send(r#"421["incr"]"#).await;
    assert_eq!(
        a.recv_raw().await.unwrap(),
        r#"431[{"error":"internal error"}]"#
    );
    a.send(r#"422["chosen"]"#).await;
    assert_eq!(
        a.recv_raw().await.unwrap(),
        r#"432[{"error":"try again later"}]"#
    );
    let logged = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains(LEAKY_DETAIL) && logged.contains("internal error"),
        "the detail is logged: {logged}"
    );
}

/// A third session system through the identity seam, with no engine change: ids prefixed
/// `host-` on the host side, cookies that carry the id under a fixed tag (a test stand-in
/// for another framework's signed cookie), and a store of its own.
struct TaggedIds(std::sync::Arc<sessionio::store::MemoryStore>);

impl sessionio::identity::Identity for TaggedIds {
    fn verify_cookie(&self, value: &str) -> Option<SessionId> {
        value.strip_prefix("tag.")?.parse().ok()
    }
    fn sign_cookie(&self, id: SessionId) -> Option<String> {
        Some(format!("tag.{id}"))
    }
    fn creates_sessions(&self) -> bool {
        true
    }
    fn resolve(&self, host_id: &str) -> sessionio::Result<SessionId> {
        let id = host_id
            .strip_prefix("host-")
            .ok_or(sessionio::Error::InvalidSessionId)?;
        sessionio::host::parse_session_id(id)
    }
    fn host_id(&self, id: SessionId) -> String {
        format!("host-{id}")
    }
    fn store(&self) -> std::sync::Arc<dyn sessionio::store::SessionStore> {
        self.0.clone()
    }
}

#[tokio::test]
async fn another_session_system_plugs_in_through_the_identity_seam() {
    let store = std::sync::Arc::new(sessionio::store::MemoryStore::new());
    let io = builder()
        .identity(std::sync::Arc::new(TaggedIds(store)))
        .build()
        .unwrap();
    assert!(builder()
        .identity(std::sync::Arc::new(TaggedIds(Default::default())))
        .store_url("memory://")
        .build()
        .is_err());
    let (addr, _server) = server(&io).await;
    let created = sessionio::host::http_request(&io, None).await;
    let id = created.session().unwrap().id();
    created.session().unwrap().save().await.unwrap();
    let set_cookie = created.set_cookie().unwrap();
    assert!(
        set_cookie.starts_with(&format!("sessionio.sid=tag.{id};")),
        "{set_cookie}"
    );
    let mut a = connected(addr, &format!("sessionio.sid=tag.{id}")).await;
    let host_id = sessionio::host::host_id(&io, id);
    assert_eq!(host_id, format!("host-{id}"));
    let resolved = sessionio::host::resolve_id(&io, &host_id).unwrap();
    assert_eq!(io.notify_session(resolved, "hello", &1).await.unwrap(), 1);
    assert_eq!(a.recv_raw().await.unwrap(), r#"42["hello",1]"#);
    let (_, refused) = Client::connect(addr, Some("sessionio.sid=forged"), None, None).await;
    assert_eq!(refused, Connect::Refused("invalid session".into()));
}

/// Finding 3: internal error text reached clients — a corrupted Redis record answered the
/// HTTP 503 body (and could answer an ack) with `store unavailable: redis: session …
/// holds a bad record: EOF while parsing…`. Only chosen messages reach a client: the ack
/// is `internal error`, the HTTP body the documented refusal `store unavailable`, and the
/// detail goes to the log with an error id.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "current_thread")]
async fn finding_3_internal_error_text_reaches_clients_a_corrupted_redis_record_answers_no_detail()
{
    use tower_service::Service as _;
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let redis = redis_server::RedisServer::start();
    let io = builder().store_url(redis.url()).build().unwrap();
    io.on("incr", |ctx| async move {
        Ok(ctx.require_session()?.increment("count", 1).await?)
    });
    let app = axum::Router::new()
        .route(
            "/incr",
            axum::routing::post(|session: sessionio::Session| async move {
                let n = session.increment("count", 1).await?;
                Ok::<_, sessionio::http::HttpError>(n.to_string())
            }),
        )
        .layer(io.layer());
    let (addr, _server) = server(&io).await;
    let s = io.create_session().await.unwrap();
    let c = cookie(&io, s.id());
    let mut sock = connected(addr, &c).await;

    // The session's record, corrupted in Redis: its data is cut-off JSON.
    let key = format!("sessionio:session:{}", s.id());
    let written = std::process::Command::new("redis-cli")
        .args(["-u", &redis.url(), "HSET", &key, "data", r#"{"count":"#])
        .output()
        .expect("redis-cli");
    assert!(written.status.success(), "redis-cli: {written:?}");
    let leaks = |text: &str| text.contains("bad record") || text.contains("EOF while parsing");

    sock.send(r#"421["incr"]"#).await;
    let ack = sock.recv_raw().await.unwrap();
    assert_eq!(ack, r#"431[{"error":"internal error"}]"#);

    let request = http::Request::post("/incr")
        .header("cookie", &c)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().call(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(!leaks(&body), "the HTTP body leaks the detail: {body}");
    assert_eq!((status.as_u16(), &*body), (503, "store unavailable"));

    let logged = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    let lines = logged.lines().filter(|l| leaks(l)).collect::<Vec<_>>();
    assert_eq!(
        lines.len(),
        2,
        "the ack's and the HTTP answer's detail are logged: {logged}"
    );
    assert!(
        lines.iter().all(|l| l.contains("error_id=")),
        "each with an error id: {logged}"
    );
}

/// The engine's store is bounded: a session handle's write past `max_session_bytes`
/// fails with a clear error and the session keeps its data.
#[tokio::test]
async fn an_engine_refuses_a_session_write_past_max_session_bytes() {
    let io = SessionIo::builder()
        .secret([7u8; 32])
        .max_session_bytes(100)
        .build()
        .unwrap();
    let session = io.create_session().await.unwrap();
    session.set("count", 1).await.unwrap();
    let err = session.set("blob", "z".repeat(200)).await.unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_VALUE");
    assert!(
        err.to_string().contains("over max_session_bytes (100)"),
        "{err}"
    );
    assert_eq!(session.get::<i64>("count").await.unwrap(), Some(1));
    assert_eq!(session.get::<String>("blob").await.unwrap(), None);
}

/// A store whose next read of a live record, once armed, reports itself and then waits
/// until the test releases it: a handshake held between its store read and its join.
#[cfg(feature = "redis")]
struct HeldRead {
    inner: std::sync::Arc<sessionio::store::MemoryStore>,
    armed: std::sync::atomic::AtomicBool,
    read: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[cfg(feature = "redis")]
impl HeldRead {
    async fn hold_if_armed(&self) {
        if self.armed.swap(false, std::sync::atomic::Ordering::AcqRel) {
            self.read.notify_one();
            self.release.notified().await;
        }
    }
}

#[cfg(feature = "redis")]
impl sessionio::store::SessionStore for HeldRead {
    fn create(
        &self,
        record: sessionio::store::Record,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        self.inner.create(record)
    }

    fn load(
        &self,
        id: SessionId,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<Option<sessionio::store::Record>>> {
        Box::pin(async move {
            let record = self.inner.load(id).await?;
            if record.is_some() {
                self.hold_if_armed().await;
            }
            Ok(record)
        })
    }

    fn replace(
        &self,
        record: sessionio::store::Record,
        expected_version: u64,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        self.inner.replace(record, expected_version)
    }

    fn touch(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> sessionio::store::BoxFuture<'_, sessionio::Result<sessionio::store::Touch>> {
        Box::pin(async move {
            let touched = self.inner.touch(id, expires_at, now_ms).await?;
            if touched == sessionio::store::Touch::Extended {
                self.hold_if_armed().await;
            }
            Ok(touched)
        })
    }

    fn delete(&self, id: SessionId) -> sessionio::store::BoxFuture<'_, sessionio::Result<bool>> {
        self.inner.delete(id)
    }

    fn sweeper(&self) -> Option<&dyn sessionio::store::Sweep> {
        self.inner.sweeper()
    }

    fn count(&self) -> sessionio::store::BoxFuture<'_, sessionio::Result<u64>> {
        self.inner.count()
    }
}

/// Finding 6, two nodes: tombstones are per process, so a destroy on A reaches a handshake
/// racing it on B through the store (deleted first) and the kick A broadcasts after. Here
/// B's handshake read the live record just before A's delete, and A's kick went out while
/// that socket was not yet in its session's room: B must still not keep it connected.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_6_a_destroy_on_node_a_reaches_a_handshake_on_node_b_that_read_the_record_just_before(
) {
    use std::sync::Arc;
    let redis = redis_server::RedisServer::start();
    let shared = Arc::new(sessionio::store::MemoryStore::new());
    let held = Arc::new(HeldRead {
        inner: shared.clone(),
        armed: Default::default(),
        read: Default::default(),
        release: Default::default(),
    });
    let node = |store: Arc<dyn sessionio::store::SessionStore>| {
        builder()
            .store(store)
            .adapter_url(redis.url())
            .build()
            .unwrap()
    };
    let (a, b) = (node(shared.clone()), node(held.clone()));
    let (_addr_a, _server_a) = server(&a).await;
    let (addr_b, _server_b) = server(&b).await;
    let s = a.create_session().await.unwrap();
    let c = cookie(&a, s.id());

    held.armed.store(true, std::sync::atomic::Ordering::Release);
    let handshake = tokio::spawn({
        let c = c.clone();
        async move { Client::connect(addr_b, Some(&c), None, None).await }
    });
    tokio::time::timeout(WAIT, held.read.notified())
        .await
        .expect("B's handshake read the session");
    // B holds a live record and has no socket in the session's room: A's delete, then
    // A's kick to every node, both happen now.
    assert_eq!(a.destroy_session(s.id()).await.unwrap(), 0);
    held.release.notify_one();

    let (mut on_b, answer) = handshake.await.unwrap();
    if answer == Connect::Ok {
        assert_eq!(
            on_b.recv_within(Duration::from_secs(3)).await.as_deref(),
            Some("41"),
            "B kept a socket of the session A destroyed connected"
        );
    }
    let deadline = Instant::now() + WAIT;
    while b.stats().sessions_with_sockets > 0 {
        assert!(Instant::now() < deadline, "B still counts a socket of it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And B refuses its cookie afterwards.
    let (_c, refused) = Client::connect(addr_b, Some(&c), None, None).await;
    assert_eq!(refused, Connect::Refused("invalid session".into()));
}

/// Finding 10: a session's room was named by its raw id and `join` took any name, so a
/// socket that joined another session's id got that session's notifications and was
/// kicked by its destroy. The raw id is now an ordinary room, the engine's name for the
/// session's room is refused, and neither reaches the other session.
#[tokio::test]
async fn finding_10_a_socket_that_joins_another_sessions_id_gets_none_of_it_and_survives_its_destroy(
) {
    let io = builder().build().unwrap();
    io.on("join", |ctx| async move {
        let room: String = ctx.arg(0)?;
        let socket = ctx.socket();
        socket
            .join(room)
            .map_err(|e| HandlerError::new(e.to_string()))?;
        let mut rooms = socket.rooms();
        rooms.sort();
        Ok(rooms)
    });
    let (addr, _server) = server(&io).await;
    let victim = io.create_session().await.unwrap();
    let attacker = io.create_session().await.unwrap();
    let mut theirs = connected(addr, &cookie(&io, victim.id())).await;
    let mut mine = connected(addr, &cookie(&io, attacker.id())).await;
    let id = victim.id().to_string();
    let ack = |raw: String, n: u32| -> serde_json::Value {
        let body = raw
            .strip_prefix(&format!("43{n}"))
            .unwrap_or_else(|| panic!("ack {n} expected, got {raw}"));
        serde_json::from_str(body).unwrap()
    };

    // The raw id joins an ordinary room of that name.
    mine.send(&format!(r#"421["join","{id}"]"#)).await;
    assert_eq!(
        ack(mine.recv_raw().await.unwrap(), 1),
        serde_json::json!([[id]])
    );
    // The engine's own names are refused, with a message that says why.
    for (n, reserved) in [
        (
            2,
            format!("{}session:{id}", sessionio::RESERVED_ROOM_PREFIX),
        ),
        (3, format!("{}anything", sessionio::RESERVED_ROOM_PREFIX)),
    ] {
        mine.send(&format!(r#"42{n}["join","{reserved}"]"#)).await;
        let refused = ack(mine.recv_raw().await.unwrap(), n);
        let message = refused[0]["error"].as_str().unwrap_or_default();
        assert!(
            message
                .starts_with("invalid value: room names starting with \"sessionio:\" are reserved"),
            "joining {reserved}: {refused}"
        );
    }

    // The victim's notification reaches the victim's socket only.
    assert_eq!(
        io.notify_session(victim.id(), "current count", &1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(theirs.recv_raw().await.unwrap(), r#"42["current count",1]"#);
    assert_eq!(
        mine.recv_within(Duration::from_millis(300)).await,
        None,
        "a socket of another session that joined the victim's id got its notification"
    );

    // The victim's destroy kicks the victim's socket only.
    assert_eq!(io.destroy_session(victim.id()).await.unwrap(), 1);
    assert_eq!(theirs.recv_raw().await.unwrap(), "41");
    mine.send(r#"424["join","lobby"]"#).await;
    let mut expected = [id.clone(), "lobby".to_owned()];
    expected.sort();
    assert_eq!(
        ack(mine.recv_raw().await.unwrap(), 4),
        serde_json::json!([expected]),
        "the other session's socket was disconnected by the victim's destroy"
    );
}

/// Finding 2 (issue 15): every request without a cookie stored a new session. Now reads
/// store nothing and send no cookie; the first write (or `save()`) stores the session and
/// sets its cookie, once.
#[tokio::test]
async fn finding_2_lazy_sessions_reads_store_nothing_and_the_first_write_sets_the_cookie() {
    let store = std::sync::Arc::new(sessionio::store::MemoryStore::new());
    let io = builder().store(store.clone()).build().unwrap();
    for _ in 0..50 {
        let request = sessionio::host::http_request(&io, None).await;
        let session = request.session().expect("a session handle");
        assert_eq!(session.get::<i64>("count").await.unwrap(), None);
        assert!(session.data().await.unwrap().is_empty());
        assert_eq!(request.set_cookie(), None, "a read sent a cookie");
    }
    assert_eq!(store.len(), 0, "requests that only read stored sessions");

    let request = sessionio::host::http_request(&io, None).await;
    let session = request.session().unwrap().clone();
    // A failed first write stores nothing.
    let refused = session
        .update(|_| Err::<(), _>(sessionio::Error::InvalidValue("no".into())))
        .await;
    assert!(refused.is_err());
    assert_eq!((store.len(), request.set_cookie()), (0, None));
    assert_eq!(session.increment("count", 1).await.unwrap(), 1);
    assert_eq!(store.len(), 1);
    assert_eq!(
        request.set_cookie(),
        Some(sessionio::host::set_cookie(&io, session.id()))
    );
    assert_eq!(session.increment("count", 1).await.unwrap(), 2);
    assert_eq!(store.len(), 1, "a second write stored another session");
    // The cookie names the stored session.
    let again = sessionio::host::http_request(&io, Some(&cookie(&io, session.id()))).await;
    assert_eq!(
        again.session().unwrap().get::<i64>("count").await.unwrap(),
        Some(2)
    );
    assert_eq!(again.set_cookie(), None);

    // save() stores an empty session (a page that opens a socket), and the socket's
    // handshake then finds it.
    let page = sessionio::host::http_request(&io, None).await;
    page.session().unwrap().save().await.unwrap();
    assert_eq!(store.len(), 2);
    let page_cookie = cookie(&io, page.session().unwrap().id());
    let mut headers = http::HeaderMap::new();
    headers.insert("cookie", page_cookie.parse().unwrap());
    headers.insert("origin", "http://app.test".parse().unwrap());
    assert!(sessionio::host::check_handshake(&io, &headers, None)
        .await
        .unwrap()
        .is_some());

    // destroy() of a session never stored: nothing to delete, no cookie, and later writes
    // find no session.
    let gone = sessionio::host::http_request(&io, None).await;
    let session = gone.session().unwrap();
    assert_eq!(session.destroy().await.unwrap(), 0);
    assert!(matches!(
        session.set("k", 1).await,
        Err(sessionio::Error::SessionNotFound)
    ));
    assert_eq!((store.len(), gone.set_cookie()), (2, None));
}

/// Finding 2 (issue 15): the store had no cap. At `max_sessions` a new session is refused
/// with `too many sessions` (ERR_TOO_MANY_SESSIONS, HTTP 503) and nothing is stored;
/// existing sessions keep working, and a place freed is usable again.
#[tokio::test]
async fn finding_2_session_cap_refuses_the_next_session_with_too_many_sessions() {
    let store = std::sync::Arc::new(sessionio::store::MemoryStore::new());
    let io = builder()
        .store(store.clone())
        .max_sessions(3)
        .build()
        .unwrap();
    let mut kept = Vec::new();
    for _ in 0..2 {
        let request = sessionio::host::http_request(&io, None).await;
        request
            .session()
            .unwrap()
            .increment("count", 1)
            .await
            .unwrap();
        kept.push(request.session().unwrap().clone());
    }
    kept.push(io.create_session().await.unwrap());
    assert_eq!(store.len(), 3);

    let request = sessionio::host::http_request(&io, None).await;
    let session = request.session().unwrap();
    assert_eq!(
        session.get::<i64>("count").await.unwrap(),
        None,
        "reads still work"
    );
    let refused = session.increment("count", 1).await.unwrap_err();
    assert_eq!(refused, sessionio::Error::TooManySessions);
    assert_eq!(refused.to_string(), "too many sessions");
    assert_eq!(refused.code(), "ERR_TOO_MANY_SESSIONS");
    assert_eq!(session.save().await, Err(sessionio::Error::TooManySessions));
    assert_eq!(request.set_cookie(), None, "a refused session got a cookie");
    assert_eq!(
        io.create_session().await.unwrap_err(),
        sessionio::Error::TooManySessions
    );
    assert_eq!(store.len(), 3);

    // Sessions already stored write and regenerate as before.
    assert_eq!(kept[0].increment("count", 1).await.unwrap(), 2);
    let renewed = kept[1].regenerate().await.unwrap();
    assert_eq!(store.len(), 3);
    // A destroyed session frees its place.
    renewed.destroy().await.unwrap();
    session.save().await.unwrap();
    assert_eq!(store.len(), 3);
    assert!(request.set_cookie().is_some());

    assert!(builder().max_sessions(0).build().is_err());
}
