//! Users across sessions: login rotates the id and binds the session; notify_user,
//! user_sessions, destroy_user_session and destroy_user reach exactly the user's sessions,
//! on one engine and across two on one Redis.

use std::time::Duration;

use sessionio::{Refusal, SessionIo};

use crate::{builder, connected, cookie, metric, server, Client, Connect};

fn refused_on_http(io: &SessionIo, cookie: &str) -> impl std::future::Future<Output = Refusal> {
    let (io, cookie) = (io.clone(), cookie.to_owned());
    async move {
        sessionio::host::http_request(&io, Some(&cookie))
            .await
            .refusal()
            .expect("the cookie was accepted")
    }
}

/// A logged-in session of `user`: created, written, then logged in (a new id).
async fn logged_in(io: &SessionIo, user: &str) -> (sessionio::Session, String) {
    let before = io.create_session().await.unwrap();
    before.set("count", 1).await.unwrap();
    let old_cookie = cookie(io, before.id());
    let session = before.login(user).await.unwrap();
    assert_ne!(
        session.id(),
        before.id(),
        "login gives the session a new id"
    );
    assert_eq!(
        session.get::<i64>("count").await.unwrap(),
        Some(1),
        "login keeps the data"
    );
    assert_eq!(
        refused_on_http(io, &old_cookie).await,
        Refusal::InvalidSession,
        "the id before login is retired"
    );
    (session.clone(), cookie(io, session.id()))
}

