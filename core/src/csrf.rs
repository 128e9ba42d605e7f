//! Cross-site request forgery: which HTTP requests may change state. A page of another
//! site can make the browser send a form `POST` (or a `fetch`) to the app, and the browser
//! attaches the session cookie whenever its `SameSite` lets it (`None`; `Lax` lets a
//! top-level `GET` through, and older browsers ignore it). The browser also says where the
//! request comes from, in a way a page cannot forge: the `Origin` header of every `POST`,
//! `PUT`, `PATCH` and `DELETE`, and `Sec-Fetch-Site`. So a state-changing request is
//! refused (`origin not allowed`, 403) when either shows a site the allow-list does not
//! name — the same list the Socket.IO handshake is judged by. Requests that show neither
//! (non-browser clients: curl, server-to-server calls) pass, as at the handshake.
//!
//! The HTTP middlewares of every host run this check first (the axum layer, Express, ASGI,
//! WSGI); [`Builder::csrf_check(false)`](crate::Builder::csrf_check) turns it off for apps
//! that take cross-site posts on purpose (and protect them otherwise).

use http::{HeaderValue, Method};

use crate::config::{Config, Origins};
use crate::error::Refusal;

/// Why a request is refused as a cross-site forgery, or `None` if it may go on.
///
/// - safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) always pass: they must not change
///   state, and a top-level navigation from another site is a `GET`;
/// - `Sec-Fetch-Site: same-origin` or `none` (typed in the address bar) passes;
/// - otherwise an `Origin` must be in the allow-list (any origin under
///   `allow_any_origin()`); `Origin: null` (sandboxed frames, some redirects) is in no list;
/// - without an `Origin`, `Sec-Fetch-Site: cross-site` or `same-site` is refused unless any
///   origin is allowed; no header at all passes (not a browser).
pub(crate) fn cross_site_refusal(
    config: &Config,
    method: &Method,
    origin: Option<&HeaderValue>,
    fetch_site: Option<&HeaderValue>,
    host: Option<&HeaderValue>,
) -> Option<Refusal> {
    if !config.csrf_check
        || matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    {
        return None;
    }
    let fetch_site = fetch_site.map(HeaderValue::as_bytes);
    if matches!(fetch_site, Some(b"same-origin" | b"none")) {
        return None;
    }
    let refused = match origin {
        Some(origin) => !config.origins.allows_request(Some(origin), host),
        None => {
            matches!(fetch_site, Some(b"cross-site" | b"same-site"))
                && !matches!(config.origins, Origins::Any)
        }
    };
    refused.then_some(Refusal::OriginNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionIo;

    fn config(build: impl FnOnce(crate::Builder) -> crate::Builder) -> Config {
        let io = build(SessionIo::builder().secret([7u8; 32]))
            .build()
            .unwrap();
        io.config().clone()
    }

    fn judge(config: &Config, method: &str, origin: Option<&str>, site: Option<&str>) -> bool {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let origin = origin.map(|o| HeaderValue::from_str(o).unwrap());
        let site = site.map(|s| HeaderValue::from_str(s).unwrap());
        cross_site_refusal(config, &method, origin.as_ref(), site.as_ref(), None).is_some()
    }

    #[test]
    fn csrf_refuses_state_changing_requests_from_sites_off_the_allow_list() {
        let listed = config(|b| b.allowed_origins(["https://app.example"]));
        let cases = [
            // (method, Origin, Sec-Fetch-Site, refused)
            ("POST", Some("https://evil.example"), None, true),
            (
                "PUT",
                Some("https://evil.example"),
                Some("cross-site"),
                true,
            ),
            ("PATCH", Some("https://evil.example"), None, true),
            ("DELETE", Some("https://evil.example"), None, true),
            ("PROPFIND", Some("https://evil.example"), None, true),
            ("POST", Some("null"), None, true),
            ("POST", None, Some("cross-site"), true),
            ("POST", None, Some("same-site"), true),
            (
                "POST",
                Some("https://app.example"),
                Some("same-site"),
                false,
            ),
            ("POST", Some("https://app.example"), None, false),
            (
                "POST",
                Some("https://evil.example"),
                Some("same-origin"),
                false,
            ),
            ("POST", None, Some("none"), false),
            ("POST", None, None, false),
            (
                "GET",
                Some("https://evil.example"),
                Some("cross-site"),
                false,
            ),
            ("HEAD", Some("https://evil.example"), None, false),
            ("OPTIONS", Some("https://evil.example"), None, false),
        ];
        for (method, origin, site, refused) in cases {
            assert_eq!(
                judge(&listed, method, origin, site),
                refused,
                "{method} Origin {origin:?} Sec-Fetch-Site {site:?}"
            );
        }
    }

    #[test]
    fn any_origin_and_csrf_check_off_let_every_request_through() {
        let any = config(|b| b.allow_any_origin());
        assert!(!judge(&any, "POST", Some("https://evil.example"), None));
        assert!(!judge(&any, "POST", None, Some("cross-site")));
        let off = config(|b| b.csrf_check(false));
        assert!(!judge(
            &off,
            "POST",
            Some("https://evil.example"),
            Some("cross-site")
        ));
    }
}
