//! express-session mode: the host's express-session store as the core's
//! [`ExpressBackend`](sessionio::express::ExpressBackend).
//!
//! The JS layer passes one function, `storeCall(op, sid, sessionJson)`, that runs
//! `store.get / set / touch / destroy` with a callback and answers an [`Outcome`]:
//! `[true, json | null]` or `[false, message]`. Sessions cross as JSON text, as the stores
//! keep them. Core asks for `touch` only of a store that has it.

use napi::bindgen_prelude::{FnArgs, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use sessionio::express::ExpressBackend;
use sessionio::store::BoxFuture;
use sessionio::{Error, Result};

use crate::callbacks::{self, JsCallback};
use crate::values::Outcome;

/// One store call: the operation, the session id, the session (for `set` and `touch`).
pub(crate) struct StoreCall {
    op: &'static str,
    sid: String,
    session: Option<String>,
}

type StoreFn = ThreadsafeFunction<
    StoreCall,
    Promise<Outcome>,
    FnArgs<(String, String, Option<String>)>,
    Status,
    false,
    true,
>;

/// The host's express-session store, reached on Node's thread.
pub(crate) struct JsStore {
    call: StoreFn,
    has_touch: bool,
}

impl JsStore {
    /// `f` is the JS layer's `storeCall`; `has_touch` whether the store has `touch`.
    pub(crate) fn new(f: &JsCallback<'_>, has_touch: bool) -> napi::Result<Self> {
        let call = f
            .build_threadsafe_function::<StoreCall>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| {
                let c = ctx.value;
                Ok(FnArgs::from((c.op.to_owned(), c.sid, c.session)))
            })?;
        Ok(JsStore { call, has_touch })
    }

    async fn run(
        &self,
        op: &'static str,
        sid: String,
        session: Option<String>,
    ) -> Result<Vec<sessionio::Value>> {
        callbacks::run(&self.call, StoreCall { op, sid, session })
            .await
            .map_err(|e| {
                Error::StoreUnavailable(format!("express-session store.{op}: {}", e.message()))
            })
    }

    async fn write(&self, op: &'static str, sid: String, session: serde_json::Value) -> Result<()> {
        self.run(op, sid, Some(session.to_string())).await.map(drop)
    }
}

impl ExpressBackend for JsStore {
    fn get(&self, sid: String) -> BoxFuture<'_, Result<Option<serde_json::Value>>> {
        Box::pin(async move {
            let values = self.run("get", sid, None).await?;
            match values.into_iter().next() {
                Some(sessionio::Value::String(json)) => {
                    let json = json.as_str().unwrap_or_default().to_owned();
                    serde_json::from_str(&json).map(Some).map_err(|e| {
                        Error::StoreUnavailable(format!("express-session store.get: {e}"))
                    })
                }
                _ => Ok(None),
            }
        })
    }

    fn set(&self, sid: String, session: serde_json::Value) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write("set", sid, session))
    }

    fn touch(&self, sid: String, session: serde_json::Value) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write("touch", sid, session))
    }

    fn destroy(&self, sid: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.run("destroy", sid, None).await.map(drop) })
    }

    fn has_touch(&self) -> bool {
        self.has_touch
    }
}
