//! The embedded SQLite store (WAL, `synchronous=NORMAL`).
//!
//! `synchronous=NORMAL` in WAL mode makes a commit durable against a process
//! crash (kill -9): the commit is in the WAL file before `commit()` returns.
//! Only a power loss or kernel crash can drop the last commits. The engine
//! groups many operations into one commit, so the cost is shared.

mod hooks;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    EventQuery, Mutation, Record, RunRow, Snapshot, Store, StoreError, TimelineStats, TokenRow,
    TrimQuery,
};
use crate::name::WorkerName;
use crate::wire::{Event, EventId, EventKind, Meta};

/// `PRAGMA application_id` of a TubeMail database ("TMhb").
const APPLICATION_ID: i64 = 0x544d_6862;

/// Schema migrations; `user_version` = number applied.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "CREATE TABLE workers (name TEXT PRIMARY KEY, row TEXT NOT NULL);
     CREATE TABLE permissions (
         worker TEXT NOT NULL, request_id TEXT NOT NULL, row TEXT NOT NULL,
         PRIMARY KEY (worker, request_id));
     CREATE TABLE events (
         seq INTEGER PRIMARY KEY, worker TEXT NOT NULL, ts REAL NOT NULL,
         kind TEXT NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL, idem_key TEXT);
     CREATE INDEX events_by_worker ON events (worker, seq);
     CREATE UNIQUE INDEX events_by_idem ON events (worker, idem_key) WHERE idem_key IS NOT NULL;
     CREATE TABLE flows (name TEXT PRIMARY KEY, row TEXT NOT NULL);
     CREATE TABLE runs (run_id TEXT PRIMARY KEY, row TEXT NOT NULL);",
    // 2: scoped credentials (hashed tokens).
    "CREATE TABLE tokens (id TEXT PRIMARY KEY, row TEXT NOT NULL);",
    // 3: the newest event retention deleted (old cursors stay valid).
    "CREATE TABLE retention (id INTEGER PRIMARY KEY CHECK (id = 1), trimmed_through INTEGER NOT NULL);",
    // 4: permission rules, an ordered list (replaced whole on each edit).
    "CREATE TABLE rules (pos INTEGER PRIMARY KEY, row TEXT NOT NULL);",
    // 5: webhooks, their durable outbox and approval links.
    hooks::MIGRATION,
];

/// Events retention never deletes: a pending permission's request and a
/// worker's newest event (its counters and resume point).
const KEEP: &str = "seq NOT IN (SELECT json_extract(row, '$.event_seq') FROM permissions
                        WHERE json_extract(row, '$.event_seq') IS NOT NULL)
     AND seq < (SELECT max(k.seq) FROM events k WHERE k.worker = events.worker)";

