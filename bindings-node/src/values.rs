//! Value marshalling, the one place where values cross between JavaScript and the engine:
//! JavaScript values ⇄ `sessionio::Value` (MessagePack's value model, as Socket.IO carries
//! it), the session store's JSON, the [`Outcome`] that every wrapped callback answers,
//! and integer arguments ([`safe_integer`]). The modules that expose classes (`socket`,
//! `session`) and run callbacks (`callbacks`, `express`) all use it and it uses none of
//! them, so they never import each other in a circle.
//!
//! The rules follow what the Socket.IO JavaScript packages do with `JSON.stringify` plus
//! binary attachments, so that values cross the boundary without surprises:
//! integers stay integers and fractions stay floats, object keys keep their order,
//! `Buffer`/typed arrays/`ArrayBuffer` become binary (and come back as `Buffer`),
//! `toJSON()` is honoured (a `Date` becomes its ISO string), `NaN`/`Infinity` become
//! `null`, `undefined` and functions are left out of objects and become `null` in arrays.
//! BigInts that fit 64 bits become integers. Symbols, larger BigInts and structures nested
//! deeper than [`MAX_DEPTH`] (e.g. cycles) are refused with `ERR_INVALID_VALUE`.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::sys::{self, napi_env, napi_value};
use napi::ValueType;
use sessionio::Value;

use crate::errors::invalid_value;

/// Deepest nesting accepted from JavaScript (a cycle would recurse forever).
const MAX_DEPTH: usize = 128;
/// Largest integer a JavaScript number represents exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A value received from JavaScript.
pub struct JsValueIn(pub Value);

/// A value sent to JavaScript; `None` is `undefined`.
pub struct JsValueOut(pub Option<Value>);

/// A list of values sent to JavaScript as an array.
pub struct JsArgsOut(pub Vec<Value>);

/// The answer of a wrapped JavaScript callback (an event handler, a middleware, a
/// connection callback, `update()`'s function, the express-session store): the JS layer
/// answers an array, `[true, ...values]` or `[false, message?]`.
pub struct Outcome {
    pub ok: bool,
    pub values: Vec<Value>,
}

impl TypeName for Outcome {
    fn type_name() -> &'static str {
        "Outcome"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Outcome {}

impl FromNapiValue for Outcome {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut len = 0u32;
        let status = unsafe { sys::napi_get_array_length(env, value, &mut len) };
        if status != sys::Status::napi_ok || len == 0 {
            return Err(napi::Error::new(
                napi::Status::InvalidArg,
                "a wrapped callback must answer [ok, ...values]",
            ));
        }
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            let status = unsafe { sys::napi_get_element(env, value, i, &mut item) };
            if status != sys::Status::napi_ok {
                return Err(napi::Error::new(
                    napi::Status::from(status),
                    "napi_get_element failed",
                ));
            }
            items.push(unsafe { JsValueIn::from_napi_value(env, item) }?.0);
        }
        let mut values = items.into_iter();
        let ok = values.next().and_then(|v| v.as_bool()).unwrap_or(false);
        Ok(Outcome {
            ok,
            values: values.collect(),
        })
    }
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(
            napi::Status::from(status),
            format!("{what} failed"),
        ))
    }
}

