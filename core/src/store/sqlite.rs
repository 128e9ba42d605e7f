//! The embedded persistent store: one SQLite file (sqlx), sessions survive a restart.
//!
//! Each record is a row `(id, data, expires_at, version)`. Compare-and-swap is an
//! `UPDATE … WHERE version = ?`, so writers in several processes sharing the file never
//! lose an update. Expired rows are deleted by the engine's periodic sweeper
//! ([`Sweep::delete_expired`], offered through [`SessionStore::sweeper`]).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::Row;
use tokio::sync::OnceCell;

use super::{BoxFuture, Data, Mutation, Record, SessionStore, Sweep, Touch};
use crate::{Error, Result, SessionId};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessionio_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL
)";
const EXPIRY_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS sessionio_sessions_expires_at ON sessionio_sessions (expires_at)";

/// Sessions in a SQLite database file; `store_url("sqlite://path/to/file.db")`.
pub struct SqliteStore {
    options: SqliteConnectOptions,
    /// Made on first use, inside the runtime (building the engine needs none).
    pool: OnceCell<SqlitePool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn unavailable(e: sqlx::Error) -> Error {
    Error::StoreUnavailable(format!("sqlite: {e}"))
}

/// Milliseconds fit SQLite's signed 64-bit integers until the year 292 million.
fn to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by a `sqlite://` URL. The
    /// connection is made on first use, so this needs no runtime; a bad URL is an error
    /// here, an unreachable file one at each call until it can be opened
    /// (`store unavailable`).
    pub fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("store URL {url:?}: {e}")))?
            .create_if_missing(true)
            // WAL lets readers proceed while one writer commits; a writer waits for
            // another instead of failing at once.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        Ok(SqliteStore {
            options,
            pool: OnceCell::new(),
        })
    }

    /// The pool, connected and with its table on the first successful call; a failed
    /// attempt is retried by the next call.
    async fn ready(&self) -> Result<&SqlitePool> {
        self.pool
            .get_or_try_init(|| async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(self.options.clone())
                    .await
                    .map_err(unavailable)?;
                sqlx::query(SCHEMA)
                    .execute(&pool)
                    .await
                    .map_err(unavailable)?;
                sqlx::query(EXPIRY_INDEX)
                    .execute(&pool)
                    .await
                    .map_err(unavailable)?;
                Ok::<_, Error>(pool)
            })
            .await
    }
}

fn decode(id: SessionId, row: &SqliteRow) -> Result<Record> {
    let data: String = row.try_get("data").map_err(unavailable)?;
    let expires_at: i64 = row.try_get("expires_at").map_err(unavailable)?;
    let version: i64 = row.try_get("version").map_err(unavailable)?;
    let data: Data = serde_json::from_str(&data).map_err(|e| {
        Error::StoreUnavailable(format!("sqlite: session {id} holds bad JSON: {e}"))
    })?;
    Ok(Record {
        id,
        data,
        expires_at: expires_at.max(0) as u64,
        version: version.max(0) as u64,
    })
}

const SELECT: &str = "SELECT data, expires_at, version FROM sessionio_sessions WHERE id = ?";

fn encode(data: &Data) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::InvalidValue(e.to_string()))
}

impl SessionStore for SqliteStore {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let done = sqlx::query(
                "INSERT INTO sessionio_sessions (id, data, expires_at, version) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(encode(&record.data)?)
            .bind(to_sql(record.expires_at))
            .bind(0_i64)
            .execute(pool)
            .await
            .map_err(unavailable)?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// `COUNT(*)` over the table, expired rows included until swept, for every process on
    /// the file. Linear in the rows (SQLite walks its smallest index, the expiry one).
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessionio_sessions")
                .fetch_one(pool)
                .await
                .map_err(unavailable)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let row = sqlx::query(SELECT)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(unavailable)?;
            row.map(|row| decode(id, &row)).transpose()
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let done = sqlx::query(
                "UPDATE sessionio_sessions SET data = ?, expires_at = ?, version = version + 1 \
                 WHERE id = ? AND version = ?",
            )
            .bind(encode(&record.data)?)
            .bind(to_sql(record.expires_at))
            .bind(record.id.to_string())
            .bind(to_sql(expected_version))
            .execute(pool)
            .await
            .map_err(unavailable)?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            // One statement decides, so a concurrent writer cannot slip in between.
            let row = sqlx::query(
                "UPDATE sessionio_sessions SET expires_at = MAX(expires_at, ?) \
                 WHERE id = ? AND expires_at > ? RETURNING 1",
            )
            .bind(to_sql(expires_at))
            .bind(id.to_string())
            .bind(to_sql(now_ms))
            .fetch_optional(pool)
            .await
            .map_err(unavailable)?;
            if row.is_some() {
                return Ok(Touch::Extended);
            }
            let exists = sqlx::query("SELECT 1 FROM sessionio_sessions WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(unavailable)?;
            Ok(if exists.is_some() {
                Touch::Expired
            } else {
                Touch::Missing
            })
        })
    }

    /// The read-modify-write in one `BEGIN IMMEDIATE` transaction: it takes the write
    /// lock first, so concurrent updates of a session queue up (SQLite serialises writers)
    /// instead of failing their compare-and-swap and retrying.
    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(unavailable)?;
            let row = sqlx::query(SELECT)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            // Returning early drops `tx`, which rolls it back.
            let Some(current) = row.map(|row| decode(id, &row)).transpose()? else {
                return Ok(None);
            };
            let mut next = current.clone();
            mutation(&mut next)?;
            next.version = current.version + 1;
            sqlx::query(
                "UPDATE sessionio_sessions SET data = ?, expires_at = ?, version = ? WHERE id = ?",
            )
            .bind(encode(&next.data)?)
            .bind(to_sql(next.expires_at))
            .bind(to_sql(next.version))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            Ok(Some(next))
        })
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let done = sqlx::query("DELETE FROM sessionio_sessions WHERE id = ?")
                .bind(id.to_string())
                .execute(pool)
                .await
                .map_err(unavailable)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Expired rows stay in the file until the engine's sweeper deletes them.
    fn sweeper(&self) -> Option<&dyn Sweep> {
        Some(self)
    }
}

impl Sweep for SqliteStore {
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let done = sqlx::query("DELETE FROM sessionio_sessions WHERE expires_at < ?")
                .bind(to_sql(before_ms))
                .execute(pool)
                .await
                .map_err(unavailable)?;
            Ok(done.rows_affected() as usize)
        })
    }
}
