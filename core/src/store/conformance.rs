//! The store conformance suite: the behaviour the engine relies on, checked against any
//! [`SessionStore`], ours or yours.
//!
//! Every backend of this crate runs it (memory, SQLite, Redis, and the express-session
//! adapters over an in-memory express-session store and over connect-redis). Run it
//! against your own store in one call:
//!
//! ```
//! use sessionio::store::conformance::{self, Subject};
//! use sessionio::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Your store here.
//! let report = conformance::run(&Subject::new(MemoryStore::new())).await;
//! report.assert_passed(); // panics with every failed check, or:
//! assert_eq!(report.failures().count(), 0, "{report}");
//! # }
//! ```
//!
//! or as one `#[test]` per check, with one macro invocation in a test module (the
//! expression is evaluated once per check, inside a Tokio runtime, so it may `.await`):
//!
//! ```
//! mod my_store_conformance {
//!     use sessionio::store::conformance::Subject;
//!     use sessionio::store::MemoryStore; // your store here
//!
//!     sessionio::store_conformance!(Subject::new(MemoryStore::new()));
//! }
//! # fn main() {}
//! ```
//!
//! # Stores that differ by nature
//!
//! No check is ever skipped. A store that cannot do something the trait describes says so
//! on its [`Subject`], and the affected checks then assert what such a store must do
//! instead:
//!
//! - [`Subject::created_elsewhere`]: sessions are created by someone else (express-session
//!   creates its own; its ids must be resolved to engine ids before they can be loaded).
//!   The suite puts sessions in through the function given, and checks that
//!   [`create`](SessionStore::create) refuses with an error and writes nothing.
//! - [`Versions::Digest`]: the version is a digest of the data rather than a counter
//!   (express-session's stores keep no version); the checks assert that it changes with
//!   every change of the data instead of counting.
//! - [`ExpiryRule::OwnRule`]: the store keeps its own expiry and ignores the instants it is
//!   given (express-session's `cookie.expires`, moved by `originalMaxAge`); the checks
//!   assert that `touch` extends and never moves the expiry backwards.
//! - [`Expiry::ByTheStore`]: expired records are dropped by the store itself, so it must
//!   offer no [`sweeper`](SessionStore::sweeper), and a record expired longer than the
//!   declared delay must be gone without any sweep. ([`Expiry::Swept`], the default,
//!   requires a sweeper and checks what it deletes.)
//! - [`Subject::expiry_rounding`]: a loaded expiry may differ from the one stored by up
//!   to this much (connect-redis keeps expiries as key TTLs, rounded up to the second).
//!
//! Every check creates sessions with fresh random ids, so one store may run the suite
//! while holding other data; the exact count of
//! [`Sweep::delete_expired`](super::Sweep::delete_expired) assumes that nobody else puts
//! records expired more than five hours ago into it meanwhile.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{now_ms, BoxFuture, Data, Record, SessionStore, Touch};
use crate::{Error, Result, SessionId};

/// How a store numbers the versions that compare-and-swap compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Versions {
    /// As [`SessionStore`] documents: 0 at `create`, one more at every write.
    #[default]
    Counted,
    /// A digest of the data: it changes whenever the data changes (and a write that
    /// changes nothing may keep it).
    Digest,
}

/// What decides a record's expiry instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryRule {
    /// As [`SessionStore`] documents: `create`, `replace` and `update` store the record's
    /// `expires_at`, and `touch` moves it to the instant given, never backwards.
    #[default]
    Given,
    /// The store keeps its own expiry and ignores the instants given; `touch` still
    /// extends a live session and never moves its expiry backwards.
    OwnRule,
}

/// How expired records leave the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// They stay until the engine's sweeper deletes them: the store offers a
    /// [`sweeper`](SessionStore::sweeper).
    #[default]
    Swept,
    /// The store drops them itself, at the latest `after_ms` after their expiry, and
    /// offers no sweeper.
    ByTheStore {
        /// The longest a record outlives its expiry (the Redis store: 60 000).
        after_ms: u64,
    },
}

type Insert = Arc<dyn Fn(Data, u64) -> BoxFuture<'static, Result<SessionId>> + Send + Sync>;

/// A store under test, with what it does differently by nature (see the module docs).
pub struct Subject {
    store: Arc<dyn SessionStore>,
    peers: Vec<Arc<dyn SessionStore>>,
    insert: Option<Insert>,
    versions: Versions,
    expiry_rule: ExpiryRule,
    expiry: Expiry,
    rounding_ms: u64,
    user_index: bool,
    kept: Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject")
            .field("peers", &self.peers.len())
            .field("created_elsewhere", &self.insert.is_some())
            .field("versions", &self.versions)
            .field("expiry_rule", &self.expiry_rule)
            .field("expiry", &self.expiry)
            .field("expiry_rounding_ms", &self.rounding_ms)
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// A store that does everything [`SessionStore`] documents.
    pub fn new(store: impl SessionStore) -> Self {
        Self::shared(Arc::new(store))
    }

    /// [`new`](Self::new) for a store already shared.
    pub fn shared(store: Arc<dyn SessionStore>) -> Self {
        Subject {
            store,
            peers: Vec::new(),
            insert: None,
            versions: Versions::default(),
            expiry_rule: ExpiryRule::default(),
            expiry: Expiry::default(),
            rounding_ms: 0,
            user_index: true,
            kept: Vec::new(),
        }
    }

    /// Another handle on the same sessions, standing for another process (a second
    /// `RedisStore` on the same server): concurrent updates are spread over all of them.
    pub fn peer(mut self, store: impl SessionStore) -> Self {
        self.peers.push(Arc::new(store));
        self
    }

