//! Server-side apply: field ownership (`metadata.managedFields`), conflicts, and the merge of
//! an applied configuration (`application/apply-patch+yaml`), as the upstream API server does
//! them (structured-merge-diff and apiserver's fieldmanager). Pure logic: the caller reads and
//! stores objects.
//!
//! # How the API server uses it
//!
//! - **Apply** (`PATCH` with `application/apply-patch+yaml`, or apply to a missing object to
//!   create it): check the options with [`validate_patch_options`] (apply needs an explicit
//!   `fieldManager`; `kubectl apply --server-side` sends `kubectl`, helm v4 sends `helm`),
//!   then [`apply`] (or [`apply_with`] for a subresource) with the current object or `None`,
//!   then the usual create/update preparation (defaults, validation, status reset) and
//!   storage. `force` is the `force` query parameter. An unchanged result (`== current`)
//!   means a no-op: nothing to store.
//! - **Create, update (PUT), JSON/merge/strategic patches**: compute the new object as usual,
//!   then call [`record_update`] (old object, or `None` on create) just before storing. The
//!   manager is the `fieldManager` parameter or, when absent, [`default_manager`] of the
//!   `User-Agent` (kubectl sends `fieldManager` itself: `kubectl-client-side-apply`,
//!   `kubectl-create`, `kubectl-edit`, `kubectl-patch`, `kubectl-scale`, ...). Check a given
//!   `fieldManager` with [`validate_write_options`] / [`validate_patch_options`].
//! - **Subresources** (`/status`, `/scale`): [`record_update_with`] / [`apply_with`] with
//!   [`Options::subresource`]; the entry is recorded against the parent's API version.
//!
//! # Semantics
//!
//! Every field path is owned by the managers whose entries list it. An *applier* owns exactly
//! the fields of its last applied configuration; an *updater* owns what its writes changed.
//! Applying:
//! 1. merges the configuration into the object (objects by field, associative lists by key,
//!    sets by value, atomic lists and scalars replaced; a `null` removes the field);
//! 2. removes the fields the applier applied last time, no longer applies, and nobody else
//!    owns (an associative-list item goes whole if nobody owns any of it);
//! 3. fails with [`ApplyError::Conflicts`] if a field whose value changes is owned by another
//!    manager, unless forced, which moves the ownership to the applier;
//! 4. records the applied fields as the applier's `Apply` entry.
//!
//! Fields never tracked, as upstream: `apiVersion`, `kind`, `metadata.name`, `namespace`,
//! `uid`, `resourceVersion`, `generation`, `creationTimestamp`, `selfLink`, `managedFields`,
//! and the *reset fields* of the endpoint (`status` on the main resource, `spec` on `/status`),
//! whose applied values are also not merged (the strategy would reset them anyway).
//!
//! Where this differs from upstream, knowingly:
//! - Object conversion between API versions is not done: entries recorded in another version
//!   are compared as if they were in this one.
//! - A manager's brand-new `Apply` entry gets the current time even when the apply changed
//!   nothing (upstream leaves it without a time). An apply that changes nothing otherwise
//!   leaves the object, times included, as it was, as upstream.
//! - The schema of built-in types is path based (see [`ApplySchema`]); unknown fields are
//!   granular objects and atomic lists.

mod error;
mod fieldset;
mod last_applied;
mod managed;
mod schema;
#[cfg(test)]
mod tests;
mod typed;

use serde_json::Value;

use crate::status::Cause;

pub use error::{ApplyError, Conflict, conflict_causes, conflict_message};
pub use fieldset::{FieldSet, FieldsV1Error, Json, Path, PathElement};
pub use last_applied::LAST_APPLIED_ANNOTATION;
pub use managed::{
    ANCIENT_CHANGES, MAX_UPDATE_MANAGERS, ManagedFieldsEntry, Operation, decode_managed_fields,
};
pub use schema::{ApplySchema, KeyField, ListType, MapType, OpenApiSchema, list_type_of};

use error::gvk;
use managed::{ManagerId, decode_list, encode, is_reset};
use typed::{Comparison, Typed};

/// The manager upstream records for the fields of an object that existed, without managed
/// fields, before its first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The longest field manager name upstream accepts, in bytes.
pub const MAX_FIELD_MANAGER_LENGTH: usize = 128;

/// The reset fields of a main resource with a status subresource: `status`.
pub const MAIN_RESOURCE_RESET: &[&[&str]] = &[&["status"]];

