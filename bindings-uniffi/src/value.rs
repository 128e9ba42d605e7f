//! Values that cross between the host language and the engine: one tree that holds what a
//! Socket.IO payload holds (JSON plus binary attachments). Event arguments and acks become
//! core's MessagePack values; session data becomes JSON, which has no binary.

use crate::error::SessionioError;

/// A value a host passes to or gets from the engine.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Value {
    Nil,
    Bool {
        value: bool,
    },
    /// An integer that fits in `i64`.
    Int {
        value: i64,
    },
    /// An integer above `i64::MAX`.
    UInt {
        value: u64,
    },
    Float {
        value: f64,
    },
    /// UTF-8 text.
    Str {
        value: String,
    },
    /// Binary data (a Socket.IO attachment).
    Bytes {
        value: Vec<u8>,
    },
    List {
        items: Vec<Value>,
    },
    /// A map with text keys, in order.
    Map {
        entries: Vec<MapEntry>,
    },
}

/// One key of a [`Value::Map`].
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MapEntry {
    pub key: String,
    pub value: Value,
}

impl Value {
    fn map(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
        Value::Map {
            entries: entries
                .into_iter()
                .map(|(key, value)| MapEntry { key, value })
                .collect(),
        }
    }
}

/// An event argument or ack value as core's MessagePack value.
pub fn to_msgpack(value: Value) -> sessionio::Value {
    use sessionio::Value as M;
    match value {
        Value::Nil => M::Nil,
        Value::Bool { value } => M::Boolean(value),
        Value::Int { value } => M::from(value),
        Value::UInt { value } => M::from(value),
        Value::Float { value } => M::F64(value),
        Value::Str { value } => M::from(value),
        Value::Bytes { value } => M::Binary(value),
        Value::List { items } => M::Array(items.into_iter().map(to_msgpack).collect()),
        Value::Map { entries } => M::Map(
            entries
                .into_iter()
                .map(|e| (M::from(e.key), to_msgpack(e.value)))
                .collect(),
        ),
    }
}

/// A MessagePack value from a client as a host value. A map key that is not text (a
/// client can send one) is written as its JSON text; an extension type is its bytes.
pub fn from_msgpack(value: &sessionio::Value) -> Value {
    use sessionio::Value as M;
    match value {
        M::Nil => Value::Nil,
        M::Boolean(value) => Value::Bool { value: *value },
        M::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(value), _) => Value::Int { value },
            (None, Some(value)) => Value::UInt { value },
            (None, None) => Value::Nil,
        },
        M::F32(f) => Value::Float {
            value: f64::from(*f),
        },
        M::F64(value) => Value::Float { value: *value },
        M::String(s) => Value::Str {
            value: String::from_utf8_lossy(s.as_bytes()).into_owned(),
        },
        M::Binary(value) => Value::Bytes {
            value: value.clone(),
        },
        M::Array(items) => Value::List {
            items: items.iter().map(from_msgpack).collect(),
        },
        M::Map(entries) => Value::map(entries.iter().map(|(k, v)| {
            let key = match k {
                M::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                other => other.to_string(),
            };
            (key, from_msgpack(v))
        })),
        M::Ext(_, data) => Value::Bytes {
            value: data.clone(),
        },
    }
}

/// A host value as session data (JSON): binary data and non-finite floats are refused.
pub fn to_json(value: Value) -> Result<serde_json::Value, SessionioError> {
    use serde_json::Value as J;
    Ok(match value {
        Value::Nil => J::Null,
        Value::Bool { value } => J::Bool(value),
        Value::Int { value } => J::from(value),
        Value::UInt { value } => J::from(value),
        Value::Float { value } => serde_json::Number::from_f64(value)
            .map(J::Number)
            .ok_or_else(|| {
                SessionioError::invalid_value(format!("{value} is not a JSON number"))
            })?,
        Value::Str { value } => J::String(value),
        Value::Bytes { .. } => {
            return Err(SessionioError::invalid_value(
                "binary data cannot be stored in a session (session data is JSON: encode \
                 it, e.g. as base64)",
            ))
        }
        Value::List { items } => {
            J::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map { entries } => J::Object(
            entries
                .into_iter()
                .map(|e| Ok((e.key, to_json(e.value)?)))
                .collect::<Result<_, SessionioError>>()?,
        ),
    })
}

/// A host value as a session's whole data: a map.
pub fn to_json_map(value: Value) -> Result<sessionio::store::Data, SessionioError> {
    match to_json(value)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(SessionioError::invalid_value(
            "session data must be a map with text keys",
        )),
    }
}

/// Session data (JSON) as a host value.
pub fn from_json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::Nil,
        J::Bool(value) => Value::Bool { value: *value },
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(value), _) => Value::Int { value },
            (None, Some(value)) => Value::UInt { value },
            _ => Value::Float {
                value: n.as_f64().unwrap_or(f64::NAN),
            },
        },
        J::String(value) => Value::Str {
            value: value.clone(),
        },
        J::Array(items) => Value::List {
            items: items.iter().map(from_json).collect(),
        },
        J::Object(map) => from_json_map(map),
    }
}

/// A session's whole data as a host map.
pub fn from_json_map(map: &sessionio::store::Data) -> Value {
    Value::map(map.iter().map(|(k, v)| (k.clone(), from_json(v))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::map([
            ("big".into(), Value::UInt { value: u64::MAX }),
            ("neg".into(), Value::Int { value: -(1 << 60) }),
            ("pi".into(), Value::Float { value: 3.25 }),
            (
                "text".into(),
                Value::Str {
                    value: "né ✓".into(),
                },
            ),
            (
                "list".into(),
                Value::List {
                    items: vec![Value::Nil, Value::Bool { value: true }],
                },
            ),
        ])
    }

    #[test]
    fn msgpack_and_json_keep_every_value() {
        let value = sample();
        assert_eq!(from_msgpack(&to_msgpack(value.clone())), value);
        assert_eq!(from_json(&to_json(value.clone()).unwrap()), value);
        let bytes = Value::Bytes {
            value: vec![0, 255],
        };
        assert_eq!(from_msgpack(&to_msgpack(bytes.clone())), bytes);
    }

    #[test]
    fn session_data_refuses_what_json_cannot_hold() {
        let bytes = Value::Bytes { value: vec![1] };
        let err = to_json(bytes).unwrap_err().to_string();
        assert!(
            err.contains("binary data cannot be stored in a session"),
            "{err}"
        );
        let nan = to_json(Value::Float { value: f64::NAN })
            .unwrap_err()
            .to_string();
        assert!(nan.contains("NaN is not a JSON number"), "{nan}");
        let not_a_map = to_json_map(Value::Int { value: 1 })
            .unwrap_err()
            .to_string();
        assert!(not_a_map.contains("must be a map"), "{not_a_map}");
    }

    #[test]
    fn a_non_text_map_key_from_a_client_becomes_text() {
        use sessionio::Value as M;
        let from_client = M::Map(vec![(M::from(7), M::from("seven"))]);
        assert_eq!(
            from_msgpack(&from_client),
            Value::map([(
                "7".into(),
                Value::Str {
                    value: "seven".into()
                }
            )])
        );
    }
}
