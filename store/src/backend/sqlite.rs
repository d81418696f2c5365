//! The SQLite backend (`--datastore-endpoint sqlite://`): one row per committed write, the row id
//! being the revision, in WAL mode with `synchronous=FULL` so a commit is on disk when it returns.
//! One connection writes; reads take a connection from a small pool and never wait for writes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::backend::Backend;
use crate::backend::marker::Marker;
use crate::error::{BackendError, Result, StoreError};
use crate::types::{KeyRange, Record, Revision};

const FORMAT: i64 = 1;
/// Read connections kept open for reuse.
const POOL: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_rev ON kv (key, rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

const COLUMNS: &str = "key, rev, create_rev, prev_rev, deleted, value";

/// The SQLite backend.
pub struct SqliteBackend {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// `<file>-k3rs`: the committed-revision marker (see `marker.rs`).
    marker: Marker,
}

impl SqliteBackend {
    /// Open (or create) the database file at `path`. A damaged file gives `StoreError::Corrupt`
    /// naming it.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| BackendError::Io { path: dir.to_owned(), source })?;
        }
        let backend = SqliteBackend {
            path: path.to_owned(),
            writer: Mutex::new(Connection::open_in_memory().map_err(|e| sql_err(path, e))?),
            readers: Mutex::new(Vec::new()),
            marker: Marker::new(marker_path(path)),
        };
        let conn = backend.connect(true)?;
        backend.init(&conn)?;
        *backend.lock_writer() = conn;
        Ok(backend)
    }

    fn connect(&self, create: bool) -> Result<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| self.err(e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| self.err(e))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| self.err(e))?;
        Ok(conn)
    }

    /// Check the file, then create or verify the schema.
    fn init(&self, conn: &Connection) -> Result<()> {
        // Reading the header and schema finds files that are not databases at all.
        let version: i64 =
            conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| self.err(e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt(&self.path, &format!("cannot use WAL mode (got {mode})")));
        }
        let check: String =
            conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        if check != "ok" {
            return Err(corrupt(&self.path, &format!("integrity check failed: {check}")));
        }
        match version {
            0 => {
                let tables: i64 = conn
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                    .map_err(|e| self.err(e))?;
                if tables != 0 {
                    return Err(corrupt(&self.path, "not a k3rs database (unknown tables)"));
                }
                self.marker.check(&self.path, 0, true)?;
                conn.execute_batch(SCHEMA).map_err(|e| self.err(e))?;
                conn.pragma_update(None, "user_version", FORMAT).map_err(|e| self.err(e))?;
                Ok(())
            }
            FORMAT => {
                // A damaged table shows when it is read.
                let (_, current) = conn
                    .query_row("SELECT count(*), coalesce(max(rev), 0) FROM kv", [], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(|e| self.err(e))?;
                self.marker.check(&self.path, current as Revision, false)
            }
            other => Err(corrupt(&self.path, &format!("unknown format {other}"))),
        }
    }

    fn lock_writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on a pooled read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect(false)?,
        };
        let out = f(&conn).map_err(|e| self.err(e));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(conn);
        }
        out
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_err(&self.path, e)
    }
}

fn marker_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-k3rs");
    db.with_file_name(name)
}

fn sql_err(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => corrupt(path, &e.to_string()),
        _ => BackendError::Sqlite { path: path.to_owned(), source: e }.into(),
    }
}

fn corrupt(path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), reason: reason.to_owned() }
}

fn rev(v: Revision) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        key: r.get(0)?,
        revision: r.get::<_, i64>(1)? as Revision,
        create_revision: r.get::<_, i64>(2)? as Revision,
        prev_revision: r.get::<_, i64>(3)? as Revision,
        deleted: r.get::<_, i64>(4)? != 0,
        value: r.get(5)?,
    })
}

