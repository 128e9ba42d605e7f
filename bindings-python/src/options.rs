//! The keyword options of `SessionIo(...)`: the keyword dict becomes a `sessionio::Value`
//! map, and core's `Options` reads it (snake_case keys). Every rule — unknown keywords,
//! wrong types, exclusive options, durations, enums, defaults — is core's; a refusal
//! raises `InvalidConfigError` with core's message.

use std::net::SocketAddr;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use sessionio::options::{KeyStyle, Options};
use sessionio::{SessionIo, Value};

use crate::errors::Failure;

/// What the keywords configure: the engine, and where its own server listens.
pub struct Configured {
    pub io: SessionIo,
    pub addr: SocketAddr,
}

/// Deeper option values are refused (a self-containing list would recurse forever).
const MAX_DEPTH: usize = 16;

fn refuse(key: &str, obj: &Bound<'_, PyAny>) -> Failure {
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Failure::config(format!(
        "option `{key}`: a {type_name} is not an option value (str, bytes, bool, int, float, \
         list, tuple, dict, datetime.timedelta or None)"
    ))
}

/// One keyword's value as a `Value`: `timedelta` becomes float seconds; anything else is
/// mapped by its type only (what it means is core's to decide).
fn option_value(key: &str, obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Failure> {
    let py = obj.py();
    if depth > MAX_DEPTH {
        return Err(Failure::config(format!(
            "option `{key}`: nested more than {MAX_DEPTH} levels deep"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Nil);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Boolean(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(Failure::config(format!(
            "option `{key}`: integer {} does not fit in 64 bits",
            obj.str().map(|s| s.to_string()).unwrap_or_default()
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Value::F64(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::from(s.to_str()?));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Binary(b.as_bytes().to_vec()));
    }
    let items = |iter: &mut dyn Iterator<Item = Bound<'_, PyAny>>| {
        iter.map(|v| option_value(key, &v, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    if let Ok(l) = obj.cast::<PyList>() {
        return items(&mut l.iter());
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return items(&mut t.iter());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let Ok(name) = k.cast::<PyString>() else {
                return Err(refuse(key, &k));
            };
            let name = name.to_str()?;
            let path = format!("{key}.{name}");
            map.push((Value::from(name), option_value(&path, &v, depth + 1)?));
        }
        return Ok(Value::Map(map));
    }
    let timedelta = py
        .import(intern!(py, "datetime"))?
        .getattr(intern!(py, "timedelta"))?;
    if obj.is_instance(&timedelta)? {
        let seconds: f64 = obj.call_method0(intern!(py, "total_seconds"))?.extract()?;
        return Ok(Value::F64(seconds));
    }
    Err(refuse(key, obj))
}

/// The keyword dict as core's option map.
fn options_value(given: Option<&Bound<'_, PyDict>>) -> Result<Value, Failure> {
    let Some(given) = given else {
        return Ok(Value::Map(Vec::new()));
    };
    let mut map = Vec::with_capacity(given.len());
    for (k, v) in given.iter() {
        // Keyword names are always str (Python checks it for `**kwargs`).
        let name = k
            .cast::<PyString>()
            .map_err(PyErr::from)?
            .to_str()?
            .to_owned();
        let value = option_value(&name, &v, 0)?;
        map.push((Value::from(name), value));
    }
    Ok(Value::Map(map))
}

/// Builds the engine from `SessionIo(...)`'s keywords, through core's `Options`.
pub fn configure(given: Option<&Bound<'_, PyDict>>) -> Result<Configured, Failure> {
    let options = Options::from_value(options_value(given)?, KeyStyle::SnakeCase)?;
    let addr = options.addr()?;
    let io = options.into_builder(None)?.build()?;
    Ok(Configured { io, addr })
}