    /// Sessions are created by someone else: `insert(data, expires_at)` puts one in as
    /// its owner would and returns the engine's id for it; `create` must refuse.
    pub fn created_elsewhere<F, Fut>(mut self, insert: F) -> Self
    where
        F: Fn(Data, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SessionId>> + Send + 'static,
    {
        self.insert = Some(Arc::new(move |data, expires_at| {
            Box::pin(insert(data, expires_at))
        }));
        self
    }

    /// How the store numbers versions (default [`Versions::Counted`]).
    pub fn versions(mut self, versions: Versions) -> Self {
        self.versions = versions;
        self
    }

    /// What decides the expiry (default [`ExpiryRule::Given`]).
    pub fn expiry_rule(mut self, rule: ExpiryRule) -> Self {
        self.expiry_rule = rule;
        self
    }

    /// How expired records leave (default [`Expiry::Swept`]).
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = expiry;
        self
    }

    /// How far from the stored one a loaded expiry may be (default 0: exact).
    pub fn expiry_rounding(mut self, rounding: Duration) -> Self {
        self.rounding_ms = rounding.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// The store keeps no user index (a host session system's): its
    /// [`user_sessions`](SessionStore::user_sessions) and
    /// [`user_index_size`](SessionStore::user_index_size) must answer an error.
    pub fn without_user_index(mut self) -> Self {
        self.user_index = false;
        self
    }

    /// Keeps `guard` (a temporary directory, a server process…) alive as long as the
    /// subject.
    pub fn keep(mut self, guard: impl Any + Send + Sync) -> Self {
        self.kept.push(Box::new(guard));
        self
    }

    /// The store under test.
    pub fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    /// A new session holding `data`, expiring at `expires_at`, put in as this store's
    /// sessions are (by `create` with a fresh id unless [`created_elsewhere`]).
    ///
    /// [`created_elsewhere`]: Self::created_elsewhere
    pub async fn insert(&self, data: Data, expires_at: u64) -> Result<SessionId> {
        if let Some(insert) = &self.insert {
            return insert(data, expires_at).await;
        }
        let id = SessionId::default();
        let record = Record {
            id,
            data,
            expires_at,
            version: 0,
            login: None,
        };
        if self.store.create(record).await? {
            Ok(id)
        } else {
            Err(Error::Conflict(1))
        }
    }
}

/// One behaviour the engine relies on.
pub struct Check {
    /// Its name (also the name of its test in [`store_conformance!`](crate::store_conformance)).
    pub name: &'static str,
    /// What it checks.
    pub description: &'static str,
    run: for<'a> fn(&'a Subject) -> BoxFuture<'a, Outcome>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Check {
    /// Runs this check against `subject`; `Err` holds what went wrong.
    pub async fn run(&self, subject: &Subject) -> std::result::Result<(), String> {
        (self.run)(subject).await
    }
}

type Outcome = std::result::Result<(), String>;

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Fails the check unless both sides are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(format!(
                "{}: got {:?}, expected {:?}",
                format!($($msg)+),
                left,
                right
            ));
        }
    }};
}

/// A store call that must succeed.
trait Call<T> {
    fn call(self, what: &str) -> std::result::Result<T, String>;
}

impl<T> Call<T> for Result<T> {
    fn call(self, what: &str) -> std::result::Result<T, String> {
        self.map_err(|e| format!("{what} failed: {e}"))
    }
}

macro_rules! checks {
    ($($name:ident: $description:literal,)*) => {
        /// Every check, in the order [`run`] runs them.
        pub const CHECKS: &[Check] = &[$(Check {
            name: stringify!($name),
            description: $description,
            run: |subject| Box::pin($name(subject)),
        }),*];
    };
}

checks! {
    unknown_ids_are_absent: "an id never stored loads as None; touch says Missing; delete, replace and update find nothing and write nothing",
    create_is_exclusive: "create stores a record at version 0 and refuses an id that is taken, keeping the first (a store whose sessions are created elsewhere refuses create with an error)",
    load_returns_what_was_stored: "the data (nested JSON, strings, numbers, null) and the expiry come back as stored",
    replace_is_compare_and_swap: "replace succeeds with the stored version, moves the version on, and refuses a stale one",
    touch_extends_live_sessions: "touch extends a live session, never moves its expiry backwards, and leaves data and version alone",
    expired_sessions_are_told_apart: "a session past its expiry still loads, as expired, and touch says Expired without reviving it",
    delete_removes_the_session: "delete reports whether there was a session; afterwards it is gone for load, touch, update and delete",
    updates_apply_atomically: "update applies the mutation and returns the stored record; a mutation that fails writes nothing",
    concurrent_updates_lose_nothing: "40 concurrent increments of one session (spread over the peers) all land",
    sessions_are_independent: "writing or deleting one session leaves another as it was",
    expired_records_leave_the_store: "a store with a sweeper deletes exactly the records expired before the instant given; one without drops them itself",
    user_index_follows_the_records: "user_sessions lists exactly the records logged in as a user, with their login; replace keeps a record's user; delete, sweep or drop takes the entry with the record; the index's size follows (a store without an index answers its error)",
}

/// What every run of the suite found.
#[derive(Debug, Default)]
pub struct Report {
    /// Each check's name and its outcome, in the order they ran.
    pub outcomes: Vec<(&'static str, std::result::Result<(), String>)>,
}

impl Report {
    /// The checks that failed, with what went wrong.
    pub fn failures(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(name, outcome)| outcome.as_ref().err().map(|e| (*name, e.as_str())))
    }

