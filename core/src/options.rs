//! The host contract's options: one serde type that every binding deserializes its
//! option object into — the Node option object (camelCase keys), the Python keyword
//! arguments (snake_case) — with every default and every rule decided here once.
//!
//! A binding maps values only: JavaScript and Python values become a [`Value`] map
//! (strings, numbers, booleans, arrays, bytes), and [`Options::from_value`] does the rest:
//! it refuses an unknown key by its name, names the option a value has the wrong type for,
//! and [`Options::into_builder`] checks the meaning of every value through the
//! [`Builder`]. Adding an option touches this file and the bindings' typings, nothing
//! else.
//!
//! ```
//! use sessionio::options::{KeyStyle, Options};
//! use sessionio::Value;
//! let from_node = Value::Map(vec![
//!     ("secret".into(), "a secret of at least thirty-two bytes!!".into()),
//!     ("ttlMs".into(), 60_000.into()),
//! ]);
//! let options = Options::from_value(from_node, KeyStyle::CamelCase).unwrap();
//! assert_eq!(options.ttl_ms, Some(60_000));
//! let typo = Value::Map(vec![("cookieNmae".into(), "x".into())]);
//! let err = Options::from_value(typo, KeyStyle::CamelCase).unwrap_err();
//! assert!(err.to_string().contains("unknown option `cookieNmae`"), "{err}");
//! ```

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::Builder;
use crate::cookie::SameSite;
use crate::error::{Error, Result};
use crate::express::{ExpressBackend, ExpressSession};
use crate::Value;

/// How a binding spells option keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// `cookieName`, `ttlMs` (JavaScript).
    CamelCase,
    /// `cookie_name`, `ttl_ms` (Python, Ruby, Rust).
    SnakeCase,
}

