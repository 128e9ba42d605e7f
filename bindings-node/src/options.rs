//! `SessionIo.start(options)`: camelCase options onto the core's builder. Every value is
//! checked for its type here and for its meaning by the core's `build()`; an unknown
//! option is an error too (a typo must not silently fall back to a default).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sessionio::{Builder, SameSite, SessionIo, Value};

use crate::errors::invalid_config;

/// What `start()` needs besides the engine's builder.
pub(crate) struct StartOptions {
    pub builder: Builder,
    pub addr: SocketAddr,
    /// `expressSession` (the JS layer passes the store's functions separately).
    pub express: Option<ExpressOptions>,
}

/// `expressSession: { secrets, name, redisUrl, redisPrefix }` as the JS layer passes it.
pub(crate) struct ExpressOptions {
    pub secrets: Vec<Vec<u8>>,
    pub name: Option<String>,
    /// connect-redis's Redis, read directly (`redisUrl`, `redisPrefix`).
    pub redis: Option<(String, String)>,
}

/// Every option `start()` accepts (also listed in `index.d.ts`).
pub(crate) const OPTION_NAMES: &[&str] = &[
    "port",
    "host",
    "secret",
    "secrets",
    "cookieName",
    "cookieSecure",
    "sameSite",
    "cookiePath",
    "cookieDomain",
    "ttlMs",
    "extendOnSocketActivity",
    "allowedOrigins",
    "allowAnyOrigin",
    "allowAnonymous",
    "tokenAuth",
    "maxConnectionsPerSession",
    "store",
    "adapter",
    "path",
    "namespaces",
    "pingIntervalMs",
    "pingTimeoutMs",
    "connectTimeoutMs",
    "maxPayload",
    "maxBufferSize",
    "expressSession",
];

type R<T> = napi::Result<T>;

fn bad(name: &str, expected: &str) -> napi::Error {
    invalid_config(format!("option `{name}` must be {expected}"))
}

fn string(name: &str, v: Value) -> R<String> {
    match v {
        Value::String(s) => s.into_str().ok_or_else(|| bad(name, "a string")),
        _ => Err(bad(name, "a string")),
    }
}

fn strings(name: &str, v: Value) -> R<Vec<String>> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| string(name, i).map_err(|_| bad(name, "an array of strings")))
            .collect(),
        _ => Err(bad(name, "an array of strings")),
    }
}

/// A secret: a string (its UTF-8 bytes) or a Buffer.
fn secret(name: &str, v: Value) -> R<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.into_bytes()),
        Value::Binary(b) => Ok(b),
        _ => Err(bad(name, "a string or a Buffer")),
    }
}

fn boolean(name: &str, v: Value) -> R<bool> {
    v.as_bool().ok_or_else(|| bad(name, "a boolean"))
}

/// A non-negative integer (JavaScript numbers with no fraction arrive as integers).
fn integer(name: &str, v: Value) -> R<u64> {
    v.as_u64()
        .ok_or_else(|| bad(name, "a non-negative integer"))
}

fn millis(name: &str, v: Value) -> R<Duration> {
    integer(name, v)
        .map(Duration::from_millis)
        .map_err(|_| bad(name, "a non-negative integer number of milliseconds"))
}