/// Read connections kept open for reuse.
const READ_POOL: usize = 8;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(e),
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Damaged(e),
        _ => StoreError::Db(e),
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Creates a new, empty TubeMail database at `path`, private to its
/// owner: the file is made (mode 0600) and given its header under a
/// temporary name, then renamed into place, so `path` never exists empty
/// (which [`SqliteStore::open`] refuses) even if the process dies half way.
fn create(path: &Path) -> Result<(), StoreError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!("{}.new", name.as_deref().unwrap_or("db")));
    let io = |source| StoreError::Create {
        path: path.display().to_string(),
        source,
    };
    // A leftover of a start that died half way holds nothing.
    for stale in [tmp.clone(), tmp.with_extension("new-journal")] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
    }
    drop(
        crate::private::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io)?,
    );
    let conn = Connection::open(&tmp).map_err(db)?;
    conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID};"))
        .map_err(db)?;
    conn.close().map_err(|(_, e)| db(e))?;
    std::fs::rename(&tmp, path).map_err(io)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// Refuses a file that is not a TubeMail database, an empty one, or
    /// one whose schema is newer than this build, without writing to it.
    /// A new database is created with mode 0600 whatever the umask, and
    /// SQLite gives its `-wal` and `-shm` files the database file's mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == 0 => {
                return Err(StoreError::Empty {
                    path: path.display().to_string(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path)?,
            // SQLite says what is wrong with it.
            Err(_) => {}
        }
        let conn = Connection::open(&path).map_err(db)?;
        let foreign = || StoreError::Foreign {
            path: path.display().to_string(),
        };
        // Reading the header fails with NOTADB on a file that is not SQLite.
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => foreign(),
                _ => db(e),
            })?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(db)?;
        if app_id != APPLICATION_ID && (app_id != 0 || tables != 0) {
            return Err(foreign());
        }
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
        // Checkpoints run inside the commit that crosses the threshold;
        // a larger threshold writes hot pages (index tails, busy workers)
        // back once instead of many times. The WAL stays below ~16 MiB
        // (the size limit of retention counts on it: a checkpoint beside
        // the writer, tried, let the WAL grow past it under steady writes).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             PRAGMA wal_autocheckpoint = 4000;",
        )
        .map_err(db)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction().map_err(db)?;
            tx.execute_batch(sql).map_err(db)?;
            tx.execute_batch(&format!(
                "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
                i + 1
            ))
            .map_err(db)?;
            tx.commit().map_err(db)?;
            tracing::info!(version = i + 1, "applied schema migration");
        }
        Ok(SqliteStore {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites the database without its free pages and folds the
    /// write-ahead log into it (`VACUUM`, then a truncating checkpoint).
    /// Writes wait meanwhile: for a data dir no hub has open.
    pub fn vacuum(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db)?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(db)?;
                // Readers mostly serve streams that fell behind: a small
                // page cache each keeps memory flat.
                c.execute_batch("PRAGMA cache_size = -512").map_err(db)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READ_POOL {
            pool.push(conn);
        }
        out
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(corrupt)
}

fn load_rows<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db)?;
    let texts = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut rows = Vec::with_capacity(texts.len());
    for t in texts {
        match from_json(&t) {
            Ok(row) => rows.push(row),
            // A row we cannot read is left in place, never overwritten
            // with a fresh one; the entry is simply not loaded.
            Err(e) => tracing::warn!(error = %e, "skipping unreadable row"),
        }
    }
    Ok(rows)
}

