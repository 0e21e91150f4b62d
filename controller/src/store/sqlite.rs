//! The embedded SQLite store, the default for `snoozectl` and `snoozectl dev`
//! (`sqlite://.snooze/snooze.db`).
//!
//! # Stored layout
//!
//! One row per record in table `records`; each section has its own column(s), so every writer
//! updates only the columns it owns:
//!
//! | column               | type    | holds                                           | written by |
//! |----------------------|---------|-------------------------------------------------|------------|
//! | `name`               | TEXT PK | `metadata.name`                                 | apply (create) |
//! | `api_version`        | TEXT    | `apiVersion` (`snooze/v1`)                      | apply |
//! | `kind`               | TEXT    | `kind` (`Service`)                              | apply |
//! | `metadata`           | TEXT    | JSON object `{"labels": {...}}`                 | apply |
//! | `spec`               | TEXT    | JSON of [`Spec`](crate::model::Spec)            | apply |
//! | `generation`         | INTEGER | `metadata.generation` (+1 per spec change)      | apply |
//! | `resource_version`   | INTEGER | `metadata.resourceVersion` (CAS)                | apply |
//! | `created_at`         | TEXT    | `metadata.creationTimestamp`                    | apply (create) |
//! | `wake_requested_at`  | TEXT    | `desired.wakeRequestedAt`                       | record_wake |
//! | `last_activity_at`   | TEXT    | `desired.lastActivityAt`                        | record_activity |
//! | `sleep_requested_at` | TEXT    | `desired.sleepRequestedAt`                      | request_sleep |
//! | `wake_forced_at`     | TEXT    | `desired.wakeForcedAt`                          | force_wake |
//! | `status`             | TEXT    | JSON of [`Status`], NULL until the first publish | publish_status |
//! | `status_version`     | INTEGER | `metadata.statusVersion` (+1 per status write, CAS) | publish_status |
//!
//! Timestamps are stored in [`Timestamp`]'s fixed-width RFC 3339 form. Table `changes` has one
//! row (`id = 1`) whose `counter` every committed write increments: that is the
//! [`Store::change_token`], visible to other processes on the same file.
//!
//! # Concurrency
//!
//! The file is opened in WAL mode with a busy timeout of 5 s ([`BUSY_TIMEOUT`]), and every
//! read-modify-write runs in a `BEGIN IMMEDIATE` transaction, so several processes
//! (`snoozectl apply` next to a running `snoozectl dev`) can share one file. Within a process,
//! one connection sits behind a mutex and every call runs on tokio's blocking pool
//! (`spawn_blocking`): a call can wait up to the busy timeout for another process's lock, which
//! must not stall an async worker thread, and the critical sections are a few statements long.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value as Json, json};

use super::{Applied, Error, Result, StatusGuard, Store, Touch};
use crate::model::{Entry, Malformed, Record, Status, Timestamp, parse_record_value};

/// How long a write waits for another process's lock before failing (`busy_timeout`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    name               TEXT PRIMARY KEY NOT NULL,
    api_version        TEXT NOT NULL,
    kind               TEXT NOT NULL,
    metadata           TEXT NOT NULL,
    spec               TEXT NOT NULL,
    generation         INTEGER NOT NULL,
    resource_version   INTEGER NOT NULL,
    created_at         TEXT,
    wake_requested_at  TEXT,
    last_activity_at   TEXT,
    sleep_requested_at TEXT,
    wake_forced_at     TEXT,
    status             TEXT,
    status_version     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    counter INTEGER NOT NULL
);
INSERT OR IGNORE INTO changes (id, counter) VALUES (1, 0);
";

/// Columns added after the first release, with their definitions: [`SqliteStore::open`] adds
/// the ones an older file lacks.
const ADDED_COLUMNS: [(&str, &str); 2] = [
    ("status_version", "INTEGER NOT NULL DEFAULT 0"),
    ("wake_forced_at", "TEXT"),
];

const COLUMNS: [&str; 14] = [
    "name",
    "api_version",
    "kind",
    "metadata",
    "spec",
    "generation",
    "resource_version",
    "created_at",
    "wake_requested_at",
    "last_activity_at",
    "sleep_requested_at",
    "wake_forced_at",
    "status",
    "status_version",
];

