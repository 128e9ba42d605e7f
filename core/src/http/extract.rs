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
/// one when the request has no cookie (the response sets it). A forged, expired or
/// destroyed session's cookie is refused with 401 and the response clears the cookie.
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
                    .http_session(header.as_deref(), Some(ctx.slot.clone()))
                    .await;
                match r {
                    Ok(found) => {
                        if let Some(c) = found.set_cookie {
                            ctx.slot.set(c);
                        }
                        Ok(found.session.id())
                    }
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
            Ok(id) => Ok(Session::new(
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
}