/// The reset fields of the `status` subresource: `spec`.
pub const STATUS_RESET: &[&[&str]] = &[&["spec"]];

/// Who writes, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The API version of the request (recorded in the entry).
    pub api_version: &'a str,
    /// `""`, `"status"`, `"scale"`.
    pub subresource: &'a str,
    /// The time recorded in the entry, RFC 3339 (`2025-01-02T03:04:05Z`).
    pub now: &'a str,
    /// Fields this endpoint does not write (upstream's reset fields): not tracked, and their
    /// applied values not merged. [`MAIN_RESOURCE_RESET`] by default; set `&[]` for a kind
    /// whose `status` is an ordinary field (a custom resource without a status subresource).
    pub reset_fields: &'a [&'a [&'a str]],
}

impl<'a> Options<'a> {
    /// A write to the main resource.
    pub fn new(manager: &'a str, api_version: &'a str, now: &'a str) -> Self {
        Options { manager, api_version, subresource: "", now, reset_fields: MAIN_RESOURCE_RESET }
    }

    /// A write to a subresource; `status` resets `spec`, others `status`.
    pub fn subresource(self, subresource: &'a str) -> Self {
        let reset_fields = if subresource == "status" { STATUS_RESET } else { MAIN_RESOURCE_RESET };
        Options { subresource, reset_fields, ..self }
    }

    /// Other reset fields.
    pub fn reset_fields(self, reset_fields: &'a [&'a [&'a str]]) -> Self {
        Options { reset_fields, ..self }
    }

    fn reset_paths(&self) -> Vec<Vec<String>> {
        self.reset_fields.iter().map(|p| p.iter().map(|s| (*s).to_owned()).collect()).collect()
    }

    /// The paths never tracked: upstream's stripped metadata, plus the reset fields (whole
    /// subtrees).
    fn untracked(&self) -> (FieldSet, FieldSet) {
        let mut stripped = FieldSet::new();
        for field in ["apiVersion", "kind", "metadata"] {
            stripped.insert(&[PathElement::field(field)]);
        }
        for field in STRIPPED_METADATA {
            stripped.insert(&[PathElement::field("metadata"), PathElement::field(field)]);
        }
        let mut reset = FieldSet::new();
        for path in self.reset_fields {
            reset.insert(&path.iter().map(|f| PathElement::field(f)).collect::<Vec<_>>());
        }
        (stripped, reset)
    }

    fn tracked(&self, set: &FieldSet) -> FieldSet {
        let (stripped, reset) = self.untracked();
        set.difference(&stripped).recursive_difference(&reset)
    }

    fn tracked_changes(&self, cmp: &Comparison) -> Comparison {
        let (stripped, reset) = self.untracked();
        let cmp = cmp.without(&reset);
        Comparison {
            added: cmp.added.difference(&stripped),
            modified: cmp.modified.difference(&stripped),
            removed: cmp.removed.difference(&stripped),
        }
    }

    fn entry(&self, operation: Operation, manager: &str, fields: FieldSet) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: manager.to_owned(),
            operation,
            api_version: self.api_version.to_owned(),
            time: Some(self.now.to_owned()),
            subresource: self.subresource.to_owned(),
            fields,
        }
    }
}

/// Metadata fields nobody owns (upstream's strip list).
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// System metadata an applied configuration may carry as `null` (`kubectl create
/// --dry-run=client -o yaml` writes `creationTimestamp: null`), meaning "not specified".
const SYSTEM_METADATA: &[&str] = &[
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "uid",
    "resourceVersion",
    "generation",
    "selfLink",
    "managedFields",
];

/// Lets a schema of any type, sized or not, be used as `&dyn ApplySchema`.
struct Erased<'a, S: ?Sized>(&'a S);

impl<S: ApplySchema + ?Sized> ApplySchema for Erased<'_, S> {
    fn list_type(&self, path: &[&str]) -> ListType {
        self.0.list_type(path)
    }

    fn map_type(&self, path: &[&str]) -> MapType {
        self.0.map_type(path)
    }
}

