//! The one error type of the store.

use crate::types::{KeyValue, Revision};

/// Why a store operation failed. Each precondition failure has its own variant so that the API
/// server can map it to its Kubernetes status without parsing messages.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("key {key:?} not found")]
    NotFound { key: String },
    /// The key's mod revision was not the expected one; `current` is what is there now (`None`
    /// if the key was deleted), so that a caller can retry without another read.
    #[error("key {key:?} was modified: expected revision {expected}, found {}", found_revision(.current))]
    Conflict { key: String, expected: Revision, current: Option<KeyValue> },
    /// The events from `requested` on are no longer available: compacted, or dropped because the
    /// watcher fell too far behind. The client must list again.
    #[error("required revision {requested} is no longer available (compacted up to {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    #[error("value for key {key:?} is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge { key: String, size: usize, limit: usize },
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The backend failed (I/O, network, a closed database); the operation may not have run.
    #[error("datastore unavailable: {0}")]
    Unavailable(String),
}

fn found_revision(current: &Option<KeyValue>) -> String {
    match current {
        Some(kv) => kv.mod_revision.to_string(),
        None => "no key".to_string(),
    }
}

impl StoreError {
    pub(crate) fn unavailable(context: &str, err: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(format!("{context}: {err}"))
    }
}