#[tokio::test]
async fn notify_user_list_sign_out_one_device_and_log_out_everywhere() {
    let io = builder().build().unwrap();
    io.on("whoami", |ctx| async move { Ok(ctx.socket().user_id()) });
    let (addr, _server) = server(&io).await;
    let (phone, phone_cookie) = logged_in(&io, "ada").await;
    let (laptop, laptop_cookie) = logged_in(&io, "ada").await;
    let (_other, other_cookie) = logged_in(&io, "bob").await;
    assert_eq!(phone.user_id().await.unwrap().as_deref(), Some("ada"));

    let mut phone1 = connected(addr, &phone_cookie).await;
    let mut phone2 = connected(addr, &phone_cookie).await;
    let mut laptop1 = connected(addr, &laptop_cookie).await;
    let mut bob1 = connected(addr, &other_cookie).await;

    // The socket knows its user.
    phone1.send(r#"421["whoami"]"#).await;
    assert_eq!(phone1.recv_raw().await.unwrap(), r#"431["ada"]"#);

    // notify_user reaches every socket of both of ada's sessions, and none of bob's.
    assert_eq!(
        io.notify_user("ada", "user message", "hi").await.unwrap(),
        3
    );
    for c in [&mut phone1, &mut phone2, &mut laptop1] {
        assert_eq!(c.recv_raw().await.unwrap(), r#"42["user message","hi"]"#);
    }
    assert_eq!(bob1.recv_within(Duration::from_millis(200)).await, None);
    assert_eq!(
        io.notify_user("nobody", "user message", "hi")
            .await
            .unwrap(),
        0
    );

    // The list: both sessions, by handles that are not their ids.
    let list = io.user_sessions("ada").await.unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let ids = [phone.id().to_string(), laptop.id().to_string()];
    for entry in &list {
        assert_eq!(entry.handle.len(), 22);
        for id in &ids {
            assert!(!entry.handle.contains(id.as_str()) && !id.contains(&entry.handle));
        }
        assert!(entry.created_at <= now() && entry.last_seen <= now());
        assert!(entry.last_seen >= entry.created_at, "{entry:?}");
    }
    assert_ne!(list[0].handle, list[1].handle);
    let mut sockets: Vec<usize> = list.iter().map(|e| e.sockets).collect();
    sockets.sort();
    assert_eq!(sockets, vec![1, 2]);
    let laptop_handle = &list.iter().find(|e| e.sockets == 1).unwrap().handle;

    // A handle names a session of its user only.
    assert!(!io.destroy_user_session("bob", laptop_handle).await.unwrap());
    assert!(!io
        .destroy_user_session("ada", "not-a-handle")
        .await
        .unwrap());

    // Signing out one device: its socket is kicked, its cookie refused; the other stays.
    assert!(io.destroy_user_session("ada", laptop_handle).await.unwrap());
    assert_eq!(laptop1.recv_raw().await.unwrap(), "41");
    assert_eq!(
        refused_on_http(&io, &laptop_cookie).await,
        Refusal::InvalidSession
    );
    assert_eq!(io.user_sessions("ada").await.unwrap().len(), 1);
    assert_eq!(
        io.notify_user("ada", "user message", "still")
            .await
            .unwrap(),
        2
    );
    for c in [&mut phone1, &mut phone2] {
        assert_eq!(c.recv_raw().await.unwrap(), r#"42["user message","still"]"#);
    }

    // The index's gauges: ada (1 session) and bob (1).
    assert_eq!(metric(&io, "sessionio_indexed_users"), 2.0);
    assert_eq!(metric(&io, "sessionio_indexed_user_sessions"), 2.0);

    // Logging out everywhere: every socket kicked, the cookie refused at the handshake
    // and on HTTP; bob's session is untouched.
    assert_eq!(io.destroy_user("ada", None).await.unwrap(), 1);
    for c in [&mut phone1, &mut phone2] {
        assert_eq!(c.recv_raw().await.unwrap(), "41");
    }
    let (_c, r) = Client::connect(addr, Some(&phone_cookie), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    assert_eq!(
        refused_on_http(&io, &phone_cookie).await,
        Refusal::InvalidSession
    );
    assert!(io.user_sessions("ada").await.unwrap().is_empty());
    assert_eq!(
        io.notify_user("bob", "user message", "ok").await.unwrap(),
        1
    );
    assert_eq!(bob1.recv_raw().await.unwrap(), r#"42["user message","ok"]"#);
    assert_eq!(metric(&io, "sessionio_indexed_users"), 1.0);
    assert_eq!(metric(&io, "sessionio_indexed_user_sessions"), 1.0);
    assert_eq!(io.destroy_user("bob", None).await.unwrap(), 1);
    assert_eq!(metric(&io, "sessionio_indexed_users"), 0.0);
}

fn now() -> u64 {
    sessionio::store::now_ms()
}

#[tokio::test]
async fn logout_unbinds_and_rotates_and_destroy_user_can_spare_the_callers_session() {
    let io = builder().build().unwrap();
    let (addr, _server) = server(&io).await;
    let (mine, _) = logged_in(&io, "ada").await;
    let (_elsewhere, elsewhere_cookie) = logged_in(&io, "ada").await;
    let mut far = connected(addr, &elsewhere_cookie).await;

    // "Sign out my other devices": everything but the caller's session.
    assert_eq!(io.destroy_user("ada", Some(mine.id())).await.unwrap(), 1);
    assert_eq!(far.recv_raw().await.unwrap(), "41");
    assert_eq!(
        refused_on_http(&io, &elsewhere_cookie).await,
        Refusal::InvalidSession
    );
    let list = io.user_sessions("ada").await.unwrap();
    assert_eq!(list.len(), 1);

    // Logging out rotates the id too, keeps the data, and leaves the user's list.
    let mine_cookie = cookie(&io, mine.id());
    let mut sock = connected(addr, &mine_cookie).await;
    let out = mine.logout().await.unwrap();
    assert_ne!(out.id(), mine.id());
    assert_eq!(out.user_id().await.unwrap(), None);
    assert_eq!(out.get::<i64>("count").await.unwrap(), Some(1));
    assert_eq!(sock.recv_raw().await.unwrap(), "41");
    assert!(io.user_sessions("ada").await.unwrap().is_empty());
    assert_eq!(io.user_index_size().await.unwrap().sessions, 0);

    // Logging in again as someone else is one more login; regenerate keeps the user.
    let as_bob = out.login("bob").await.unwrap();
    let again = as_bob.regenerate().await.unwrap();
    assert_eq!(again.user_id().await.unwrap().as_deref(), Some("bob"));
    assert_eq!(io.user_sessions("bob").await.unwrap().len(), 1);

    // Bad user ids are refused by name.
    for bad in ["", "a\nb"] {
        let e = again.login(bad).await.unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_VALUE", "{bad:?}: {e}");
        assert_eq!(
            io.user_sessions(bad).await.unwrap_err().code(),
            "ERR_INVALID_VALUE"
        );
    }
    let long = "u".repeat(257);
    assert_eq!(
        again.login(&long).await.unwrap_err().code(),
        "ERR_INVALID_VALUE"
    );
}

#[tokio::test]
async fn an_expired_session_leaves_the_users_list() {
    let io = builder().ttl(Duration::from_millis(600)).build().unwrap();
    let (short, _) = logged_in(&io, "ada").await;
    let (kept, _) = logged_in(&io, "ada").await;
    assert_eq!(io.user_sessions("ada").await.unwrap().len(), 2);
    // Only `kept` is active.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while tokio::time::Instant::now() < deadline {
        kept.set("seen", true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = io.user_sessions("ada").await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        short.user_id().await.unwrap_err().code(),
        "ERR_SESSION_EXPIRED"
    );
    // An expired session is not counted by destroy_user, but goes with it.
    assert_eq!(io.destroy_user("ada", None).await.unwrap(), 1);
    assert_eq!(io.user_index_size().await.unwrap().sessions, 0);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_across_two_engines_on_one_redis() {
    let redis = crate::redis_server::RedisServer::start();
    let linked = || builder().store_url(redis.url()).build().unwrap();
    let (a, b) = (linked(), linked());
    let (addr_a, _server_a) = server(&a).await;
    let (addr_b, _server_b) = server(&b).await;

    // ada logs in on A and on B; bob on B; each session's socket on the other node.
    let (_on_a, cookie_a) = logged_in(&a, "ada").await;
    let (_on_b, cookie_b) = logged_in(&b, "ada").await;
    let (_bob, cookie_bob) = logged_in(&b, "bob").await;
    let mut sock_a_on_b = connected(addr_b, &cookie_a).await;
    let mut sock_b_on_a = connected(addr_a, &cookie_b).await;
    let mut sock_bob_on_a = connected(addr_a, &cookie_bob).await;

    // A's notify reaches its own socket (counted) and B's (through the adapter).
    assert_eq!(a.notify_user("ada", "user message", "x").await.unwrap(), 1);
    for c in [&mut sock_a_on_b, &mut sock_b_on_a] {
        assert_eq!(c.recv_raw().await.unwrap(), r#"42["user message","x"]"#);
    }
    assert_eq!(
        sock_bob_on_a.recv_within(Duration::from_millis(200)).await,
        None
    );

    // Either node lists both sessions with their sockets, wherever they are.
    for io in [&a, &b] {
        let list = io.user_sessions("ada").await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        assert!(list.iter().all(|e| e.sockets == 1), "{list:?}");
    }

    // Logging out everywhere from A kicks B's socket and refuses both cookies on both.
    assert_eq!(a.destroy_user("ada", None).await.unwrap(), 2);
    for c in [&mut sock_a_on_b, &mut sock_b_on_a] {
        assert_eq!(c.recv_raw().await.unwrap(), "41");
    }
    for (io, c) in [
        (&a, &cookie_a),
        (&b, &cookie_a),
        (&a, &cookie_b),
        (&b, &cookie_b),
    ] {
        assert_eq!(refused_on_http(io, c).await, Refusal::InvalidSession);
    }
    let (_c, r) = Client::connect(addr_b, Some(&cookie_b), None, None).await;
    assert_eq!(r, Connect::Refused("invalid session".into()));
    assert!(b.user_sessions("ada").await.unwrap().is_empty());
    let size = b.user_index_size().await.unwrap();
    assert_eq!((size.users, size.sessions), (1, 1), "bob's session is left");
}
