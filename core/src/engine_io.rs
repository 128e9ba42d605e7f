//! An engine's one Engine.IO service (socketioxide's), which every layer, listener and
//! host hand-over of the engine calls, and what it wraps.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::Request;
use tower_service::Service;

/// What the engine's Engine.IO service wraps: nothing. The engine guard sends it only
/// requests under the engine path, which it answers itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = http::StatusCode::NOT_FOUND;
        std::future::ready(Ok(res))
    }
}

/// An engine's one Engine.IO service. Every layer, listener and host hand-over of the
/// engine calls this one (socketioxide's layer would give each its own table of
/// Engine.IO sessions, and a polling session must be found whichever way its requests
/// come: see `workers`).
pub(crate) type EngineService =
    socketioxide::service::SocketIoService<NotFound, crate::adapter::Adapter>;