    /// Panics listing every failed check, if any failed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(
            self.failures().next().is_none() && !self.outcomes.is_empty(),
            "store conformance:\n{self}"
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.outcomes {
            match outcome {
                Ok(()) => writeln!(f, "  ok      {name}")?,
                Err(e) => writeln!(f, "  FAILED  {name}: {e}")?,
            }
        }
        let failed = self.failures().count();
        write!(
            f,
            "{} checks, {} passed, {failed} failed",
            self.outcomes.len(),
            self.outcomes.len() - failed
        )
    }
}

/// Runs every check against `subject`, one after the other, and reports each.
pub async fn run(subject: &Subject) -> Report {
    let mut report = Report::default();
    for check in CHECKS {
        report.outcomes.push((check.name, check.run(subject).await));
    }
    report
}

/// For [`store_conformance!`](crate::store_conformance): runs the check `name` against
/// the subject `make` gives, in a Tokio runtime of its own, and panics if it fails.
#[doc(hidden)]
#[track_caller]
pub fn run_one_blocking(name: &str, make: impl Future<Output = Subject>) {
    let check = CHECKS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no store conformance check is named {name:?}"));
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the store conformance check")
        .block_on(async move { check.run(&make.await).await });
    if let Err(e) = outcome {
        panic!("store conformance check {name} failed: {e}");
    }
}

/// For [`store_conformance!`](crate::store_conformance): panics unless `names` are the
/// names of [`CHECKS`], in order (the macro's list and the suite's must not drift apart).
#[doc(hidden)]
pub fn assert_every_check_listed(names: &[&str]) {
    let all: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        all.as_slice(),
        "store_conformance! lists other checks"
    );
}