/// Columns whose TEXT holds JSON.
const JSON_COLUMNS: [&str; 3] = ["metadata", "spec", "status"];

/// A [`Store`] in one SQLite file. Cheap to clone (shares the connection).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn sql_err(operation: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::Backend {
        operation,
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the SQLite file at `path` and its parent directory, sets
    /// WAL mode and the busy timeout, and creates the tables. Blocking: call it from
    /// `spawn_blocking` or before the runtime is busy ([`super::connect`] does).
    ///
    /// Errors: [`Error::Backend`] (`sqlite open`) when the directory or file cannot be created
    /// or is not a SQLite database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Backend {
                operation: "sqlite open",
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let with_path = |e: rusqlite::Error| Error::Backend {
            operation: "sqlite open",
            message: format!("{}: {e}", path.display()),
        };
        let mut conn = Connection::open(&path).map_err(with_path)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(with_path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(with_path)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "sqlite store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(with_path)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(with_path)?;
        tx.execute_batch(SCHEMA).map_err(with_path)?;
        for (column, definition) in ADDED_COLUMNS {
            let present: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info('records') WHERE name = ?1",
                    [column],
                    |r| r.get(0),
                )
                .map_err(with_path)?;
            if !present {
                tx.execute_batch(&format!(
                    "ALTER TABLE records ADD COLUMN {column} {definition}"
                ))
                .map_err(with_path)?;
            }
        }
        tx.commit().map_err(with_path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction half-applied (rusqlite
            // rolls back on drop), so a poisoned mutex is still safe to use.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Backend {
            operation: "sqlite task",
            message: e.to_string(),
        })?
    }

    /// Runs `f` inside `BEGIN IMMEDIATE ... COMMIT`; `f` returns the result and whether it
    /// wrote (then the change counter is bumped in the same transaction).
    async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, bool)> + Send + 'static,
    ) -> Result<T> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err(operation))?;
            let (out, wrote) = f(&tx)?;
            if wrote {
                tx.execute("UPDATE changes SET counter = counter + 1 WHERE id = 1", [])
                    .map_err(sql_err(operation))?;
                tx.commit().map_err(sql_err(operation))?;
            }
            Ok(out)
        })
        .await
    }

    /// Sets a fact column, debounced; never creates a row.
    async fn touch(
        &self,
        operation: &'static str,
        column: &'static str,
        name: &str,
        at: Timestamp,
        debounce: Option<Duration>,
    ) -> Result<Touch> {
        let name = name.to_string();
        self.write(operation, move |tx| {
            let stored: Option<SqlValue> = tx
                .query_row(
                    &format!("SELECT {column} FROM records WHERE name = ?1"),
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err(operation))?;
            let Some(stored) = stored else {
                return Err(Error::NotFound(name));
            };
            if let Some(debounce) = debounce {
                let threshold = at.sub(debounce).to_rfc3339();
                // Same rule as the DynamoDB condition `attribute_not_exists(#w) OR #w < :t`; a
                // value that is not text (hand-corrupted) is overwritten.
                if let SqlValue::Text(s) = &stored
                    && s.as_str() >= threshold.as_str()
                {
                    return Ok((Touch::Debounced, false));
                }
            }
            tx.execute(
                &format!("UPDATE records SET {column} = ?1 WHERE name = ?2"),
                params![at.to_rfc3339(), name],
            )
            .map_err(sql_err(operation))?;
            Ok((Touch::Written, true))
        })
        .await
    }
}

fn select_sql(filter: &str) -> String {
    format!("SELECT {} FROM records {filter}", COLUMNS.join(", "))
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Vec<SqlValue>> {
    (0..COLUMNS.len())
        .map(|i| row.get::<_, SqlValue>(i))
        .collect()
}

fn sql_to_json(column: &str, v: &SqlValue) -> Json {
    match v {
        SqlValue::Null => Json::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!(f),
        SqlValue::Text(s) if JSON_COLUMNS.contains(&column) => {
            serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone()))
        }
        SqlValue::Text(s) => Json::String(s.clone()),
        SqlValue::Blob(b) => Json::String(format!("<{} bytes of binary>", b.len())),
    }
}

