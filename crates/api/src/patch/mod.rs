//! The PATCH bodies an API server accepts, applied to objects held as JSON values.

pub mod json_merge;
pub mod json_patch;
mod pointer;
pub mod strategic;
mod value;

use serde_json::Value;

pub use json_merge::merge_patch;
pub use json_patch::{MAX_JSON_PATCH_OPERATIONS, json_patch};
pub use strategic::{BuiltinSchema, FieldMeta, ListStrategy, NoSchema, PatchSchema, strategic_merge_patch};

/// The kind of a PATCH request, chosen by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    JsonPatch,
    /// `application/merge-patch+json` (RFC 7386).
    MergePatch,
    /// `application/strategic-merge-patch+json`.
    StrategicMergePatch,
    /// `application/apply-patch+yaml`: server-side apply, which is not applied here.
    ApplyPatch,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value; parameters such as `; charset=utf-8`
    /// are ignored and media types compare case-insensitively, as HTTP defines them.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media = ct.split(';').next().unwrap_or_default().trim();
        [PatchType::JsonPatch, PatchType::MergePatch, PatchType::StrategicMergePatch, PatchType::ApplyPatch]
            .into_iter()
            .find(|kind| kind.content_type().eq_ignore_ascii_case(media))
    }

    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::JsonPatch => "application/json-patch+json",
            PatchType::MergePatch => "application/merge-patch+json",
            PatchType::StrategicMergePatch => "application/strategic-merge-patch+json",
            PatchType::ApplyPatch => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied. Messages follow the upstream API server's where it has one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of its type at all (e.g. a JSON patch that is not an array).
    #[error("{0}")]
    Malformed(String),
    /// JSON patch operation `index` (0-based) failed; nothing was applied.
    #[error("{message}")]
    OperationFailed { index: usize, op: String, path: String, message: String },
    /// The JSON patch has more operations than the server accepts.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {count}")]
    TooManyOperations { count: usize, max: usize },
    /// The strategic merge patch is malformed or contradicts the schema; `path` is the dotted
    /// field path where it went wrong (empty for the object itself).
    #[error("{message}")]
    Strategic { path: String, message: String },
    /// A patch type this module does not apply (server-side apply).
    #[error("{} is not applied as a patch: it is server-side apply", .0.content_type())]
    Unsupported(PatchType),
}

impl PatchError {
    /// The HTTP status the upstream API server answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::Malformed(_) | PatchError::Strategic { .. } => 400,
            PatchError::OperationFailed { .. } => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Unsupported(_) => 415,
        }
    }
}

/// Applies a patch of the given type to `target`; `schema` matters only for strategic merge
/// patches. On error `target` is unchanged.
pub fn apply_patch(
    kind: PatchType,
    target: &mut Value,
    patch: &Value,
    schema: &dyn PatchSchema,
) -> Result<(), PatchError> {
    match kind {
        PatchType::JsonPatch => json_patch(target, patch),
        PatchType::MergePatch => {
            merge_patch(target, patch);
            Ok(())
        }
        PatchType::StrategicMergePatch => strategic_merge_patch(target, patch, schema),
        PatchType::ApplyPatch => Err(PatchError::Unsupported(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::JsonPatch));
        assert_eq!(PatchType::from_content_type("application/merge-patch+json"), Some(PatchType::MergePatch));
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::StrategicMergePatch)
        );
        assert_eq!(
            PatchType::from_content_type(" Application/Apply-Patch+YAML ;x=y"),
            Some(PatchType::ApplyPatch)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        assert_eq!(PatchType::from_content_type("application/apply-patch+cbor"), None);
        assert_eq!(PatchType::from_content_type(""), None);
        for kind in [
            PatchType::JsonPatch,
            PatchType::MergePatch,
            PatchType::StrategicMergePatch,
            PatchType::ApplyPatch,
        ] {
            assert_eq!(PatchType::from_content_type(kind.content_type()), Some(kind));
        }
    }

    #[test]
    fn apply_dispatches_by_type() {
        let object = json!({"metadata": {"finalizers": ["a"]}});
        let mut merged = object.clone();
        apply_patch(
            PatchType::MergePatch,
            &mut merged,
            &json!({"metadata": {"finalizers": ["b"]}}),
            &BuiltinSchema,
        )
        .expect("merge patch");
        assert_eq!(merged, json!({"metadata": {"finalizers": ["b"]}}));

        let mut strategic = object.clone();
        apply_patch(
            PatchType::StrategicMergePatch,
            &mut strategic,
            &json!({"metadata": {"finalizers": ["a", "b"]}}),
            &BuiltinSchema,
        )
        .expect("strategic merge patch");
        assert_eq!(strategic, json!({"metadata": {"finalizers": ["a", "b"]}}));

        let mut patched = object.clone();
        apply_patch(
            PatchType::JsonPatch,
            &mut patched,
            &json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}]),
            &NoSchema,
        )
        .expect("json patch");
        assert_eq!(patched, json!({"metadata": {"finalizers": ["a", "c"]}}));

        let mut applied = object.clone();
        let err =
            apply_patch(PatchType::ApplyPatch, &mut applied, &json!({}), &NoSchema).expect_err("unsupported");
        assert_eq!(err.status_code(), 415);
        assert_eq!(applied, object);
    }

    #[test]
    fn status_codes() {
        assert_eq!(PatchError::Malformed(String::new()).status_code(), 400);
        let failed = PatchError::OperationFailed {
            index: 0,
            op: "test".into(),
            path: "/a".into(),
            message: "testing value /a failed: test failed".into(),
        };
        assert_eq!(failed.status_code(), 422);
        assert_eq!(failed.to_string(), "testing value /a failed: test failed");
        assert_eq!(PatchError::Strategic { path: String::new(), message: "m".into() }.status_code(), 400);
    }
}