/// The fields an applied configuration specifies, as its applier would own them: every leaf
/// and list item (upstream's `FieldsV1`, see [`FieldSet`]), without the untracked fields of
/// a main-resource apply (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`, ...,
/// `status`). Lists whose items cannot be keyed count as atomic here (an apply rejects them).
pub fn field_set<S: ApplySchema + ?Sized>(obj: &Value, schema: &S) -> FieldSet {
    let erased = Erased(schema);
    let opts = Options::new("", "", "");
    let typed = Typed { schema: &erased, reset: opts.reset_paths() };
    opts.tracked(&typed.applied_set(obj, false).unwrap_or_default())
}

/// Server-side apply of `applied` by `manager` to the main resource; see [`apply_with`].
pub fn apply<S: ApplySchema + ?Sized>(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    now: &str,
    schema: &S,
) -> Result<Value, ApplyError> {
    apply_with(current, applied, force, &Options::new(manager, api_version, now), schema)
}

/// Server-side apply: the object after applying `applied` to `current` (`None` creates it:
/// the object is the configuration), with `metadata.managedFields` updated. See the module
/// documentation for the semantics.
///
/// The configuration must be an object of the request's `apiVersion` and of `current`'s
/// `kind`, without `metadata.managedFields`. Without `force`, fields owned by other managers
/// whose values would change are [`ApplyError::Conflicts`]; with it they change owner. The
/// `kubectl` manager may take, without `force`, the fields listed in the object's
/// client-side-apply annotation, and keeps that annotation in step (upstream's upgrade path
/// from client-side apply).
pub fn apply_with<S: ApplySchema + ?Sized>(
    current: Option<&Value>,
    applied: &Value,
    force: bool,
    opts: &Options,
    schema: &S,
) -> Result<Value, ApplyError> {
    let erased = Erased(schema);
    let typed = Typed { schema: &erased, reset: opts.reset_paths() };
    validate_patch_options(opts.manager, None, true)?;
    let Value::Object(config) = applied else { return Err(ApplyError::NotAnObject(json_kind(applied))) };
    let text = |field: &str| config.get(field).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let want_kind = current.and_then(|c| c.get("kind")).and_then(Value::as_str);
    if kind.is_empty() || api_version != opts.api_version || want_kind.is_some_and(|k| k != kind) {
        return Err(ApplyError::WrongType(gvk(api_version, kind)));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApplyError::ManagedFieldsInConfig);
    }
    let config = without_system_nulls(applied);
    let invalid = |e: typed::TypeError| ApplyError::InvalidObject {
        gvk: gvk(api_version, kind),
        message: e.to_string(),
    };
    let applied_set = opts.tracked(&typed.applied_set(&config, true).map_err(invalid)?);

    let Some(current) = current else {
        let mut obj = typed.fresh(&config);
        encode(&mut obj, vec![opts.entry(Operation::Apply, opts.manager, applied_set)]);
        last_applied::sync(&mut obj, applied, opts.manager);
        return Ok(obj);
    };

    let live = without_managed_fields(current);
    // Entries that do not decode are dropped, as if the object had none.
    let mut entries = decode_managed_fields(current).unwrap_or_default();
    if entries.is_empty() {
        // What the object holds belongs to someone: upstream records it first.
        let cmp = opts.tracked_changes(&typed.compare(&skeleton(&live), &live));
        let fields = cmp.added.union(&cmp.modified);
        entries.push(opts.entry(Operation::Update, BEFORE_FIRST_APPLY, fields));
    }
    let me = ManagerId {
        manager: opts.manager.to_owned(),
        operation: Operation::Apply,
        api_version: String::new(),
        subresource: opts.subresource.to_owned(),
    };
    let mine = entries.iter().position(|e| e.id() == me);

    let mut merged = typed.merge(&live, &config).map_err(invalid)?;
    if let Some(i) = mine {
        let owned = entries
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .fold(applied_set.clone(), |owned, (_, e)| owned.union(&e.fields));
        typed.prune(&mut merged, &entries[i].fields, &owned);
    }

    let cmp = opts.tracked_changes(&typed.compare(&live, &merged));
    let changed = cmp.added.union(&cmp.modified);
    let taken: Vec<(usize, FieldSet)> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != mine)
        .map(|(i, e)| (i, e.fields.intersection(&changed)))
        .filter(|(_, both)| !both.is_empty())
        .collect();
    if !taken.is_empty() && !force {
        let allowed = last_applied::allowed_conflicts(current, opts.manager, &typed);
        let refused: Vec<(usize, FieldSet)> = match &allowed {
            Some(allowed) => taken
                .iter()
                .map(|(i, both)| (*i, both.difference(allowed)))
                .filter(|(_, rest)| !rest.is_empty())
                .collect(),
            None => taken.clone(),
        };
        if !refused.is_empty() {
            return Err(ApplyError::Conflicts(conflicts(&entries, &refused)));
        }
    }
    for (i, both) in &taken {
        entries[*i].fields = entries[*i].fields.difference(both);
    }
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            entry.fields = entry.fields.difference(&cmp.removed);
        }
    }
    let changed_object = merged != live;
    match mine {
        Some(i) => {
            let entry = &mut entries[i];
            entry.fields = applied_set;
            entry.api_version = opts.api_version.to_owned();
            if changed_object || entry.time.is_none() {
                entry.time = Some(opts.now.to_owned());
            }
        }
        None => entries.push(opts.entry(Operation::Apply, opts.manager, applied_set)),
    }
    encode(&mut merged, entries);
    last_applied::sync(&mut merged, applied, opts.manager);
    Ok(merged)
}

