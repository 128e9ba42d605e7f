//! Values across the boundary.
//!
//! Event data is `sessionio::Value` (MessagePack's data model, as socketioxide carries it):
//! `None`, `bool`, `int`, `float`, `str`, `bytes` (a binary attachment), `list`/`tuple`
//! and `dict` with `str` keys. Session data is JSON: the same without `bytes`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use sessionio::Value;

use crate::errors::Failure;

/// Deeper values are refused (a self-containing list would otherwise recurse forever).
const MAX_DEPTH: usize = 128;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn too_deep() -> Failure {
    Failure::invalid_value(format!("value is nested more than {MAX_DEPTH} levels deep"))
}

fn int_value(obj: &Bound<'_, PyAny>) -> Result<Value, Failure> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(Value::from(u));
    }
    Err(Failure::invalid_value(format!(
        "integer {} does not fit in 64 bits",
        obj.str().map(|s| s.to_string()).unwrap_or_default()
    )))
}

/// A Python value as event data.
pub fn to_value(obj: &Bound<'_, PyAny>) -> Result<Value, Failure> {
    to_value_at(obj, 0)
}

fn to_value_at(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Failure> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if obj.is_none() {
        return Ok(Value::Nil);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Boolean(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_value(obj);
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
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Binary(b.to_vec()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(Failure::invalid_value(format!(
                    "dict keys must be str, not {}",
                    type_name(&k)
                )));
            };
            map.push((Value::from(key.to_str()?), to_value_at(&v, depth + 1)?));
        }
        return Ok(Value::Map(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let items = l
            .iter()
            .map(|v| to_value_at(&v, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(Value::Array(items));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items = t
            .iter()
            .map(|v| to_value_at(&v, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(Value::Array(items));
    }
    Err(Failure::invalid_value(format!(
        "a {} cannot be sent: use dict, list, tuple, str, int, float, bool, None or bytes",
        type_name(obj)
    )))
}

/// Event data as a Python value.
pub fn value_to_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Nil => py.None(),
        Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any().unbind(),
            (None, None) => py.None(),
        },
        Value::F32(f) => PyFloat::new(py, f64::from(*f)).into_any().unbind(),
        Value::F64(f) => PyFloat::new(py, *f).into_any().unbind(),
        Value::String(s) => match s.as_str() {
            Some(s) => PyString::new(py, s).into_any().unbind(),
            None => PyString::new(py, &String::from_utf8_lossy(s.as_bytes()))
                .into_any()
                .unbind(),
        },
        Value::Binary(b) => PyBytes::new(py, b).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for v in items {
                list.append(value_to_py(py, v)?)?;
            }
            list.into_any().unbind()
        }
        Value::Map(entries) => {
            let dict = PyDict::new(py);
            for (k, v) in entries {
                let key = match k {
                    Value::String(_) => value_to_py(py, k)?,
                    // Socket.IO keys are strings; other keys are written as text.
                    other => PyString::new(py, &other.to_string()).into_any().unbind(),
                };
                dict.set_item(key, value_to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
        Value::Ext(_, data) => PyBytes::new(py, data).into_any().unbind(),
    })
}

/// Several event arguments as a Python list.
pub fn values_to_py(py: Python<'_>, values: &[Value]) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for v in values {
        list.append(value_to_py(py, v)?)?;
    }
    Ok(list.into_any().unbind())
}

/// A Python value as session data (JSON).
pub fn to_json(obj: &Bound<'_, PyAny>) -> Result<serde_json::Value, Failure> {
    to_json_at(obj, 0)
}

fn to_json_at(obj: &Bound<'_, PyAny>, depth: usize) -> Result<serde_json::Value, Failure> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if obj.is_none() {
        return Ok(J::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(J::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return match int_value(obj)? {
            Value::Integer(i) => Ok(match (i.as_i64(), i.as_u64()) {
                (Some(i), _) => J::from(i),
                (None, Some(u)) => J::from(u),
                (None, None) => J::Null,
            }),
            _ => unreachable!("int_value returns integers"),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(J::Number)
            .ok_or_else(|| Failure::invalid_value(format!("{} is not a JSON number", f.value())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(J::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(J::Object(dict_to_json_at(d, depth)?));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let items = l
            .iter()
            .map(|v| to_json_at(&v, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(J::Array(items));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items = t
            .iter()
            .map(|v| to_json_at(&v, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(J::Array(items));
    }
    let hint = if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        " (session data is JSON: encode bytes, e.g. as base64)"
    } else {
        " (use dict, list, tuple, str, int, float, bool or None)"
    };
    Err(Failure::invalid_value(format!(
        "a {} cannot be stored in a session{hint}",
        type_name(obj)
    )))
}

/// A dict as the session's whole data.
pub fn dict_to_json(
    d: &Bound<'_, PyDict>,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    dict_to_json_at(d, 0)
}

fn dict_to_json_at(
    d: &Bound<'_, PyDict>,
    depth: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    let mut map = serde_json::Map::with_capacity(d.len());
    for (k, v) in d.iter() {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(Failure::invalid_value(format!(
                "session keys must be str, not {}",
                type_name(&k)
            )));
        };
        map.insert(key.to_str()?.to_owned(), to_json_at(&v, depth + 1)?);
    }
    Ok(map)
}

/// Session data as a Python value.
pub fn json_to_py(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => py.None(),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN))
                    .into_any()
                    .unbind()
            }
        }
        J::String(s) => PyString::new(py, s).into_any().unbind(),
        J::Array(items) => {
            let list = PyList::empty(py);
            for v in items {
                list.append(json_to_py(py, v)?)?;
            }
            list.into_any().unbind()
        }
        J::Object(map) => json_map_to_py(py, map)?.into_any().unbind(),
    })
}

pub fn json_map_to_py<'py>(
    py: Python<'py>,
    map: &serde_json::Map<String, serde_json::Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, json_to_py(py, v)?)?;
    }
    Ok(dict)
}

/// A duration given as seconds (`int`/`float`) or a `datetime.timedelta`.
pub fn duration(obj: &Bound<'_, PyAny>, what: &str) -> Result<Duration, String> {
    let seconds: f64 = if obj.hasattr("total_seconds").unwrap_or(false) {
        obj.call_method0("total_seconds")
            .and_then(|s| s.extract())
            .map_err(|e| format!("{what}: {e}"))?
    } else if obj.is_instance_of::<PyBool>() {
        return Err(format!("{what} must be seconds or a timedelta, not bool"));
    } else {
        obj.extract().map_err(|_| {
            format!(
                "{what} must be seconds (int or float) or a timedelta, not {}",
                type_name(obj)
            )
        })?
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{what} must be a non-negative, finite duration, not {seconds} s"))
}
