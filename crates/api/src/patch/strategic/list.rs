//! Merging a patch list into an object list: replaced, merged by key, or merged as a set.

use serde_json::Value;

use super::order::{self, Identity, Ids};
use super::{Ctx, Directive, ListStrategy, Merged, PATCH, directive_of, error, map};
use crate::patch::PatchError;
use crate::patch::value::{json_eq, kind};

/// Merges `patch` into the list `original` according to the field's strategy.
pub(super) fn merge_list(
    ctx: &Ctx<'_>,
    original: Vec<Value>,
    patch: &[Value],
    path: &[String],
) -> Result<Vec<Value>, PatchError> {
    let meta = ctx.meta(path);
    if meta.strategy == ListStrategy::Replace {
        return fresh_list(ctx, patch, path);
    }
    match element_kind(&original, patch, path)? {
        None => Ok(original),
        Some("map") => {
            let key = meta.merge_key.as_deref().ok_or_else(|| no_merge_key(path))?;
            merge_keyed(ctx, original, patch, key, path)
        }
        Some(_) => Ok(merge_set(original, patch)),
    }
}

/// A patch list for a field the object lacks (or whose strategy is replace): its items stand,
/// with markers, deletions, nulls and directives inside the items removed.
pub(super) fn fresh_list(ctx: &Ctx<'_>, items: &[Value], path: &[String]) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(fields) = item else {
            out.push(item.clone());
            continue;
        };
        // A bare `{"$patch": ...}` is an instruction about the list, not an item of it.
        if fields.len() == 1 && directive_of(fields, path)?.is_some() {
            continue;
        }
        if let Merged::Keep(merged) = map::merge_map(ctx, None, fields, path)? {
            out.push(Value::Object(merged));
        }
    }
    Ok(out)
}

/// `$setElementOrder/<field>`: merges the list with its patch, then orders the result.
/// `None` when neither the object nor the patch has the list.
pub(super) fn merge_ordered(
    ctx: &Ctx<'_>,
    live: Option<Vec<Value>>,
    patch: Option<&[Value]>,
    order: &[Value],
    path: &[String],
) -> Result<Option<Vec<Value>>, PatchError> {
    let meta = ctx.meta(path);
    let mut all = live.iter().flatten().chain(patch.unwrap_or_default()).chain(order);
    let identity = if all.any(Value::is_object) {
        Identity::Key(meta.merge_key.as_deref().ok_or_else(|| no_merge_key(path))?)
    } else {
        Identity::Value
    };
    let order_ids = order
        .iter()
        .map(|item| identity.require(item, path).map(|id| Some(id.clone())))
        .collect::<Result<Ids, _>>()?;
    if let Some(patch) = patch {
        check_order(patch, &order_ids, identity, order, path)?;
    }
    let live_ids = live.as_deref().map(|items| identity.ids(items)).unwrap_or_default();
    let merged = match (live, patch) {
        (Some(live), Some(patch)) => merge_list(ctx, live, patch, path)?,
        (Some(live), None) => live,
        (None, Some(patch)) => fresh_list(ctx, patch, path)?,
        (None, None) => return Ok(None),
    };
    let (named, rest) = order::partition(merged, &order_ids, identity);
    Ok(Some(order::normalize(named, rest, &order_ids, &live_ids, identity)))
}