/// A secret: a string (its UTF-8 bytes) or bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Secret, E> {
                Ok(Secret(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Secret, E> {
                Ok(Secret(v.to_vec()))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// One secret or a list of them: express-session's `secret` takes both.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Secrets {
    /// One secret.
    One(Secret),
    /// Several, for rotation: the first signs, any verifies.
    List(Vec<Secret>),
}

impl Secrets {
    fn into_vec(self) -> Vec<Vec<u8>> {
        match self {
            Secrets::One(s) => vec![s.0],
            Secrets::List(list) => list.into_iter().map(|s| s.0).collect(),
        }
    }
}

/// The express-session mode's options (Node): what express-session was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpressSessionOptions {
    /// express-session's `secret`: one, or a list (the first signs, all are accepted).
    pub secret: Option<Secrets>,
    /// express-session's `name` (default `connect.sid`).
    pub name: Option<String>,
    /// connect-redis's Redis, read directly instead of calling the host's store.
    pub redis_url: Option<String>,
    /// connect-redis's key prefix (default `sess:`); needs `redis_url`.
    pub redis_prefix: Option<String>,
}

/// Every option of an engine; `None` (a missing key, `null`, `None`) is the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The secret that signs cookies and tokens, at least 32 bytes. Give this or `secrets`.
    pub secret: Option<Secret>,
    /// Several secrets for rotation: the first signs, any verifies.
    pub secrets: Option<Vec<Secret>>,
    /// Address [`serve`](crate::SessionIo::serve) binds: an IP address or `localhost`
    /// (default `127.0.0.1`).
    pub host: Option<String>,
    /// Port [`serve`](crate::SessionIo::serve) binds (default 0: any free port).
    pub port: Option<u16>,
    /// Session cookie name (default `sessionio.sid`).
    pub cookie_name: Option<String>,
    /// `Secure` cookie attribute (default `true`).
    pub cookie_secure: Option<bool>,
    /// `SameSite` cookie attribute: `lax` (default), `strict` or `none`.
    pub same_site: Option<SameSite>,
    /// `Path` cookie attribute (default `/`).
    pub cookie_path: Option<String>,
    /// `Domain` cookie attribute (default: host-only).
    pub cookie_domain: Option<String>,
    /// Inactivity timeout in seconds (default 24 h). Give this or `ttl_ms`.
    pub ttl: Option<f64>,
    /// Inactivity timeout in milliseconds.
    pub ttl_ms: Option<u64>,
    /// Whether socket events extend the session (default `true`).
    pub extend_on_socket_activity: Option<bool>,
    /// Origins allowed to open sockets and make credentialed CORS requests.
    pub allowed_origins: Option<Vec<String>>,
    /// Allow every origin, without credentials in CORS answers (default `false`).
    pub allow_any_origin: Option<bool>,
    /// Accept sockets with no session at all (default `false`).
    pub allow_anonymous: Option<bool>,
    /// Read `auth.token` as a sessionio token (default `true`).
    pub token_auth: Option<bool>,
    /// Whether the HTTP middlewares refuse state-changing requests from sites off the
    /// allow-list (default `true`): cross-site request forgery.
    pub csrf_check: Option<bool>,
    /// Most sockets one session may have open at once (default 32).
    pub max_connections_per_session: Option<usize>,
    /// Largest data one session may hold, bytes of JSON (default 65 536).
    pub max_session_bytes: Option<usize>,
    /// Store URL: `memory://` (default), `sqlite://<file>`, `redis://<host>[:<port>][/<db>]`,
    /// `redis-cluster://<host>:<port>[,<host>:<port>…]`.
    pub store: Option<String>,
    /// Adapter URL: `redis://…` links the engines of every process on that Redis,
    /// `local://` links nothing (default: the store URL if it is `redis://`).
    pub adapter: Option<String>,
    /// One of several worker processes sharing one port (`gunicorn -w`, `uvicorn
    /// --workers`, `node:cluster`); needs a `redis://` store. See `Builder::workers`.
    pub workers: Option<bool>,
    /// Request path of the Socket.IO endpoint (default `/socket.io`).
    pub path: Option<String>,
    /// Namespaces served (default `["/"]`).
    pub namespaces: Option<Vec<String>>,
    /// Engine.IO ping interval in seconds (default 25). Or `ping_interval_ms`.
    pub ping_interval: Option<f64>,
    /// Engine.IO ping interval in milliseconds.
    pub ping_interval_ms: Option<u64>,
    /// Engine.IO ping timeout in seconds (default 20). Or `ping_timeout_ms`.
    pub ping_timeout: Option<f64>,
    /// Engine.IO ping timeout in milliseconds.
    pub ping_timeout_ms: Option<u64>,
    /// Time allowed between the Engine.IO handshake and the namespace connect, seconds
    /// (default 10). Or `connect_timeout_ms`.
    pub connect_timeout: Option<f64>,
    /// The same, in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// Largest accepted packet payload in bytes (default 1 000 000).
    pub max_payload: Option<u64>,
    /// Outgoing packets queued per socket (default 1024).
    pub max_buffer_size: Option<usize>,
    /// Bytes a websocket reads from the network at a time (default 1024): memory per idle
    /// socket; larger messages still pass, up to `max_payload`.
    pub ws_read_buffer_size: Option<usize>,
    /// Most Engine.IO sessions not yet connected to a namespace, in all (default 4096).
    pub max_pending_handshakes: Option<usize>,
    /// Most of them from one client address (default 256).
    pub max_pending_handshakes_per_address: Option<usize>,
    /// Most sessions the store may hold; a new one past it is refused with `too many
    /// sessions` (default 1 000 000).
    pub max_sessions: Option<u64>,
    /// express-session mode (Node): adopt express-session's cookie and store.
    pub express_session: Option<ExpressSessionOptions>,
}

impl FromStr for SameSite {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(Error::Config(format!(
                "same_site must be \"lax\", \"strict\" or \"none\", not {s:?}"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for SameSite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: Error| match e {
            Error::Config(m) => serde::de::Error::custom(m),
            e => serde::de::Error::custom(e),
        })
    }
}

fn camel_to_snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the keys of a map (and of the nested `express_session` map) to snake_case.
fn normalize(value: Value, style: KeyStyle) -> Value {
    let Value::Map(entries) = value else {
        return value;
    };
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| {
                let key = match (style, k.as_str()) {
                    (KeyStyle::CamelCase, Some(text)) => camel_to_snake(text),
                    (_, Some(text)) => text.to_owned(),
                    (_, None) => return (k, v),
                };
                let v = if key == "express_session" {
                    normalize(v, style)
                } else {
                    v
                };
                (Value::from(key), v)
            })
            .collect(),
    )
}

