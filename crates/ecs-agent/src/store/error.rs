//! Typed errors of the durable store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `ECS_DATADIR` is missing or not a directory (the reference does not create it).
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// Another process (or another handle in this one) has the store open.
    #[error("state store {path} is already in use by another agent")]
    Locked { path: PathBuf },
    /// The file is not a store this agent can read.
    #[error("state store {path} cannot be opened: {reason}")]
    Open { path: PathBuf, reason: String },
    /// The store was written by a newer agent with a layout this one does not know.
    #[error("state store schema version {found} is newer than the supported {supported}")]
    UnsupportedSchema { found: String, supported: u32 },
    /// A stored record does not decode: it is reported, never unwrapped.
    #[error("corrupt record in table '{table}' at key '{key}': {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        reason: String,
    },
    /// A value could not be serialized for storage.
    #[error("cannot encode record for table '{table}': {reason}")]
    Encode { table: &'static str, reason: String },
    /// Saved cluster differs from the configured one (config-and-lifecycle.md §4.4 step 5);
    /// fatal in the reference (exit 5).
    #[error(
        "Data mismatch; saved cluster '{saved}' does not match configured cluster '{configured}'. Perhaps you want to delete the configured checkpoint file?"
    )]
    ClusterMismatch { saved: String, configured: String },
    /// A commit was queued but its answer was lost (the committing thread panicked).
    #[error("state store writer stopped")]
    WriterStopped,
    /// Any failure of the database engine itself (I/O, full disk, ...).
    #[error("state store: {0}")]
    Db(#[from] redb::Error),
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, key: impl ToString, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            table,
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Lets `?` take any of redb's per-operation error types.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
