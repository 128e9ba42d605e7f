//! Configuration: one builder, every bad value a clear error at start.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::cookie::{CookieSettings, SameSite, Signer};
use crate::error::{Error, Result};
use crate::identity::{Identity, NativeIdentity};
use crate::store::{MemoryStore, SessionStore};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Which `Origin`s may open sockets and make credentialed cross-origin requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Only these origins (`scheme://host[:port]`). Requests with no `Origin` header
    /// (non-browser clients) are allowed.
    List(Vec<HeaderValue>),
    /// Any origin; CORS responses then carry no credentials, and sockets are admitted by
    /// `auth.token` only (or anonymously): a socket's session cookie is ignored, since a
    /// page of any site can open a socket that carries it.
    Any,
}

impl Origins {
    /// True if a request with this `Origin` header (or none) is allowed.
    pub fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        match (self, origin) {
            (Origins::Any, _) | (_, None) => true,
            (Origins::List(list), Some(o)) => list.iter().any(|allowed| allowed == o),
        }
    }

    /// [`allows`](Self::allows), and a page of the server's own origin: an `Origin` whose
    /// `host[:port]` is the request's `Host`. A page served on the same port as Socket.IO
    /// (the axum layer, Node's `attach`, the ASGI mount) needs no allow-list entry for
    /// itself; a page of another origin still does. (A page of another site never sends
    /// the site's own `Host` from a browser: it names the host it was loaded from.)
    pub fn allows_request(&self, origin: Option<&HeaderValue>, host: Option<&HeaderValue>) -> bool {
        self.allows(origin) || origin.zip(host).is_some_and(|(o, h)| is_same_origin(o, h))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the authority of `host` (a `Host`
/// header), hosts compared without case. `null` and origins without `://` never match.
fn is_same_origin(origin: &HeaderValue, host: &HeaderValue) -> bool {
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let strip = |a: &str| -> String {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    !authority.is_empty() && strip(authority) == strip(host)
}

/// Socket.IO transport settings, passed to socketioxide.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Request path of the Socket.IO endpoint (default `/socket.io`).
    pub path: String,
    /// Namespaces served (default `["/"]`); every one authenticates the same way.
    pub namespaces: Vec<String>,
    /// Engine.IO ping interval (default 25 s).
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (default 20 s).
    pub ping_timeout: Duration,
    /// Largest accepted packet payload in bytes (default 1 MB).
    pub max_payload: u64,
    /// Time a client has to connect to a namespace after the Engine.IO handshake
    /// (default 10 s); then its Engine.IO session is closed.
    pub connect_timeout: Duration,
    /// Most Engine.IO sessions that have not connected to a namespace yet, in all
    /// (default 4096); past it a new Engine.IO handshake gets HTTP 503 `server busy`.
    pub max_pending_handshakes: usize,
    /// Most such sessions from one client address (an IPv4 address or an IPv6 /64;
    /// default 256); past it a new Engine.IO handshake from there gets HTTP 429
    /// `too many pending handshakes`. Applies when the server knows the client's address
    /// (the engine's own listener, or an axum app served with `ConnectInfo<SocketAddr>`).
    pub max_pending_handshakes_per_address: usize,
    /// Outgoing packets queued per socket (default 1024). A notification waits up to 1 s
    /// for room in a full queue; then its socket is disconnected (see the README's limits).
    pub max_buffer_size: usize,
    /// Bytes a websocket reads from the network at a time (default 1024). Larger messages
    /// are still accepted (up to `max_payload`); a small buffer keeps idle sockets cheap.
    pub ws_read_buffer_size: usize,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            path: "/socket.io".into(),
            namespaces: vec!["/".into()],
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_secs(10),
            max_pending_handshakes: 4096,
            max_pending_handshakes_per_address: 256,
            max_buffer_size: 1024,
            ws_read_buffer_size: 1024,
        }
    }
}

