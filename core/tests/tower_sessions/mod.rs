//! The tower-sessions mode against a real axum app with tower-sessions' own
//! `SessionManagerLayer`, once per tower-sessions line (the same tests, by one macro).

macro_rules! tower_sessions_tests {
    ($module:ident, $ts:ident, $adoption:path) => {
        mod $module {
            use std::net::SocketAddr;
            use std::sync::atomic::{AtomicBool, Ordering};
            use std::sync::Arc;
            use std::time::Duration;

            use axum::extract::Extension;
            use axum::http::{header, StatusCode};
            use axum::routing::{get, post};
            use axum::Router;
            use $adoption as adoption;
            use $ts::cookie::Key;
            use $ts::session::{Id, Record};
            use $ts::session_store;
            use $ts::{Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore};

            use crate::{Client, Connect};
            use sessionio::SessionIo;

            const NAME: &str = "app.sid";

            #[derive(Clone, Copy)]
            enum Cookies {
                Plain,
                Signed,
                Private,
            }

            /// The app: `GET /` stores the session (its count), `POST /login` cycles the
            /// id, `POST /logout` flushes, `POST /destroy` calls the engine's
            /// `destroy_session`, `POST /incr` increments through tower-sessions.
            async fn app<S: SessionStore + Clone>(
                store: S,
                cookies: Cookies,
                expiry: Expiry,
            ) -> (SocketAddr, SessionIo) {
                let key = Key::generate();
                let (adopted, store) = adoption::adopt(store);
                let layer = SessionManagerLayer::new(store)
                    .with_name(NAME)
                    .with_expiry(expiry)
                    .with_secure(false);
                let adopted = adopted.with_name(NAME).with_expiry(expiry);
                let adopted = match cookies {
                    Cookies::Plain => adopted,
                    Cookies::Signed => adopted.with_signed(key.clone()),
                    Cookies::Private => adopted.with_private(key.clone()),
                };
                // Plain cookies have no key to derive the tokens' from.
                let io = crate::builder()
                    .tower_sessions(adopted)
                    .build()
                    .unwrap();
                io.on("incr", |ctx| async move {
                    let session = ctx.require_session()?;
                    Ok(session.increment("count", 1).await?)
                });
                let router = Router::new()
                    .route(
                        "/",
                        get(|session: Session| async move {
                            let n: i64 = session.get("count").await.unwrap().unwrap_or(0);
                            session.insert("count", n).await.unwrap();
                            n.to_string()
                        }),
                    )
                    .route(
                        "/incr",
                        post(|session: Session| async move {
                            let n: i64 = session.get("count").await.unwrap().unwrap_or(0) + 1;
                            session.insert("count", n).await.unwrap();
                            n.to_string()
                        }),
                    )
                    .route(
                        "/login",
                        post(|session: Session| async move {
                            session.cycle_id().await.unwrap();
                            session.insert("user", "ada").await.unwrap();
                            StatusCode::NO_CONTENT
                        }),
                    )
                    .route(
                        "/logout",
                        post(|session: Session| async move {
                            session.flush().await.unwrap();
                            StatusCode::NO_CONTENT
                        }),
                    )
                    .route(
                        "/destroy",
                        post(
                            |session: Session, Extension(io): Extension<SessionIo>| async move {
                                let id = adoption::engine_id(&session.id().unwrap());
                                io.destroy_session(id).await.unwrap().to_string()
                            },
                        ),
                    )
                    .layer(Extension(io.clone()));
                let router = match cookies {
                    Cookies::Plain => router.layer(layer),
                    Cookies::Signed => router.layer(layer.with_signed(key)),
                    Cookies::Private => router.layer(layer.with_private(key)),
                }
                .layer(io.layer());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(listener, router).await });
                (addr, io)
            }

            /// One request: (status, body, the session cookie it set as `name=value`).
            async fn request(
                addr: SocketAddr,
                method: &str,
                path: &str,
                cookie: Option<&str>,
            ) -> (u16, String, Option<String>) {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
                let cookie = cookie.map(|c| format!("cookie: {c}\r\n")).unwrap_or_default();
                let head = format!(
                    "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{cookie}content-length: 0\r\nconnection: close\r\n\r\n"
                );
                conn.write_all(head.as_bytes()).await.unwrap();
                let mut raw = String::new();
                conn.read_to_string(&mut raw).await.unwrap();
                let (head, body) = raw.split_once("\r\n\r\n").unwrap();
                let status = head[9..12].parse().unwrap();
                let set_cookie = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .filter(|(k, _)| k.eq_ignore_ascii_case(header::SET_COOKIE.as_str()))
                    .map(|(_, v)| v.trim().split(';').next().unwrap().to_owned())
                    .find(|c| c.starts_with(&format!("{NAME}=")) && c.len() > NAME.len() + 1);
                (status, body.to_owned(), set_cookie)
            }

            async fn new_session(addr: SocketAddr) -> String {
                let (status, _, cookie) = request(addr, "GET", "/", None).await;
                assert_eq!(status, 200);
                cookie.expect("the app's first response sets its cookie")
            }

            async fn connect(addr: SocketAddr, cookie: &str) -> (Client, Connect) {
                Client::connect(addr, Some(cookie), None, None).await
            }

            /// A cookie with one character of its value changed.
            fn tampered(cookie: &str, at: usize) -> String {
                let (name, value) = cookie.split_once('=').unwrap();
                let mut v: Vec<char> = value.chars().collect();
                let i = at.min(v.len() - 1);
                v[i] = if v[i] == 'A' { 'B' } else { 'A' };
                format!("{name}={}", v.into_iter().collect::<String>())
            }

            /// Messages up to the server's disconnect, which must come.
            async fn kicked(client: &mut Client) -> Vec<String> {
                let mut seen = Vec::new();
                while let Some(m) = client.recv_raw().await {
                    if m == "41" {
                        return seen;
                    }
                    seen.push(m);
                }
                panic!("no server disconnect, only {seen:?}");
            }

            #[tokio::test]
            async fn signed_and_private_cookies_are_read_and_a_tampered_one_is_refused() {
                for cookies in [Cookies::Signed, Cookies::Private] {
                    let (addr, _io) = app(MemoryStore::default(), cookies, Expiry::OnSessionEnd).await;
                    let cookie = new_session(addr).await;
                    assert_eq!(connect(addr, &cookie).await.1, Connect::Ok);
                    for at in [NAME.len() + 1, NAME.len() + 12, cookie.len() - 1] {
                        let forged = tampered(&cookie, at - NAME.len() - 1);
                        let (_c, r) = connect(addr, &forged).await;
                        assert_eq!(r, Connect::Refused("invalid session".into()), "{forged}");
                        // HTTP: refused too, not quietly made a new session.
                        let (status, body, _) = request(addr, "POST", "/incr", Some(&forged)).await;
                        assert_eq!((status, body.as_str()), (401, "invalid session"));
                    }
                    // A plain id under a signed or private setup is no credential.
                    let plain = format!("{NAME}={}", Id::default());
                    assert_eq!(
                        connect(addr, &plain).await.1,
                        Connect::Refused("invalid session".into())
                    );
                }
            }

            #[tokio::test]
            async fn socket_and_http_writes_reach_the_same_record() {
                let (addr, _io) = app(MemoryStore::default(), Cookies::Signed, Expiry::OnSessionEnd).await;
                let cookie = new_session(addr).await;
                let (mut sock, r) = connect(addr, &cookie).await;
                assert_eq!(r, Connect::Ok);
                assert_eq!(request(addr, "POST", "/incr", Some(&cookie)).await.1, "1");
                sock.send(r#"420["incr"]"#).await;
                assert_eq!(sock.recv_raw().await.unwrap(), "430[2]");
                assert_eq!(request(addr, "POST", "/incr", Some(&cookie)).await.1, "3");
            }

            #[tokio::test]
            async fn cycle_id_on_login_disconnects_the_old_ids_sockets_and_retires_it() {
                let (addr, _io) = app(MemoryStore::default(), Cookies::Signed, Expiry::OnSessionEnd).await;
                let old = new_session(addr).await;
                let (mut sock, r) = connect(addr, &old).await;
                assert_eq!(r, Connect::Ok);
                let (status, _, new) = request(addr, "POST", "/login", Some(&old)).await;
                assert_eq!(status, 204);
                let new = new.expect("login sets the new id's cookie");
                assert_ne!(new, old);
                kicked(&mut sock).await;
                assert_eq!(
                    connect(addr, &old).await.1,
                    Connect::Refused("invalid session".into())
                );
                assert_eq!(request(addr, "POST", "/incr", Some(&old)).await.0, 401);
                // The data moved with the id.
                assert_eq!(connect(addr, &new).await.1, Connect::Ok);
                assert_eq!(request(addr, "POST", "/incr", Some(&new)).await.1, "1");
            }

            #[tokio::test]
            async fn logout_and_destroy_from_axum_handlers_kick_the_sockets() {
                let (addr, io) = app(MemoryStore::default(), Cookies::Private, Expiry::OnSessionEnd).await;
                for route in ["/logout", "/destroy"] {
                    let cookie = new_session(addr).await;
                    let (mut a, _) = connect(addr, &cookie).await;
                    let (mut b, _) = connect(addr, &cookie).await;
                    assert_eq!(io.stats().sockets, 2);
                    let (status, body, _) = request(addr, "POST", route, Some(&cookie)).await;
                    assert!(status == 204 || body == "2", "{route}: {status} {body}");
                    kicked(&mut a).await;
                    kicked(&mut b).await;
                    assert_eq!(
                        connect(addr, &cookie).await.1,
                        Connect::Refused("invalid session".into()),
                        "{route}"
                    );
                }
            }

            #[tokio::test]
            async fn expiry_follows_the_record_on_inactivity_and_at_a_date_time() {
                let ttl = time::Duration::milliseconds(700);
                for at_date in [false, true] {
                    let expiry = if at_date {
                        Expiry::AtDateTime(time::OffsetDateTime::now_utc() + ttl * 2)
                    } else {
                        Expiry::OnInactivity(ttl)
                    };
                    let (addr, _io) = app(MemoryStore::default(), Cookies::Signed, expiry).await;
                    let cookie = new_session(addr).await;
                    let (mut sock, r) = connect(addr, &cookie).await;
                    assert_eq!(r, Connect::Ok);
                    // HTTP activity moves an inactivity expiry (never a date's).
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    let (status, body, _) = request(addr, "POST", "/incr", Some(&cookie)).await;
                    assert_eq!(status, 200, "{expiry:?}: {body}");
                    let last = std::time::Instant::now();
                    let expected = match expiry {
                        Expiry::AtDateTime(at) => {
                            let left = at - time::OffsetDateTime::now_utc();
                            Duration::from_millis(left.whole_milliseconds().max(0) as u64)
                        }
                        _ => Duration::from_millis(700),
                    };
                    assert_eq!(sock.recv_raw().await.unwrap(), r#"42["session expired",null]"#);
                    let after = last.elapsed();
                    assert!(
                        after + Duration::from_millis(50) >= expected
                            && after <= expected + Duration::from_secs(1),
                        "{expiry:?}: told after {after:?}, expected {expected:?}"
                    );
                    assert_eq!(sock.recv_raw().await.unwrap(), "41");
                    let (_c, r) = connect(addr, &cookie).await;
                    assert_eq!(r, Connect::Refused("session expired".into()));
                }
            }

            /// A store that fails once told to.
            #[derive(Debug, Clone, Default)]
            struct Failing {
                inner: MemoryStore,
                down: Arc<AtomicBool>,
            }

            #[async_trait::async_trait]
            impl SessionStore for Failing {
                async fn create(&self, r: &mut Record) -> session_store::Result<()> {
                    self.inner.create(r).await
                }
                async fn save(&self, r: &Record) -> session_store::Result<()> {
                    self.inner.save(r).await
                }
                async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
                    if self.down.load(Ordering::Relaxed) {
                        return Err(session_store::Error::Backend("connection refused".into()));
                    }
                    self.inner.load(id).await
                }
                async fn delete(&self, id: &Id) -> session_store::Result<()> {
                    self.inner.delete(id).await
                }
            }

            #[tokio::test]
            async fn a_store_that_errors_gives_store_unavailable() {
                let store = Failing::default();
                let (addr, _io) = app(store.clone(), Cookies::Signed, Expiry::OnSessionEnd).await;
                let cookie = new_session(addr).await;
                store.down.store(true, Ordering::Relaxed);
                assert_eq!(
                    connect(addr, &cookie).await.1,
                    Connect::Refused("store unavailable".into())
                );
                let (status, body, _) = request(addr, "POST", "/incr", Some(&cookie)).await;
                assert_eq!((status, body.as_str()), (503, "store unavailable"));
                store.down.store(false, Ordering::Relaxed);
                assert_eq!(connect(addr, &cookie).await.1, Connect::Ok);
            }

            #[tokio::test]
            async fn plain_cookies_need_a_secret_for_tokens() {
                let (adopted, _store) = adoption::adopt(MemoryStore::default());
                let err = SessionIo::builder()
                    .tower_sessions(adopted)
                    .build()
                    .err()
                    .expect("no secret, no key");
                assert!(err.to_string().contains("plain cookies"), "{err}");
                let (addr, _io) = app(MemoryStore::default(), Cookies::Plain, Expiry::OnSessionEnd).await;
                let cookie = new_session(addr).await;
                assert_eq!(connect(addr, &cookie).await.1, Connect::Ok);
            }
        }
    };
}

#[cfg(feature = "tower-sessions-014")]
tower_sessions_tests!(v0_14, tower_sessions_014, sessionio::tower_sessions::v0_14);
#[cfg(feature = "tower-sessions-015")]
tower_sessions_tests!(v0_15, tower_sessions_015, sessionio::tower_sessions::v0_15);
