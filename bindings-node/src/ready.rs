//! Answers that are ready at once skip the Promise machinery.
//!
//! An `async` napi function always answers a Promise: its future moves to the runtime's
//! threads and its result comes back to Node's thread through a threadsafe call — two
//! thread hops and an event-loop turn (~40 µs) for work that usually takes a microsecond
//! (the memory store and the local rooms never wait). So these functions run the engine's
//! future on Node's thread until it first waits: done, they answer the value itself;
//! waiting, the future goes on on the runtime and they answer a Promise. The JS layer
//! `await`s both alike.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use napi::bindgen_prelude::{within_runtime_if_available, Either, PromiseRaw, ToNapiValue};
use napi::Env;

/// A value, or a Promise of it. (Functions return `napi::Result<Ready<..>>` spelled out:
/// napi's macro recognizes a `Result` return type by its name, and throws its error.)
pub(crate) type Ready<'env, T> = Either<T, PromiseRaw<'env, T>>;

/// Polls `fut` once on Node's thread (inside the runtime, for what it spawns); if it is
/// pending, spawns it on the runtime and answers a Promise.
pub(crate) fn now_or_spawn<'env, T>(
    env: &'env Env,
    fut: impl Future<Output = napi::Result<T>> + Send + 'static,
) -> napi::Result<Ready<'env, T>>
where
    T: ToNapiValue + Send + 'static,
{
    let mut fut = Box::pin(fut);
    // A pending future has registered this no-op waker only; the runtime polls it again
    // at once with its own.
    let mut cx = Context::from_waker(Waker::noop());
    match within_runtime_if_available(|| fut.as_mut().poll(&mut cx)) {
        Poll::Ready(result) => result.map(Either::A),
        Poll::Pending => env.spawn_future(fut).map(Either::B),
    }
}
