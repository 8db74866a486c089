//! The order of a merged list: patch items in the patch's (or `$setElementOrder`'s) order, the
//! object's other items woven in where they stood.

use serde_json::Value;

use super::{error, missing_merge_key};
use crate::patch::PatchError;
use crate::patch::value::json_eq;

/// How items of one list are told apart: by merge key, or for primitives by value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Identity<'k> {
    Key(&'k str),
    Value,
}

/// Identities of a list's items, in order; `None` for an item without its merge key.
pub(super) type Ids = Vec<Option<Value>>;

impl Identity<'_> {
    pub(super) fn of(self, item: &Value) -> Option<&Value> {
        match self {
            Identity::Key(key) => item.as_object()?.get(key),
            Identity::Value => Some(item),
        }
    }

    /// The identity of a patch item, which must have one.
    pub(super) fn require<'v>(self, item: &'v Value, path: &[String]) -> Result<&'v Value, PatchError> {
        match self {
            Identity::Key(key) if !item.is_object() => {
                Err(error(path, format!("expected a map with merge key {key}, found {item}")))
            }
            Identity::Key(key) => self.of(item).ok_or_else(|| missing_merge_key(item, key, path)),
            Identity::Value => Ok(item),
        }
    }

    pub(super) fn matches(self, item: &Value, id: &Value) -> bool {
        self.of(item).is_some_and(|v| json_eq(v, id))
    }

    pub(super) fn ids(self, items: &[Value]) -> Ids {
        items.iter().map(|item| self.of(item).cloned()).collect()
    }

    fn position(self, item: &Value, ids: &[Option<Value>]) -> Option<usize> {
        let id = self.of(item)?;
        ids.iter().position(|candidate| candidate.as_ref().is_some_and(|c| json_eq(c, id)))
    }
}

/// Splits items into those `by` names and the rest, each keeping its relative order.
pub(super) fn partition(
    items: Vec<Value>,
    by: &[Option<Value>],
    identity: Identity<'_>,
) -> (Vec<Value>, Vec<Value>) {
    items.into_iter().partition(|item| identity.position(item, by).is_some())
}

/// Orders `named` by `order` and `rest` by `live` (the object's list before the patch), then
/// weaves them together.
pub(super) fn normalize(
    named: Vec<Value>,
    rest: Vec<Value>,
    order: &[Option<Value>],
    live: &[Option<Value>],
    identity: Identity<'_>,
) -> Vec<Value> {
    let named = sorted(named, order, identity);
    let rest = sorted(rest, live, identity);
    interleave(rest, named, live, identity)
}