impl TypeName for JsValueIn {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for JsValueIn {}

impl FromNapiValue for JsValueIn {
    unsafe fn from_napi_value(env: napi_env, value: napi_value) -> napi::Result<Self> {
        Ok(JsValueIn(
            unsafe { from_js(env, value, 0) }?.unwrap_or(Value::Nil),
        ))
    }
}

impl ToNapiValue for JsValueOut {
    unsafe fn to_napi_value(env: napi_env, val: Self) -> napi::Result<napi_value> {
        match val.0 {
            Some(v) => unsafe { to_js(env, &v) },
            None => {
                let mut out = ptr::null_mut();
                check(
                    unsafe { sys::napi_get_undefined(env, &mut out) },
                    "napi_get_undefined",
                )?;
                Ok(out)
            }
        }
    }
}

impl ToNapiValue for JsArgsOut {
    unsafe fn to_napi_value(env: napi_env, val: Self) -> napi::Result<napi_value> {
        unsafe { to_js(env, &Value::Array(val.0)) }
    }
}

impl TypeName for JsValueOut {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl TypeName for JsArgsOut {
    fn type_name() -> &'static str {
        "unknown[]"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

unsafe fn type_of(env: napi_env, value: napi_value) -> napi::Result<i32> {
    let mut t = 0;
    check(
        unsafe { sys::napi_typeof(env, value, &mut t) },
        "napi_typeof",
    )?;
    Ok(t)
}

unsafe fn is(
    env: napi_env,
    value: napi_value,
    f: unsafe extern "C" fn(napi_env, napi_value, *mut bool) -> sys::napi_status,
) -> napi::Result<bool> {
    let mut yes = false;
    check(unsafe { f(env, value, &mut yes) }, "type check")?;
    Ok(yes)
}

unsafe fn string_from_js(env: napi_env, value: napi_value) -> napi::Result<String> {
    let mut len = 0;
    check(
        unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) },
        "napi_get_value_string_utf8",
    )?;
    let mut buf = vec![0u8; len + 1];
    check(
        unsafe {
            sys::napi_get_value_string_utf8(env, value, buf.as_mut_ptr().cast(), len + 1, &mut len)
        },
        "napi_get_value_string_utf8",
    )?;
    buf.truncate(len);
    // V8 writes UTF-8 (lone surrogates become U+FFFD).
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

unsafe fn bytes_from_js(env: napi_env, value: napi_value) -> napi::Result<Option<Vec<u8>>> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut len = 0usize;
    if unsafe { is(env, value, sys::napi_is_typedarray) }? {
        let mut kind = 0;
        let mut count = 0;
        let mut buffer = ptr::null_mut();
        let mut offset = 0;
        check(
            unsafe {
                sys::napi_get_typedarray_info(
                    env,
                    value,
                    &mut kind,
                    &mut count,
                    &mut data,
                    &mut buffer,
                    &mut offset,
                )
            },
            "napi_get_typedarray_info",
        )?;
        let element = match kind {
            sys::TypedarrayType::int8_array
            | sys::TypedarrayType::uint8_array
            | sys::TypedarrayType::uint8_clamped_array => 1,
            sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
            sys::TypedarrayType::int32_array
            | sys::TypedarrayType::uint32_array
            | sys::TypedarrayType::float32_array => 4,
            _ => 8,
        };
        len = count * element;
    } else if unsafe { is(env, value, sys::napi_is_arraybuffer) }? {
        check(
            unsafe { sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len) },
            "napi_get_arraybuffer_info",
        )?;
    } else if unsafe { is(env, value, sys::napi_is_dataview) }? {
        let mut buffer = ptr::null_mut();
        let mut offset = 0;
        check(
            unsafe {
                sys::napi_get_dataview_info(
                    env,
                    value,
                    &mut len,
                    &mut data,
                    &mut buffer,
                    &mut offset,
                )
            },
            "napi_get_dataview_info",
        )?;
    } else {
        return Ok(None);
    }
    if len == 0 || data.is_null() {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(
        unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec(),
    ))
}

unsafe fn get_named(env: napi_env, object: napi_value, name: &str) -> napi::Result<napi_value> {
    let mut key = ptr::null_mut();
    check(
        unsafe {
            sys::napi_create_string_utf8(env, name.as_ptr().cast(), name.len() as isize, &mut key)
        },
        "napi_create_string_utf8",
    )?;
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_get_property(env, object, key, &mut out) },
        "napi_get_property",
    )?;
    Ok(out)
}

/// Converts one JavaScript value; `None` for what JSON leaves out (`undefined`, functions).
unsafe fn from_js(env: napi_env, value: napi_value, depth: usize) -> napi::Result<Option<Value>> {
    if depth > MAX_DEPTH {
        return Err(invalid_value(format!(
            "value nested deeper than {MAX_DEPTH} levels (a cycle?)"
        )));
    }
    let t = unsafe { type_of(env, value) }?;
    Ok(Some(match t {
        sys::ValueType::napi_undefined | sys::ValueType::napi_function => return Ok(None),
        sys::ValueType::napi_null => Value::Nil,
        sys::ValueType::napi_boolean => {
            let mut b = false;
            check(
                unsafe { sys::napi_get_value_bool(env, value, &mut b) },
                "napi_get_value_bool",
            )?;
            Value::Boolean(b)
        }
        sys::ValueType::napi_number => {
            let mut n = 0f64;
            check(
                unsafe { sys::napi_get_value_double(env, value, &mut n) },
                "napi_get_value_double",
            )?;
            number(n)
        }
        sys::ValueType::napi_string => Value::String(unsafe { string_from_js(env, value) }?.into()),
        sys::ValueType::napi_bigint => {
            let (mut i, mut lossless) = (0i64, false);
            check(
                unsafe { sys::napi_get_value_bigint_int64(env, value, &mut i, &mut lossless) },
                "napi_get_value_bigint_int64",
            )?;
            if lossless {
                Value::from(i)
            } else {
                let mut u = 0u64;
                check(
                    unsafe { sys::napi_get_value_bigint_uint64(env, value, &mut u, &mut lossless) },
                    "napi_get_value_bigint_uint64",
                )?;
                if !lossless {
                    return Err(invalid_value("a BigInt does not fit in 64 bits".into()));
                }
                Value::from(u)
            }
        }
        sys::ValueType::napi_object => return unsafe { object_from_js(env, value, depth) },
        sys::ValueType::napi_symbol => {
            return Err(invalid_value("a Symbol cannot be sent".into()));
        }
        _ => return Err(invalid_value("this kind of value cannot be sent".into())),
    }))
}