/// The validated configuration.
#[derive(Clone)]
pub struct Config {
    pub(crate) secrets: Vec<Vec<u8>>,
    /// Session cookie attributes.
    pub cookie: CookieSettings,
    /// Inactivity timeout of a session.
    pub ttl: Duration,
    /// Whether socket events count as activity (extend the session). Default `true`.
    pub extend_on_socket_activity: bool,
    /// Origin allow-list.
    pub origins: Origins,
    /// Whether sockets without a session are accepted (they join no session room).
    pub allow_anonymous: bool,
    /// Whether `auth.token` is read as a sessionio token (default `true`).
    pub token_auth: bool,
    /// Whether the HTTP middlewares refuse state-changing requests from sites off the
    /// allow-list (default `true`; see [`crate::Builder::csrf_check`]).
    pub csrf_check: bool,
    /// Most sockets one session may have open at once (default 32).
    pub max_connections_per_session: usize,
    /// Largest data one session may hold, in bytes of JSON (default 64 KiB): a write past
    /// it fails with `ERR_INVALID_VALUE` and writes nothing.
    pub max_session_bytes: usize,
    /// Socket.IO transport settings.
    pub transport: Transport,
    /// Most sessions the store may hold when the engine creates one (default 1 000 000);
    /// see [`Builder::max_sessions`].
    pub max_sessions: u64,
    /// Where sessions come from (their cookie, ids and store).
    pub(crate) identity: Arc<dyn Identity>,
    /// The Redis that links this engine with the other processes (`None`: one process).
    pub(crate) adapter_url: Option<String>,
    /// One of several worker processes behind one port; see [`Builder::workers`].
    pub(crate) workers: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("cookie", &self.cookie)
            .field("ttl", &self.ttl)
            .field("extend_on_socket_activity", &self.extend_on_socket_activity)
            .field("origins", &self.origins)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("token_auth", &self.token_auth)
            .field("csrf_check", &self.csrf_check)
            .field(
                "max_connections_per_session",
                &self.max_connections_per_session,
            )
            .field("max_session_bytes", &self.max_session_bytes)
            .field("transport", &self.transport)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SessionIo`](crate::SessionIo). Values are checked by [`build`](Builder::build), which names the
/// first bad one.
///
/// ```
/// use std::time::Duration;
/// let io = sessionio::SessionIo::builder()
///     .secret("a secret of at least thirty-two bytes!!")
///     .ttl(Duration::from_secs(30 * 60))
///     .allowed_origins(["https://app.example.com"])
///     .build()
///     .unwrap();
/// # drop(io);
/// let err = sessionio::SessionIo::builder().secret("short").build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid configuration: secret #1 is 5 bytes; at least 32 are required");
/// ```
#[must_use]
#[derive(Default)]
pub struct Builder {
    secrets: Vec<Vec<u8>>,
    cookie: CookieSettings,
    ttl: Option<Duration>,
    extend_on_socket_activity: Option<bool>,
    origins: Vec<String>,
    any_origin: bool,
    allow_anonymous: bool,
    no_token_auth: bool,
    no_csrf_check: bool,
    max_connections_per_session: Option<usize>,
    max_session_bytes: Option<usize>,
    transport: Transport,
    store: Option<Arc<dyn SessionStore>>,
    store_url: Option<String>,
    adapter_url: Option<String>,
    workers: bool,
    express: Option<crate::express::ExpressSession>,
    #[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
    tower: Option<crate::tower_sessions::TowerSessions>,
    identity: Option<Arc<dyn Identity>>,
    max_sessions: Option<u64>,
}

impl Builder {
    /// The secret that signs cookies and tokens (at least 32 bytes). Replaces any list.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets = vec![secret.as_ref().to_vec()];
        self
    }