pub(crate) fn parse(options: Value) -> R<StartOptions> {
    let entries = match options {
        Value::Nil => Vec::new(),
        Value::Map(entries) => entries,
        _ => return Err(invalid_config("options must be an object".into())),
    };
    let mut builder = SessionIo::builder();
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port = 0u16;
    let mut has_secret = false;
    let mut express = None;
    for (key, value) in entries {
        let key = key.as_str().unwrap_or_default().to_owned();
        // `undefined` never arrives (it is left out); `null` means "default" as well.
        if value.is_nil() {
            continue;
        }
        let name = key.as_str();
        builder = match name {
            "port" => {
                port = integer(name, value)
                    .ok()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| bad(name, "an integer from 0 to 65535 (0: any free port)"))?;
                builder
            }
            "host" => {
                let text = string(name, value)?;
                host = match text.as_str() {
                    "localhost" => [127, 0, 0, 1].into(),
                    t => t
                        .parse()
                        .map_err(|_| bad(name, "an IP address such as \"127.0.0.1\" or \"::\""))?,
                };
                builder
            }
            "secret" | "secrets" if has_secret => {
                return Err(invalid_config(
                    "give either `secret` or `secrets`, not both".into(),
                ))
            }
            "secret" => {
                has_secret = true;
                builder.secret(secret(name, value)?)
            }
            "secrets" => {
                has_secret = true;
                let Value::Array(items) = value else {
                    return Err(bad(name, "an array of strings or Buffers"));
                };
                let list = items
                    .into_iter()
                    .map(|s| secret(name, s))
                    .collect::<R<Vec<_>>>()
                    .map_err(|_| bad(name, "an array of strings or Buffers"))?;
                builder.secrets(list)
            }
            "cookieName" => builder.cookie_name(string(name, value)?),
            "cookieSecure" => builder.cookie_secure(boolean(name, value)?),
            "sameSite" => {
                builder.cookie_same_site(match string(name, value)?.to_ascii_lowercase().as_str() {
                    "lax" => SameSite::Lax,
                    "strict" => SameSite::Strict,
                    "none" => SameSite::None,
                    _ => return Err(bad(name, "\"lax\", \"strict\" or \"none\"")),
                })
            }
            "cookiePath" => builder.cookie_path(string(name, value)?),
            "cookieDomain" => builder.cookie_domain(string(name, value)?),
            "ttlMs" => builder.ttl(millis(name, value)?),
            "extendOnSocketActivity" => builder.extend_on_socket_activity(boolean(name, value)?),
            "allowedOrigins" => builder.allowed_origins(strings(name, value)?),
            "allowAnyOrigin" => {
                if boolean(name, value)? {
                    builder.allow_any_origin()
                } else {
                    builder
                }
            }
            "allowAnonymous" => builder.allow_anonymous(boolean(name, value)?),
            "tokenAuth" => builder.token_auth(boolean(name, value)?),
            "maxConnectionsPerSession" => builder.max_connections_per_session(
                usize::try_from(integer(name, value)?).unwrap_or(usize::MAX),
            ),
            "store" => builder.store_url(string(name, value)?),
            "adapter" => builder.adapter_url(string(name, value)?),
            "path" => builder.path(string(name, value)?),
            "namespaces" => builder.namespaces(strings(name, value)?),
            "pingIntervalMs" => builder.ping_interval(millis(name, value)?),
            "pingTimeoutMs" => builder.ping_timeout(millis(name, value)?),
            "connectTimeoutMs" => builder.connect_timeout(millis(name, value)?),
            "maxPayload" => builder.max_payload(integer(name, value)?),
            "maxBufferSize" => builder
                .max_buffer_size(usize::try_from(integer(name, value)?).unwrap_or(usize::MAX)),
            "expressSession" => {
                express = Some(express_options(value)?);
                builder
            }
            _ => {
                return Err(invalid_config(format!(
                    "unknown option `{key}`; known options: {}",
                    OPTION_NAMES.join(", ")
                )))
            }
        };
    }
    Ok(StartOptions {
        builder,
        addr: SocketAddr::new(host, port),
        express,
    })
}

fn express_options(value: Value) -> R<ExpressOptions> {
    let Value::Map(entries) = value else {
        return Err(bad("expressSession", "an object"));
    };
    let mut out = ExpressOptions {
        secrets: Vec::new(),
        name: None,
        redis: None,
    };
    let (mut url, mut prefix) = (None, None);
    for (key, value) in entries {
        if value.is_nil() {
            continue;
        }
        match key.as_str().unwrap_or_default() {
            "secrets" => {
                let Value::Array(items) = value else {
                    return Err(bad("expressSession.secret", "a string, a Buffer or an array of them"));
                };
                out.secrets = items
                    .into_iter()
                    .map(|s| secret("expressSession.secret", s))
                    .collect::<R<_>>()?;
            }
            "name" => out.name = Some(string("expressSession.name", value)?),
            "redisUrl" => url = Some(string("expressSession.redisUrl", value)?),
            "redisPrefix" => prefix = Some(string("expressSession.redisPrefix", value)?),
            other => {
                return Err(invalid_config(format!(
                    "unknown option `expressSession.{other}`; known: store, secret, name, redisUrl, redisPrefix"
                )))
            }
        }
    }
    match (url, prefix) {
        (Some(url), prefix) => out.redis = Some((url, prefix.unwrap_or_else(|| "sess:".into()))),
        (None, Some(_)) => {
            return Err(invalid_config(
                "option `expressSession.redisPrefix` needs `expressSession.redisUrl`".into(),
            ))
        }
        (None, None) => {}
    }
    Ok(out)
}