/// A JavaScript number: an integer when it is one (and exact), else a float; `NaN` and
/// the infinities are `null`, as in JSON.
fn number(n: f64) -> Value {
    if !n.is_finite() {
        Value::Nil
    } else if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER && !(n == 0.0 && n.is_sign_negative())
    {
        Value::from(n as i64)
    } else {
        Value::F64(n)
    }
}

unsafe fn object_from_js(
    env: napi_env,
    value: napi_value,
    depth: usize,
) -> napi::Result<Option<Value>> {
    if let Some(bytes) = unsafe { bytes_from_js(env, value) }? {
        return Ok(Some(Value::Binary(bytes)));
    }
    if unsafe { is(env, value, sys::napi_is_array) }? {
        let mut len = 0u32;
        check(
            unsafe { sys::napi_get_array_length(env, value, &mut len) },
            "napi_get_array_length",
        )?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            check(
                unsafe { sys::napi_get_element(env, value, i, &mut item) },
                "napi_get_element",
            )?;
            items.push(unsafe { from_js(env, item, depth + 1) }?.unwrap_or(Value::Nil));
        }
        return Ok(Some(Value::Array(items)));
    }
    // `toJSON()` first, as JSON.stringify does (Date, and classes that define it).
    let to_json = unsafe { get_named(env, value, "toJSON") }?;
    if unsafe { type_of(env, to_json) }? == sys::ValueType::napi_function {
        let mut out = ptr::null_mut();
        let status =
            unsafe { sys::napi_call_function(env, value, to_json, 0, ptr::null(), &mut out) };
        if status != sys::Status::napi_ok {
            let mut pending = false;
            unsafe { sys::napi_is_exception_pending(env, &mut pending) };
            if pending {
                let mut exception = ptr::null_mut();
                unsafe { sys::napi_get_and_clear_last_exception(env, &mut exception) };
            }
            return Err(invalid_value("toJSON() threw".into()));
        }
        return unsafe { from_js(env, out, depth + 1) };
    }
    let mut keys = ptr::null_mut();
    check(
        unsafe {
            sys::napi_get_all_property_names(
                env,
                value,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings,
                &mut keys,
            )
        },
        "napi_get_all_property_names",
    )?;
    let mut len = 0u32;
    check(
        unsafe { sys::napi_get_array_length(env, keys, &mut len) },
        "napi_get_array_length",
    )?;
    let mut entries = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut key = ptr::null_mut();
        check(
            unsafe { sys::napi_get_element(env, keys, i, &mut key) },
            "napi_get_element",
        )?;
        let mut item = ptr::null_mut();
        check(
            unsafe { sys::napi_get_property(env, value, key, &mut item) },
            "napi_get_property",
        )?;
        if let Some(v) = unsafe { from_js(env, item, depth + 1) }? {
            entries.push((
                Value::String(unsafe { string_from_js(env, key) }?.into()),
                v,
            ));
        }
    }
    Ok(Some(Value::Map(entries)))
}