    /// Several secrets for rotation: the first signs, any verifies.
    pub fn secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.secrets = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self
    }

    /// Session cookie name (default `sessionio.sid`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// `Secure` cookie attribute (default `true`); set `false` only for `http://localhost`.
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.cookie.secure = secure;
        self
    }

    /// `SameSite` cookie attribute (default `Lax`).
    pub fn cookie_same_site(mut self, same_site: SameSite) -> Self {
        self.cookie.same_site = same_site;
        self
    }

    /// `Path` cookie attribute (default `/`).
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// `Domain` cookie attribute (default: host-only).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie.domain = Some(domain.into());
        self
    }

    /// Inactivity timeout (default 24 h).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Whether socket events extend the session like HTTP requests do (default `true`).
    pub fn extend_on_socket_activity(mut self, extend: bool) -> Self {
        self.extend_on_socket_activity = Some(extend);
        self
    }

    /// Origins allowed to open sockets and to make credentialed CORS requests,
    /// e.g. `["http://localhost:4200"]`. Without this (and without
    /// [`allow_any_origin`](Self::allow_any_origin)) only clients that send no `Origin`
    /// (non-browser clients) are allowed.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Allows every origin, without credentials in CORS answers. Sockets are then
    /// admitted by `auth.token` (or anonymously, with
    /// [`allow_anonymous`](Self::allow_anonymous)) and never by the session cookie: any
    /// site could open a socket that carries it. HTTP requests keep their cookie session.
    pub fn allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// Accepts sockets that present no session at all (default `false`). Such sockets
    /// have no session handle and join no session room. A cookie or token that is
    /// present but invalid is still refused.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
        self
    }

    /// Whether the handshake's `auth.token` is read as a token from
    /// [`SessionIo::issue_token`](crate::SessionIo::issue_token) (default `true`). Turn it off when `auth.token` carries
    /// something else of the app's; the cookie is then the only credential.
    pub fn token_auth(mut self, enabled: bool) -> Self {
        self.no_token_auth = !enabled;
        self
    }

    /// Whether the HTTP middlewares (the axum layer, Express, ASGI, WSGI) refuse
    /// state-changing requests (`POST`, `PUT`, `PATCH`, `DELETE`, …) whose `Origin` or
    /// `Sec-Fetch-Site` shows a site off the allow-list, with 403 `origin not allowed`
    /// (default `true`): cross-site request forgery. Requests with neither header
    /// (non-browser clients) pass. Turn it off only for routes that take cross-site posts
    /// on purpose and protect them otherwise.
    pub fn csrf_check(mut self, enabled: bool) -> Self {
        self.no_csrf_check = !enabled;
        self
    }

    /// Most sockets one session may have open at once (default 32).
    pub fn max_connections_per_session(mut self, max: usize) -> Self {
        self.max_connections_per_session = Some(max);
        self
    }

    /// Largest data one session may hold, in bytes of its JSON (default 64 KiB): a write
    /// (HTTP or socket) that would make it larger fails with
    /// [`Error::InvalidValue`](crate::Error::InvalidValue) (`ERR_INVALID_VALUE`) and
    /// writes nothing.
    pub fn max_session_bytes(mut self, max: usize) -> Self {
        self.max_session_bytes = Some(max);
        self
    }

    /// Most sessions the store may hold (default 1 000 000). Before the engine creates a
    /// session (a request's first write, [`Session::save`](crate::Session::save),
    /// [`create_session`](crate::SessionIo::create_session)) it asks the store's
    /// [`count`](crate::store::SessionStore::count); at the limit it creates nothing and
    /// fails with [`Error::TooManySessions`](crate::Error::TooManySessions) (HTTP 503 `too
    /// many sessions`). Expired sessions count until the store lets them go, and creations
    /// racing at the limit may pass it by their number. Sessions made by express-session
    /// are not capped by the engine.
    pub fn max_sessions(mut self, max: u64) -> Self {
        self.max_sessions = Some(max);
        self
    }

    /// Request path of the Socket.IO endpoint (default `/socket.io`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.transport.path = path.into();
        self
    }

    /// Namespaces to serve (default `["/"]`).
    pub fn namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.transport.namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Engine.IO ping interval.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.transport.ping_interval = d;
        self
    }

    /// Engine.IO ping timeout.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.transport.ping_timeout = d;
        self
    }

    /// Largest accepted packet payload, bytes.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.transport.max_payload = bytes;
        self
    }

    /// Time allowed between the Engine.IO handshake and the namespace connect.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.transport.connect_timeout = d;
        self
    }

    /// Most Engine.IO sessions not yet connected to a namespace, in all (default 4096).
    pub fn max_pending_handshakes(mut self, max: usize) -> Self {
        self.transport.max_pending_handshakes = max;
        self
    }

    /// Most Engine.IO sessions not yet connected to a namespace from one client address
    /// (default 256).
    pub fn max_pending_handshakes_per_address(mut self, max: usize) -> Self {
        self.transport.max_pending_handshakes_per_address = max;
        self
    }

    /// Outgoing packets queued per socket: beyond them, a notification waits up to 1 s
    /// for room, then the socket is disconnected so that its client resynchronises.
    pub fn max_buffer_size(mut self, packets: usize) -> Self {
        self.transport.max_buffer_size = packets;
        self
    }

    /// Bytes a websocket reads from the network at a time (memory per idle socket).
    pub fn ws_read_buffer_size(mut self, bytes: usize) -> Self {
        self.transport.ws_read_buffer_size = bytes;
        self
    }

    /// A custom session store.
    pub fn store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// A store by URL; `memory://` is built in.
    pub fn store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self
    }

    /// express-session compatible mode: sockets are admitted by express-session's own
    /// cookie (`connect.sid` by default, signed with its secrets) and sessions are read from
    /// and written to express-session's store through `settings`' backend. Replaces
    /// [`store`](Self::store) / [`store_url`](Self::store_url) and the cookie name; the
    /// [`secret`](Self::secret) becomes optional: it would sign the engine's tokens only,
    /// which are otherwise signed with keys derived from express-session's secrets (so
    /// processes given the same express-session secret verify each other's tokens). See
    /// [`crate::express`].
    pub fn express_session(mut self, settings: crate::express::ExpressSession) -> Self {
        self.express = Some(settings);
        self
    }

    /// An axum app's tower-sessions setup, adopted: its cookie, its store, its expiry (see
    /// [`tower_sessions`](crate::tower_sessions)). Replaces [`store`](Self::store) /
    /// [`store_url`](Self::store_url) and sets the [`cookie_name`](Self::cookie_name).
    /// Without a [`secret`](Self::secret), the engine's tokens are signed with a key
    /// derived from the cookie key (plain cookies have none: give a secret then). A
    /// layer with `with_path` / `with_domain` needs the same
    /// [`cookie_path`](Self::cookie_path) / [`cookie_domain`](Self::cookie_domain) here:
    /// the clearing cookie of a refused request must match the app's.
    #[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
    pub fn tower_sessions(mut self, settings: crate::tower_sessions::TowerSessions) -> Self {
        self.tower = Some(settings);
        self
    }

    /// Sessions from another session system, through the [identity seam](crate::identity):
    /// its cookie, its ids and its store. Replaces [`store`](Self::store) /
    /// [`store_url`](Self::store_url); the [`cookie_name`](Self::cookie_name) must be the
    /// system's. (express-session's mode is [`express_session`](Self::express_session).)
    pub fn identity(mut self, identity: Arc<dyn Identity>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Links this engine with the other processes of the app through socketioxide's Redis
    /// adapter (Redis ≥ 7, pub/sub over RESP3): `notify_session` and `destroy_session`,
    /// called on any process, reach the session's sockets on every process. A `redis://`
    /// [`store_url`](Self::store_url) turns it on with the same Redis; this names another
    /// Redis, or `local://` turns it off.
    pub fn adapter_url(mut self, url: impl Into<String>) -> Self {
        self.adapter_url = Some(url.into());
        self
    }

    /// Declares this engine one of several worker processes that share one port —
    /// `gunicorn -w 4`, `uvicorn --workers 4`, `node:cluster` — each with its own engine on
    /// the same Redis (store and adapter). The engine's own port ([`serve`](crate::SessionIo::serve))
    /// is then bound with `SO_REUSEPORT`, so that every worker may bind it, and Engine.IO
    /// polling sessions are routed to the worker that holds them, whatever worker each
    /// request reaches (see the README's "Several workers on one port"). Needs a
    /// `redis://` or `redis-cluster://` store and adapter: without them the workers would
    /// neither share sessions nor reach each other's sockets.
    ///
    /// [`SessionIo::serve`]: crate::SessionIo::serve
    pub fn workers(mut self, on: bool) -> Self {
        self.workers = on;
        self
    }

    /// Checks every value; [`build`](Self::build) then builds the engine from it.
    pub(crate) fn into_config(mut self) -> Result<Config> {
        let bad = |msg: String| Err(Error::Config(msg));
        let express = match self.express.take() {
            None => None,
            Some(x) => {
                if x.secrets.is_empty() || x.secrets.iter().any(|s| s.is_empty()) {
                    return bad("express_session needs express-session's secret".into());
                }
                if self.store.is_some() || self.store_url.is_some() {
                    return bad(
                        "express_session() and store() / store_url() are exclusive: sessions \
                         live in express-session's store"
                            .into(),
                    );
                }
                self.cookie.name = x.cookie_name.clone();
                if self.secrets.is_empty() {
                    // The engine's secrets sign its tokens only (cookies are
                    // express-session's): derived from express-session's, so that every
                    // process of the app verifies every other's tokens.
                    self.secrets = x.token_secrets();
                }
                Some(crate::express::ExpressStore::new(&x))
            }
        };
        #[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
        let tower = match self.tower.take() {
            None => None,
            Some(t) => {
                if self.store.is_some() || self.store_url.is_some() {
                    return bad(
                        "tower_sessions() and store() / store_url() are exclusive: sessions \
                         live in the app's tower-sessions store"
                            .into(),
                    );
                }
                self.cookie.name = t.cookie_name.clone();
                if self.secrets.is_empty() {
                    match t.token_secrets() {
                        Some(secrets) => self.secrets = secrets,
                        None => {
                            return bad("tower-sessions with plain cookies (no key): give the \
                                 engine a secret (at least 32 bytes) for its tokens"
                                .into())
                        }
                    }
                }
                Some(Arc::new(crate::tower_sessions::TowerIdentity::new(t)) as Arc<dyn Identity>)
            }
        };
        #[cfg(not(any(feature = "tower-sessions-014", feature = "tower-sessions-015")))]
        let tower: Option<Arc<dyn Identity>> = None;
        if self.secrets.is_empty() {
            return bad("a secret is required (at least 32 bytes)".into());
        }
        for (i, s) in self.secrets.iter().enumerate() {
            if s.len() < MIN_SECRET_LEN {
                return bad(format!(
                    "secret #{} is {} bytes; at least {MIN_SECRET_LEN} are required",
                    i + 1,
                    s.len()
                ));
            }
        }
        let name = &self.cookie.name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return bad(format!("cookie name {name:?} is not a valid cookie name"));
        }
        if !self.cookie.path.starts_with('/') || self.cookie.path.contains(';') {
            return bad(format!(
                "cookie path {:?} must start with '/'",
                self.cookie.path
            ));
        }
        if self
            .cookie
            .domain
            .as_deref()
            .is_some_and(|d| d.is_empty() || d.contains(';'))
        {
            return bad("cookie domain must be a host name".into());
        }
        if self.cookie.same_site == SameSite::None && !self.cookie.secure {
            return bad("SameSite=None requires a Secure cookie".into());
        }
        let ttl = self.ttl.unwrap_or(Duration::from_secs(24 * 3600));
        if ttl.as_millis() == 0 {
            return bad("ttl must be at least 1 ms".into());
        }
        let origins = if self.any_origin {
            if !self.origins.is_empty() {
                return bad("allow_any_origin() and allowed_origins() are exclusive".into());
            }
            Origins::Any
        } else {
            let mut list = Vec::with_capacity(self.origins.len());
            for o in &self.origins {
                list.push(parse_origin(o)?);
            }
            Origins::List(list)
        };
        let max_conn = self.max_connections_per_session.unwrap_or(32);
        if max_conn == 0 {
            return bad("max_connections_per_session must be at least 1".into());
        }
        let max_session_bytes = self.max_session_bytes.unwrap_or(64 * 1024);
        if max_session_bytes < 2 {
            return bad("max_session_bytes must be at least 2 (the JSON of empty data, {})".into());
        }
        let max_sessions = self.max_sessions.unwrap_or(1_000_000);
        if max_sessions == 0 {
            return bad("max_sessions must be at least 1".into());
        }
        let t = &self.transport;
        if !t.path.starts_with('/') || t.path.len() < 2 || t.path.ends_with('/') {
            return bad(format!(
                "path {:?} must start with '/' and not end with it",
                t.path
            ));
        }
        if t.namespaces.is_empty() || t.namespaces.iter().any(|n| !n.starts_with('/')) {
            return bad("namespaces must be non-empty and each start with '/'".into());
        }
        for (what, d) in [
            ("ping_interval", t.ping_interval),
            ("ping_timeout", t.ping_timeout),
            ("connect_timeout", t.connect_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{what} must be positive"));
            }
        }
        if t.max_payload == 0 || t.max_buffer_size == 0 || t.ws_read_buffer_size == 0 {
            return bad(
                "max_payload, max_buffer_size and ws_read_buffer_size must be positive".into(),
            );
        }
        if t.max_pending_handshakes == 0 || t.max_pending_handshakes_per_address == 0 {
            return bad(
                "max_pending_handshakes and max_pending_handshakes_per_address must be positive"
                    .into(),
            );
        }
        let adapter_url = match (self.adapter_url.as_deref(), self.store_url.as_deref()) {
            (Some("local://"), _) => None,
            (Some(url), _) if names_a_redis(url) => {
                if !cfg!(feature = "redis") {
                    return Err(missing_feature("adapter", url, "redis"));
                }
                Some(url.to_owned())
            }
            (Some(url), _) => {
                return bad(format!(
                    "unknown adapter URL {url:?}; supported: redis://<host>[:<port>][/<db>], \
                 local://, redis-cluster://<host>:<port>[,<host>:<port>…]"
                ))
            }
            (None, Some(store)) if names_a_redis(store) => {
                if !cfg!(feature = "redis") {
                    return Err(missing_feature("store", store, "redis"));
                }
                Some(store.to_owned())
            }
            (None, _) => None,
        };
        if self.workers
            && (adapter_url.is_none() || !self.store_url.as_deref().is_some_and(names_a_redis))
        {
            return bad(
                "workers(true) needs a redis:// or redis-cluster:// store_url and its adapter: \
                 the workers must share sessions and reach each other's sockets"
                    .into(),
            );
        }
        let own_store = self.store.is_some() || self.store_url.is_some();
        if tower.is_some() && (express.is_some() || self.identity.is_some()) {
            return bad("tower_sessions(), express_session() and identity() are exclusive".into());
        }
        let identity: Arc<dyn Identity> = match (express, tower.or(self.identity)) {
            (Some(_), Some(_)) => {
                return bad("express_session() and identity() are exclusive".into())
            }
            (_, Some(_)) if own_store => return bad(
                "identity() and store() / store_url() are exclusive: the identity names its store"
                    .into(),
            ),
            (Some(express), None) => Arc::new(crate::express::ExpressIdentity::new(express)),
            (None, Some(identity)) => identity,
            (None, None) => {
                let store: Arc<dyn SessionStore> = match (self.store, self.store_url.as_deref()) {
                    (Some(_), Some(_)) => {
                        return bad("store() and store_url() are exclusive".into())
                    }
                    (Some(store), None) => store,
                    (None, None) => Arc::new(MemoryStore::new()),
                    (None, Some(url)) => store_from_url(url)?,
                };
                Arc::new(NativeIdentity::new(Signer::new(&self.secrets), store))
            }
        };
        Ok(Config {
            secrets: self.secrets,
            cookie: self.cookie,
            ttl,
            extend_on_socket_activity: self.extend_on_socket_activity.unwrap_or(true),
            origins,
            allow_anonymous: self.allow_anonymous,
            token_auth: !self.no_token_auth,
            csrf_check: !self.no_csrf_check,
            max_connections_per_session: max_conn,
            max_session_bytes,
            transport: self.transport,
            max_sessions,
            identity,
            adapter_url,
            workers: self.workers,
        })
    }
}

