//! The keyword options of `SessionIo(...)`, mapped onto the core's builder, and the address
//! the engine's own server listens on. Unknown keywords and values of the wrong type raise
//! `TypeError` (as a Python signature would); bad values raise `InvalidConfigError`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use pyo3::{intern, FromPyObject};
use sessionio::{SameSite, SessionIo};

use crate::convert;
use crate::errors::Failure;

/// Every keyword `SessionIo(...)` takes (the `.pyi` and the README document them).
const KEYWORDS: &[&str] = &[
    "secret",
    "secrets",
    "port",
    "host",
    "ttl",
    "allowed_origins",
    "allow_any_origin",
    "allow_anonymous",
    "token_auth",
    "extend_on_socket_activity",
    "max_connections_per_session",
    "cookie_name",
    "cookie_secure",
    "same_site",
    "cookie_path",
    "cookie_domain",
    "store",
    "adapter",
    "path",
    "namespaces",
    "ping_interval",
    "ping_timeout",
    "connect_timeout",
    "max_payload",
    "max_buffer_size",
];

/// What the keywords configure: the engine, and where its own server listens.
pub struct Configured {
    pub io: SessionIo,
    pub host: String,
    pub port: u16,
}

/// The keywords as given.
struct Keywords<'a, 'py> {
    given: Option<&'a Bound<'py, PyDict>>,
}

