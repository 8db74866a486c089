//! The backend contract every datastore implements.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::{Event, KeyValue, ListResult, Result, Revision, StoreError};

/// Largest value accepted, etcd's default request limit (1.5 MiB).
pub const MAX_VALUE_SIZE: usize = 1536 * 1024;

/// Changes under a prefix in revision order. It ends after an `Err` (for a watcher that fell
/// behind, [`StoreError::Compacted`]).
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// A revisioned key-value store with watch.
///
/// # Guarantees
/// - Every successful write gets the next global revision; failed writes consume none.
/// - A write is durable when its future resolves `Ok`.
/// - Reads return the latest committed state and the revision it was read at.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The key's current value, and the store revision of the read.
    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, Revision)>;

    /// Keys under `prefix` in key order, starting at `start` (inclusive; used to continue a
    /// previous page), at most `limit` of them (`0` for all).
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] if `start` does not lie under `prefix`.
    async fn list(&self, prefix: &str, start: Option<&str>, limit: usize) -> Result<ListResult>;

    /// Number of keys under `prefix`, and the revision of the count.
    async fn count(&self, prefix: &str) -> Result<(i64, Revision)>;

    /// Creates `key`; returns the revision of the write.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the key exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision>;

    /// Replaces `key` if its mod revision is still `expected`; returns the revision of the write.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or [`StoreError::Conflict`] carrying the current value.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision>;

    /// Deletes `key`, if given only while its mod revision is still `expected`; returns the
    /// revision of the delete and the deleted value.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or [`StoreError::Conflict`] carrying the current value.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)>;

    /// Changes under `prefix` from revision `start` on (inclusive); `0` means changes after now.
    /// Each event carries the previous value.
    ///
    /// # Errors
    /// [`StoreError::Compacted`] if `start` is older than the compacted revision.
    async fn watch(&self, prefix: &str, start: Revision) -> Result<WatchStream>;

    /// Drops history older than `revision`: watches starting before it fail afterwards.
    /// Compacting to a revision at or below the current compacted one does nothing.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The latest revision.
    async fn revision(&self) -> Result<Revision>;
}

/// Checks shared by every backend before a write is sent.
pub(crate) fn check_write(key: &str, value: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument("empty key".into()));
    }
    if value.len() > MAX_VALUE_SIZE {
        return Err(StoreError::ValueTooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}

/// Checks that a continue key lies under the listed prefix.
pub(crate) fn check_list(prefix: &str, start: Option<&str>) -> Result<()> {
    match start {
        Some(s) if !s.starts_with(prefix) => {
            Err(StoreError::InvalidArgument(format!("continue key {s:?} is not under prefix {prefix:?}")))
        }
        _ => Ok(()),
    }
}

/// The first key after every key that starts with `prefix` (etcd's range end), or `None` if
/// no such key exists (the prefix is all 0xff bytes, or empty).
pub(crate) fn prefix_end(prefix: &str) -> Option<Vec<u8>> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/a/"), Some(b"/a0".to_vec()));
        assert_eq!(prefix_end(""), None);
    }

    #[test]
    fn oversize_values_are_refused() {
        let big = vec![0u8; MAX_VALUE_SIZE + 1];
        assert!(matches!(check_write("k", &big), Err(StoreError::ValueTooLarge { .. })));
        assert!(check_write("k", &big[..MAX_VALUE_SIZE]).is_ok());
        assert!(matches!(check_write("", b"v"), Err(StoreError::InvalidArgument(_))));
    }
}