/// Turns a row (all columns, in [`COLUMNS`] order) into an [`Entry`]; never fails.
fn row_to_entry(values: &[SqlValue]) -> Entry {
    let col = |name: &str| {
        let i = COLUMNS
            .iter()
            .position(|c| *c == name)
            .expect("known column");
        &values[i]
    };
    let raw: Map<String, Json> = COLUMNS
        .iter()
        .zip(values)
        .map(|(c, v)| (c.to_string(), sql_to_json(c, v)))
        .collect();
    let name = match col("name") {
        SqlValue::Text(s) => s.clone(),
        other => sql_to_json("name", other).to_string(),
    };
    let resource_version = match col("resource_version") {
        SqlValue::Integer(i) => u64::try_from(*i).unwrap_or(0),
        _ => 0,
    };
    let status_version = match col("status_version") {
        SqlValue::Integer(i) => u64::try_from(*i).unwrap_or(0),
        _ => 0,
    };
    let status_value = match col("status") {
        SqlValue::Null => None,
        v => Some(sql_to_json("status", v)),
    };
    let status = status_value
        .clone()
        .and_then(|v| serde_json::from_value::<Status>(v).ok());
    let malformed = |error: String| {
        Entry::Malformed(Malformed {
            name: name.clone(),
            raw: Json::Object(raw.clone()),
            error,
            status: status.clone(),
            resource_version,
            status_version,
        })
    };

    // Reassemble the record view; JSON columns must hold JSON.
    let json_col = |c: &str| -> std::result::Result<Json, String> {
        match col(c) {
            SqlValue::Text(s) => {
                serde_json::from_str(s).map_err(|e| format!("{c}: stored column is not JSON ({e})"))
            }
            other => Err(format!(
                "{c}: stored column is not JSON text (found {})",
                sql_to_json(c, other)
            )),
        }
    };
    let mut metadata = match json_col("metadata") {
        Ok(Json::Object(m)) => m,
        Ok(other) => return malformed(format!("metadata: expected a JSON object, found {other}")),
        Err(e) => return malformed(e),
    };
    let spec = match json_col("spec") {
        Ok(v) => v,
        Err(e) => return malformed(e),
    };
    metadata.insert("name".into(), sql_to_json("name", col("name")));
    metadata.insert(
        "generation".into(),
        sql_to_json("generation", col("generation")),
    );
    metadata.insert(
        "resourceVersion".into(),
        sql_to_json("resource_version", col("resource_version")),
    );
    if status_version > 0 {
        metadata.insert("statusVersion".into(), json!(status_version));
    }
    if !matches!(col("created_at"), SqlValue::Null) {
        metadata.insert(
            "creationTimestamp".into(),
            sql_to_json("created_at", col("created_at")),
        );
    }
    let mut desired = Map::new();
    for (column, field) in [
        ("wake_requested_at", "wakeRequestedAt"),
        ("last_activity_at", "lastActivityAt"),
        ("sleep_requested_at", "sleepRequestedAt"),
        ("wake_forced_at", "wakeForcedAt"),
    ] {
        if !matches!(col(column), SqlValue::Null) {
            desired.insert(field.into(), sql_to_json(column, col(column)));
        }
    }
    let mut record = Map::new();
    record.insert(
        "apiVersion".into(),
        sql_to_json("api_version", col("api_version")),
    );
    record.insert("kind".into(), sql_to_json("kind", col("kind")));
    record.insert("metadata".into(), Json::Object(metadata));
    record.insert("spec".into(), spec);
    record.insert("desired".into(), Json::Object(desired));
    if let Some(s) = status_value {
        record.insert("status".into(), s);
    }
    match parse_record_value(Json::Object(record)) {
        Ok(r) => Entry::Record(Box::new(r)),
        Err(e) => malformed(e),
    }
}

fn get_entry(conn: &Connection, name: &str, operation: &'static str) -> Result<Option<Entry>> {
    // Cached: the status route reads one record per request.
    let row = conn
        .prepare_cached(&select_sql("WHERE name = ?1"))
        .and_then(|mut stmt| stmt.query_row([name], read_row).optional())
        .map_err(sql_err(operation))?;
    Ok(row.map(|v| row_to_entry(&v)))
}

