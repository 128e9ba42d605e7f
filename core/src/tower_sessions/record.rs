//! The app's store behind the engine's [`SessionStore`] seam, whatever tower-sessions
//! version it implements: records read and written through a [`TowerBackend`], every
//! write under the session's lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::identity::EngineLink;
use crate::request_locks::SessionLocks;
use crate::store::{
    data_version, host_fields, now_ms, take_login, BoxFuture, Data, Mutation, Record, SessionStore,
    Sweep, Touch,
};
use crate::{Error, Result, SessionId};

/// tower-sessions' expiry of a session without one (`Expiry::OnSessionEnd` or none): its
/// record's `expiry_date` is this far ahead at every save.
const DEFAULT_DURATION: time::Duration = time::Duration::weeks(2);

/// How long a session's last known expiry is remembered after its last use when no socket
/// of it is connected: stores drop expired records (MemoryStore's `load` hides them, Redis
/// by key TTL), and a session gone after its expiry has expired, not been destroyed.
const REMEMBER: Duration = Duration::from_secs(5 * 60);

/// How early a store may drop a record before its `expiry_date` (whole-second key TTLs).
const EXPIRY_GRAIN_MS: u64 = 1_000;

/// Socket activity rewrites a record's expiry only when it moves by at least this much: a
/// burst of events is one write, not one per event.
const TOUCH_STEP_MS: u64 = 1_000;

/// tower-sessions' `Expiry`, whatever the version: how a save sets `expiry_date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRule {
    /// `Expiry::OnSessionEnd` (or none): two weeks after every save, as tower-sessions does.
    OnSessionEnd,
    /// `Expiry::OnInactivity(duration)`: `duration` after every save.
    OnInactivity(time::Duration),
    /// `Expiry::AtDateTime(at)`: at `at`, whatever the activity.
    AtDateTime(OffsetDateTime),
}

impl ExpiryRule {
    /// The `expiry_date` a save at `now` writes (tower-sessions' `Session::expiry_date`).
    fn expiry_date(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            ExpiryRule::OnSessionEnd => now.saturating_add(DEFAULT_DURATION),
            ExpiryRule::OnInactivity(d) => now.saturating_add(d),
            ExpiryRule::AtDateTime(at) => at,
        }
    }
}

/// A tower-sessions record, whatever the version.
#[derive(Debug, Clone)]
pub(crate) struct TowerRecord {
    pub(crate) id: SessionId,
    pub(crate) data: HashMap<String, Value>,
    pub(crate) expiry_date: OffsetDateTime,
}

/// One tower-sessions version's store, as [`TowerStore`] reads it; errors are
/// [`Error::StoreUnavailable`].
pub(crate) trait TowerBackend: Send + Sync + 'static {
    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<TowerRecord>>>;
    fn save(&self, record: TowerRecord) -> BoxFuture<'_, Result<()>>;
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<()>>;
}

/// A store error as the engine reports it.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::StoreUnavailable(format!("tower-sessions store: {e}"))
}

struct Known {
    expires_at: u64,
    used: Instant,
}

/// What the app's wrapped store and the engine's view of it share: the session locks,
/// the last known expiries, and the engine (to disconnect a deleted session's sockets).
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) locks: Arc<SessionLocks>,
    known: Mutex<HashMap<SessionId, Known>>,
    engine: OnceLock<Arc<dyn EngineLink>>,
    warned_unscoped: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn attach(&self, engine: Arc<dyn EngineLink>) {
        let _ = self.engine.set(engine);
    }

    /// Before the app's session layer reads or writes `id`: the session's lock, held
    /// until the response.
    pub(crate) async fn before_app_access(&self, id: SessionId) {
        if !self.locks.hold_for_request(id).await
            && !self.warned_unscoped.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "a tower-sessions record was read outside the engine's layer: add \
                 `.layer(io.layer())` after (outside) the SessionManagerLayer, or HTTP and \
                 socket writes to one session can overwrite each other"
            );
        }
    }

    /// After the app's session layer deleted `id` (`delete`, `flush`, `cycle_id`): its
    /// sockets go, on every node.
    pub(crate) async fn deleted_by_app(&self, id: SessionId) {
        self.forget(id);
        if let Some(engine) = self.engine.get() {
            if let Err(e) = engine.disconnect_if_gone(id).await {
                tracing::warn!(error = %e, "disconnecting a deleted session's sockets failed");
            }
        }
    }

    /// After the app's session layer created `id` with a login in it: the engine puts it
    /// in its user index.
    pub(crate) async fn logged_in(&self, id: SessionId) {
        if let Some(engine) = self.engine.get() {
            if let Err(e) = engine.index_login(id).await {
                tracing::warn!(error = %e, "indexing a login failed");
            }
        }
    }

    /// A deleted session is not "expired": its cookie is then `invalid session`.
    fn forget(&self, id: SessionId) {
        lock(&self.known).remove(&id);
    }

    pub(crate) fn remember(&self, id: SessionId, expires_at: u64) {
        lock(&self.known).insert(
            id,
            Known {
                expires_at,
                used: Instant::now(),
            },
        );
    }

    /// For a session the store no longer has: its last known expiry, if that has passed
    /// or is less than [`EXPIRY_GRAIN_MS`] away (tower-sessions-redis-store gives a key
    /// its TTL in whole seconds: the key goes up to a second before the record's
    /// `expiry_date`, and the session has not expired until then).
    fn expired_at(&self, id: SessionId, now: u64) -> Option<u64> {
        lock(&self.known)
            .get(&id)
            .map(|k| k.expires_at)
            .filter(|at| *at <= now.saturating_add(EXPIRY_GRAIN_MS))
    }

    /// Forgets the expiries not used for a while, except those `in_use` says the engine
    /// holds.
    pub(crate) fn forget_unused(&self, in_use: &dyn Fn(SessionId) -> bool) {
        let now = Instant::now();
        lock(&self.known).retain(|id, k| now.duration_since(k.used) < REMEMBER || in_use(*id));
    }
}