fn conflicts(entries: &[ManagedFieldsEntry], taken: &[(usize, FieldSet)]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (i, both) in taken {
        let entry = &entries[*i];
        for path in both.paths() {
            out.push(Conflict {
                manager: entry.manager.clone(),
                operation: entry.operation,
                api_version: entry.api_version.clone(),
                subresource: entry.subresource.clone(),
                field_path: path.to_string(),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.manager, a.operation, &a.api_version, &a.subresource).cmp(&(
            &b.manager,
            b.operation,
            &b.api_version,
            &b.subresource,
        ))
    });
    out
}

/// Records a non-apply write (create, update, any patch but apply) to the main resource; see
/// [`record_update_with`].
pub fn record_update<S: ApplySchema + ?Sized>(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    api_version: &str,
    now: &str,
    schema: &S,
) -> Value {
    record_update_with(old, new.clone(), &Options::new(manager, api_version, now), schema)
}

/// `new` with `metadata.managedFields` recording a write that turned `old` (`None` on create)
/// into `new`, as upstream does for every non-apply write:
/// - the fields the write added or changed (on create, all of them) are taken from every
///   entry and given to the manager's `Update` entry for this API version and subresource
///   (created, or merged into, and its time set); removed fields leave every entry; entries
///   left empty are dropped; a write that changes nothing changes no entry.
/// - The entries started from are the live object's, unless the request (`new`) carries
///   decodable, non-empty `managedFields` of its own, which are taken as given (upstream lets
///   clients edit them; a patch that does not touch them carries the live ones anyway). An
///   empty list, or a list of one empty entry, clears them. Requests to a subresource cannot
///   change them.
pub fn record_update_with<S: ApplySchema + ?Sized>(
    old: Option<&Value>,
    mut new: Value,
    opts: &Options,
    schema: &S,
) -> Value {
    let erased = Erased(schema);
    let typed = Typed { schema: &erased, reset: opts.reset_paths() };
    let live_entries = || old.and_then(|o| decode_managed_fields(o).ok()).unwrap_or_default();
    let requested = new
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|meta| meta.remove("managedFields"))
        .filter(|m| !m.is_null());
    let mut entries = match &requested {
        _ if !opts.subresource.is_empty() => live_entries(),
        Some(list) if is_reset(list) => Vec::new(),
        Some(list) => match decode_list(list) {
            Ok(entries) if !entries.is_empty() => entries,
            _ => live_entries(),
        },
        None => live_entries(),
    };
    let mut after = new;
    let before = old.map(without_managed_fields).unwrap_or_else(|| skeleton(&after));
    let cmp = opts.tracked_changes(&typed.compare(&before, &after));
    let changed = cmp.added.union(&cmp.modified);
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() {
        let id = ManagerId {
            manager: opts.manager.to_owned(),
            operation: Operation::Update,
            api_version: opts.api_version.to_owned(),
            subresource: opts.subresource.to_owned(),
        };
        match entries.iter_mut().find(|e| e.id() == id) {
            Some(entry) => {
                entry.fields = entry.fields.union(&changed);
                entry.time = Some(opts.now.to_owned());
            }
            None => entries.push(opts.entry(Operation::Update, opts.manager, changed)),
        }
    }
    encode(&mut after, entries);
    after
}