fn metadata_json(record: &Record) -> String {
    json!({ "labels": record.metadata.labels }).to_string()
}

fn to_json_text<T: serde::Serialize>(v: &T, operation: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Backend {
        operation,
        message: format!("cannot serialise: {e}"),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, name: &str) -> Result<Option<Entry>> {
        let name = name.to_string();
        self.run(move |conn| get_entry(conn, &name, "sqlite get"))
            .await
    }

    async fn list(&self) -> Result<Vec<Entry>> {
        self.run(|conn| {
            let mut stmt = conn
                .prepare(&select_sql("ORDER BY name"))
                .map_err(sql_err("sqlite list"))?;
            let rows = stmt
                .query_map([], read_row)
                .map_err(sql_err("sqlite list"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err("sqlite list"))?;
            Ok(rows.iter().map(|v| row_to_entry(v)).collect())
        })
        .await
    }

    async fn list_page(&self, after: Option<String>) -> Result<super::Page> {
        const OP: &str = "sqlite list";
        // Paged by rowid, not by name: a hand-edited row with an empty or a BLOB name is still
        // read exactly once (`list` shows it too).
        let after: i64 = match after.as_deref().map(str::parse) {
            None => 0,
            Some(Ok(rowid)) => rowid,
            Some(Err(_)) => {
                return Err(Error::Backend {
                    operation: OP,
                    message: format!("not a page token of this store: {after:?}"),
                });
            }
        };
        self.run(move |conn| {
            let limit = super::LIST_PAGE_RECORDS as i64;
            let sql = format!(
                "SELECT {}, rowid FROM records WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
                COLUMNS.join(", ")
            );
            let mut stmt = conn.prepare(&sql).map_err(sql_err(OP))?;
            let rows = stmt
                .query_map(params![after, limit], |row| {
                    Ok((read_row(row)?, row.get::<_, i64>(COLUMNS.len())?))
                })
                .map_err(sql_err(OP))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err(OP))?;
            let next = (rows.len() == super::LIST_PAGE_RECORDS)
                .then(|| rows.last().map(|(_, rowid)| rowid.to_string()))
                .flatten();
            let entries = rows.iter().map(|(v, _)| row_to_entry(v)).collect();
            Ok(super::Page { entries, next })
        })
        .await
    }

    async fn apply(&self, record: &Record, expected: Option<u64>) -> Result<Applied> {
        const OP: &str = "sqlite apply";
        let record = record.clone();
        let spec = to_json_text(&record.spec, OP)?;
        let metadata = metadata_json(&record);
        self.write(OP, move |tx| {
            let name = record.metadata.name.clone();
            let current = get_entry(tx, &name, OP)?;
            let Some(expected) = expected else {
                if current.is_some() {
                    return Err(Error::AlreadyExists(name));
                }
                tx.execute(
                    "INSERT INTO records (name, api_version, kind, metadata, spec, generation, \
                     resource_version, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, ?6)",
                    params![
                        name,
                        record.api_version,
                        record.kind,
                        metadata,
                        spec,
                        Timestamp::now().to_rfc3339()
                    ],
                )
                .map_err(sql_err(OP))?;
                return Ok((Applied::Created(1), true));
            };
            let (found, generation) = match &current {
                None => return Err(Error::NotFound(name)),
                Some(Entry::Record(r)) => (r.metadata.resource_version, r.metadata.generation),
                Some(Entry::Malformed(m)) => {
                    let g: SqlValue = tx
                        .query_row(
                            "SELECT generation FROM records WHERE name = ?1",
                            [&name],
                            |r| r.get(0),
                        )
                        .map_err(sql_err(OP))?;
                    let g = match g {
                        SqlValue::Integer(i) => u64::try_from(i).unwrap_or(0),
                        _ => 0,
                    };
                    (m.resource_version, g)
                }
            };
            if found != expected {
                return Err(Error::Conflict {
                    name,
                    expected,
                    found,
                });
            }
            if let Some(Entry::Record(r)) = &current
                && r.spec == record.spec
                && r.metadata.labels == record.metadata.labels
                && r.api_version == record.api_version
                && r.kind == record.kind
            {
                return Ok((Applied::Unchanged(found), false));
            }
            let next = found + 1;
            tx.execute(
                "UPDATE records SET api_version = ?1, kind = ?2, metadata = ?3, spec = ?4, \
                 generation = ?5, resource_version = ?6 WHERE name = ?7",
                params![
                    record.api_version,
                    record.kind,
                    metadata,
                    spec,
                    generation + 1,
                    next,
                    name
                ],
            )
            .map_err(sql_err(OP))?;
            Ok((Applied::Configured(next), true))
        })
        .await
    }

    async fn delete(&self, name: &str, expected: Option<u64>) -> Result<()> {
        const OP: &str = "sqlite delete";
        let name = name.to_string();
        self.write(OP, move |tx| {
            let found: Option<SqlValue> = tx
                .query_row(
                    "SELECT resource_version FROM records WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err(OP))?;
            let Some(found) = found else {
                return Err(Error::NotFound(name));
            };
            let found = match found {
                SqlValue::Integer(i) => u64::try_from(i).unwrap_or(0),
                _ => 0,
            };
            if let Some(expected) = expected
                && expected != found
            {
                return Err(Error::Conflict {
                    name,
                    expected,
                    found,
                });
            }
            tx.execute("DELETE FROM records WHERE name = ?1", [&name])
                .map_err(sql_err(OP))?;
            Ok(((), true))
        })
        .await
    }

    async fn record_wake(&self, name: &str, at: Timestamp, debounce: Duration) -> Result<Touch> {
        self.touch(
            "sqlite record_wake",
            "wake_requested_at",
            name,
            at,
            Some(debounce),
        )
        .await
    }

    async fn record_activity(
        &self,
        name: &str,
        at: Timestamp,
        debounce: Duration,
    ) -> Result<Touch> {
        self.touch(
            "sqlite record_activity",
            "last_activity_at",
            name,
            at,
            Some(debounce),
        )
        .await
    }

    async fn force_wake(&self, name: &str, at: Timestamp) -> Result<()> {
        self.touch("sqlite force_wake", "wake_forced_at", name, at, None)
            .await
            .map(|_| ())
    }

    async fn request_sleep(&self, name: &str, at: Timestamp) -> Result<()> {
        self.touch("sqlite request_sleep", "sleep_requested_at", name, at, None)
            .await
            .map(|_| ())
    }

    async fn publish_status(&self, name: &str, status: &Status, guard: StatusGuard) -> Result<()> {
        const OP: &str = "sqlite publish_status";
        let name = name.to_string();
        let status = to_json_text(status, OP)?;
        self.write(OP, move |tx| {
            type Row = ([Option<String>; 4], i64);
            let row: Option<Row> = tx
                .query_row(
                    "SELECT wake_requested_at, last_activity_at, sleep_requested_at, \
                     wake_forced_at, status_version FROM records WHERE name = ?1",
                    [&name],
                    |r| {
                        let text = |i| -> rusqlite::Result<Option<String>> {
                            Ok(match r.get::<_, SqlValue>(i)? {
                                SqlValue::Null => None,
                                SqlValue::Text(s) => Some(s),
                                other => Some(format!("{other:?}")),
                            })
                        };
                        Ok(([text(0)?, text(1)?, text(2)?, text(3)?], r.get(4)?))
                    },
                )
                .optional()
                .map_err(sql_err(OP))?;
            let Some((facts, version)) = row else {
                return Err(Error::NotFound(name));
            };
            let found = u64::try_from(version).unwrap_or(0);
            if let Some(expected) = guard.status_version
                && expected != found
            {
                return Err(Error::StatusChanged {
                    name,
                    expected,
                    found,
                });
            }
            if let Some(read) = &guard.facts {
                let want = [
                    read.wake_requested_at,
                    read.last_activity_at,
                    read.sleep_requested_at,
                    read.wake_forced_at,
                ]
                .map(|t| t.map(Timestamp::to_rfc3339));
                if want != facts {
                    return Err(Error::FactsChanged(name));
                }
            }
            tx.execute(
                "UPDATE records SET status = ?1, status_version = status_version + 1 \
                 WHERE name = ?2",
                params![status, name],
            )
            .map_err(sql_err(OP))?;
            Ok(((), true))
        })
        .await
    }

    async fn change_token(&self) -> Result<Option<u64>> {
        self.run(|conn| {
            let n: i64 = conn
                .query_row("SELECT counter FROM changes WHERE id = 1", [], |r| r.get(0))
                .map_err(sql_err("sqlite change_token"))?;
            Ok(Some(n as u64))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn paged_names(s: &dyn Store) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let pages: Vec<Vec<Entry>> = super::super::pages(s, "list").try_collect().await?;
        let mut names: Vec<String> = pages
            .iter()
            .flatten()
            .map(|e| e.name().to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn listed_names(s: &dyn Store) -> Vec<String> {
        s.list()
            .await
            .unwrap()
            .iter()
            .map(|e| e.name().to_string())
            .collect()
    }

    /// The pages read exactly what `list` reads, at and around a page's size, with names that
    /// sort oddly, and with hand-edited rows whose name is empty or a BLOB (paging by name
    /// would lose the first and repeat its token on the second).
    #[tokio::test]
    async fn pages_read_what_list_reads() {
        const N: usize = crate::store::LIST_PAGE_RECORDS;
        for n in [0, 1, N - 1, N, N + 1, 2 * N + 3] {
            let dir = tempfile::tempdir().unwrap();
            let s = SqliteStore::open(dir.path().join("snooze.db")).unwrap();
            for i in 0..n {
                let name = match i % 3 {
                    0 => format!("a-{i}"),
                    1 => format!("a{i}"),
                    _ => format!("a0-{i}"),
                };
                s.apply(&Record::test(&name), None).await.unwrap();
            }
            let listed = listed_names(&s).await;
            assert_eq!(listed.len(), n);
            assert_eq!(paged_names(&s).await.unwrap(), listed, "n = {n}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snooze.db");
        let s = SqliteStore::open(&path).unwrap();
        for i in 0..N + 5 {
            s.apply(&Record::test(&format!("r{i:04}")), None)
                .await
                .unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE records SET name = '' WHERE name = 'r0003'", [])
            .unwrap();
        conn.execute(
            "UPDATE records SET name = X'7a7a' WHERE name = ?1",
            [format!("r{:04}", N - 1)],
        )
        .unwrap();
        let mut listed = listed_names(&s).await;
        listed.sort();
        assert_eq!(listed.len(), N + 5);
        assert_eq!(paged_names(&s).await.unwrap(), listed);
    }

    /// A file written before `status_version` existed opens, keeps its rows, and its status
    /// starts at version 0 for the compare-and-swap.
    #[tokio::test]
    async fn a_file_from_before_the_status_version_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&SCHEMA.replace(
                "status             TEXT,\n    status_version     INTEGER NOT NULL DEFAULT 0",
                "status             TEXT",
            ))
            .unwrap();
            let cols: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'status_version'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(cols, 0, "the old schema has no status_version");
            let spec = serde_json::to_string(&Record::test("demo").spec).unwrap();
            conn.execute(
                "INSERT INTO records (name, api_version, kind, metadata, spec, generation, \
                 resource_version, status) VALUES ('demo', 'snooze/v1', 'Service', '{}', ?1, 1, 1, \
                 '{\"phase\":\"Asleep\"}')",
                [spec],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let Some(Entry::Record(r)) = store.get("demo").await.unwrap() else {
            panic!("the old row does not read back")
        };
        assert_eq!(r.metadata.status_version, 0);
        assert!(r.status.is_some());
        store
            .publish_status("demo", &Status::default(), StatusGuard::read(0))
            .await
            .unwrap();
        assert!(matches!(
            store
                .publish_status("demo", &Status::default(), StatusGuard::read(0))
                .await,
            Err(Error::StatusChanged { found: 1, .. })
        ));
        // Opening again does not add the column twice.
        drop(store);
        SqliteStore::open(&path).unwrap();
    }
}
