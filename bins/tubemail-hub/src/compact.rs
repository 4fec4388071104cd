//! `tubemail-hub compact`: retention once, then `VACUUM`, on a data dir
//! no hub has open (the data dir's lock is held throughout).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tubemail_core::engine::{Engine, EngineConfig};
use tubemail_core::store::{SqliteStore, StoreError};

use crate::lock::{DataDirLock, LockError};

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Events the retention settings deleted.
    pub deleted: u64,
    /// Size of the database and its write-ahead log before, in bytes.
    pub bytes_before: u64,
    /// The same after.
    pub bytes_after: u64,
}

/// Why a compaction failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// A hub runs on the data dir, or its lock could not be taken.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The data dir has no database.
    #[error("no database at {} (nothing to compact)", path.display())]
    NoDatabase {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Opening, trimming or vacuuming the database failed.
    #[error("failed to compact {}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: StoreError,
    },
    /// Loading the state or applying retention failed.
    #[error("failed to apply retention to {}", path.display())]
    Engine {
        /// The database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: tubemail_core::engine::Error,
    },
}

/// Applies the data dir's retention settings once, then rewrites the
/// database without free pages. Refuses with [`CompactError::Locked`]
/// (naming the running hub's pid and address) while a hub has it open.
pub async fn compact(data_dir: &Path) -> Result<Compacted, CompactError> {
    let _lock = DataDirLock::take(data_dir)?;
    let path = data_dir.join("tubemail.db");
    if !path.is_file() {
        return Err(CompactError::NoDatabase { path });
    }
    let bytes_before = size(&path);
    let store_err = |source| CompactError::Store {
        path: path.clone(),
        source,
    };
    let engine_err = |source| CompactError::Engine {
        path: path.clone(),
        source,
    };
    let store = Arc::new(SqliteStore::open(&path).map_err(store_err)?);
    let engine = Engine::start(
        store.clone(),
        EngineConfig::new(data_dir.join("hub-config.json")),
    )
    .map_err(engine_err)?;
    let deleted = engine.apply_retention().await;
    engine.shutdown().await;
    drop(engine);
    let deleted = deleted.map_err(engine_err)?;
    store.vacuum().map_err(store_err)?;
    Ok(Compacted {
        deleted,
        bytes_before,
        bytes_after: size(&path),
    })
}

/// The database's bytes on disk, its write-ahead log included.
fn size(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    len(db) + len(Path::new(&wal))
}
