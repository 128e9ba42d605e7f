//! Extractors for axum handlers: the request's [`Session`] and the engine handle, and
//! [`HttpError`], the engine's errors as responses.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::ack::INTERNAL_ERROR;
use crate::admission::cookie_header;
use crate::engine::{Core, SessionIo};
use crate::error::{log_hidden_failure, Error, Refusal};
use crate::session::{ResponseCookie, Session};

/// Request extension placed by the layer for the extractors.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) core: Arc<Core>,
    pub(crate) slot: Arc<ResponseCookie>,
}

/// Why a handler could not get its [`Session`]: answered with the refusal's status
/// (401 `invalid session` / `session expired`, 503 `store unavailable`) and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// The cookie was refused.
    Refused(Refusal),
    /// The handler runs outside [`SessionIo::layer`].
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::Refused(r) => refusal_response(r),
            SessionRejection::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "sessionio layer is not installed on this route",
            )
                .into_response(),
        }
    }
}

pub(crate) fn refusal_response(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    (status, r.message()).into_response()
}

fn context(parts: &http::request::Parts) -> Result<RequestContext, SessionRejection> {
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .ok_or(SessionRejection::MissingLayer)
}

/// The request's session: the cookie's session (extended: this is activity), or a new
/// one when the request has no cookie, stored by its first write or
/// [`save`](Session::save) (the response then sets its cookie; a handler that only reads
/// stores nothing). A forged, expired or destroyed session's cookie is refused with 401
/// and the response clears the cookie.
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?;
        let header = cookie_header(&parts.headers);
        let resolved = ctx
            .slot
            .resolved
            .get_or_init(|| async {
                let r = ctx
                    .core
                    .http_session(header.as_deref(), ctx.slot.clone())
                    .await;
                match r {
                    Ok(session) => Ok((session.id(), session.birth())),
                    Err(refusal) => {
                        if refusal.clears_cookie() {
                            ctx.slot.set(ctx.core.clear_cookie());
                        }
                        Err(refusal)
                    }
                }
            })
            .await;
        match resolved {
            Ok((id, Some(birth))) => Ok(Session::unborn(
                *id,
                ctx.core.clone(),
                ctx.slot.clone(),
                birth.clone(),
            )),
            Ok((id, None)) => Ok(Session::new(
                *id,
                ctx.core.clone(),
                true,
                Some(ctx.slot.clone()),
            )),
            Err(refusal) => Err(SessionRejection::Refused(*refusal)),
        }
    }
}

/// The engine handle, for handlers that notify or destroy other sessions.
impl<S: Send + Sync> FromRequestParts<S> for SessionIo {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SessionIo(context(parts)?.core))
    }
}

/// An error for HTTP handlers: the engine's [`Error`] as a response. The client is told
/// only a documented refusal — 401 `invalid session` (session not found), 401
/// `session expired`, 503 `store unavailable` — or 500 `internal error`; never the
/// error's own text (a store's connection string, a corrupted record's parse error).
/// What it is not told is logged with an error id.
///
/// ```
/// use axum::response::IntoResponse;
/// let store = sessionio::Error::StoreUnavailable("redis://secret@db: bad record".into());
/// let response = sessionio::http::HttpError(store).into_response();
/// assert_eq!(response.status(), 503);
/// ```
#[derive(Debug)]
pub struct HttpError(pub Error);

impl From<Error> for HttpError {
    fn from(e: Error) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let refusal = match &self.0 {
            Error::SessionNotFound => Refusal::InvalidSession,
            Error::SessionExpired => Refusal::SessionExpired,
            Error::StoreUnavailable(_) => Refusal::StoreUnavailable,
            // A documented message of its own (`max_sessions`), with no detail in it.
            Error::TooManySessions => {
                let status = StatusCode::from_u16(self.0.http_status())
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return (status, self.0.to_string()).into_response();
            }
            // A bad value, a conflict, a bad id or a server error here is the host's or
            // the engine's failure, not the client's: nothing of it is the client's to see.
            e => {
                log_hidden_failure(&format_args!("an HTTP handler failed: {e}"), INTERNAL_ERROR);
                return (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR).into_response();
            }
        };
        if let Error::StoreUnavailable(detail) = &self.0 {
            log_hidden_failure(
                &format_args!("an HTTP handler's store failed: {detail}"),
                refusal.message(),
            );
        }
        // Unlike a refused cookie, the response keeps the cookie: the handler ran.
        let status =
            StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        (status, refusal.message()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;
    use tower::ServiceExt as _;
    use tower_service::Service as _;

    /// Every request through the `Session` extractor used to leave its cookie slot, its
    /// session and a reference to the engine behind (a reference cycle).
    #[tokio::test]
    async fn a_request_leaves_nothing_behind() {
        let io = SessionIo::builder().secret([7u8; 32]).build().unwrap();
        let app = axum::Router::new()
            .route(
                "/incr",
                axum::routing::post(|session: Session| async move {
                    let n = session
                        .increment("count", 1)
                        .await
                        .map_err(HttpError::from)?;
                    Ok::<_, HttpError>(n.to_string())
                }),
            )
            .layer(io.layer());
        let baseline = Arc::strong_count(&io.0);
        for _ in 0..3 {
            let request = Request::post("/incr")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = app.clone().call(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(
            Arc::strong_count(&io.0),
            baseline,
            "requests leaked the engine"
        );
    }

    /// Finding 2 (issue 15): through the axum layer, a handler that only reads the
    /// session of a cookieless request sends no cookie and stores nothing; one that
    /// writes (or calls `save()`) stores one session and sets its cookie, however many
    /// `Session` extractors the request runs; past `max_sessions` the write answers 503
    /// `too many sessions`.
    #[tokio::test]
    async fn finding_2_reads_send_no_cookie_and_the_first_write_sets_it_once() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let io = SessionIo::builder()
            .secret([7u8; 32])
            .store(store.clone())
            .max_sessions(2)
            .build()
            .unwrap();
        let app = axum::Router::new()
            .route(
                "/read",
                axum::routing::get(|session: Session| async move {
                    let n: Option<i64> = session.get("count").await.map_err(HttpError::from)?;
                    Ok::<_, HttpError>(n.unwrap_or(0).to_string())
                }),
            )
            .route(
                "/page",
                axum::routing::get(|session: Session, again: Session| async move {
                    session.save().await.map_err(HttpError::from)?;
                    again.save().await.map_err(HttpError::from)?;
                    Ok::<_, HttpError>("page")
                }),
            )
            .layer(io.layer());
        let get = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::get(path).body(axum::body::Body::empty()).unwrap();
                app.oneshot(request).await.unwrap()
            }
        };
        for _ in 0..20 {
            let response = get("/read").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers().get(http::header::SET_COOKIE).is_none());
        }
        assert_eq!(store.len(), 0, "reads stored sessions");
        for stored in 1..=2 {
            let response = get("/page").await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response
                    .headers()
                    .get_all(http::header::SET_COOKIE)
                    .iter()
                    .count(),
                1
            );
            assert_eq!(store.len(), stored);
        }
        let refused = get("/page").await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().get(http::header::SET_COOKIE).is_none());
        let body = axum::body::to_bytes(refused.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"too many sessions");
        assert_eq!(store.len(), 2);
    }
}