/// The field manager of a request without a `fieldManager` parameter: the `User-Agent` up to
/// its first `/` (`kubectl/v1.35.0 (linux/amd64) kubernetes/abc` gives `kubectl`), at most
/// 128 bytes, characters that are not printable replaced by `?`.
pub fn default_manager(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut end = prefix.len().min(MAX_FIELD_MANAGER_LENGTH);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    prefix[..end].chars().map(|c| if printable(c) { c } else { '?' }).collect()
}

/// Go's `unicode.IsPrint`, near enough: no control characters, no whitespace but the space.
fn printable(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace())
}

fn field_manager_causes(manager: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if manager.len() > MAX_FIELD_MANAGER_LENGTH {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: format!("Too long: may not be more than {MAX_FIELD_MANAGER_LENGTH} bytes"),
            field: "fieldManager".into(),
        });
    }
    if let Some((offset, _)) = manager.char_indices().find(|(_, c)| !printable(*c)) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {manager:?}: invalid characters at offset {offset}"),
            field: "fieldManager".into(),
        });
    }
    causes
}

/// Upstream's checks of `PatchOptions`: an apply needs a `fieldManager`; `force` (given at
/// all, even `false`) is only for apply; a `fieldManager` must be at most 128 bytes of
/// printable characters.
pub fn validate_patch_options(
    field_manager: &str,
    force: Option<bool>,
    apply: bool,
) -> Result<(), ApplyError> {
    let mut causes = Vec::new();
    if !apply && force.is_some() {
        causes.push(Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: may not be specified for non-apply patch".into(),
            field: "force".into(),
        });
    }
    if apply && field_manager.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: is required for apply patch".into(),
            field: "fieldManager".into(),
        });
    }
    causes.extend(field_manager_causes(field_manager));
    if causes.is_empty() { Ok(()) } else { Err(ApplyError::InvalidOptions { kind: "PatchOptions", causes }) }
}

/// Upstream's check of the `fieldManager` of a create (`kind` `CreateOptions`) or update
/// (`UpdateOptions`).
pub fn validate_write_options(kind: &'static str, field_manager: &str) -> Result<(), ApplyError> {
    let causes = field_manager_causes(field_manager);
    if causes.is_empty() { Ok(()) } else { Err(ApplyError::InvalidOptions { kind, causes }) }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
    obj
}

fn without_system_nulls(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(Value::Object(meta)) = config.get_mut("metadata") {
        meta.retain(|k, v| !(v.is_null() && SYSTEM_METADATA.contains(&k.as_str())));
    }
    config
}

/// What upstream compares a new object with: the zero value of its Go type, in which
/// structures (`metadata`, `spec`, `status`, a pod template and its `metadata` and `spec`,
/// a Deployment's `strategy`) exist but are empty, while pointers, maps and lists do not. So a
/// create owns `.spec.replicas` and `.metadata.labels` (with its `.`), not `.spec` itself.
/// The structures are the common ones of the built-in kinds; elsewhere a create also owns the
/// objects themselves, which upstream only does for pointers and maps (a difference that shows
/// in `managedFields` only).
fn skeleton(obj: &Value) -> Value {
    const STRUCTURES: &[&[&str]] = &[
        &["metadata"],
        &["spec"],
        &["status"],
        &["spec", "strategy"],
        &["spec", "updateStrategy"],
        &["spec", "template"],
        &["spec", "template", "metadata"],
        &["spec", "template", "spec"],
        &["spec", "jobTemplate"],
        &["spec", "jobTemplate", "metadata"],
        &["spec", "jobTemplate", "spec"],
        &["spec", "jobTemplate", "spec", "template"],
        &["spec", "jobTemplate", "spec", "template", "metadata"],
        &["spec", "jobTemplate", "spec", "template", "spec"],
        &["template"],
        &["template", "metadata"],
        &["template", "spec"],
    ];
    let mut out = Value::Object(serde_json::Map::new());
    for path in STRUCTURES {
        let pointer: String = path.iter().map(|f| format!("/{f}")).collect();
        if !obj.pointer(&pointer).is_some_and(Value::is_object) {
            continue;
        }
        let (last, parents) = path.split_last().expect("paths are not empty");
        let parent: String = parents.iter().map(|f| format!("/{f}")).collect();
        if let Some(Value::Object(map)) = out.pointer_mut(&parent) {
            map.insert((*last).to_owned(), Value::Object(serde_json::Map::new()));
        }
    }
    out
}
