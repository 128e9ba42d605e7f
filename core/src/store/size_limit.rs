//! A bound on one session's data: a client that can make the app write into its session
//! (a cart, a draft, a form echoed back) must not grow one record without end, and every
//! store would otherwise accept whatever it is given. The engine puts its store behind
//! [`SizeLimited`]: a write whose data would exceed `max_session_bytes` (as JSON) fails
//! with [`Error::InvalidValue`] and writes nothing; reads and writes within the bound are
//! passed on unchanged.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::store::{BoxFuture, Data, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::SessionId;

/// A store whose records' data may not exceed `max_bytes` of JSON.
pub(crate) struct SizeLimited {
    inner: Arc<dyn SessionStore>,
    max_bytes: usize,
}

impl SizeLimited {
    pub(crate) fn new(inner: Arc<dyn SessionStore>, max_bytes: usize) -> Self {
        SizeLimited { inner, max_bytes }
    }

    fn check(&self, data: &Data) -> Result<()> {
        check_size(data, self.max_bytes)
    }
}

/// `Err` if `data` is more than `max_bytes` as JSON (counted without building the text).
pub(crate) fn check_size(data: &Data, max_bytes: usize) -> Result<()> {
    let mut counter = ByteCounter(0);
    // Writing JSON to a counter cannot fail: the counter never refuses bytes.
    let _ = serde_json::to_writer(&mut counter, data);
    if counter.0 > max_bytes {
        return Err(Error::InvalidValue(format!(
            "session data would be {} bytes, over max_session_bytes ({max_bytes}); nothing was written",
            counter.0
        )));
    }
    Ok(())
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SessionStore for SizeLimited {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        if let Err(e) = self.check(&record.data) {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.inner.create(record)
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        self.inner.load(id)
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        if let Err(e) = self.check(&record.data) {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.inner.replace(record, expected_version)
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        self.inner.touch(id, expires_at, now_ms)
    }

    fn touch_and_read(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
        self.inner.touch_and_read(id, expires_at, now_ms)
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        self.inner.delete(id)
    }

    fn sweeper(&self) -> Option<&dyn Sweep> {
        self.inner.sweeper()
    }

    fn keeps_user_index(&self) -> bool {
        self.inner.keeps_user_index()
    }

    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        self.inner.count()
    }

    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        self.inner.user_sessions(user_id)
    }

    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        self.inner.user_index_size()
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        let max_bytes = self.max_bytes;
        Box::pin(async move {
            // The check runs inside the mutation, so that the store's own update (a
            // transaction, a script) aborts with nothing written.
            let mut bounded = |record: &mut Record| {
                mutation(record)?;
                check_size(&record.data, max_bytes)
            };
            self.inner.update(id, &mut bounded).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn data(value: serde_json::Value) -> Data {
        value.as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn writes_over_the_bound_fail_and_write_nothing() {
        let store = SizeLimited::new(Arc::new(MemoryStore::new()), 32);
        let id = SessionId::default();
        let small = data(json!({"count": 1}));
        assert!(store
            .create(Record {
                id,
                data: small.clone(),
                expires_at: u64::MAX,
                version: 0,
                login: None,
            })
            .await
            .unwrap());
        // {"count":1,"note":"…"}: 21 bytes + the note's length.
        let mut grow = |r: &mut Record| {
            r.data.insert("note".into(), json!("x".repeat(40)));
            Ok(())
        };
        let err = store.update(id, &mut grow).await.unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_VALUE");
        assert!(
            err.to_string().contains("over max_session_bytes (32)"),
            "{err}"
        );
        assert_eq!(store.load(id).await.unwrap().unwrap().data, small);
        let mut fits = |r: &mut Record| {
            r.data.insert("n".into(), json!(2));
            Ok(())
        };
        assert!(store.update(id, &mut fits).await.unwrap().is_some());
        let big = Record {
            id: SessionId::default(),
            data: data(json!({"blob": "y".repeat(64)})),
            expires_at: u64::MAX,
            version: 0,
            login: None,
        };
        assert_eq!(
            store.create(big).await.unwrap_err().code(),
            "ERR_INVALID_VALUE"
        );
    }

    #[test]
    fn the_count_is_the_json_length() {
        let d = data(json!({"a": "é", "b": [1, 2]}));
        let exact = serde_json::to_vec(&d).unwrap().len();
        assert!(check_size(&d, exact).is_ok());
        assert!(check_size(&d, exact - 1).is_err());
    }
}