pub(crate) fn unix_ms(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(0)
}

fn datetime_of(ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The data in key order: a `HashMap`'s order changes from one load to the next, and the
/// version below must not.
fn data_of(map: &HashMap<String, Value>) -> Data {
    map.iter()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn to_record(r: &TowerRecord) -> Record {
    let mut data = data_of(&r.data);
    let login = take_login(&mut data);
    Record {
        id: r.id,
        version: data_version(&data),
        data,
        expires_at: unix_ms(r.expiry_date),
        login,
    }
}

/// The app's tower-sessions store behind the engine's [`SessionStore`]: writes take the
/// session's lock (shared with the app's requests), versions are digests of the data,
/// the expiry is the record's `expiry_date`, and sessions are created by tower-sessions.
pub(crate) struct TowerStore {
    pub(crate) backend: Arc<dyn TowerBackend>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) expiry: ExpiryRule,
}

impl TowerStore {
    async fn fetch(&self, id: SessionId) -> Result<Option<TowerRecord>> {
        let found = self.backend.load(id).await?;
        if let Some(r) = &found {
            self.shared.remember(id, unix_ms(r.expiry_date));
        }
        Ok(found)
    }

    fn created_elsewhere<T>() -> Result<T> {
        Err(Error::Config(
            "in tower-sessions mode, sessions are created by tower-sessions".into(),
        ))
    }
}

impl SessionStore for TowerStore {
    fn create(&self, _record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Self::created_elsewhere() })
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        Box::pin(async move {
            Ok(match self.fetch(id).await? {
                Some(r) => Some(to_record(&r)),
                // Dropped by the store at (or just before) its expiry.
                None => self
                    .shared
                    .expired_at(id, now_ms())
                    .map(|expires_at| Record::dropped_at_expiry(id, expires_at)),
            })
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let _guard = self.shared.locks.lock(record.id).await;
            let Some(mut current) = self.fetch(record.id).await? else {
                return Ok(false);
            };
            let stored = to_record(&current);
            if stored.version != expected_version || stored.user_id() != record.user_id() {
                return Ok(false);
            }
            current.data = host_fields(&record).collect();
            self.backend.save(current).await?;
            Ok(true)
        })
    }

    fn touch(&self, id: SessionId, _expires_at: u64, now: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
            let _guard = self.shared.locks.lock(id).await;
            let Some(mut current) = self.fetch(id).await? else {
                return Ok(match self.shared.expired_at(id, now) {
                    Some(at) if at <= now => Touch::Expired,
                    // Dropped a moment early by a whole-second key TTL: it expires at `at`.
                    Some(_) => Touch::Extended,
                    None => Touch::Missing,
                });
            };
            let at = unix_ms(current.expiry_date);
            if at <= now {
                return Ok(Touch::Expired);
            }
            let next = self.expiry.expiry_date(datetime_of(now));
            if unix_ms(next) >= at.saturating_add(TOUCH_STEP_MS) {
                current.expiry_date = next;
                self.shared.remember(id, unix_ms(next));
                self.backend.save(current).await?;
            }
            Ok(Touch::Extended)
        })
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let _guard = self.shared.locks.lock(id).await;
            let existed = self.backend.load(id).await?.is_some();
            self.backend.delete(id).await?;
            self.shared.forget(id);
            Ok(existed)
        })
    }

    /// An error: tower-sessions creates the sessions, and its stores cannot count them.
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async { Self::created_elsewhere() })
    }

    /// `None`: the app's store drops or hides expired records itself (MemoryStore's
    /// `load`, Redis key TTLs, the SQLx store's `continuously_delete_expired` task).
    fn sweeper(&self) -> Option<&dyn Sweep> {
        None
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            let _guard = self.shared.locks.lock(id).await;
            let Some(mut current) = self.fetch(id).await? else {
                return Ok(None);
            };
            let before = to_record(&current);
            let mut next = before.clone();
            mutation(&mut next)?;
            crate::store::same_user(&before, &next)?;
            if next.data != before.data || next.login != before.login {
                current.data = host_fields(&next).collect();
                self.backend.save(current).await?;
                next.version = data_version(&next.data);
            }
            Ok(Some(next))
        })
    }
}

