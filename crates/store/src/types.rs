//! Values that cross the [`crate::Store`] boundary.

use bytes::Bytes;

/// A store revision: the global write counter. It becomes an object's `resourceVersion`.
pub type Revision = i64;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created the key (unchanged by updates).
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
}

/// What a write did to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Create,
    Update,
    Delete,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key after the change. For a delete the value is empty, `create_revision` is 0 and
    /// `mod_revision` is the revision of the delete.
    pub kv: KeyValue,
    /// The key before the change: `None` for a create.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// Revision at which the change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A page of a prefix read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    pub kvs: Vec<KeyValue>,
    /// Revision the read was taken at.
    pub revision: Revision,
    /// More keys under the prefix follow the last one returned.
    pub more: bool,
}