/// `null` means "the default": drop such entries (a JavaScript `undefined` never arrives).
fn drop_nulls(value: Value) -> Value {
    match value {
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .filter(|(_, v)| !v.is_nil())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        v => v,
    }
}

fn seconds(what: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Error::Config(format!("{what} must be a non-negative number of seconds")))
}

/// One duration given in seconds or in milliseconds, not both.
fn duration(what: &str, secs: Option<f64>, millis: Option<u64>) -> Result<Option<Duration>> {
    match (secs, millis) {
        (Some(_), Some(_)) => Err(Error::Config(format!(
            "give either {what} or {what}_ms, not both"
        ))),
        (Some(s), None) => seconds(what, s).map(Some),
        (None, Some(ms)) => Ok(Some(Duration::from_millis(ms))),
        (None, None) => Ok(None),
    }
}

impl Options {
    /// Reads an option map (keys in `style`): unknown keys are refused by name, and a
    /// value of the wrong type names its option (in the host's spelling).
    pub fn from_value(value: Value, style: KeyStyle) -> Result<Options> {
        let value = match drop_nulls(value) {
            Value::Nil => return Ok(Options::default()),
            v @ Value::Map(_) => normalize(v, style),
            _ => return Err(Error::Config("options must be an object".into())),
        };
        let spell = |key: &str| match style {
            KeyStyle::CamelCase => snake_to_camel(key),
            KeyStyle::SnakeCase => key.to_owned(),
        };
        serde_path_to_error::deserialize::<_, Options>(value).map_err(|e| {
            let path = spell(&e.path().to_string());
            let inner = e.into_inner().to_string();
            let inner = inner
                .strip_prefix("error while decoding value: ")
                .unwrap_or(&inner);
            // serde names an unknown field `like_this` (the path ends with it); say it as
            // the host wrote it.
            if inner.starts_with("unknown field") {
                return Error::Config(format!("unknown option `{path}`"));
            }
            Error::Config(format!("option `{path}`: {inner}"))
        })
    }

    /// The address [`serve`](crate::SessionIo::serve) binds.
    pub fn addr(&self) -> Result<SocketAddr> {
        let ip: IpAddr = match self.host.as_deref() {
            None | Some("localhost") => [127, 0, 0, 1].into(),
            Some(text) => text.parse().map_err(|_| {
                Error::Config(format!(
                    "host must be an IP address such as \"127.0.0.1\" or \"::\", or \"localhost\", not {text:?}"
                ))
            })?,
        };
        Ok(SocketAddr::new(ip, self.port.unwrap_or(0)))
    }