/// The patch list must name its items in the order `$setElementOrder` gives, and only items it
/// names; anything else means the client built the patch wrongly.
fn check_order(
    patch: &[Value],
    order_ids: &[Option<Value>],
    identity: Identity<'_>,
    order: &[Value],
    path: &[String],
) -> Result<(), PatchError> {
    let mut cursor = 0;
    for item in patch {
        // Deletions and markers are not members of the resulting list.
        if item.as_object().is_some_and(|fields| fields.contains_key(PATCH)) {
            continue;
        }
        let id = identity.require(item, path)?;
        let rest = order_ids.get(cursor..).unwrap_or_default();
        match rest.iter().position(|o| o.as_ref().is_some_and(|o| json_eq(o, id))) {
            Some(offset) => cursor += offset + 1,
            None => {
                return Err(error(
                    path,
                    format!(
                        "the order in patch list {} doesn't match $setElementOrder list {}",
                        Value::Array(patch.to_vec()),
                        Value::Array(order.to_vec())
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The one JSON type all items of both lists share, or `None` if both are empty.
fn element_kind(
    original: &[Value],
    patch: &[Value],
    path: &[String],
) -> Result<Option<&'static str>, PatchError> {
    let mut seen = None;
    for item in original.iter().chain(patch) {
        let this = kind(item);
        if this == "list" {
            return Err(error(path, "lists of lists are not supported"));
        }
        match seen {
            None => seen = Some(this),
            Some(first) if first != this => {
                return Err(error(
                    path,
                    format!("list element types are not identical: found a {first} and a {this}"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(seen)
}

/// A merged list of primitives is a set: the union, without duplicates.
fn merge_set(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let identity = Identity::Value;
    let live = identity.ids(&original);
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for item in original.into_iter().chain(patch.iter().cloned()) {
        if !merged.iter().any(|m| identity.matches(m, &item)) {
            merged.push(item);
        }
    }
    let patch_ids = identity.ids(patch);
    let (named, rest) = order::partition(merged, &patch_ids, identity);
    order::normalize(named, rest, &patch_ids, &live, identity)
}

/// A merged list of maps: items pair up by merge key and merge; unmatched patch items are added.
fn merge_keyed(
    ctx: &Ctx<'_>,
    original: Vec<Value>,
    patch: &[Value],
    key: &str,
    path: &[String],
) -> Result<Vec<Value>, PatchError> {
    let identity = Identity::Key(key);
    let mut items = Vec::with_capacity(patch.len());
    for item in patch {
        let Value::Object(fields) = item else {
            return Err(error(path, format!("expected a map with merge key {key}, found {item}")));
        };
        items.push((item, fields, directive_of(fields, path)?));
    }
    // A keyless `{"$patch": "replace"}` anywhere makes the patch's other items the whole list.
    if items.iter().any(|(item, _, d)| *d == Some(Directive::Replace) && identity.of(item).is_none()) {
        return fresh_list(ctx, patch, path);
    }
    let live = identity.ids(&original);
    let mut merged = original;
    // Deletions go first, as upstream: an item deleted and re-added by one patch is re-added.
    for (item, _, directive) in &items {
        if *directive == Some(Directive::Delete) {
            let id = identity.require(item, path)?;
            merged.retain(|m| !identity.matches(m, id));
        }
    }
    let mut patch_ids = Ids::with_capacity(items.len());
    for (item, fields, directive) in items {
        match directive {
            Some(Directive::Delete) => continue,
            Some(Directive::Merge) if fields.len() == 1 => continue,
            _ => {}
        }
        let id = identity.require(item, path)?;
        let at = merged.iter().position(|m| identity.matches(m, id));
        let base = match (directive, at.and_then(|i| merged.get_mut(i))) {
            // Replacing one item starts it afresh.
            (Some(Directive::Replace), _) => None,
            (_, Some(Value::Object(current))) => Some(std::mem::take(current)),
            _ => None,
        };
        match (map::merge_map(ctx, base, fields, path)?, at) {
            (Merged::Keep(done), Some(i)) => merged[i] = Value::Object(done),
            (Merged::Keep(done), None) => merged.push(Value::Object(done)),
            (Merged::Delete, Some(i)) => {
                merged.remove(i);
            }
            (Merged::Delete, None) => {}
        }
        patch_ids.push(Some(id.clone()));
    }
    let (named, rest) = order::partition(merged, &patch_ids, identity);
    Ok(order::normalize(named, rest, &patch_ids, &live, identity))
}

fn no_merge_key(path: &[String]) -> PatchError {
    error(path, format!("cannot merge lists without merge key for {}", path.join(".")))
}
