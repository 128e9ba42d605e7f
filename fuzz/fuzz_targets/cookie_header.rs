//! The `Cookie` header parser (`sessionio::cookie::cookie_values`).
//!
//! Input layout: `<name>\0<header>`; without a NUL byte the whole input is the header and
//! the name is the default `sessionio.sid`. Both are taken as (lossy) UTF-8.
//! - It never panics; every value it returns is a slice of the header (checked by
//!   address, not by `contains`) and contains no `;`;
//! - it returns at most 8 values, as many as a plain model of the grammar finds (the
//!   `;`-separated pairs whose key, trimmed of spaces and tabs, is the name), in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionio::cookie::cookie_values;

/// At most this many candidates are returned (`MAX_CANDIDATES` in core/src/cookie.rs).
const MAX_CANDIDATES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let (name, header) = match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]),
            String::from_utf8_lossy(&data[i + 1..]),
        ),
        None => (
            sessionio_fuzz::COOKIE_NAME.into(),
            String::from_utf8_lossy(data),
        ),
    };
    let (name, header) = (name.as_ref(), header.as_ref());

    let values: Vec<&str> = cookie_values(header, name).collect();

    let start = header.as_ptr() as usize;
    let end = start + header.len();
    for v in &values {
        let at = v.as_ptr() as usize;
        assert!(
            at >= start && at + v.len() <= end,
            "value {v:?} is not a slice of the header {header:?}"
        );
        assert!(header.is_char_boundary(at - start));
        assert_eq!(&header[at - start..at - start + v.len()], *v);
        assert!(
            !v.contains(';'),
            "value {v:?} contains ';' (header {header:?})"
        );
    }

    // A model: the pairs whose key (before the first '=', trimmed of spaces and tabs) is
    // the name.
    let expected: Vec<&str> = header
        .split(';')
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, _)| k.trim_matches([' ', '\t']) == name)
        })
        .take(MAX_CANDIDATES)
        .collect();
    assert_eq!(values.len(), expected.len(), "{header:?} / {name:?}");
    for (v, pair) in values.iter().zip(&expected) {
        // Each value lies inside its own pair, after the '='.
        let pair_at = pair.as_ptr() as usize;
        let value_at = v.as_ptr() as usize;
        let eq = pair.find('=').unwrap();
        assert!(value_at > pair_at + eq && value_at + v.len() <= pair_at + pair.len());
        // It is the pair's value, trimmed of spaces and tabs, with one pair of surrounding
        // quotes removed.
        let raw = pair[eq + 1..].trim_matches([' ', '\t']);
        let unquoted = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        assert_eq!(*v, unquoted);
    }
});