/// The error for a `what` URL whose backend is behind a cargo `feature` that is off.
fn missing_feature(what: &str, url: &str, feature: &str) -> Error {
    Error::Config(format!(
        "{what} URL {url:?} needs sessionio's {feature:?} cargo feature \
         (sessionio = {{ version = \"…\", features = [{feature:?}] }})"
    ))
}

/// `redis://<something>` (one Redis) or `redis-cluster://<something>` (a Redis Cluster).
fn names_a_redis(url: &str) -> bool {
    matches!(url.split_once("://"), Some(("redis" | "redis-cluster", rest)) if !rest.is_empty())
}

fn store_from_url(url: &str) -> Result<Arc<dyn SessionStore>> {
    match url.split_once("://") {
        Some(("memory", "")) => Ok(Arc::new(MemoryStore::new())),
        Some(("sqlite", path)) if !path.is_empty() => open_sqlite(url),
        _ if names_a_redis(url) => open_redis(url),
        _ => Err(Error::Config(format!(
            "unknown store URL {url:?}; supported: memory://, sqlite://<path>, \
             redis://<host>[:<port>][/<db>], redis-cluster://<host>:<port>[,<host>:<port>…]"
        ))),
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(url: &str) -> Result<Arc<dyn SessionStore>> {
    Ok(Arc::new(crate::store::SqliteStore::open(url)?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(url: &str) -> Result<Arc<dyn SessionStore>> {
    Err(missing_feature("store", url, "sqlite"))
}

#[cfg(feature = "redis")]
fn open_redis(url: &str) -> Result<Arc<dyn SessionStore>> {
    Ok(Arc::new(crate::store::RedisStore::open(url)?))
}

#[cfg(not(feature = "redis"))]
fn open_redis(url: &str) -> Result<Arc<dyn SessionStore>> {
    Err(missing_feature("store", url, "redis"))
}

/// An origin is `scheme://host[:port]` exactly as browsers send it: no path, no wildcard.
fn parse_origin(origin: &str) -> Result<HeaderValue> {
    let bad = |why: &str| Err(Error::Config(format!("origin {origin:?} {why}")));
    if origin.contains('*') {
        return bad(
            "is a wildcard, which cannot be used with credentials; list origins or call allow_any_origin()",
        );
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return bad("must look like https://host[:port]");
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return bad("must look like https://host[:port] (no path, no trailing slash)");
    }
    if origin
        .bytes()
        .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace())
    {
        return bad("must be lowercase with no spaces, as browsers send it");
    }
    HeaderValue::from_str(origin).or_else(|_| bad("is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn err(b: Builder) -> String {
        match b.into_config() {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_values_are_named() {
        let b = || Builder::default().secret(SECRET);
        assert!(err(Builder::default()).contains("a secret is required"));
        assert!(err(Builder::default().secrets([SECRET, "short"])).contains("secret #2 is 5 bytes"));
        assert!(err(b().ttl(Duration::ZERO)).contains("ttl must be at least 1 ms"));
        assert!(err(b().allowed_origins(["*"])).contains("wildcard"));
        assert!(err(b().allowed_origins(["https://*.example.com"])).contains("wildcard"));
        assert!(err(b().allowed_origins(["example.com"])).contains("must look like"));
        assert!(err(b().allowed_origins(["https://a.com/"])).contains("no path"));
        assert!(err(b().allowed_origins(["ftp://a.com"])).contains("must look like"));
        assert!(
            err(b().allowed_origins(["https://a.com"]).allow_any_origin()).contains("exclusive")
        );
        assert!(err(b().store_url("mysql://x")).contains("unknown store URL \"mysql://x\""));
        assert!(err(b().cookie_name("a b")).contains("not a valid cookie name"));
        assert!(
            err(b().cookie_same_site(SameSite::None).cookie_secure(false))
                .contains("SameSite=None")
        );
        assert!(err(b().max_connections_per_session(0)).contains("at least 1"));
        assert!(err(b().path("socket.io")).contains("path"));
        assert!(err(b().namespaces(["chat"])).contains("namespaces"));
        assert!(err(b().ping_timeout(Duration::ZERO)).contains("ping_timeout must be positive"));
    }

    /// Each backend URL works with its feature on and is a clear error naming the
    /// feature with it off.
    #[test]
    fn backend_urls_need_their_cargo_feature() {
        let b = || Builder::default().secret(SECRET);
        let sqlite = b().store_url("sqlite://sessions.db").into_config();
        let redis_store = b().store_url("redis://127.0.0.1:6379").into_config();
        let redis_adapter = b().adapter_url("redis://127.0.0.1:6379").into_config();
        let named = |r: Result<Config>, url: &str, what: &str, feature: &str| {
            let e = r.map(|_| ()).unwrap_err();
            assert_eq!(e.code(), "ERR_INVALID_CONFIG");
            assert!(
                e.to_string().contains(&format!(
                    "{what} URL \"{url}\" needs sessionio's \"{feature}\" cargo feature"
                )),
                "{e}"
            );
        };
        if cfg!(feature = "sqlite") {
            assert!(sqlite.is_ok(), "{:?}", sqlite.err());
        } else {
            named(sqlite, "sqlite://sessions.db", "store", "sqlite");
        }
        if cfg!(feature = "redis") {
            assert!(redis_store.is_ok(), "{:?}", redis_store.err());
            assert!(redis_adapter.is_ok(), "{:?}", redis_adapter.err());
        } else {
            named(redis_store, "redis://127.0.0.1:6379", "store", "redis");
            named(redis_adapter, "redis://127.0.0.1:6379", "adapter", "redis");
        }
        // The memory store and the local bus need no feature.
        assert!(b()
            .store_url("memory://")
            .adapter_url("local://")
            .into_config()
            .is_ok());
    }

    #[test]
    fn defaults_are_safe() {
        let c = Builder::default().secret(SECRET).into_config().unwrap();
        assert!(c.cookie.secure);
        assert_eq!(c.cookie.same_site, SameSite::Lax);
        assert_eq!(c.max_connections_per_session, 32);
        assert_eq!(c.origins, Origins::List(vec![]));
        assert!(!c.allow_anonymous);
        assert!(
            !format!("{c:?}").contains(SECRET),
            "secrets are never printed"
        );
    }

    #[test]
    fn origin_allow_list() {
        let c = Builder::default()
            .secret(SECRET)
            .allowed_origins(["http://localhost:4200"])
            .into_config()
            .unwrap();
        let ok = HeaderValue::from_static("http://localhost:4200");
        let evil = HeaderValue::from_static("http://evil.example");
        assert!(c.origins.allows(Some(&ok)));
        assert!(!c.origins.allows(Some(&evil)));
        assert!(c.origins.allows(None), "non-browser clients send no Origin");
        assert!(Origins::Any.allows(Some(&evil)));
    }

    #[test]
    fn a_page_of_the_servers_own_origin_is_allowed_without_a_list_entry() {
        let c = Builder::default().secret(SECRET).into_config().unwrap();
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        let allows = |o, host| c.origins.allows_request(h(o).as_ref(), h(host).as_ref());
        assert!(allows("http://127.0.0.1:3000", "127.0.0.1:3000"));
        assert!(allows("https://App.Example.com", "app.example.com:443"));
        assert!(allows("http://app.example.com:80", "app.example.com"));
        assert!(
            !allows("http://127.0.0.1:3000", "127.0.0.1:3001"),
            "another port"
        );
        assert!(!allows("https://evil.example", "app.example.com"));
        assert!(!allows("null", "null"));
        assert!(
            !allows("ws://app.example.com", "app.example.com"),
            "not a page origin"
        );
        assert!(!allows("http://", ""));
        assert!(!c
            .origins
            .allows_request(h("http://a.example").as_ref(), None));
    }
}