type RawEvent = (u64, String, f64, String, String, String);

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    let seq: i64 = r.get(0)?;
    Ok((
        seq as u64,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode_event((seq, worker, ts, kind, content, meta): RawEvent) -> Result<Record, StoreError> {
    Ok(Record {
        worker: WorkerName::new(worker).map_err(corrupt)?,
        event: Event {
            event_id: EventId(seq),
            ts,
            kind: EventKind::parse(&kind).ok_or_else(|| corrupt(format!("event kind {kind}")))?,
            content,
            meta: from_json::<Meta>(&meta)?,
        },
    })
}

fn load_timelines(conn: &Connection) -> Result<Vec<TimelineStats>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT e.worker, s.n, e.seq, e.kind, e.ts
             FROM (SELECT worker, count(*) AS n, max(seq) AS m FROM events GROUP BY worker) s
             JOIN events e ON e.seq = s.m",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, f64>(4)?,
            ))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(worker, n, seq, kind, ts)| {
            Ok(TimelineStats {
                worker: WorkerName::new(worker).map_err(corrupt)?,
                count: n as u64,
                last_seq: seq as u64,
                last_kind: EventKind::parse(&kind)
                    .ok_or_else(|| corrupt(format!("event kind {kind}")))?,
                last_ts: ts,
            })
        })
        .collect()
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Snapshot {
            workers: load_rows(&conn, "SELECT row FROM workers")?,
            permissions: load_rows(&conn, "SELECT row FROM permissions")?,
            flows: load_rows(&conn, "SELECT row FROM flows ORDER BY name")?,
            rules: load_rows(&conn, "SELECT row FROM rules ORDER BY pos")?,
            max_seq: conn
                .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(db)? as u64,
            timelines: load_timelines(&conn)?,
            trimmed_through: conn
                .query_row(
                    "SELECT coalesce(max(trimmed_through), 0) FROM retention",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db)? as u64,
        })
    }

    /// Folds the WAL into the database file, so a cleanly stopped hub
    /// leaves one self-contained `tubemail.db`.
    fn close(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db)
    }

    fn commit(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        for m in batch {
            match m {
                Mutation::Event(rec, key) => {
                    let e = &rec.event;
                    tx.prepare_cached(
                        "INSERT INTO events (seq, worker, ts, kind, content, meta, idem_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            e.event_id.0 as i64,
                            rec.worker.as_str(),
                            e.ts,
                            e.kind.as_str(),
                            e.content,
                            to_json(&e.meta).unwrap_or_else(|_| "{}".into()),
                            key
                        ])
                    })
                    .map_err(db)?;
                }
                Mutation::Worker(row) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO workers (name, row) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute(params![row.name.as_str(), to_json(row).ok()]))
                        .map_err(db)?;
                }
                Mutation::DeleteWorker(name) => {
                    for sql in [
                        "DELETE FROM workers WHERE name = ?1",
                        "DELETE FROM permissions WHERE worker = ?1",
                        "DELETE FROM events WHERE worker = ?1",
                    ] {
                        tx.prepare_cached(sql)
                            .and_then(|mut s| s.execute([name.as_str()]))
                            .map_err(db)?;
                    }
                }
                Mutation::Permission(p) => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO permissions (worker, request_id, row) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![p.worker.as_str(), p.ask.request_id, to_json(p).ok()]))
                    .map_err(db)?;
                }
                Mutation::DeletePermission(worker, id) => {
                    tx.prepare_cached(
                        "DELETE FROM permissions WHERE worker = ?1 AND request_id = ?2",
                    )
                    .and_then(|mut s| s.execute(params![worker.as_str(), id]))
                    .map_err(db)?;
                }
                Mutation::Flow(f) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO flows (name, row) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute(params![f.name.as_str(), to_json(f).ok()]))
                        .map_err(db)?;
                }
                Mutation::DeleteFlow(name) => {
                    tx.prepare_cached("DELETE FROM flows WHERE name = ?1")
                        .and_then(|mut s| s.execute([name.as_str()]))
                        .map_err(db)?;
                }
                Mutation::Run(r) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO runs (run_id, row) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute(params![r.run_id, to_json(r).ok()]))
                        .map_err(db)?;
                }
                Mutation::Outbox(row) => {
                    hooks::insert(&tx, row)?;
                }
            }
        }
        tx.commit().map_err(db)
    }

    fn events(&self, q: &EventQuery) -> Result<Vec<Record>, StoreError> {
        let mut sql =
            String::from("SELECT seq, worker, ts, kind, content, meta FROM events WHERE seq > ?1");
        let mut args: Vec<rusqlite::types::Value> = vec![(q.after as i64).into()];
        if let Some(w) = &q.worker {
            args.push(w.as_str().to_owned().into());
            sql.push_str(&format!(" AND worker = ?{}", args.len()));
        }
        if let Some(before) = q.before {
            args.push((before as i64).into());
            sql.push_str(&format!(" AND seq < ?{}", args.len()));
        }
        if let Some(until) = q.until_ts {
            args.push(until.into());
            sql.push_str(&format!(" AND ts <= ?{}", args.len()));
        }
        if let Some(kinds) = &q.kinds {
            let list: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            sql.push_str(&format!(" AND kind IN ({})", list.join(",")));
        }
        sql.push_str(if q.newest {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        args.push((q.limit as i64).into());
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let raw = stmt
                .query_map(rusqlite::params_from_iter(args), event_from_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut out = raw
                .into_iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()?;
            if q.newest {
                out.reverse();
            }
            Ok(out)
        })
    }

    fn event_owner(&self, id: EventId) -> Result<Option<WorkerName>, StoreError> {
        self.read(|conn| {
            let w: Option<String> = conn
                .prepare_cached("SELECT worker FROM events WHERE seq = ?1")
                .and_then(|mut s| s.query_row([id.0 as i64], |r| r.get(0)).optional())
                .map_err(db)?;
            w.map(|w| WorkerName::new(w).map_err(corrupt)).transpose()
        })
    }

    fn find_idempotent(&self, worker: &WorkerName, key: &str) -> Result<Option<Event>, StoreError> {
        self.read(|conn| {
            let raw = conn
                .prepare_cached(
                    "SELECT seq, worker, ts, kind, content, meta FROM events
                     WHERE worker = ?1 AND idem_key = ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![worker.as_str(), key], event_from_row)
                        .optional()
                })
                .map_err(db)?;
            raw.map(|r| decode_event(r).map(|rec| rec.event))
                .transpose()
        })
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        self.read(|conn| {
            let row: Option<String> = conn
                .prepare_cached("SELECT row FROM runs WHERE run_id = ?1")
                .and_then(|mut s| s.query_row([run_id], |r| r.get(0)).optional())
                .map_err(db)?;
            row.map(|r| from_json(&r)).transpose()
        })
    }

    fn trim_candidates(&self, q: &TrimQuery) -> Result<Vec<u64>, StoreError> {
        let mut sql = String::from("SELECT seq FROM events WHERE seq > ?1");
        let mut args: Vec<rusqlite::types::Value> = vec![(q.after as i64).into()];
        if let Some(w) = &q.worker {
            args.push(w.as_str().to_owned().into());
            sql.push_str(&format!(" AND worker = ?{}", args.len()));
        }
        if let Some(before) = q.before {
            args.push((before.min(i64::MAX as u64) as i64).into());
            sql.push_str(&format!(" AND seq < ?{}", args.len()));
        }
        // Last: the cheap tests above rule most rows out first.
        sql.push_str(&format!(" AND {KEEP}"));
        args.push((q.limit as i64).into());
        sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))
                .map_err(db)?
                .map(|r| r.map(|s| s as u64).map_err(db))
                .collect()
        })
    }

    fn delete_events(&self, seqs: &[u64]) -> Result<Vec<(WorkerName, u64)>, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        let mut deleted = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "DELETE FROM events WHERE seq = ?1 AND {KEEP} RETURNING worker"
                ))
                .map_err(db)?;
            for &seq in seqs {
                let worker: Option<String> = stmt
                    .query_row([seq as i64], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                if let Some(w) = worker {
                    deleted.push((WorkerName::new(w).map_err(corrupt)?, seq));
                }
            }
        }
        if let Some(max) = deleted.iter().map(|(_, s)| *s).max() {
            tx.execute(
                "INSERT INTO retention (id, trimmed_through) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE
                 SET trimmed_through = max(trimmed_through, excluded.trimmed_through)",
                [max as i64],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(deleted)
    }

    fn first_event_since(&self, ts: f64) -> Result<Option<u64>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT seq FROM events WHERE ts >= ?1 ORDER BY seq LIMIT 1")
                .map_err(db)?
                .query_row([ts], |r| r.get::<_, i64>(0))
                .optional()
                .map(|s| s.map(|s| s as u64))
                .map_err(db)
        })
    }

    fn used_bytes(&self) -> Result<u64, StoreError> {
        // Pages on the free list are reused before the file grows, so the
        // file stays at the high-water mark of the pages in use; the
        // write-ahead log comes on top until a checkpoint resets it.
        let pages = self.read(|conn| {
            let get = |pragma: &str| {
                conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0))
                    .map_err(db)
            };
            Ok((get("page_count")? - get("freelist_count")?) * get("page_size")?)
        })?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(&wal).map_or(0, |m| m.len());
        Ok(u64::try_from(pages).unwrap_or(0) + wal)
    }

    fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        load_rows(&conn, "SELECT row FROM tokens ORDER BY rowid")
    }

    fn put_token(&self, row: &TokenRow) -> Result<(), StoreError> {
        let json = to_json(row)?;
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.prepare_cached("INSERT OR REPLACE INTO tokens (id, row) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![row.id, json]))
            .map(|_| ())
            .map_err(db)
    }

    fn put_rules(&self, rules: &[crate::wire::PermissionRule]) -> Result<(), StoreError> {
        let rows = rules.iter().map(to_json).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        tx.execute("DELETE FROM rules", []).map_err(db)?;
        for (pos, row) in rows.iter().enumerate() {
            // A list of at most MAX_RULES: the position fits.
            let pos = i64::try_from(pos).unwrap_or(i64::MAX);
            tx.prepare_cached("INSERT INTO rules (pos, row) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![pos, row]))
                .map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}
