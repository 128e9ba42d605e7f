//! `Engine`: the exported engine. It holds a clone of `sessionio::SessionIo` and its own
//! server, and hands every call to core: options to core's `Options`, cookies and
//! refusals to `sessionio::host`, sessions to `sessionio::Session`.

use std::sync::Arc;

use sessionio::http::Standalone;
use sessionio::options::{KeyStyle, Options};
use sessionio::{SessionId, SessionIo};

use crate::error::SessionioError;
use crate::handlers::{self, ConnectionHandler, EventHandler, EventMiddleware};
use crate::runtime::{in_runtime, run};
use crate::session::{seconds, HttpOutcome, Session};
use crate::value::{self, Value};

#[derive(uniffi::Object)]
pub struct Engine {
    io: SessionIo,
    /// The engine's own server (core's lifecycle).
    server: Standalone,
}

/// One live session of a user, as `user_sessions` lists it: core's `UserSession`.
#[derive(Debug, uniffi::Record)]
pub struct UserSession {
    /// Names the session for `destroy_user_session`; never its id.
    pub handle: String,
    /// When it logged in as the user, in Unix milliseconds.
    pub created_at: u64,
    /// Its last activity, in Unix milliseconds.
    pub last_seen: u64,
    /// The `User-Agent` of its login request, or of its latest socket's handshake.
    pub user_agent: Option<String>,
    /// The client address (IP) of its login request, or of its latest socket's handshake.
    pub address: Option<String>,
    /// Sockets connected to it now, on every node.
    pub sockets: u64,
}

impl From<sessionio::UserSession> for UserSession {
    fn from(s: sessionio::UserSession) -> Self {
        UserSession {
            handle: s.handle,
            created_at: s.created_at,
            last_seen: s.last_seen,
            user_agent: s.user_agent,
            address: s.address,
            sockets: s.sockets as u64,
        }
    }
}

/// What the store's user index holds: core's `UserIndexSize`.
#[derive(Debug, uniffi::Record)]
pub struct UserIndexSize {
    /// Users with at least one indexed session.
    pub users: u64,
    /// Indexed sessions.
    pub sessions: u64,
}

/// Live counters.
#[derive(Debug, uniffi::Record)]
pub struct Stats {
    /// Sockets connected to this process.
    pub sockets: u64,
    /// Sessions with at least one socket here.
    pub sessions_with_sockets: u64,
}

impl Engine {
    /// The engine's id for an id the host passes: core's `host::resolve_id`.
    fn resolve_id(&self, id: &str) -> Result<SessionId, SessionioError> {
        Ok(sessionio::host::resolve_id(&self.io, id)?)
    }
}

#[uniffi::export]
impl Engine {
    /// An engine configured by `options`, a map with core's snake_case option names
    /// (`secret`, `ttl`, `allowed_origins`, `store`, `port`, …): every rule and default
    /// is core's `Options`.
    #[uniffi::constructor]
    pub fn new(options: Value) -> Result<Arc<Self>, SessionioError> {
        let options = Options::from_value(value::to_msgpack(options), KeyStyle::SnakeCase)?;
        let addr = options.addr()?;
        let io = in_runtime(|| options.into_builder(None).and_then(|b| b.build()))??;
        Ok(Arc::new(Engine {
            io,
            server: Standalone::new(addr),
        }))
    }

    /// The Socket.IO server's URL, e.g. `http://127.0.0.1:3001` (once started).
    pub fn url(&self) -> Result<String, SessionioError> {
        Ok(self.server.url()?)
    }

    /// The bound port (once started).
    pub fn port(&self) -> Result<u16, SessionioError> {
        Ok(self.server.local_addr()?.port())
    }

    pub fn started(&self) -> bool {
        self.server.is_running()
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> String {
        self.io.config().cookie.name.clone()
    }

    /// A signed token for clients without cookies (`auth: {token}`), valid for
    /// `ttl_seconds`.
    pub fn issue_token(
        &self,
        session_id: String,
        ttl_seconds: f64,
    ) -> Result<String, SessionioError> {
        let id = self.resolve_id(&session_id)?;
        Ok(self.io.issue_token(id, seconds(ttl_seconds, "ttl")?)?)
    }

    /// The `Set-Cookie` value that stores this session's cookie.
    pub fn set_cookie(&self, session_id: String) -> Result<String, SessionioError> {
        Ok(sessionio::host::set_cookie(
            &self.io,
            self.resolve_id(&session_id)?,
        ))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        sessionio::host::clear_cookie(&self.io)
    }

    /// The cross-site request forgery check every HTTP middleware runs first: raises
    /// `Refused` (403 `origin not allowed`, no cookie change) for a state-changing request
    /// from a site off the allow-list.
    pub fn check_request_site(
        &self,
        method: String,
        origin: Option<String>,
        fetch_site: Option<String>,
        host: Option<String>,
    ) -> Result<(), SessionioError> {
        match sessionio::host::check_request_site(
            &self.io,
            &method,
            origin.as_deref(),
            fetch_site.as_deref(),
            host.as_deref(),
        ) {
            Some(refusal) => Err(SessionioError::refused(refusal, None)),
            None => Ok(()),
        }
    }

    pub fn stats(&self) -> Stats {
        let s = self.io.stats();
        Stats {
            sockets: s.sockets as u64,
            sessions_with_sockets: s.sessions_with_sockets as u64,
        }
    }

    /// Every counter in the Prometheus text format, for a `/metrics` route.
    pub fn metrics_text(&self) -> String {
        self.io.metrics_text()
    }

    /// `handler` answers socket event `event`.
    pub fn on(&self, event: String, handler: Arc<dyn EventHandler>) {
        handlers::on_event(&self.io, event, handler);
    }

    /// `middleware` runs before the handler of every event.
    pub fn use_middleware(&self, middleware: Arc<dyn EventMiddleware>) {
        handlers::use_event(&self.io, middleware);
    }

    /// `callback` runs for every accepted socket.
    pub fn on_connection(&self, callback: Arc<dyn ConnectionHandler>) {
        handlers::on_connection(&self.io, callback);
    }
}

#[uniffi::export]
impl Engine {
    /// Binds and serves Socket.IO on the engine's own port; the bound port.
    pub async fn start(&self) -> Result<u16, SessionioError> {
        let serving = self.server.start(&self.io)?;
        run(async move { Ok(serving.await?) }).await
    }

