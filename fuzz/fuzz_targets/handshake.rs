//! The handshake decision as a whole: a raw HTTP/1.1 request head → accept or refuse.
//!
//! Input: a request head (`GET /socket.io/?EIO=4 HTTP/1.1\r\n<headers>\r\n\r\n`), parsed
//! with `httparse` as hyper does (at most 100 headers); heads httparse does not complete
//! are dropped, as a server would answer them 400. Headers that `http::HeaderName` /
//! `HeaderValue` refuse are skipped (values may hold obs-text, non-UTF-8 bytes). Whatever follows the head, if it is JSON, is the
//! Socket.IO `auth` object. Then `SessionIo::check_handshake` decides, on an engine that
//! allows only `http://app.test` and whose store holds one live session (`LIVE`) and
//! one expired one.
//!
//! Asserted:
//! - an `Origin` other than `http://app.test` ⇔ `origin not allowed`;
//! - no cookie named `sessionio.sid` and no string `auth.token` (and an allowed or no
//!   Origin) ⇒ `session required`;
//! - never an anonymous accept (`Ok(None)`); an accept is always `LIVE`, with a cookie or
//!   token presented; `session required` only when no token was presented;
//! - never `store unavailable`, `too many connections` or `invalid auth payload` (not
//!   reachable here: no store outage, no sockets, and the auth shape is the connect
//!   middleware's check, before this one; any JSON value is passed here, objects or not).
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sessionio::cookie::cookie_values;
use sessionio::Refusal;
use sessionio_fuzz::{handshake_fixture, COOKIE_NAME, LIVE, ORIGIN};

/// hyper's default limit of headers per request.
const MAX_HEADERS: usize = 100;

fuzz_target!(|data: &[u8]| {
    let fixture = handshake_fixture();

    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let head_len = match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return,
    };
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(name, value);
        }
    }
    let auth: Option<serde_json::Value> = serde_json::from_slice(&data[head_len..]).ok();

    let outcome = fixture.rt.block_on(sessionio::host::check_handshake(
        &fixture.io,
        &headers,
        auth.as_ref(),
    ));

    // The allow-list, or a page of the server's own origin: an `Origin` naming the
    // `Host` (scheme http or https, default ports folded, hosts without case).
    let origin_allowed = headers.get(http::header::ORIGIN).is_none_or(|o| {
        o.as_bytes() == ORIGIN.as_bytes() || names_host(o, headers.get(http::header::HOST))
    });
    // Cookie headers are read lossily (another cookie's non-UTF-8 bytes do not hide ours).
    let cookie_presented = headers.get_all(http::header::COOKIE).iter().any(|v| {
        cookie_values(&String::from_utf8_lossy(v.as_bytes()), COOKIE_NAME)
            .next()
            .is_some()
    });
    let token_presented = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .is_some_and(|t| t.is_string());

    let context = || {
        format!(
            "{outcome:?} for head {:?} auth {auth:?}",
            String::from_utf8_lossy(&data[..head_len])
        )
    };
    assert_eq!(
        outcome == Err(Refusal::OriginNotAllowed),
        !origin_allowed,
        "origin: {}",
        context()
    );
    if origin_allowed && !cookie_presented && !token_presented {
        assert_eq!(outcome, Err(Refusal::SessionRequired), "{}", context());
    }
    match outcome {
        Ok(Some(id)) => {
            assert_eq!(
                id,
                LIVE,
                "accepted into a session that does not exist: {}",
                context()
            );
            assert!(cookie_presented || token_presented, "{}", context());
        }
        Ok(None) => panic!("anonymous accept with allow_anonymous off: {}", context()),
        Err(Refusal::SessionRequired) => assert!(!token_presented, "{}", context()),
        Err(Refusal::InvalidSession | Refusal::SessionExpired) => {
            assert!(cookie_presented || token_presented, "{}", context())
        }
        Err(Refusal::OriginNotAllowed) => {}
        // `invalid auth payload` is the connect middleware's, before this check; the
        // pending-handshake bounds are the tower layer's, before the engine.
        Err(
            other @ (Refusal::StoreUnavailable
            | Refusal::TooManyConnections
            | Refusal::InvalidAuth
            | Refusal::TooManyPendingHandshakes
            | Refusal::ServerBusy),
        ) => {
            panic!("unexpected refusal {other:?}: {}", context())
        }
    }
});

/// Whether `origin` is `http://<host>` or `https://<host>` for the `Host` header `host`.
fn names_host(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(HeaderValue::to_str)) else {
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
    let fold = |a: &str| {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    !authority.is_empty() && fold(authority) == fold(host)
}