/// The store conformance suite's view of a [`TowerStore`] over `backend`: sessions are
/// created by tower-sessions (here: saved through the backend as its session layer saves
/// them), versions are digests of the data, the expiry is the record's `expiry_date`
/// (moved by the store's own rule), and the backend hides expired records itself.
#[cfg(test)]
pub(crate) fn conformance_subject(
    backend: Arc<dyn TowerBackend>,
    expiry: ExpiryRule,
) -> crate::store::conformance::Subject {
    use crate::store::conformance::{Expiry, ExpiryRule as Rule, Subject, Versions};
    let store = Arc::new(TowerStore {
        backend: backend.clone(),
        shared: Arc::new(Shared::default()),
        expiry,
    });
    Subject::shared(store)
        .without_user_index()
        .created_elsewhere(move |data: Data, expires_at: u64| {
            let backend = backend.clone();
            async move {
                let id = SessionId::default();
                let record = TowerRecord {
                    id,
                    data: data.into_iter().collect(),
                    expiry_date: datetime_of(expires_at),
                };
                backend.save(record).await?;
                Ok(id)
            }
        })
        .versions(Versions::Digest)
        .expiry_rule(Rule::OwnRule)
        .expiry(Expiry::ByTheStore { after_ms: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tower-sessions' `MemoryStore` as the engine reads it: records by id, expired
    /// ones hidden from `load`.
    #[derive(Default)]
    struct MemoryBackend(Mutex<HashMap<SessionId, TowerRecord>>);

    impl TowerBackend for MemoryBackend {
        fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<TowerRecord>>> {
            let found = lock(&self.0).get(&id).cloned();
            let now = OffsetDateTime::now_utc();
            Box::pin(async move { Ok(found.filter(|r| r.expiry_date > now)) })
        }
        fn save(&self, record: TowerRecord) -> BoxFuture<'_, Result<()>> {
            lock(&self.0).insert(record.id, record);
            Box::pin(async { Ok(()) })
        }
        fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<()>> {
            lock(&self.0).remove(&id);
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tower_sessions_store_passes_the_conformance_suite() {
        use crate::store::conformance;
        let subject = conformance_subject(
            Arc::new(MemoryBackend::default()),
            ExpiryRule::OnInactivity(time::Duration::minutes(30)),
        );
        let report = conformance::run(&subject).await;
        eprintln!("TowerStore over tower-sessions' MemoryStore:\n{report}");
        report.assert_passed();
        assert_eq!(report.outcomes.len(), conformance::CHECKS.len());
    }

    #[test]
    fn the_version_does_not_depend_on_the_maps_order() {
        let a: HashMap<String, Value> =
            (0..50).map(|i| (format!("k{i}"), Value::from(i))).collect();
        let b: HashMap<String, Value> = (0..50)
            .rev()
            .map(|i| (format!("k{i}"), Value::from(i)))
            .collect();
        assert_eq!(data_version(&data_of(&a)), data_version(&data_of(&b)));
        let mut c = a.clone();
        c.insert("k0".into(), Value::from(7));
        assert_ne!(data_version(&data_of(&a)), data_version(&data_of(&c)));
    }

    #[test]
    fn expiry_rules_set_the_date_as_tower_sessions_does() {
        let now = datetime_of(1_000_000_000_000);
        let at = datetime_of(2_000_000_000_000);
        assert_eq!(ExpiryRule::AtDateTime(at).expiry_date(now), at);
        assert_eq!(
            ExpiryRule::OnInactivity(time::Duration::minutes(5)).expiry_date(now),
            datetime_of(1_000_000_300_000)
        );
        assert_eq!(
            ExpiryRule::OnSessionEnd.expiry_date(now),
            now + time::Duration::weeks(2)
        );
    }
}