/// Converts a value for JavaScript: integers and floats become numbers (integers beyond
/// ±2^53 lose precision, as in `JSON.parse`), binary becomes a `Buffer`, maps become
/// objects whose keys are strings.
pub(crate) unsafe fn to_js(env: napi_env, value: &Value) -> napi::Result<napi_value> {
    let mut out = ptr::null_mut();
    match value {
        Value::Nil => check(
            unsafe { sys::napi_get_null(env, &mut out) },
            "napi_get_null",
        )?,
        Value::Boolean(b) => check(
            unsafe { sys::napi_get_boolean(env, *b, &mut out) },
            "napi_get_boolean",
        )?,
        Value::Integer(i) => {
            let n = i
                .as_i64()
                .map(|i| i as f64)
                .or_else(|| i.as_u64().map(|u| u as f64))
                .unwrap_or(0.0);
            check(
                unsafe { sys::napi_create_double(env, n, &mut out) },
                "napi_create_double",
            )?
        }
        Value::F32(f) => check(
            unsafe { sys::napi_create_double(env, f64::from(*f), &mut out) },
            "napi_create_double",
        )?,
        Value::F64(f) => check(
            unsafe { sys::napi_create_double(env, *f, &mut out) },
            "napi_create_double",
        )?,
        Value::String(s) => {
            let text = match s.as_str() {
                Some(t) => std::borrow::Cow::Borrowed(t),
                None => String::from_utf8_lossy(s.as_bytes()),
            };
            check(
                unsafe {
                    sys::napi_create_string_utf8(
                        env,
                        text.as_ptr().cast(),
                        text.len() as isize,
                        &mut out,
                    )
                },
                "napi_create_string_utf8",
            )?
        }
        Value::Binary(bytes) | Value::Ext(_, bytes) => {
            let mut data = ptr::null_mut();
            check(
                unsafe {
                    sys::napi_create_buffer_copy(
                        env,
                        bytes.len(),
                        bytes.as_ptr().cast(),
                        &mut data,
                        &mut out,
                    )
                },
                "napi_create_buffer_copy",
            )?
        }
        Value::Array(items) => {
            check(
                unsafe { sys::napi_create_array_with_length(env, items.len(), &mut out) },
                "napi_create_array_with_length",
            )?;
            for (i, item) in items.iter().enumerate() {
                let v = unsafe { to_js(env, item) }?;
                check(
                    unsafe { sys::napi_set_element(env, out, i as u32, v) },
                    "napi_set_element",
                )?;
            }
        }
        Value::Map(entries) => {
            check(
                unsafe { sys::napi_create_object(env, &mut out) },
                "napi_create_object",
            )?;
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(map_key(other).into()),
                };
                let key = unsafe { to_js(env, &key) }?;
                let v = unsafe { to_js(env, v) }?;
                check(
                    unsafe { sys::napi_set_property(env, out, key, v) },
                    "napi_set_property",
                )?;
            }
        }
    }
    Ok(out)
}

fn map_key(key: &Value) -> String {
    match key {
        Value::Integer(i) => i.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "null".into(),
        other => other.to_string(),
    }
}

/// A value for the session store (JSON). Binary data cannot be stored there.
pub(crate) fn to_json(value: Value) -> napi::Result<serde_json::Value> {
    Ok(match value {
        Value::Nil => serde_json::Value::Null,
        Value::Boolean(b) => b.into(),
        Value::Integer(i) => match i.as_i64() {
            Some(i) => i.into(),
            None => i
                .as_u64()
                .map(Into::into)
                .unwrap_or(serde_json::Value::Null),
        },
        Value::F32(f) => float_json(f64::from(f)),
        Value::F64(f) => float_json(f),
        Value::String(s) => match s.into_str() {
            Some(s) => s.into(),
            None => return Err(invalid_value("a string is not valid UTF-8".into())),
        },
        Value::Binary(_) | Value::Ext(..) => {
            return Err(invalid_value(
                "binary data (Buffer) cannot be stored in a session; encode it (e.g. base64) first"
                    .into(),
            ))
        }
        Value::Array(items) => serde_json::Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<napi::Result<_>>()?,
        ),
        Value::Map(entries) => {
            let mut map = serde_json::Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => s.into_str().unwrap_or_default(),
                    other => map_key(&other),
                };
                map.insert(key, to_json(v)?);
            }
            serde_json::Value::Object(map)
        }
    })
}

fn float_json(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A value from the session store (JSON), for JavaScript.
pub(crate) fn from_json(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s.into()),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (Value::String(k.into()), from_json(v)))
                .collect(),
        ),
    }
}

/// The session's data object, for JavaScript.
pub(crate) fn data_to_value(data: serde_json::Map<String, serde_json::Value>) -> Value {
    from_json(serde_json::Value::Object(data))
}

/// An integer that JavaScript numbers represent exactly.
pub(crate) fn safe_integer(what: &str, n: f64) -> napi::Result<i64> {
    if n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        Ok(n as i64)
    } else {
        Err(invalid_value(format!(
            "{what} must be a safe integer, got {n}"
        )))
    }
}

/// A session data object from JavaScript: it must be a plain object.
pub(crate) fn value_to_data(
    value: Value,
) -> napi::Result<serde_json::Map<String, serde_json::Value>> {
    match to_json(value)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(invalid_value("session data must be an object".into())),
    }
}
