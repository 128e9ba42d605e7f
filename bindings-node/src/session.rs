//! `Session`: the core's live session handle (every read goes to the store, every write
//! is atomic there).

use std::sync::Arc;

use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Env;
use napi::Status;
use napi_derive::napi;
use sessionio::Value;

use crate::errors::{to_napi, IntoNapi};
use crate::ready::{now_or_spawn, Ready};
use crate::values::{
    data_to_value, from_json, safe_integer, to_json, value_to_data, JsValueIn, JsValueOut, Outcome,
};

/// What the JavaScript side of `update()` is called with: a copy of the data. Its
/// answer is `[true, data, result?]`, or `[false]` when the user's function threw (the JS
/// layer rethrows that error itself).
type UpdateFn = ThreadsafeFunction<JsValueOut, Promise<Outcome>, JsValueOut, Status, false>;

/// A handle on one session, shared by HTTP middlewares, socket handlers and the host.
#[napi(js_name = "NativeSession")]
pub struct JsSession {
    pub(crate) inner: sessionio::Session,
}

impl From<sessionio::Session> for JsSession {
    fn from(inner: sessionio::Session) -> Self {
        JsSession { inner }
    }
}

/// Why `update()` stopped.
enum UpdateError {
    Engine(sessionio::Error),
    Js(napi::Error),
    /// The user's function threw; the JS layer has its error.
    Threw,
}

impl From<sessionio::Error> for UpdateError {
    fn from(e: sessionio::Error) -> Self {
        UpdateError::Engine(e)
    }
}

#[napi]
impl JsSession {
    /// The session id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.host_id()
    }

    /// The value under `key`; `undefined` if absent.
    #[napi]
    pub fn get<'env>(&self, env: &'env Env, key: String) -> napi::Result<Ready<'env, JsValueOut>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            let value: Option<serde_json::Value> = session.get(&key).await.napi()?;
            Ok(JsValueOut(value.map(from_json)))
        })
    }

    /// Stores `value` under `key`.
    #[napi]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        key: String,
        value: JsValueIn,
    ) -> napi::Result<Ready<'env, ()>> {
        let value = to_json(value.0)?;
        let session = self.inner.clone();
        now_or_spawn(env, async move { session.set(&key, value).await.napi() })
    }

    /// Removes `key`; answers its former value (`undefined` if there was none).
    #[napi]
    pub fn remove<'env>(
        &self,
        env: &'env Env,
        key: String,
    ) -> napi::Result<Ready<'env, JsValueOut>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            let old = session.remove(&key).await.napi()?;
            Ok(JsValueOut(old.map(from_json)))
        })
    }

    /// Atomically adds `by` to the integer under `key` (absent counts as 0).
    #[napi]
    pub fn increment<'env>(
        &self,
        env: &'env Env,
        key: String,
        by: f64,
    ) -> napi::Result<Ready<'env, f64>> {
        let by = safe_integer("the increment", by)?;
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            Ok(session.increment(&key, by).await.napi()? as f64)
        })
    }

    /// All the session's data, as an object.
    #[napi]
    pub fn data<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, JsValueOut>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            let data = session.data().await.napi()?;
            Ok(JsValueOut(Some(data_to_value(data))))
        })
    }

    /// The expiry instant, unix milliseconds.
    #[napi]
    pub fn expires_at<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, f64>> {
        let session = self.inner.clone();
        now_or_spawn(
            env,
            async move { Ok(session.expires_at().await.napi()? as f64) },
        )
    }

    /// One atomic transaction over the data; see `Session::update_async` in the core.
    #[napi(ts_args_type = "fn: (data: Record<string, unknown>) => Promise<unknown[]>")]
    pub async fn update(&self, f: UpdateFn) -> napi::Result<JsValueOut> {
        let f = Arc::new(f);
        let result = self
            .inner
            .update_async(|data| {
                let f = f.clone();
                async move {
                    let promise = f
                        .call_async_catch(JsValueOut(Some(data_to_value(data))))
                        .await
                        .map_err(UpdateError::Js)?;
                    let outcome = promise.await.map_err(UpdateError::Js)?;
                    if !outcome.ok {
                        return Err(UpdateError::Threw);
                    }
                    let mut values = outcome.values.into_iter();
                    let data = value_to_data(values.next().unwrap_or(Value::Nil))
                        .map_err(UpdateError::Js)?;
                    Ok((data, values.next()))
                }
            })
            .await;
        match result {
            Ok(out) => Ok(JsValueOut(out)),
            Err(UpdateError::Engine(e)) => Err(to_napi(e)),
            Err(UpdateError::Js(e)) => Err(e),
            Err(UpdateError::Threw) => Err(napi::Error::new(
                Status::GenericFailure,
                "the update function threw",
            )),
        }
    }

    /// Stores a session not stored yet (and has the response set its cookie); nothing for
    /// a stored one. See `Session::save` in the core.
    #[napi]
    pub fn save<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, ()>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move { session.save().await.napi() })
    }

    /// A new id for the same data (call it on login); sockets of the old id are
    /// disconnected. Answers the new session.
    #[napi]
    pub fn regenerate<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, JsSession>> {
        let session = self.inner.clone();
        now_or_spawn(
            env,
            async move { Ok(session.regenerate().await.napi()?.into()) },
        )
    }

    /// Binds the session to the user and gives it a new id, as `regenerate` does (core
    /// checks the user id). Answers the new session.
    #[napi]
    pub fn login<'env>(
        &self,
        env: &'env Env,
        user_id: String,
    ) -> napi::Result<Ready<'env, JsSession>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            Ok(session.login(&user_id).await.napi()?.into())
        })
    }

    /// Unbinds the session from its user and gives it a new id; the data is kept.
    /// Answers the new session.
    #[napi]
    pub fn logout<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, JsSession>> {
        let session = self.inner.clone();
        now_or_spawn(
            env,
            async move { Ok(session.logout().await.napi()?.into()) },
        )
    }

    /// The user the session is logged in as, `null` when none.
    #[napi]
    pub fn user_id<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, Option<String>>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move { session.user_id().await.napi() })
    }

    /// Deletes the session and disconnects its sockets; answers how many.
    #[napi]
    pub fn destroy<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, u32>> {
        let session = self.inner.clone();
        now_or_spawn(
            env,
            async move { Ok(session.destroy().await.napi()? as u32) },
        )
    }

    /// Emits `event` with `data` to every socket of the session; answers how many.
    #[napi]
    pub fn notify<'env>(
        &self,
        env: &'env Env,
        event: String,
        data: JsValueIn,
    ) -> napi::Result<Ready<'env, u32>> {
        let session = self.inner.clone();
        now_or_spawn(env, async move {
            Ok(session.notify(&event, data.0).await.napi()? as u32)
        })
    }
}
