//! Why an apply fails, in upstream's words, and the `Status` it becomes.

use crate::status::{ApiError, Cause, Reason};

use super::managed::Operation;

/// A field the applier would change that another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    pub operation: Operation,
    /// The API version of the other manager's entry.
    pub api_version: String,
    /// The subresource of the other manager's entry (`""` for the main resource).
    pub subresource: String,
    /// Upstream's path form: `.spec.replicas`, `.spec.template.spec.containers[name="nginx"].image`.
    pub field_path: String,
}

impl Conflict {
    /// How upstream names the manager: `"m"` for an applier; `"m" using apps/v1` for an
    /// updater; `"m" with subresource "scale" using apps/v1` for one that wrote a subresource.
    pub fn manager_display(&self) -> String {
        let mut shown = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            shown = format!("{shown} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            shown = format!("{shown} using {}", self.api_version);
        }
        shown
    }

    /// The manager identity conflicts are grouped and sorted by.
    fn sort_key(&self) -> (&str, Operation, &str, &str) {
        (&self.manager, self.operation, &self.api_version, &self.subresource)
    }
}

/// Upstream's message: `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`,
/// or for several, grouped by manager: `Apply failed with 2 conflicts: conflicts with "m" using
/// apps/v1:\n- .spec.replicas\n- .spec.paused`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_display(),
            only.field_path
        );
    }
    let mut sorted: Vec<&Conflict> = conflicts.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let mut lines: Vec<String> = Vec::new();
    let mut current = None;
    for conflict in sorted {
        if current != Some(conflict.sort_key()) {
            current = Some(conflict.sort_key());
            lines.push(format!("conflicts with {}:", conflict.manager_display()));
        }
        lines.push(format!("- {}", conflict.field_path));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// The `details.causes` of upstream's conflict `Status`: one per field, reason
/// `FieldManagerConflict`.
pub fn conflict_causes(conflicts: &[Conflict]) -> Vec<Cause> {
    conflicts
        .iter()
        .map(|c| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", c.manager_display()),
            field: c.field_path.clone(),
        })
        .collect()
}

/// Why an apply, or the options of a write, were refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change; `force` takes them. 409.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The request's options are invalid (`fieldManager` missing for apply, too long or not
    /// printable; `force` without apply). `kind` is `PatchOptions`, `CreateOptions` or
    /// `UpdateOptions`. 422.
    #[error("{}", ApiError::invalid("meta.k8s.io", .kind, "", .causes.clone()).message)]
    InvalidOptions { kind: &'static str, causes: Vec<Cause> },
    /// The applied configuration is not an object. 400.
    #[error("error decoding YAML: the apply patch must be an object, not {0}")]
    NotAnObject(&'static str),
    /// The applied configuration's `apiVersion` and `kind` are not the object's; the value is
    /// upstream's GVK form of the applied ones (`apps/v1, Kind=Deployment`, `/v1, Kind=Pod`). 400.
    #[error("invalid object type: {0}")]
    WrongType(String),
    /// The applied configuration carries `metadata.managedFields`. 400.
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsInConfig,
    /// The applied configuration does not fit the schema (an associative-list item without
    /// its key, a duplicate key). 400.
    #[error("failed to create typed patch object ({gvk}): {message}")]
    InvalidObject { gvk: String, message: String },
}

impl ApplyError {
    /// The HTTP status upstream answers with.
    pub fn status_code(&self) -> u16 {
        self.reason().code()
    }

    fn reason(&self) -> Reason {
        match self {
            ApplyError::Conflicts(_) => Reason::Conflict,
            ApplyError::InvalidOptions { .. } => Reason::Invalid,
            ApplyError::NotAnObject(_)
            | ApplyError::WrongType(_)
            | ApplyError::ManagedFieldsInConfig
            | ApplyError::InvalidObject { .. } => Reason::BadRequest,
        }
    }

    /// The API error (and so the `Status` body) upstream sends.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            ApplyError::Conflicts(conflicts) => {
                let mut err = ApiError::new(Reason::Conflict, self.to_string());
                err.causes = conflict_causes(conflicts);
                err
            }
            ApplyError::InvalidOptions { kind, causes } => {
                ApiError::invalid("meta.k8s.io", kind, "", causes.clone())
            }
            other => ApiError::new(other.reason(), other.to_string()),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(err: ApplyError) -> ApiError {
        err.to_api_error()
    }
}

/// Upstream's `GroupVersionKind` string of an `apiVersion` and `kind`.
pub(crate) fn gvk(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(manager: &str, op: Operation, path: &str) -> Conflict {
        Conflict {
            manager: manager.into(),
            operation: op,
            api_version: "apps/v1".into(),
            subresource: String::new(),
            field_path: path.into(),
        }
    }

    #[test]
    fn one_conflict() {
        let err = ApplyError::Conflicts(vec![conflict(
            "kubectl-client-side-apply",
            Operation::Update,
            ".spec.replicas",
        )]);
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        );
        assert_eq!(err.status_code(), 409);
        let status = err.to_api_error().to_status();
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(status["code"], 409);
        assert_eq!(
            status["details"]["causes"],
            serde_json::json!([{
                "reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"
            }])
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let err = ApplyError::Conflicts(vec![
            conflict("m", Operation::Update, ".spec.replicas"),
            conflict("helm", Operation::Apply, ".metadata.labels.app"),
            conflict("m", Operation::Update, r#".spec.template.spec.containers[name="nginx"].image"#),
        ]);
        assert_eq!(
            err.to_string(),
            "Apply failed with 3 conflicts: conflicts with \"helm\":\n- .metadata.labels.app\n\
             conflicts with \"m\" using apps/v1:\n- .spec.replicas\n\
             - .spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn subresource_managers() {
        let mut c = conflict("kubectl", Operation::Update, ".spec.replicas");
        c.subresource = "scale".into();
        assert_eq!(c.manager_display(), r#""kubectl" with subresource "scale" using apps/v1"#);
    }

    #[test]
    fn other_errors() {
        let required = ApplyError::InvalidOptions {
            kind: "PatchOptions",
            causes: vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            }],
        };
        assert_eq!(
            required.to_string(),
            r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
        );
        assert_eq!(required.status_code(), 422);
        assert_eq!(required.to_api_error().message, required.to_string());
        assert_eq!(
            ApplyError::WrongType(gvk("apps/v1", "Deployment")).to_string(),
            "invalid object type: apps/v1, Kind=Deployment"
        );
        assert_eq!(gvk("v1", "Pod"), "/v1, Kind=Pod");
        assert_eq!(ApplyError::ManagedFieldsInConfig.status_code(), 400);
    }
}