    /// The [`Builder`] these options describe. `express_store` is the host's
    /// express-session store, for the express-session mode without `redis_url`.
    pub fn into_builder(self, express_store: Option<Arc<dyn ExpressBackend>>) -> Result<Builder> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        let mut b = Builder::default();
        match (self.secret, self.secrets) {
            (Some(_), Some(_)) => return bad("give either secret or secrets, not both"),
            (Some(s), None) => b = b.secret(s.0),
            (None, Some(list)) => b = b.secrets(list.into_iter().map(|s| s.0)),
            (None, None) => {}
        }
        if let Some(v) = self.cookie_name {
            b = b.cookie_name(v);
        }
        if let Some(v) = self.cookie_secure {
            b = b.cookie_secure(v);
        }
        if let Some(v) = self.same_site {
            b = b.cookie_same_site(v);
        }
        if let Some(v) = self.cookie_path {
            b = b.cookie_path(v);
        }
        if let Some(v) = self.cookie_domain {
            b = b.cookie_domain(v);
        }
        if let Some(d) = duration("ttl", self.ttl, self.ttl_ms)? {
            b = b.ttl(d);
        }
        if let Some(v) = self.extend_on_socket_activity {
            b = b.extend_on_socket_activity(v);
        }
        if let Some(v) = self.allowed_origins {
            b = b.allowed_origins(v);
        }
        if self.allow_any_origin == Some(true) {
            b = b.allow_any_origin();
        }
        if let Some(v) = self.allow_anonymous {
            b = b.allow_anonymous(v);
        }
        if let Some(v) = self.token_auth {
            b = b.token_auth(v);
        }
        if let Some(v) = self.csrf_check {
            b = b.csrf_check(v);
        }
        if let Some(v) = self.max_connections_per_session {
            b = b.max_connections_per_session(v);
        }
        if let Some(v) = self.max_session_bytes {
            b = b.max_session_bytes(v);
        }
        if let Some(v) = self.store {
            b = b.store_url(v);
        }
        if let Some(v) = self.adapter {
            b = b.adapter_url(v);
        }
        if let Some(v) = self.workers {
            b = b.workers(v);
        }
        if let Some(v) = self.path {
            b = b.path(v);
        }
        if let Some(v) = self.namespaces {
            b = b.namespaces(v);
        }
        if let Some(d) = duration("ping_interval", self.ping_interval, self.ping_interval_ms)? {
            b = b.ping_interval(d);
        }
        if let Some(d) = duration("ping_timeout", self.ping_timeout, self.ping_timeout_ms)? {
            b = b.ping_timeout(d);
        }
        if let Some(d) = duration(
            "connect_timeout",
            self.connect_timeout,
            self.connect_timeout_ms,
        )? {
            b = b.connect_timeout(d);
        }
        if let Some(v) = self.max_payload {
            b = b.max_payload(v);
        }
        if let Some(v) = self.max_buffer_size {
            b = b.max_buffer_size(v);
        }
        if let Some(v) = self.ws_read_buffer_size {
            b = b.ws_read_buffer_size(v);
        }
        if let Some(v) = self.max_pending_handshakes {
            b = b.max_pending_handshakes(v);
        }
        if let Some(v) = self.max_pending_handshakes_per_address {
            b = b.max_pending_handshakes_per_address(v);
        }
        if let Some(v) = self.max_sessions {
            b = b.max_sessions(v);
        }
        if let Some(x) = self.express_session {
            b = b.express_session(express_settings(x, express_store)?);
        } else if express_store.is_some() {
            return bad("an express-session store was given without the express_session option");
        }
        Ok(b)
    }
}

#[cfg(feature = "redis")]
fn connect_redis(url: &str, prefix: String) -> Result<Arc<dyn ExpressBackend>> {
    Ok(Arc::new(crate::express::ConnectRedis::new(url, prefix)?))
}

#[cfg(not(feature = "redis"))]
fn connect_redis(url: &str, _prefix: String) -> Result<Arc<dyn ExpressBackend>> {
    Err(Error::Config(format!(
        "express_session.redis_url {url:?} needs sessionio's \"redis\" cargo feature"
    )))
}