/// Stable sort by position in `by`; items it does not name go last.
fn sorted(items: Vec<Value>, by: &[Option<Value>], identity: Identity<'_>) -> Vec<Value> {
    let mut keyed: Vec<(usize, Value)> =
        items.into_iter().map(|item| (identity.position(&item, by).unwrap_or(usize::MAX), item)).collect();
    keyed.sort_by_key(|(at, _)| *at);
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// Upstream's merge of the two sorted lists: an object-only item goes before the next patch
/// item only if both were in the object and it stood earlier there. So the relative order of
/// each side is kept, object-only items stay near their old neighbours, and an item new to
/// the list goes before the object-only items that follow it.
fn interleave(
    rest: Vec<Value>,
    named: Vec<Value>,
    live: &[Option<Value>],
    identity: Identity<'_>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(rest.len() + named.len());
    let place = |item: Value| (identity.position(&item, live), item);
    let mut rest = rest.into_iter().map(place).peekable();
    let mut named = named.into_iter().map(place).peekable();
    loop {
        let take_rest = match (rest.peek(), named.peek()) {
            (Some((Some(r), _)), Some((Some(n), _))) => r < n,
            (Some(_), Some(_)) | (None, Some(_)) => false,
            (Some(_), None) => true,
            (None, None) => break,
        };
        let next = if take_rest { rest.next() } else { named.next() };
        out.extend(next.map(|(_, item)| item));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(items: &[Value]) -> Vec<i64> {
        items.iter().filter_map(|i| i["name"].as_i64()).collect()
    }

    fn maps(names: &[i64]) -> Vec<Value> {
        names.iter().map(|n| json!({"name": n})).collect()
    }

    /// Orders `merged` by an explicit order as `$setElementOrder` does.
    fn reorder(live: &[i64], merged: &[i64], order: &[i64]) -> Vec<i64> {
        let identity = Identity::Key("name");
        let live = identity.ids(&maps(live));
        let order = identity.ids(&maps(order));
        let (named, rest) = partition(maps(merged), &order, identity);
        names(&normalize(named, rest, &order, &live, identity))
    }

    #[test]
    fn explicit_order_wins_for_named_items() {
        assert_eq!(reorder(&[1, 3, 4, 2], &[1, 3, 4, 2], &[4, 2, 3, 1]), vec![4, 2, 3, 1]);
    }

    #[test]
    fn object_only_items_keep_their_neighbours() {
        assert_eq!(reorder(&[1, 3, 4, 2, 9], &[1, 3, 4, 2, 9], &[4, 2, 3, 1]), vec![4, 2, 3, 1, 9]);
        assert_eq!(reorder(&[1, 2, 9, 3, 4], &[1, 2, 9, 3, 4], &[2, 1, 4, 3]), vec![2, 1, 9, 4, 3]);
        assert_eq!(
            reorder(&[1, 2, 7, 9, 8, 3, 4], &[1, 2, 7, 9, 8, 3, 4], &[2, 1, 4, 3]),
            vec![2, 1, 7, 9, 8, 4, 3]
        );
    }

    #[test]
    fn new_items_take_their_place_in_the_order() {
        assert_eq!(reorder(&[1, 2], &[1, 2, 3], &[3, 1, 2]), vec![3, 1, 2]);
        assert_eq!(reorder(&[1, 2], &[1, 2, 4, 3], &[1, 4, 2, 3]), vec![1, 4, 2, 3]);
    }

    #[test]
    fn without_an_order_new_items_precede_unmentioned_ones() {
        // A patch naming only the new item 3: it is placed before the object's items.
        assert_eq!(reorder(&[1, 2], &[1, 2, 3], &[3]), vec![3, 1, 2]);
        // A patch naming 2 and new 3: 1 stood before 2, so it stays first.
        assert_eq!(reorder(&[1, 2, 4], &[1, 2, 4, 3], &[2, 3]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn primitives_use_their_value() {
        let identity = Identity::Value;
        let live = identity.ids(&[json!("a"), json!("b")]);
        let order = identity.ids(&[json!("b"), json!("c"), json!("a")]);
        let merged = vec![json!("a"), json!("b"), json!("c"), json!("d")];
        let (named, rest) = partition(merged, &order, identity);
        assert_eq!(
            normalize(named, rest, &order, &live, identity),
            vec![json!("b"), json!("c"), json!("a"), json!("d")]
        );
    }

    #[test]
    fn items_without_identity_sort_last() {
        let identity = Identity::Key("name");
        let items = vec![json!({"x": 1}), json!({"name": 2}), json!({"name": 1})];
        let order = identity.ids(&maps(&[1, 2]));
        assert_eq!(
            sorted(items, &order, identity),
            vec![json!({"name": 1}), json!({"name": 2}), json!({"x": 1})]
        );
    }

    #[test]
    fn require_reports_the_missing_key() {
        let identity = Identity::Key("name");
        let err = identity.require(&json!({"image": "x"}), &[]).expect_err("no key");
        assert_eq!(err.to_string(), r#"map: {"image":"x"} does not contain declared merge key: name"#);
        assert!(identity.require(&json!("s"), &[]).is_err());
        assert_eq!(Identity::Value.require(&json!(3), &[]).ok(), Some(&json!(3)));
    }
}
