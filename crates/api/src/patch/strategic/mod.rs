//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), as the API server applies it.

mod builtin;
mod list;
mod map;
mod order;
mod schema;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use builtin::BuiltinSchema;
pub use schema::{FieldMeta, ListStrategy, NoSchema, PatchSchema};

use super::PatchError;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to an object. On error `target` is unchanged.
///
/// A strategic merge patch is a JSON merge patch whose lists follow the schema (merged by
/// key, merged as sets, or replaced), plus the directives `kubectl` sends: `$patch`
/// (`replace`, `delete`, `merge`), `$retainKeys`, `$setElementOrder/<list>` and
/// `$deleteFromPrimitiveList/<list>`. The behaviour is that of the upstream design doc and of
/// the server side of apimachinery's strategicpatch package; where they differ the server wins.
///
/// Behaviour worth knowing, all as upstream unless marked:
/// - An item a patch adds to a merged list (without `$setElementOrder`) goes before the
///   object's items the patch does not mention, except those that stood before an item it
///   does mention. `kubectl apply`, `edit` and `set image` normally send `$setElementOrder`,
///   which fixes the order explicitly.
/// - `[]` for a merged list changes nothing; `[{"$patch": "replace"}]` empties it.
/// - Values the object lacks are taken from the patch with their nulls and directives
///   processed (upstream drops any such map that carries `$patch` and keeps `$retainKeys`
///   and `$setElementOrder` keys in it; here directives never reach the result).
/// - `$patch: delete` on a map removes the field (upstream leaves `{}`); on the whole object
///   it leaves `{}`.
/// - `$patch: merge` is accepted as the no-op it names (upstream rejects it).
/// - A list item carrying its merge key and `$patch: replace` replaces that one item
///   (upstream turns the whole list into the patch's other items and drops that one).
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    schema: &dyn PatchSchema,
) -> Result<(), PatchError> {
    let patch = match patch {
        // Upstream decodes `null` into an empty patch.
        Value::Null => return Ok(()),
        Value::Object(patch) => patch,
        _ => return Err(error(&[], "invalid JSON document: a strategic merge patch must be a JSON object")),
    };
    let Value::Object(object) = target else {
        return Err(error(&[], "invalid JSON document: the patched object must be a JSON object"));
    };
    let ctx = Ctx { schema };
    let merged = match map::merge_map(&ctx, Some(object.clone()), patch, &[])? {
        Merged::Keep(merged) => merged,
        Merged::Delete => Map::new(),
    };
    *target = Value::Object(merged);
    Ok(())
}

/// State shared by the whole merge.
struct Ctx<'s> {
    schema: &'s dyn PatchSchema,
}

impl Ctx<'_> {
    fn meta(&self, path: &[String]) -> FieldMeta {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        self.schema.field(&path)
    }
}

/// The result of merging a map: `$patch: delete` asks for the map to go.
enum Merged {
    Keep(Map<String, Value>),
    Delete,
}

/// The values of `$patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Directive {
    Replace,
    Merge,
    Delete,
}

/// The `$patch` directive of a patch map, if it has one.
fn directive_of(fields: &Map<String, Value>, path: &[String]) -> Result<Option<Directive>, PatchError> {
    match fields.get(PATCH) {
        None => Ok(None),
        Some(Value::String(s)) if s == "replace" => Ok(Some(Directive::Replace)),
        Some(Value::String(s)) if s == "merge" => Ok(Some(Directive::Merge)),
        Some(Value::String(s)) if s == "delete" => Ok(Some(Directive::Delete)),
        Some(other) => {
            let shown = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
            Err(error(path, format!("unknown patch type: {shown} in map: {}", Value::Object(fields.clone()))))
        }
    }
}

/// Whether a patch key is a directive rather than a field.
fn is_directive(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

fn child_path(path: &[String], field: &str) -> Vec<String> {
    let mut child = path.to_vec();
    child.push(field.to_owned());
    child
}

fn error(path: &[String], message: impl Into<String>) -> PatchError {
    PatchError::Strategic { path: path.join("."), message: message.into() }
}

fn missing_merge_key(item: &Value, key: &str, path: &[String]) -> PatchError {
    error(path, format!("map: {item} does not contain declared merge key: {key}"))
}