fn express_settings(
    x: ExpressSessionOptions,
    store: Option<Arc<dyn ExpressBackend>>,
) -> Result<ExpressSession> {
    let backend: Arc<dyn ExpressBackend> = match (x.redis_url, x.redis_prefix, store) {
        (Some(url), prefix, _) => connect_redis(&url, prefix.unwrap_or_else(|| "sess:".into()))?,
        (None, Some(_), _) => {
            return Err(Error::Config(
                "express_session.redis_prefix needs express_session.redis_url".into(),
            ))
        }
        (None, None, Some(store)) => store,
        (None, None, None) => {
            return Err(Error::Config(
                "express_session needs express-session's store (or redis_url for connect-redis)"
                    .into(),
            ))
        }
    };
    let secrets = x.secret.map(Secrets::into_vec).unwrap_or_default();
    let mut settings = ExpressSession::new(backend).secrets(secrets);
    if let Some(name) = x.name {
        settings = settings.cookie_name(name);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect(),
        )
    }

    fn err(v: Value, style: KeyStyle) -> String {
        match Options::from_value(v, style).and_then(|o| o.into_builder(None)?.build()) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn both_spellings_read_the_same_options() {
        let camel = map(&[
            ("secret", SECRET.into()),
            ("cookieName", "app.sid".into()),
            ("ttlMs", 1500.into()),
            ("sameSite", "Strict".into()),
            (
                "allowedOrigins",
                Value::Array(vec!["http://localhost:4200".into()]),
            ),
            ("pingIntervalMs", Value::Nil),
            ("wsReadBufferSize", 2048.into()),
        ]);
        let snake = map(&[
            ("secret", Value::Binary(SECRET.as_bytes().to_vec())),
            ("cookie_name", "app.sid".into()),
            ("ttl_ms", 1500.into()),
            ("ws_read_buffer_size", 2048.into()),
            ("same_site", "strict".into()),
            (
                "allowed_origins",
                Value::Array(vec!["http://localhost:4200".into()]),
            ),
        ]);
        let a = Options::from_value(camel, KeyStyle::CamelCase).unwrap();
        let b = Options::from_value(snake, KeyStyle::SnakeCase).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.same_site, Some(SameSite::Strict));
        let io = a.into_builder(None).unwrap().build().unwrap();
        assert_eq!(io.config().cookie.name, "app.sid");
        assert_eq!(io.config().ttl, Duration::from_millis(1500));
        assert_eq!(io.config().transport.ws_read_buffer_size, 2048);
    }

    #[test]
    fn bad_options_are_named_in_the_hosts_spelling() {
        let typo = map(&[("cookieNmae", "x".into())]);
        assert_eq!(
            err(typo, KeyStyle::CamelCase),
            "invalid configuration: unknown option `cookieNmae`"
        );
        let typo = map(&[("cookie_nmae", "x".into())]);
        assert_eq!(
            err(typo, KeyStyle::SnakeCase),
            "invalid configuration: unknown option `cookie_nmae`"
        );
        let nested = map(&[("expressSession", map(&[("redisUrll", "x".into())]))]);
        assert_eq!(
            err(nested, KeyStyle::CamelCase),
            "invalid configuration: unknown option `expressSession.redisUrll`"
        );
        let wrong_type = map(&[("ttlMs", "soon".into())]);
        let message = err(wrong_type, KeyStyle::CamelCase);
        assert!(
            message.starts_with("invalid configuration: option `ttlMs`: invalid type"),
            "{message}"
        );
        let same_site = map(&[("secret", SECRET.into()), ("same_site", "sideways".into())]);
        assert_eq!(
            err(same_site, KeyStyle::SnakeCase),
            "invalid configuration: option `same_site`: same_site must be \"lax\", \"strict\" or \"none\", not \"sideways\""
        );
        let both = map(&[
            ("secret", SECRET.into()),
            ("ttl", 1.0.into()),
            ("ttl_ms", 1000.into()),
        ]);
        assert_eq!(
            err(both, KeyStyle::SnakeCase),
            "invalid configuration: give either ttl or ttl_ms, not both"
        );
        let zero = map(&[
            ("secret", SECRET.into()),
            ("maxConnectionsPerSession", 0.into()),
        ]);
        assert_eq!(
            err(zero, KeyStyle::CamelCase),
            "invalid configuration: max_connections_per_session must be at least 1"
        );
        assert_eq!(
            err(Value::from(3), KeyStyle::CamelCase),
            "invalid configuration: options must be an object"
        );
    }

    #[test]
    fn seconds_and_hosts() {
        let o = Options::from_value(
            map(&[
                ("ttl", 1.5.into()),
                ("host", "localhost".into()),
                ("port", 8080.into()),
            ]),
            KeyStyle::SnakeCase,
        )
        .unwrap();
        assert_eq!(o.addr().unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            duration("ttl", o.ttl, None).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(duration("ttl", Some(-1.0), None).is_err());
        let bad_host = Options {
            host: Some("example.com".into()),
            ..Options::default()
        };
        assert!(bad_host
            .addr()
            .unwrap_err()
            .to_string()
            .contains("IP address"));
    }
}