/// One `#[test]` per conformance check against the [`Subject`] the expression gives
/// (evaluated for each test inside a Tokio runtime, so it may `.await`), plus one that
/// the list is complete. Invoke it once in a test module.
///
/// ```
/// mod conformance {
///     use sessionio::store::conformance::Subject;
///     use sessionio::store::MemoryStore; // your store here
///
///     sessionio::store_conformance!(Subject::new(MemoryStore::new()));
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance {
    ($subject:expr) => {
        $crate::__store_conformance_tests! {
            ($subject)
            unknown_ids_are_absent
            create_is_exclusive
            load_returns_what_was_stored
            replace_is_compare_and_swap
            touch_extends_live_sessions
            expired_sessions_are_told_apart
            delete_removes_the_session
            updates_apply_atomically
            concurrent_updates_lose_nothing
            sessions_are_independent
            expired_records_leave_the_store
            user_index_follows_the_records
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    (($subject:expr) $($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                $crate::store::conformance::run_one_blocking(stringify!($check), async {
                    $subject
                });
            }
        )*

        #[test]
        fn every_conformance_check_has_a_test() {
            $crate::store::conformance::assert_every_check_listed(&[$(stringify!($check)),*]);
        }
    };
}

// ---------------------------------------------------------------------------------------
// The checks.

fn count_data(n: i64) -> Data {
    let mut data = Data::new();
    data.insert("count".into(), n.into());
    data
}

/// Data a store must keep exactly: nesting, unicode, a float, a large integer, null.
/// (Numbers JavaScript would print differently, like `3.0`, are avoided: express-session's
/// stores are JSON written by JavaScript.)
fn rich_data() -> Data {
    match json!({
        "count": 1,
        "user": {"id": 42, "name": "Zoë ✓ \"quoted\" \\ / \u{1F600}"},
        "ratio": 1.5,
        "big": 9_007_199_254_740_991_u64,
        "negative": -7,
        "tags": ["a", null, true, false, []],
        "empty": {},
    }) {
        serde_json::Value::Object(data) => data,
        _ => unreachable!("an object literal"),
    }
}

fn later(minutes: u64) -> u64 {
    now_ms() + minutes * 60_000
}

async fn must_load(s: &Subject, id: SessionId, what: &str) -> std::result::Result<Record, String> {
    s.store()
        .load(id)
        .await
        .call(&format!("load {what}"))?
        .ok_or_else(|| format!("load {what}: the session is missing"))
}

/// `loaded` is `stored`, give or take the subject's rounding.
fn expiry_matches(s: &Subject, loaded: u64, stored: u64, what: &str) -> Outcome {
    ensure!(
        loaded.abs_diff(stored) <= s.rounding_ms,
        "{what}: expiry {loaded}, expected {stored} (rounding allowed: {} ms)",
        s.rounding_ms
    );
    Ok(())
}

/// `got` is `want`: the same id, data and version, and the same expiry give or take the
/// subject's rounding.
fn same_record(s: &Subject, got: &Record, want: &Record, what: &str) -> Outcome {
    ensure_eq!(
        (got.id, &got.data, got.version),
        (want.id, &want.data, want.version),
        "{what}"
    );
    expiry_matches(s, got.expires_at, want.expires_at, what)
}

async fn unknown_ids_are_absent(s: &Subject) -> Outcome {
    let store = s.store();
    let id = SessionId::default();
    ensure_eq!(
        store.load(id).await.call("load")?,
        None,
        "load of an unknown id"
    );
    ensure_eq!(
        store.touch(id, later(10), now_ms()).await.call("touch")?,
        Touch::Missing,
        "touch of an unknown id"
    );
    ensure!(
        matches!(
            store
                .touch_and_read(id, later(10), now_ms())
                .await
                .call("touch_and_read")?,
            (Touch::Missing, None)
        ),
        "touch_and_read of an unknown id is not (Missing, None)"
    );
    ensure_eq!(
        store.delete(id).await.call("delete")?,
        false,
        "delete of an unknown id"
    );
    let record = Record {
        id,
        data: count_data(1),
        expires_at: later(10),
        version: 0,
        login: None,
    };
    ensure_eq!(
        store.replace(record, 0).await.call("replace")?,
        false,
        "replace of an unknown id (replace never creates)"
    );
    let mut ran = false;
    let mut mutation = |_: &mut Record| {
        ran = true;
        Ok(())
    };
    ensure_eq!(
        store.update(id, &mut mutation).await.call("update")?,
        None,
        "update of an unknown id"
    );
    ensure!(!ran, "update ran its mutation for an unknown id");
    ensure_eq!(
        store.load(id).await.call("load")?,
        None,
        "load after replace and update of an unknown id"
    );
    Ok(())
}

async fn create_is_exclusive(s: &Subject) -> Outcome {
    let store = s.store();
    let record = Record {
        id: SessionId::default(),
        data: count_data(1),
        expires_at: later(10),
        version: 0,
        login: None,
    };
    if s.insert.is_some() {
        ensure!(
            store.create(record.clone()).await.is_err(),
            "create must refuse with an error in a store whose sessions are created elsewhere"
        );
        ensure_eq!(
            store.load(record.id).await.call("load")?,
            None,
            "load after a refused create"
        );
        return Ok(());
    }
    ensure!(
        store.create(record.clone()).await.call("create")?,
        "create of a new id returned false"
    );
    let mut second = record.clone();
    second.data = count_data(2);
    ensure!(
        !store.create(second).await.call("second create")?,
        "create of a taken id returned true"
    );
    let loaded = must_load(s, record.id, "after two creates").await?;
    ensure_eq!(
        loaded.data,
        record.data,
        "data after a refused second create"
    );
    if s.versions == Versions::Counted {
        let mut at_seven = record.clone();
        at_seven.id = SessionId::default();
        at_seven.version = 7;
        ensure!(
            store.create(at_seven.clone()).await.call("create")?,
            "create of a new id returned false"
        );
        ensure_eq!(
            (loaded.version, must_load(s, at_seven.id, "").await?.version),
            (0, 0),
            "versions after create (whatever version the record carried)"
        );
    }
    Ok(())
}

async fn load_returns_what_was_stored(s: &Subject) -> Outcome {
    let expires_at = later(30);
    let id = s.insert(rich_data(), expires_at).await.call("insert")?;
    let loaded = must_load(s, id, "a new session").await?;
    ensure_eq!(loaded.id, id, "the loaded record's id");
    ensure_eq!(loaded.data, rich_data(), "the loaded data");
    expiry_matches(s, loaded.expires_at, expires_at, "a new session")?;
    ensure!(
        !loaded.is_expired(now_ms()),
        "a session expiring in 30 minutes loads as expired"
    );
    let again = must_load(s, id, "a second time").await?;
    ensure_eq!(again.version, loaded.version, "the version of two loads");
    Ok(())
}

async fn replace_is_compare_and_swap(s: &Subject) -> Outcome {
    let store = s.store();
    let id = s.insert(count_data(1), later(10)).await.call("insert")?;
    let current = must_load(s, id, "a new session").await?;
    let mut next = current.clone();
    next.data = count_data(2);
    next.expires_at = later(20);
    ensure!(
        store
            .replace(next.clone(), current.version)
            .await
            .call("replace")?,
        "replace with the stored version returned false"
    );
    let stored = must_load(s, id, "after replace").await?;
    ensure_eq!(stored.data, next.data, "data after replace");
    match s.versions {
        Versions::Counted => {
            ensure_eq!(stored.version, current.version + 1, "version after replace")
        }
        Versions::Digest => ensure!(
            stored.version != current.version,
            "the version did not change with the data"
        ),
    }
    if s.expiry_rule == ExpiryRule::Given {
        expiry_matches(s, stored.expires_at, next.expires_at, "after replace")?;
    }
    let mut stale = current.clone();
    stale.data = count_data(3);
    ensure!(
        !store
            .replace(stale, current.version)
            .await
            .call("stale replace")?,
        "replace with a stale version returned true"
    );
    same_record(
        s,
        &must_load(s, id, "after a stale replace").await?,
        &stored,
        "the record after a stale replace",
    )?;
    Ok(())
}

async fn touch_extends_live_sessions(s: &Subject) -> Outcome {
    let store = s.store();
    let first = later(10);
    let id = s.insert(count_data(1), first).await.call("insert")?;
    let before = must_load(s, id, "a new session").await?;
    ensure_eq!(
        store
            .touch(id, first + 60_000, now_ms())
            .await
            .call("touch")?,
        Touch::Extended,
        "touch of a live session"
    );
    let after = must_load(s, id, "after touch").await?;
    ensure_eq!(
        (&after.data, after.version),
        (&before.data, before.version),
        "data and version after touch"
    );
    // The same touch, reading: a record it returns is the one a load then finds.
    let (touched, read) = store
        .touch_and_read(id, first + 60_000, now_ms())
        .await
        .call("touch_and_read")?;
    ensure_eq!(touched, Touch::Extended, "touch_and_read of a live session");
    if let Some(read) = read {
        let loaded = must_load(s, id, "after touch_and_read").await?;
        same_record(s, &read, &loaded, "the record touch_and_read returned")?;
    }
    match s.expiry_rule {
        ExpiryRule::Given => {
            expiry_matches(s, after.expires_at, first + 60_000, "after touch")?;
            ensure_eq!(
                store
                    .touch(id, first + 1_000, now_ms())
                    .await
                    .call("touch")?,
                Touch::Extended,
                "touch to an earlier instant"
            );
            let again = must_load(s, id, "after an earlier touch").await?;
            ensure_eq!(
                again.expires_at,
                after.expires_at,
                "expiry after a touch to an earlier instant (never backwards)"
            );
        }
        ExpiryRule::OwnRule => ensure!(
            after.expires_at + s.rounding_ms >= before.expires_at,
            "touch moved the expiry backwards: {} → {}",
            before.expires_at,
            after.expires_at
        ),
    }
    Ok(())
}

async fn expired_sessions_are_told_apart(s: &Subject) -> Outcome {
    let store = s.store();
    let expires_at = now_ms() + 300;
    let id = s.insert(count_data(1), expires_at).await.call("insert")?;
    ensure!(
        !must_load(s, id, "a new session")
            .await?
            .is_expired(now_ms()),
        "a session expiring in 300 ms loads as expired"
    );
    tokio::time::sleep(Duration::from_millis(300 + s.rounding_ms + 200)).await;
    let now = now_ms();
    let expired = must_load(s, id, "just after its expiry").await?;
    ensure!(
        expired.is_expired(now),
        "a session past its expiry loads as live (expires_at {}, now {now})",
        expired.expires_at
    );
    ensure_eq!(
        store.touch(id, now + 600_000, now).await.call("touch")?,
        Touch::Expired,
        "touch of an expired session"
    );
    ensure!(
        matches!(
            store
                .touch_and_read(id, now + 600_000, now)
                .await
                .call("touch_and_read")?,
            (Touch::Expired, None)
        ),
        "touch_and_read of an expired session is not (Expired, None)"
    );
    let after = must_load(s, id, "after touching it").await?;
    ensure!(
        after.is_expired(now_ms()),
        "touch revived an expired session (expires_at {})",
        after.expires_at
    );
    Ok(())
}

async fn delete_removes_the_session(s: &Subject) -> Outcome {
    let store = s.store();
    let id = s.insert(count_data(1), later(10)).await.call("insert")?;
    ensure!(
        store.delete(id).await.call("delete")?,
        "delete of a stored session returned false"
    );
    ensure_eq!(
        store.load(id).await.call("load")?,
        None,
        "load after delete"
    );
    ensure_eq!(
        store.touch(id, later(20), now_ms()).await.call("touch")?,
        Touch::Missing,
        "touch after delete"
    );
    let mut mutation = |_: &mut Record| Ok(());
    ensure_eq!(
        store.update(id, &mut mutation).await.call("update")?,
        None,
        "update after delete"
    );
    ensure!(
        !store.delete(id).await.call("second delete")?,
        "a second delete returned true"
    );
    Ok(())
}

async fn updates_apply_atomically(s: &Subject) -> Outcome {
    let store = s.store();
    let id = s.insert(count_data(1), later(10)).await.call("insert")?;
    let before = must_load(s, id, "a new session").await?;
    let new_expiry = later(30);
    let mut mutation = |r: &mut Record| {
        r.data.insert("count".into(), 2.into());
        r.data.insert("seen".into(), "yes".into());
        r.expires_at = new_expiry;
        Ok(())
    };
    let updated = store
        .update(id, &mut mutation)
        .await
        .call("update")?
        .ok_or("update of a stored session returned None")?;
    let stored = must_load(s, id, "after update").await?;
    ensure_eq!(stored.data, updated.data, "stored data vs update's answer");
    ensure_eq!(
        stored.version,
        updated.version,
        "stored version vs update's answer"
    );
    ensure_eq!(
        stored.data.get("seen"),
        Some(&json!("yes")),
        "data written by update"
    );
    match s.versions {
        Versions::Counted => ensure_eq!(stored.version, before.version + 1, "version after update"),
        Versions::Digest => ensure!(
            stored.version != before.version,
            "the version did not change with the data"
        ),
    }
    if s.expiry_rule == ExpiryRule::Given {
        expiry_matches(s, stored.expires_at, new_expiry, "after update")?;
    }
    let mut failing = |r: &mut Record| {
        r.data.insert("half".into(), "written".into());
        Err(Error::InvalidValue("refused by the mutation".into()))
    };
    match store.update(id, &mut failing).await {
        Err(Error::InvalidValue(m)) if m == "refused by the mutation" => {}
        other => return Err(format!("update with a failing mutation returned {other:?}")),
    }
    same_record(
        s,
        &must_load(s, id, "after a failed update").await?,
        &stored,
        "the record after a failed update",
    )?;
    Ok(())
}

async fn concurrent_updates_lose_nothing(s: &Subject) -> Outcome {
    let id = s.insert(count_data(1), later(10)).await.call("insert")?;
    let before = must_load(s, id, "a new session").await?;
    let stores: Vec<Arc<dyn SessionStore>> = std::iter::once(s.store.clone())
        .chain(s.peers.iter().cloned())
        .collect();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let mut add_one = |r: &mut Record| {
                    let n = r.data.get("count").and_then(|v| v.as_i64()).unwrap_or(0);
                    r.data.insert("count".into(), (n + 1).into());
                    Ok(())
                };
                store.update(id, &mut add_one).await
            })
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return Err("a concurrent update found no session".into()),
            Ok(Err(e)) => return Err(format!("a concurrent update failed: {e}")),
            Err(e) => return Err(format!("a concurrent update panicked: {e}")),
        }
    }
    for (i, store) in stores.iter().enumerate() {
        let loaded = store
            .load(id)
            .await
            .call("load")?
            .ok_or("the session is missing after the updates")?;
        ensure_eq!(
            loaded.data.get("count"),
            Some(&json!(41)),
            "count seen by store #{i} (an update was lost)"
        );
        if s.versions == Versions::Counted {
            ensure_eq!(
                loaded.version,
                before.version + 40,
                "version seen by store #{i}"
            );
        }
    }
    Ok(())
}

