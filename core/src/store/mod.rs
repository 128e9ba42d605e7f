//! Session storage: one trait at the seam, backends beside it.
//!
//! tower-sessions' `SessionStore` saves whole records, last writer wins, which loses
//! updates when an HTTP request and a socket event write the same session at once. This
//! trait adds what atomicity needs: a version on every record and a compare-and-swap
//! [`replace`](SessionStore::replace). [`SessionStore::update`] is built on them (load,
//! apply, swap, retry); a backend that can do better (the memory store holds a lock)
//! overrides it. Session ids are tower-sessions' [`Id`](crate::SessionId).

mod memory;

use std::future::Future;
use std::pin::Pin;

pub use memory::MemoryStore;

use crate::{Error, Result, SessionId};

/// A boxed, sendable future (stores are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The data of a session: a JSON object.
pub type Data = serde_json::Map<String, serde_json::Value>;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session id.
    pub id: SessionId,
    /// The session's key-value data.
    pub data: Data,
    /// Expiry instant, unix milliseconds.
    pub expires_at: u64,
    /// Incremented by every successful write; the basis of compare-and-swap.
    pub version: u64,
}

impl Record {
    /// True if the record is past its expiry instant at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at <= now_ms
    }
}

/// What [`SessionStore::touch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// The session existed, was live, and its expiry was moved.
    Extended,
    /// The session exists but is past its expiry; nothing changed.
    Expired,
    /// No such session.
    Missing,
}

/// A mutation applied by [`SessionStore::update`]: it edits a copy of the record, and an
/// `Err` aborts the update with nothing written.
pub type Mutation<'a> = &'a mut (dyn FnMut(&mut Record) -> Result<()> + Send);

/// How many times [`SessionStore::update`]'s default implementation retries a conflicting
/// compare-and-swap before it gives up with [`Error::Conflict`].
pub const MAX_UPDATE_ATTEMPTS: u32 = 64;

/// A session backend. All methods are atomic per session.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new record (`version` 0). Returns `false`, writing nothing, if the id is
    /// taken.
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>>;

    /// The record of `id`, expired or not; `None` if there is none.
    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>>;

    /// Replaces the record if its stored version is `expected_version`, storing it with
    /// `expected_version + 1`. Returns `false`, writing nothing, on a version mismatch or
    /// a missing record.
    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>>;

    /// Moves the expiry of a live session to `expires_at` (never backwards) without
    /// touching its data or version.
    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>>;

    /// Deletes a record; `true` if there was one.
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>>;

    /// Deletes records that expired before `before_ms`; returns how many.
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>>;

    /// Atomically applies `mutation` to the record of `id` and returns the stored result,
    /// or `None` if there is no such record. The mutation may run more than once (on
    /// conflict) and always sees the latest record.
    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            for _ in 0..MAX_UPDATE_ATTEMPTS {
                let Some(current) = self.load(id).await? else {
                    return Ok(None);
                };
                let mut next = current.clone();
                mutation(&mut next)?;
                if self.replace(next.clone(), current.version).await? {
                    next.version = current.version + 1;
                    return Ok(Some(next));
                }
            }
            Err(Error::Conflict(MAX_UPDATE_ATTEMPTS))
        })
    }
}

/// The current time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
