//! What a strategic merge patch needs to know about a field: upstream's `patchStrategy` and `patchMergeKey`.

/// Where strategic merge patch finds the patch metadata of an object's fields.
pub trait PatchSchema {
    /// Patch metadata of the field at `path` (JSON field names from the object root, e.g.
    /// `["spec","template","spec","containers"]`). List items are not part of the path: a
    /// container's `ports` is `["spec","template","spec","containers","ports"]`.
    fn field(&self, path: &[&str]) -> FieldMeta;
}

/// How a list field is patched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ListStrategy {
    /// The patch's list replaces the object's list (upstream's default, "atomic" lists).
    #[default]
    Replace,
    /// Items are merged: by `merge_key` for lists of maps, as a set for lists of primitives.
    Merge,
}

/// Patch metadata of one field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldMeta {
    pub strategy: ListStrategy,
    /// The field that identifies an item of a merged list of maps (`name` for containers).
    pub merge_key: Option<String>,
    /// Upstream's `retainKeys` strategy: patches of this field (or of each item of this list)
    /// carry `$retainKeys`, the keys that survive. Application follows the directive alone, as
    /// upstream does; the flag is for whoever builds patches.
    pub retain_keys: bool,
}

impl FieldMeta {
    /// A merged list of maps identified by `key`.
    pub fn merge_by(key: &str) -> Self {
        FieldMeta { strategy: ListStrategy::Merge, merge_key: Some(key.to_owned()), retain_keys: false }
    }

    /// A merged list of primitives (a set).
    pub fn merge_set() -> Self {
        FieldMeta { strategy: ListStrategy::Merge, merge_key: None, retain_keys: false }
    }

    /// The same metadata with `retain_keys` set.
    pub fn retaining_keys(self) -> Self {
        FieldMeta { retain_keys: true, ..self }
    }
}

/// A schema that knows no field, so every list is replaced: the behaviour for types without
/// patch metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSchema;

impl PatchSchema for NoSchema {
    fn field(&self, _path: &[&str]) -> FieldMeta {
        FieldMeta::default()
    }
}

/// Any function from path to metadata is a schema, which keeps one-off schemas short.
impl<F: Fn(&[&str]) -> FieldMeta> PatchSchema for F {
    fn field(&self, path: &[&str]) -> FieldMeta {
        self(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_an_atomic_list() {
        let meta = FieldMeta::default();
        assert_eq!(meta.strategy, ListStrategy::Replace);
        assert_eq!(meta.merge_key, None);
        assert!(!meta.retain_keys);
        assert_eq!(NoSchema.field(&["spec", "containers"]), meta);
    }

    #[test]
    fn constructors() {
        let volumes = FieldMeta::merge_by("name").retaining_keys();
        assert_eq!(volumes.strategy, ListStrategy::Merge);
        assert_eq!(volumes.merge_key.as_deref(), Some("name"));
        assert!(volumes.retain_keys);
        assert_eq!(FieldMeta::merge_set().merge_key, None);
    }

    #[test]
    fn closures_are_schemas() {
        let schema = |path: &[&str]| {
            if path == ["items"] { FieldMeta::merge_by("id") } else { FieldMeta::default() }
        };
        assert_eq!(schema.field(&["items"]).merge_key.as_deref(), Some("id"));
        assert_eq!(schema.field(&["other"]), FieldMeta::default());
    }
}