/// A record logged in as `user`, for the user index check.
fn logged_in(user: &str, expires_at: u64, user_agent: &str) -> Record {
    Record {
        login: Some(super::Login {
            user_id: user.to_owned(),
            at: now_ms(),
            user_agent: Some(user_agent.to_owned()),
            address: Some("127.0.0.1".into()),
        }),
        ..Record::new(SessionId::default(), count_data(1), expires_at)
    }
}

/// The ids `user_sessions(user)` answers, sorted.
async fn listed(s: &Subject, user: &str) -> std::result::Result<Vec<SessionId>, String> {
    let records = s.store().user_sessions(user).await.call("user_sessions")?;
    for r in &records {
        ensure_eq!(
            r.user_id(),
            Some(user),
            "a record user_sessions({user}) listed"
        );
    }
    let mut ids: Vec<SessionId> = records.iter().map(|r| r.id).collect();
    ids.sort_by_key(|id| id.to_string());
    Ok(ids)
}

fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort_by_key(|id| id.to_string());
    ids
}

async fn user_index_follows_the_records(s: &Subject) -> Outcome {
    let store = s.store();
    if !s.user_index {
        let err = store.user_sessions("someone").await.err();
        ensure_eq!(
            err.as_ref().map(|e| e.code()),
            Some("ERR_INVALID_CONFIG"),
            "user_sessions of a store without a user index"
        );
        let err = store.user_index_size().await.err();
        ensure_eq!(
            err.as_ref().map(|e| e.code()),
            Some("ERR_INVALID_CONFIG"),
            "user_index_size of a store without a user index"
        );
        return Ok(());
    }
    let (user, other) = (
        format!("user-{}", SessionId::default()),
        format!("other-{}", SessionId::default()),
    );
    let size_before = store.user_index_size().await.call("user_index_size")?;
    let (a, b, c) = (
        logged_in(&user, later(10), "phone"),
        logged_in(&user, later(10), "laptop"),
        logged_in(&other, later(10), "tablet"),
    );
    let anonymous = Record::new(SessionId::default(), count_data(1), later(10));
    for r in [&a, &b, &c, &anonymous] {
        ensure!(
            store.create(r.clone()).await.call("create")?,
            "create refused a fresh id"
        );
    }
    ensure_eq!(
        listed(s, &user).await?,
        sorted(vec![a.id, b.id]),
        "user_sessions after creates"
    );
    ensure_eq!(
        listed(s, &other).await?,
        vec![c.id],
        "the other user's sessions"
    );
    ensure_eq!(
        must_load(s, a.id, "a").await?.login,
        a.login,
        "the login as loaded"
    );
    let listed_a = store.user_sessions(&user).await.call("user_sessions")?;
    let listed_a = listed_a.iter().find(|r| r.id == a.id);
    ensure_eq!(
        listed_a.map(|r| &r.login),
        Some(&a.login),
        "the login as listed"
    );
    let size = store.user_index_size().await.call("user_index_size")?;
    ensure_eq!(
        (
            size.users - size_before.users,
            size.sessions - size_before.sessions
        ),
        (2, 3),
        "user_index_size after two users' three sessions"
    );

    // A replace keeps the user and stores the login's other fields; one that names
    // another user (or none) swaps nothing.
    let stored = must_load(s, a.id, "a").await?;
    let mut elsewhere = stored.clone();
    elsewhere.login.as_mut().expect("a login").user_id = other.clone();
    ensure!(
        !store
            .replace(elsewhere, stored.version)
            .await
            .call("replace")?,
        "replace moved a record to another user"
    );
    let mut signed_out = stored.clone();
    signed_out.login = None;
    ensure!(
        !store
            .replace(signed_out, stored.version)
            .await
            .call("replace")?,
        "replace removed a record's user"
    );
    let mut moved = stored.clone();
    moved.login.as_mut().expect("a login").user_agent = Some("phone, updated".into());
    moved.data = count_data(2);
    ensure!(
        store
            .replace(moved.clone(), stored.version)
            .await
            .call("replace")?,
        "replace with the same user refused"
    );
    ensure_eq!(
        must_load(s, a.id, "a").await?.login,
        moved.login,
        "the login after replace"
    );
    let mut to_other = |r: &mut Record| {
        if let Some(l) = r.login.as_mut() {
            l.user_id.clone_from(&other);
        }
        Ok(())
    };
    ensure_eq!(
        store
            .update(a.id, &mut to_other)
            .await
            .err()
            .map(|e| e.code()),
        Some("ERR_INVALID_VALUE"),
        "an update that moves a record to another user"
    );
    ensure_eq!(
        listed(s, &other).await?,
        vec![c.id],
        "the other user's sessions after refused moves"
    );

    // Touching keeps the entry; deleting takes it.
    store.touch(a.id, later(20), now_ms()).await.call("touch")?;
    ensure_eq!(
        listed(s, &user).await?,
        sorted(vec![a.id, b.id]),
        "user_sessions after touch"
    );
    ensure!(
        store.delete(a.id).await.call("delete")?,
        "delete of a returned false"
    );
    ensure_eq!(
        listed(s, &user).await?,
        vec![b.id],
        "user_sessions after delete"
    );

    // A record that leaves at expiry takes its entry with it.
    let long_gone = logged_in(&user, 1_000, "old");
    ensure!(
        store.create(long_gone.clone()).await.call("create")?,
        "create of an expired record refused"
    );
    match (s.expiry, store.sweeper()) {
        (Expiry::Swept, Some(sweeper)) => {
            ensure_eq!(
                listed(s, &user).await?,
                sorted(vec![b.id, long_gone.id]),
                "user_sessions before the sweep (expired records are listed until swept)"
            );
            sweeper.delete_expired(2_000).await.call("delete_expired")?;
        }
        (Expiry::Swept, None) => return Err("a swept store offers no sweeper".into()),
        (Expiry::ByTheStore { .. }, _) => {}
    }
    ensure_eq!(
        listed(s, &user).await?,
        vec![b.id],
        "user_sessions after the expired record left"
    );

    for r in [&b, &c, &anonymous] {
        store.delete(r.id).await.call("delete")?;
    }
    ensure_eq!(
        listed(s, &user).await?,
        vec![],
        "user_sessions after every delete"
    );
    ensure_eq!(
        store.user_index_size().await.call("user_index_size")?,
        size_before,
        "user_index_size after every delete"
    );
    Ok(())
}

