//! A partial parse of a stored object for [`Attrs`](super::Attrs): the top level's scalars,
//! `metadata`'s labels, and the scalars one level inside every top-level object (where all of
//! the built-in selectable fields live: `spec.nodeName`, `involvedObject.kind`,
//! `source.component`, ...). Everything else is read past without being built, which is most
//! of the cost of parsing a Pod into a `Value`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The pruned object, or `None` if `bytes` are not a JSON object.
pub fn parse(bytes: &[u8]) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Keep::Top.deserialize(&mut de).ok()?;
    de.end().ok()?;
    value.filter(Value::is_object)
}

/// What to keep of a value, by where it is.
#[derive(Clone, Copy)]
enum Keep {
    /// The object: its scalars and objects, pruned.
    Top,
    /// A top-level member: a scalar, or an object's scalars (and, in `metadata`, the labels).
    Section { metadata: bool },
    /// A map of labels.
    Labels,
    /// Scalars only; objects and arrays are skipped.
    Scalar,
}

impl<'de> DeserializeSeed<'de> for Keep {
    /// `None` for a skipped value.
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<Value>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keep {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Number::from_f64(v).map(Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(Some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        if matches!(self, Keep::Scalar) {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let inner = match self {
                Keep::Top => Keep::Section { metadata: key == "metadata" },
                Keep::Section { metadata: true } if key == "labels" => Keep::Labels,
                _ => Keep::Scalar,
            };
            if let Some(value) = map.next_value_seed(inner)? {
                out.insert(key, value);
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_what_selectors_read_and_drops_the_rest() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "x", "tier": "web"},
                         "ownerReferences": [{"name": "rs"}], "annotations": {"a": "b"}},
            "spec": {"nodeName": "node-1", "hostNetwork": true, "priority": 5,
                     "containers": [{"name": "c"}], "securityContext": {"runAsUser": 1}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready"}], "ratio": 0.5},
            "list": [1, 2],
        });
        let pruned = parse(pod.to_string().as_bytes()).unwrap();
        assert_eq!(
            pruned,
            json!({
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n", "labels": {"app": "x", "tier": "web"}},
                "spec": {"nodeName": "node-1", "hostNetwork": true, "priority": 5},
                "status": {"phase": "Running", "ratio": 0.5},
            })
        );
    }

    #[test]
    fn only_objects_parse() {
        assert_eq!(parse(b"[1]"), None);
        assert_eq!(parse(b"{\"a\":1} x"), None);
        assert_eq!(parse(b"{\"a\":"), None);
    }
}