    /// Disconnects every socket and stops the server.
    pub async fn close(&self) -> Result<(), SessionioError> {
        let closing = self.server.close(&self.io);
        run(async move {
            closing.await;
            Ok(())
        })
        .await
    }

    /// Emits `event` with `data` to every socket of the session; how many.
    pub async fn notify_session(
        &self,
        session_id: String,
        event: String,
        data: Value,
    ) -> Result<u64, SessionioError> {
        let id = self.resolve_id(&session_id)?;
        let data = value::to_msgpack(data);
        let io = self.io.clone();
        run(async move { Ok(io.notify_session(id, &event, &data).await? as u64) }).await
    }

    /// Deletes the session and disconnects its sockets; how many.
    pub async fn destroy_session(&self, session_id: String) -> Result<u64, SessionioError> {
        let id = self.resolve_id(&session_id)?;
        let io = self.io.clone();
        run(async move { Ok(io.destroy_session(id).await? as u64) }).await
    }

    /// A new, stored session.
    pub async fn create_session(&self) -> Result<Arc<Session>, SessionioError> {
        let io = self.io.clone();
        run(async move { Ok(Session::new(io.create_session().await?)) }).await
    }

    /// A handle on an existing session.
    pub async fn session(&self, session_id: String) -> Result<Arc<Session>, SessionioError> {
        let id = self.resolve_id(&session_id)?;
        let io = self.io.clone();
        run(async move { Ok(Session::new(io.session(id).await?)) }).await
    }

    /// What a request's `Cookie` header resolves to (core's `host::http_request`), with
    /// the request's client — its `User-Agent` and the address its server gives —
    /// reported to core (`HttpOutcome::set_client`) for a login made during the request.
    pub async fn http_request(
        &self,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> Result<Arc<HttpOutcome>, SessionioError> {
        let io = self.io.clone();
        run(async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            if user_agent.is_some() || address.is_some() {
                outcome.set_client(user_agent.as_deref(), address.as_deref());
            }
            Ok(HttpOutcome::new(outcome))
        })
        .await
    }

    /// Emits `event` with `data` to every socket of every session logged in as
    /// `user_id`, on every node; how many sockets it reached on this one.
    pub async fn notify_user(
        &self,
        user_id: String,
        event: String,
        data: Value,
    ) -> Result<u64, SessionioError> {
        let data = value::to_msgpack(data);
        let io = self.io.clone();
        run(async move { Ok(io.notify_user(&user_id, &event, &data).await? as u64) }).await
    }

    /// Destroys every session logged in as `user_id` but `except` (a session id as the
    /// host knows it); how many live sessions.
    pub async fn destroy_user(
        &self,
        user_id: String,
        except: Option<String>,
    ) -> Result<u64, SessionioError> {
        let except = except.map(|id| self.resolve_id(&id)).transpose()?;
        let io = self.io.clone();
        run(async move { Ok(io.destroy_user(&user_id, except).await? as u64) }).await
    }

    /// The live sessions logged in as `user_id`, oldest login first.
    pub async fn user_sessions(&self, user_id: String) -> Result<Vec<UserSession>, SessionioError> {
        let io = self.io.clone();
        run(async move {
            let sessions = io.user_sessions(&user_id).await?;
            Ok(sessions.into_iter().map(UserSession::from).collect())
        })
        .await
    }

    /// Destroys the session of `user_id` that `handle` (from `user_sessions`) names;
    /// `false` when the user has no such live session.
    pub async fn destroy_user_session(
        &self,
        user_id: String,
        handle: String,
    ) -> Result<bool, SessionioError> {
        let io = self.io.clone();
        run(async move { Ok(io.destroy_user_session(&user_id, &handle).await?) }).await
    }

    /// How many users and sessions the store's user index holds.
    pub async fn user_index_size(&self) -> Result<UserIndexSize, SessionioError> {
        let io = self.io.clone();
        run(async move {
            let size = io.user_index_size().await?;
            Ok(UserIndexSize {
                users: size.users,
                sessions: size.sessions,
            })
        })
        .await
    }
}