async fn sessions_are_independent(s: &Subject) -> Outcome {
    let store = s.store();
    let (a, b) = (
        s.insert(count_data(1), later(10)).await.call("insert")?,
        s.insert(count_data(100), later(10)).await.call("insert")?,
    );
    ensure!(a != b, "two inserts gave the same id");
    let b_before = must_load(s, b, "b").await?;
    let mut mutation = |r: &mut Record| {
        r.data.insert("count".into(), 2.into());
        Ok(())
    };
    store.update(a, &mut mutation).await.call("update a")?;
    let a_now = must_load(s, a, "a after update").await?;
    let mut replaced = a_now.clone();
    replaced.data = count_data(3);
    ensure!(
        store
            .replace(replaced, a_now.version)
            .await
            .call("replace a")?,
        "replace of a returned false"
    );
    store.touch(a, later(20), now_ms()).await.call("touch a")?;
    same_record(
        s,
        &must_load(s, b, "b").await?,
        &b_before,
        "b after writes to a",
    )?;
    ensure!(
        store.delete(a).await.call("delete a")?,
        "delete of a returned false"
    );
    same_record(
        s,
        &must_load(s, b, "b").await?,
        &b_before,
        "b after a was deleted",
    )?;
    Ok(())
}

async fn expired_records_leave_the_store(s: &Subject) -> Outcome {
    let store = s.store();
    match s.expiry {
        Expiry::Swept => {
            let sweeper = store.sweeper().ok_or(
                "the store offers no sweeper; a store that drops expired records itself \
                 declares Expiry::ByTheStore on its Subject",
            )?;
            let now = now_ms();
            let hour = 3_600_000;
            let old = s
                .insert(count_data(1), now - 10 * hour)
                .await
                .call("insert")?;
            let recent = s.insert(count_data(2), now - hour).await.call("insert")?;
            let live = s.insert(count_data(3), later(10)).await.call("insert")?;
            ensure_eq!(
                sweeper
                    .delete_expired(now - 5 * hour)
                    .await
                    .call("delete_expired")?,
                1,
                "records deleted by delete_expired (one expired before the instant given)"
            );
            ensure_eq!(store.load(old).await.call("load")?, None, "a swept record");
            must_load(s, recent, "a record expired after the sweep's instant").await?;
            must_load(s, live, "a live record after a sweep").await?;
            ensure_eq!(
                sweeper
                    .delete_expired(now - 5 * hour)
                    .await
                    .call("delete_expired")?,
                0,
                "records deleted by a second, identical sweep"
            );
        }
        Expiry::ByTheStore { after_ms } => {
            ensure!(
                store.sweeper().is_none(),
                "the store offers a sweeper but declares that it drops expired records itself"
            );
            let long_ago = now_ms().saturating_sub(after_ms + 1_000);
            let id = s.insert(count_data(1), long_ago).await.call("insert")?;
            ensure_eq!(
                store.load(id).await.call("load")?,
                None,
                "a record expired {after_ms} ms + 1 s ago, with no sweep"
            );
        }
    }
    Ok(())
}

