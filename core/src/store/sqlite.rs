//! The embedded persistent store: one SQLite file (sqlx), sessions survive a restart.
//!
//! Each record is a row `(id, data, expires_at, version, user_id, login)`. Compare-and-swap
//! is an `UPDATE … WHERE version = ?`, so writers in several processes sharing the file
//! never lose an update. Expired rows are deleted by the engine's periodic sweeper
//! ([`Sweep::delete_expired`], offered through [`SessionStore::sweeper`]).
//!
//! The user index is the `user_id` column with an index on it: an entry is its session's
//! row, so it goes when the row goes. Files made before the column existed get it (and
//! `login`) added when opened.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::Row;
use tokio::sync::OnceCell;

use super::{BoxFuture, Data, Login, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::{Error, Result, SessionId};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessionio_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    user_id TEXT,
    login TEXT
)";
const EXPIRY_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS sessionio_sessions_expires_at ON sessionio_sessions (expires_at)";
const USER_INDEX: &str = "CREATE INDEX IF NOT EXISTS sessionio_sessions_user_id \
     ON sessionio_sessions (user_id) WHERE user_id IS NOT NULL";
/// The columns added since the first schema, for files made before them.
const ADDED_COLUMNS: [&str; 2] = ["user_id", "login"];

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
                add_missing_columns(&pool).await?;
                for index in [EXPIRY_INDEX, USER_INDEX] {
                    sqlx::query(index)
                        .execute(&pool)
                        .await
                        .map_err(unavailable)?;
                }
                Ok::<_, Error>(pool)
            })
            .await
    }
}

/// Adds the columns a file made by an earlier version lacks, in one `BEGIN IMMEDIATE`
/// transaction: two processes opening such a file at once take turns (the second finds
/// the columns there), where a read-then-alter would fail one of them with "database is
/// locked".
async fn add_missing_columns(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)?;
    let present: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('sessionio_sessions')")
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
    for column in ADDED_COLUMNS {
        if !present.iter().any(|p| p == column) {
            sqlx::query(&format!(
                "ALTER TABLE sessionio_sessions ADD COLUMN {column} TEXT"
            ))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
    }
    tx.commit().await.map_err(unavailable)
}

fn decode(id: SessionId, row: &SqliteRow) -> Result<Record> {
    let bad = |what: String| Error::StoreUnavailable(format!("sqlite: session {id} holds {what}"));
    let data: String = row.try_get("data").map_err(unavailable)?;
    let expires_at: i64 = row.try_get("expires_at").map_err(unavailable)?;
    let version: i64 = row.try_get("version").map_err(unavailable)?;
    let login: Option<String> = row.try_get("login").map_err(unavailable)?;
    let data: Data = serde_json::from_str(&data).map_err(|e| bad(format!("bad JSON: {e}")))?;
    let login = login
        .map(|l| serde_json::from_str(&l))
        .transpose()
        .map_err(|e| bad(format!("a bad login: {e}")))?;
    Ok(Record {
        id,
        data,
        expires_at: expires_at.max(0) as u64,
        version: version.max(0) as u64,
        login,
    })
}

const SELECT: &str = "SELECT data, expires_at, version, login FROM sessionio_sessions WHERE id = ?";

fn encode(data: &Data) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::InvalidValue(e.to_string()))
}

fn encode_login(login: &Option<Login>) -> Result<Option<String>> {
    login.as_ref().map(super::login_json).transpose()
}

impl SessionStore for SqliteStore {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let done = sqlx::query(
                "INSERT INTO sessionio_sessions (id, data, expires_at, version, user_id, login) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(encode(&record.data)?)
            .bind(to_sql(record.expires_at))
            .bind(0_i64)
            .bind(record.user_id())
            .bind(encode_login(&record.login)?)
            .execute(pool)
            .await
            .map_err(unavailable)?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn keeps_user_index(&self) -> bool {
        true
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
                "UPDATE sessionio_sessions SET data = ?, expires_at = ?, login = ?, \
                 version = version + 1 WHERE id = ? AND version = ? AND user_id IS ?",
            )
            .bind(encode(&record.data)?)
            .bind(to_sql(record.expires_at))
            .bind(encode_login(&record.login)?)
            .bind(record.id.to_string())
            .bind(to_sql(expected_version))
            .bind(record.user_id())
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
            super::same_user(&current, &next)?;
            next.version = current.version + 1;
            sqlx::query(
                "UPDATE sessionio_sessions SET data = ?, expires_at = ?, login = ?, version = ? \
                 WHERE id = ?",
            )
            .bind(encode(&next.data)?)
            .bind(to_sql(next.expires_at))
            .bind(encode_login(&next.login)?)
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

    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let rows = sqlx::query(
                "SELECT id, data, expires_at, version, login FROM sessionio_sessions \
                 WHERE user_id = ?",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
            rows.iter()
                .filter_map(|row| {
                    let id: String = row.try_get("id").ok()?;
                    // Rows of ids the engine never makes are not its sessions.
                    let id = id.parse::<SessionId>().ok()?;
                    Some(decode(id, row))
                })
                .collect()
        })
    }

    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        Box::pin(async move {
            let pool = self.ready().await?;
            let (users, sessions): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(DISTINCT user_id), COUNT(user_id) FROM sessionio_sessions \
                 WHERE user_id IS NOT NULL",
            )
            .fetch_one(pool)
            .await
            .map_err(unavailable)?;
            Ok(UserIndexSize {
                users: u64::try_from(users).unwrap_or(0),
                sessions: u64::try_from(sessions).unwrap_or(0),
            })
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
