//! Revisioned key-value store with watch, the datastore under the API server.
//!
//! The model is etcd's: every successful write bumps one global revision, each key keeps the
//! revision that created it and the one that last modified it, and a watch replays changes
//! from any revision the store has not yet compacted. [`Store`] is the contract; [`embedded`]
//! (redb, the default) and [`etcd`] (a real etcd v3 cluster, for several servers) implement it.

pub mod compactor;
pub mod embedded;
mod error;
pub mod etcd;
mod store;
mod types;

pub use error::StoreError;
pub use store::{MAX_VALUE_SIZE, Store, WatchStream};
pub use types::{Event, EventKind, KeyValue, ListResult, Revision};

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