/// Every check can fail: each is run against a memory store with one flaw it must catch.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Mutation, Sweep};

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Flaw {
        /// `load` of an unknown id makes up a record.
        InventsRecords,
        /// `create` overwrites a taken id.
        CreateOverwrites,
        /// `load` loses a nested object.
        LosesNestedData,
        /// `replace` ignores the expected version.
        ReplaceIgnoresVersion,
        /// `touch` moves the expiry to whatever instant it is given.
        TouchMovesBackwards,
        /// `touch` extends expired sessions too.
        TouchRevives,
        /// `delete` always says there was a session.
        DeleteAlwaysTrue,
        /// `update` keeps what a failed mutation wrote.
        UpdateWritesOnError,
        /// `update` writes without compare-and-swap after a pause.
        UpdateLosesRaces,
        /// `delete` deletes every session.
        DeleteClearsAll,
        /// `delete_expired` ignores its instant.
        SweepsTooMuch,
        /// `load` and `user_sessions` lose the login (a store that does not keep it).
        ForgetsLogins,
    }

    struct Broken(MemoryStore, Flaw);

    impl Broken {
        async fn force(&self, record: Record) {
            let mut set = |r: &mut Record| {
                r.data = record.data.clone();
                r.expires_at = record.expires_at;
                Ok(())
            };
            self.0.update(record.id, &mut set).await.unwrap();
        }
    }

    impl SessionStore for Broken {
        fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
            Box::pin(async move {
                if self.1 == Flaw::CreateOverwrites {
                    self.0.delete(record.id).await?;
                }
                self.0.create(record).await
            })
        }

        fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
            Box::pin(async move {
                let found = self.0.load(id).await?;
                Ok(match (self.1, found) {
                    (Flaw::InventsRecords, None) => Some(Record {
                        id,
                        data: Data::new(),
                        expires_at: u64::MAX / 2,
                        version: 0,
                        login: None,
                    }),
                    (Flaw::ForgetsLogins, Some(mut r)) => {
                        r.login = None;
                        Some(r)
                    }
                    (Flaw::LosesNestedData, Some(mut r)) => {
                        r.data.remove("user");
                        Some(r)
                    }
                    (_, found) => found,
                })
            })
        }

        fn replace(&self, record: Record, expected: u64) -> BoxFuture<'_, Result<bool>> {
            Box::pin(async move {
                if self.1 == Flaw::ReplaceIgnoresVersion {
                    if let Some(current) = self.0.load(record.id).await? {
                        return self.0.replace(record, current.version).await;
                    }
                }
                self.0.replace(record, expected).await
            })
        }

        fn touch(&self, id: SessionId, expires_at: u64, now: u64) -> BoxFuture<'_, Result<Touch>> {
            Box::pin(async move {
                let moves = matches!(self.1, Flaw::TouchMovesBackwards | Flaw::TouchRevives);
                match self.0.load(id).await? {
                    Some(mut r)
                        if moves && (self.1 == Flaw::TouchRevives || !r.is_expired(now)) =>
                    {
                        r.expires_at = expires_at;
                        self.force(r).await;
                        Ok(Touch::Extended)
                    }
                    _ => self.0.touch(id, expires_at, now).await,
                }
            })
        }

        fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
            Box::pin(async move {
                let existed = self.0.delete(id).await?;
                match self.1 {
                    Flaw::DeleteAlwaysTrue => Ok(true),
                    Flaw::DeleteClearsAll => {
                        self.0.delete_expired(u64::MAX).await?;
                        Ok(existed)
                    }
                    _ => Ok(existed),
                }
            })
        }

        fn count(&self) -> BoxFuture<'_, Result<u64>> {
            self.0.count()
        }

        fn user_sessions<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
            Box::pin(async move {
                let mut records = self.0.user_sessions(user).await?;
                if self.1 == Flaw::ForgetsLogins {
                    records.iter_mut().for_each(|r| r.login = None);
                }
                Ok(records)
            })
        }

        fn user_index_size(&self) -> BoxFuture<'_, Result<crate::store::UserIndexSize>> {
            self.0.user_index_size()
        }

        fn update<'a>(
            &'a self,
            id: SessionId,
            mutation: Mutation<'a>,
        ) -> BoxFuture<'a, Result<Option<Record>>> {
            Box::pin(async move {
                let flawed = matches!(self.1, Flaw::UpdateWritesOnError | Flaw::UpdateLosesRaces);
                let Some(current) = self.0.load(id).await?.filter(|_| flawed) else {
                    return self.0.update(id, mutation).await;
                };
                let mut next = current.clone();
                let outcome = mutation(&mut next);
                if self.1 == Flaw::UpdateLosesRaces {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                self.force(next).await;
                outcome?;
                self.0.load(id).await
            })
        }

        fn sweeper(&self) -> Option<&dyn Sweep> {
            Some(self)
        }
    }

    impl Sweep for Broken {
        fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>> {
            let before = if self.1 == Flaw::SweepsTooMuch {
                now_ms()
            } else {
                before_ms
            };
            self.0.delete_expired(before)
        }
    }

    async fn fails(check: &str, subject: Subject) {
        let check = CHECKS.iter().find(|c| c.name == check).unwrap();
        let outcome = check.run(&subject).await;
        assert!(
            outcome.is_err(),
            "{} passed against {subject:?}, which it should catch",
            check.name
        );
        eprintln!("{} caught it: {}", check.name, outcome.unwrap_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_check_catches_a_store_that_breaks_it() {
        let cases = [
            ("unknown_ids_are_absent", Flaw::InventsRecords),
            ("create_is_exclusive", Flaw::CreateOverwrites),
            ("load_returns_what_was_stored", Flaw::LosesNestedData),
            ("replace_is_compare_and_swap", Flaw::ReplaceIgnoresVersion),
            ("touch_extends_live_sessions", Flaw::TouchMovesBackwards),
            ("expired_sessions_are_told_apart", Flaw::TouchRevives),
            ("delete_removes_the_session", Flaw::DeleteAlwaysTrue),
            ("updates_apply_atomically", Flaw::UpdateWritesOnError),
            ("concurrent_updates_lose_nothing", Flaw::UpdateLosesRaces),
            ("sessions_are_independent", Flaw::DeleteClearsAll),
            ("expired_records_leave_the_store", Flaw::SweepsTooMuch),
            ("user_index_follows_the_records", Flaw::ForgetsLogins),
        ];
        let covered: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            covered,
            CHECKS.iter().map(|c| c.name).collect::<Vec<_>>(),
            "every check has a flaw it must catch"
        );
        for (check, flaw) in cases {
            fails(check, Subject::new(Broken(MemoryStore::new(), flaw))).await;
        }
        // A declaration that does not match the store is caught too.
        fails(
            "expired_records_leave_the_store",
            Subject::new(MemoryStore::new()).expiry(Expiry::ByTheStore { after_ms: 0 }),
        )
        .await;
        fails(
            "create_is_exclusive",
            Subject::new(MemoryStore::new())
                .created_elsewhere(|_, _| async { Ok(SessionId::default()) }),
        )
        .await;
    }

    #[tokio::test]
    async fn the_report_lists_each_check_and_its_failures() {
        let report = run(&Subject::new(Broken(
            MemoryStore::new(),
            Flaw::DeleteAlwaysTrue,
        )))
        .await;
        assert_eq!(report.outcomes.len(), CHECKS.len());
        let failed: Vec<&str> = report.failures().map(|(name, _)| name).collect();
        assert!(failed.contains(&"delete_removes_the_session"), "{report}");
        let text = report.to_string();
        assert!(
            text.contains("FAILED  delete_removes_the_session: "),
            "{text}"
        );
        assert!(
            text.contains("  ok      load_returns_what_was_stored"),
            "{text}"
        );
        let passed = run(&Subject::new(MemoryStore::new())).await;
        assert_eq!(passed.failures().count(), 0, "{passed}");
        passed.assert_passed();
    }
}