/// `end` for SQL: the empty string means no upper bound.
fn upper(range: &KeyRange) -> Option<&str> {
    (!range.end.is_empty()).then_some(range.end.as_str())
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        if let Err(e) = self.current_revision().and_then(|rev| self.marker.record(rev)) {
            tracing::warn!(error = %e, "could not record the committed revision on close");
        }
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn current_revision(&self) -> Result<Revision> {
        self.read(|c| {
            c.query_row("SELECT coalesce(max(rev), 0) FROM kv", [], |r| r.get::<_, i64>(0))
        })
        .map(|v| v as Revision)
    }

    fn compact_revision(&self) -> Result<Revision> {
        self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE name = 'compact'", [], |r| r.get::<_, i64>(0))
                .optional()
        })
        .map(|v| v.unwrap_or(0) as Revision)
    }

    fn get_at(&self, key: &str, revision: Revision) -> Result<Option<Record>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM kv WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1"
            ))?
            .query_row(params![key, rev(revision)], row)
            .optional()
        })
    }

    fn range(
        &self,
        range: &KeyRange,
        revision: Revision,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Record>, bool)> {
        let lo = match after {
            Some(a) if a >= range.start.as_str() => a,
            _ => "",
        };
        // The newest version of each key at or below the revision, live ones only.
        let sql = format!(
            "SELECT {COLUMNS} FROM kv WHERE rev IN (
                 SELECT max(rev) FROM kv
                 WHERE key >= ?1 AND (?2 IS NULL OR key < ?2) AND key > ?3 AND rev <= ?4
                 GROUP BY key)
             AND deleted = 0 ORDER BY key LIMIT ?5"
        );
        let fetch = if limit == 0 { -1 } else { i64::try_from(limit + 1).unwrap_or(i64::MAX) };
        let mut records = self.read(|c| {
            c.prepare_cached(&sql)?
                .query_map(params![range.start, upper(range), lo, rev(revision), fetch], row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let more = limit != 0 && records.len() > limit;
        records.truncate(if limit == 0 { records.len() } else { limit });
        Ok((records, more))
    }

    fn history(&self, range: &KeyRange, after: Revision, limit: usize) -> Result<Vec<Record>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM kv WHERE rev > ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3)
                 ORDER BY rev LIMIT ?4"
            ))?
            .query_map(params![rev(after), range.start, upper(range), limit], row)?
            .collect()
        })
    }

    fn commit(&self, records: &[Record]) -> Result<()> {
        let mut conn = self.lock_writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO kv (rev, key, create_rev, prev_rev, deleted, value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(|e| self.err(e))?;
            for r in records {
                insert
                    .execute(params![
                        rev(r.revision),
                        r.key,
                        rev(r.create_revision),
                        rev(r.prev_revision),
                        i64::from(r.deleted),
                        r.value
                    ])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        match records.last() {
            Some(last) => self.marker.record_now_and_then(last.revision),
            None => Ok(()),
        }
    }

    fn compact(&self, target: Revision) -> Result<()> {
        let mut conn = self.lock_writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let from: i64 = tx
            .query_row(
                "SELECT coalesce((SELECT value FROM meta WHERE name = 'compact'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if rev(target) <= from {
            return Ok(());
        }
        // For every row written in [from, target): drop the key's older rows, and the row itself
        // if it is a tombstone. Rows at or above the target are never touched.
        tx.execute(
            "DELETE FROM kv WHERE rev < ?2
             AND key IN (SELECT key FROM kv WHERE rev >= ?1 AND rev < ?2)
             AND EXISTS (
                 SELECT 1 FROM kv AS newer
                 WHERE newer.key = kv.key AND newer.rev > kv.rev AND newer.rev >= ?1 AND newer.rev < ?2)",
            params![from, rev(target)],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM kv WHERE rev >= ?1 AND rev < ?2 AND deleted = 1",
            params![from, rev(target)],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('compact', ?1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![rev(target)],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        // Keep the WAL from growing without bound (a K3s pain point); cheap when little changed.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| self.err(e))
    }
}
