//! JavaScript callbacks run by the engine: event handlers, per-event middlewares and
//! connection callbacks.
//!
//! Each is a *weak* threadsafe function: stored for the server's whole life, it must not
//! keep Node alive once the server is closed. The JS layer wraps every user function in
//! an `async` one that never rejects and answers an [`Outcome`](crate::values::Outcome):
//! `[true, ...values]`, `[false, message]` for a thrown `HandlerError` (its message is
//! sent to the client as it is), or `[false, null, detail]` for anything else: the client
//! is told what core tells it of a hidden failure ([`HandlerError::internal`]).

use napi::bindgen_prelude::{FnArgs, Function, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use sessionio::{EventContext, HandlerError, Reply, SocketHandle, Value};

use crate::socket::JsSocket;
use crate::values::{JsArgsOut, Outcome};

/// One call of an event handler or middleware.
pub(crate) struct EventCall {
    socket: SocketHandle,
    event: String,
    args: Vec<Value>,
}

impl From<&EventContext> for EventCall {
    fn from(ctx: &EventContext) -> Self {
        EventCall {
            socket: ctx.socket().clone(),
            event: ctx.event().to_owned(),
            args: ctx.args().to_vec(),
        }
    }
}

/// `(socket, args)` for handlers, `(socket, event, args)` for middlewares.
pub(crate) type HandlerFn = ThreadsafeFunction<
    EventCall,
    Promise<Outcome>,
    FnArgs<(JsSocket, JsArgsOut)>,
    Status,
    false,
    true,
>;
pub(crate) type MiddlewareFn = ThreadsafeFunction<
    EventCall,
    Promise<Outcome>,
    FnArgs<(JsSocket, String, JsArgsOut)>,
    Status,
    false,
    true,
>;
pub(crate) type ConnectionFn =
    ThreadsafeFunction<SocketHandle, Promise<Outcome>, JsSocket, Status, false, true>;

/// The JavaScript function type every callback arrives as.
pub(crate) type JsCallback<'env> = Function<'env, (), Promise<Outcome>>;

pub(crate) fn handler(f: &JsCallback<'_>) -> napi::Result<HandlerFn> {
    f.build_threadsafe_function::<EventCall>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| {
            let call = ctx.value;
            Ok(FnArgs::from((
                JsSocket::from(call.socket),
                JsArgsOut(call.args),
            )))
        })
}

pub(crate) fn middleware(f: &JsCallback<'_>) -> napi::Result<MiddlewareFn> {
    f.build_threadsafe_function::<EventCall>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| {
            let call = ctx.value;
            Ok(FnArgs::from((
                JsSocket::from(call.socket),
                call.event,
                JsArgsOut(call.args),
            )))
        })
}

pub(crate) fn connection(f: &JsCallback<'_>) -> napi::Result<ConnectionFn> {
    f.build_threadsafe_function::<SocketHandle>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| Ok(JsSocket::from(ctx.value)))
}

/// Runs a wrapped callback and waits for its outcome. A failure to reach JavaScript at
/// all (Node is shutting down) is a hidden failure too.
pub(crate) async fn run<T, A>(
    f: &ThreadsafeFunction<T, Promise<Outcome>, A, Status, false, true>,
    value: T,
) -> Result<Vec<Value>, HandlerError>
where
    T: 'static,
    A: 'static + napi::bindgen_prelude::JsValuesTupleIntoVec,
{
    let internal = |e: napi::Error| {
        HandlerError::internal(format_args!("a JavaScript callback could not run: {e}"))
    };
    let promise = f.call_async_catch(value).await.map_err(internal)?;
    let outcome = promise.await.map_err(internal)?;
    if outcome.ok {
        Ok(outcome.values)
    } else {
        let mut values = outcome.values.into_iter();
        match (values.next(), values.next()) {
            (Some(Value::String(chosen)), _) => {
                Err(HandlerError::new(chosen.into_str().unwrap_or_default()))
            }
            (_, Some(Value::String(detail))) => Err(HandlerError::internal(
                detail.as_str().unwrap_or("a JavaScript callback failed"),
            )),
            _ => Err(HandlerError::internal("a JavaScript callback failed")),
        }
    }
}

/// The ack of a handler: its value (none for `undefined`).
pub(crate) fn reply(values: Vec<Value>) -> Reply {
    Reply::args(values)
}
