//! Comparisons on JSON values shared by the patch formats.

use serde_json::{Map, Value};

/// Deep equality in which numbers compare by value, so `1` equals `1.0`: upstream decodes every
/// JSON number to a Go float64 before comparing merge keys, list members and `test` values.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            // Integers compare exactly so that values beyond 2^53 stay distinct.
            if x.is_f64() || y.is_f64() { x.as_f64() == y.as_f64() } else { x == y }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Removes a member without moving the others. With serde_json's `preserve_order` feature
/// (which any crate of the build may switch on) `Map::remove` moves the last member into the gap.
pub(crate) fn remove_member(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let value = map.get_mut(key).map(std::mem::take)?;
    map.retain(|k, _| k != key);
    Some(value)
}

/// The JSON type of a value, as error messages name it.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(80), &json!(80.0)));
        assert!(!json_eq(&json!(80), &json!(81)));
        assert!(!json_eq(&json!(u64::MAX), &json!(u64::MAX - 1)));
        assert!(!json_eq(&json!(1), &json!("1")));
    }

    #[test]
    fn containers_compare_deeply() {
        assert!(json_eq(&json!({"a": [1, {"b": 2.0}]}), &json!({"a": [1.0, {"b": 2}]})));
        assert!(!json_eq(&json!({"a": [1, 2]}), &json!({"a": [2, 1]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"b": 1})));
    }

    #[test]
    fn remove_member_returns_the_value() {
        let mut map = json!({"a": 1, "b": 2, "c": 3}).as_object().cloned().unwrap_or_default();
        assert_eq!(remove_member(&mut map, "b"), Some(json!(2)));
        assert_eq!(remove_member(&mut map, "b"), None);
        assert_eq!(Value::Object(map), json!({"a": 1, "c": 3}));
    }

    #[test]
    fn kinds_are_named() {
        assert_eq!(kind(&json!(null)), "null");
        assert_eq!(kind(&json!([1])), "list");
        assert_eq!(kind(&json!({})), "map");
        assert_eq!(kind(&json!("x")), "string");
    }
}