impl<'py> Keywords<'_, 'py> {
    /// Refuses a keyword that is not an option, by name.
    fn refuse_unknown(&self) -> Result<(), Failure> {
        for key in self.given.into_iter().flat_map(|d| d.keys()) {
            let known = key
                .cast::<PyString>()
                .ok()
                .and_then(|k| k.to_str().ok().map(|k| KEYWORDS.contains(&k)))
                .unwrap_or(false);
            if !known {
                return Err(PyTypeError::new_err(format!(
                    "SessionIo.__new__() got an unexpected keyword argument '{key}'"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// The object given for `name`: `None` when it is absent or `None`.
    fn object(&self, name: &str) -> Result<Option<Bound<'py, PyAny>>, Failure> {
        let Some(given) = self.given else {
            return Ok(None);
        };
        Ok(given.get_item(name)?.filter(|v| !v.is_none()))
    }

    /// The value given for `name`, converted: `None` when it is absent or `None`.
    fn value<T>(&self, name: &str) -> Result<Option<T>, Failure>
    where
        T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
    {
        self.object(name)?.map(|v| extract(&v, name)).transpose()
    }

    /// The value given for `name` (`None` is a wrong type), or `default` when absent.
    fn value_or<T>(&self, name: &str, default: T) -> Result<T, Failure>
    where
        T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
    {
        match self.given.map(|d| d.get_item(name)).transpose()?.flatten() {
            Some(v) => extract(&v, name),
            None => Ok(default),
        }
    }
}

/// Converts a keyword's value; a failure names the keyword in a note, as pyo3 does for a
/// function's arguments.
fn extract<'py, T>(value: &Bound<'py, PyAny>, name: &str) -> Result<T, Failure>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    value.extract::<T>().map_err(|e| {
        let py = value.py();
        let note = format!("while processing '{name}'");
        let _ = e.value(py).call_method1(intern!(py, "add_note"), (note,));
        Failure::Py(e)
    })
}

fn secret_bytes(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, Failure> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(Failure::config("a secret must be str or bytes"))
}

fn config_duration(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> Result<Option<std::time::Duration>, Failure> {
    obj.map(|o| convert::duration(o, what).map_err(Failure::config))
        .transpose()
}

fn same_site(s: &str) -> Result<SameSite, Failure> {
    match s.to_ascii_lowercase().as_str() {
        "lax" => Ok(SameSite::Lax),
        "strict" => Ok(SameSite::Strict),
        "none" => Ok(SameSite::None),
        _ => Err(Failure::config(format!(
            "same_site must be \"lax\", \"strict\" or \"none\", not {s:?}"
        ))),
    }
}

/// Builds the engine from `SessionIo(...)`'s keywords.
pub fn configure(given: Option<&Bound<'_, PyDict>>) -> Result<Configured, Failure> {
    let kw = Keywords { given };
    kw.refuse_unknown()?;
    // Every value is converted first (type errors), then checked (configuration errors).
    let secret = kw.object("secret")?;
    let secrets = kw.object("secrets")?;
    let port: u16 = kw.value_or("port", 0)?;
    let host: String = kw.value_or("host", "127.0.0.1".to_owned())?;
    let ttl = kw.object("ttl")?;
    let allowed_origins: Option<Vec<String>> = kw.value("allowed_origins")?;
    let allow_any_origin: bool = kw.value_or("allow_any_origin", false)?;
    let allow_anonymous: bool = kw.value_or("allow_anonymous", false)?;
    let token_auth: bool = kw.value_or("token_auth", true)?;
    let extend_on_socket_activity: bool = kw.value_or("extend_on_socket_activity", true)?;
    let max_connections_per_session: Option<usize> = kw.value("max_connections_per_session")?;
    let cookie_name: Option<String> = kw.value("cookie_name")?;
    let cookie_secure: bool = kw.value_or("cookie_secure", true)?;
    let same_site_name: Option<String> = kw.value("same_site")?;
    let cookie_path: Option<String> = kw.value("cookie_path")?;
    let cookie_domain: Option<String> = kw.value("cookie_domain")?;
    let store: Option<String> = kw.value("store")?;
    let adapter: Option<String> = kw.value("adapter")?;
    let path: Option<String> = kw.value("path")?;
    let namespaces: Option<Vec<String>> = kw.value("namespaces")?;
    let ping_interval = kw.object("ping_interval")?;
    let ping_timeout = kw.object("ping_timeout")?;
    let connect_timeout = kw.object("connect_timeout")?;
    let max_payload: Option<u64> = kw.value("max_payload")?;
    let max_buffer_size: Option<usize> = kw.value("max_buffer_size")?;

    let mut b = SessionIo::builder();
    match (secret, secrets) {
        (Some(_), Some(_)) => return Err(Failure::config("pass secret or secrets, not both")),
        (Some(s), None) => b = b.secret(secret_bytes(&s)?),
        (None, Some(list)) => {
            if list.is_instance_of::<PyString>() || list.is_instance_of::<PyBytes>() {
                return Err(Failure::config(
                    "secrets must be a list of secrets; use secret= for one",
                ));
            }
            let mut all = Vec::new();
            for s in list.try_iter()? {
                all.push(secret_bytes(&s?)?);
            }
            b = b.secrets(all);
        }
        (None, None) => {}
    }
    if let Some(ttl) = config_duration(ttl.as_ref(), "ttl")? {
        b = b.ttl(ttl);
    }
    if let Some(origins) = allowed_origins {
        b = b.allowed_origins(origins);
    }
    if allow_any_origin {
        b = b.allow_any_origin();
    }
    b = b
        .allow_anonymous(allow_anonymous)
        .token_auth(token_auth)
        .extend_on_socket_activity(extend_on_socket_activity)
        .cookie_secure(cookie_secure);
    if let Some(n) = max_connections_per_session {
        b = b.max_connections_per_session(n);
    }
    if let Some(name) = cookie_name {
        b = b.cookie_name(name);
    }
    if let Some(s) = same_site_name {
        b = b.cookie_same_site(same_site(&s)?);
    }
    if let Some(p) = cookie_path {
        b = b.cookie_path(p);
    }
    if let Some(d) = cookie_domain {
        b = b.cookie_domain(d);
    }
    if let Some(url) = store {
        b = b.store_url(url);
    }
    if let Some(url) = adapter {
        b = b.adapter_url(url);
    }
    if let Some(p) = path {
        b = b.path(p);
    }
    if let Some(ns) = namespaces {
        b = b.namespaces(ns);
    }
    if let Some(d) = config_duration(ping_interval.as_ref(), "ping_interval")? {
        b = b.ping_interval(d);
    }
    if let Some(d) = config_duration(ping_timeout.as_ref(), "ping_timeout")? {
        b = b.ping_timeout(d);
    }
    if let Some(d) = config_duration(connect_timeout.as_ref(), "connect_timeout")? {
        b = b.connect_timeout(d);
    }
    if let Some(n) = max_payload {
        b = b.max_payload(n);
    }
    if let Some(n) = max_buffer_size {
        b = b.max_buffer_size(n);
    }
    Ok(Configured {
        io: b.build()?,
        host,
        port,
    })
}
