//! RFC 7386 JSON merge patch (`application/merge-patch+json`).

use serde_json::{Map, Value};

use super::value::remove_member;

/// Applies a JSON merge patch: objects merge member by member, `null` removes a member, and any
/// other value (arrays included) replaces what was there.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            remove_member(target, key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value) -> Value {
        let mut target = target;
        merge_patch(&mut target, &patch);
        target
    }

    #[test]
    fn rfc_7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(patched(target.clone(), patch.clone()), want, "{target} + {patch}");
        }
    }

    #[test]
    fn kubectl_label_adds_and_overwrites() {
        let pod = json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "old"}}, "spec": {}});
        let got = patched(pod, json!({"metadata": {"labels": {"a": "b", "tier": "new"}}}));
        assert_eq!(
            got,
            json!({
                "metadata": {"name": "web", "labels": {"app": "web", "tier": "new", "a": "b"}},
                "spec": {}
            })
        );
    }

    #[test]
    fn kubectl_label_minus_removes() {
        // `kubectl label pod web tier-` sends the label as null.
        let pod = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}});
        let got = patched(pod, json!({"metadata": {"labels": {"tier": null}}}));
        assert_eq!(got, json!({"metadata": {"labels": {"app": "web"}}}));
    }

    #[test]
    fn kubectl_annotate_creates_missing_map() {
        let got =
            patched(json!({"metadata": {"name": "x"}}), json!({"metadata": {"annotations": {"k": "v"}}}));
        assert_eq!(got, json!({"metadata": {"name": "x", "annotations": {"k": "v"}}}));
    }

    #[test]
    fn kubectl_scale_sets_replicas() {
        let got =
            patched(json!({"spec": {"replicas": 1, "paused": false}}), json!({"spec": {"replicas": 3}}));
        assert_eq!(got, json!({"spec": {"replicas": 3, "paused": false}}));
    }

    #[test]
    fn arrays_are_replaced_not_merged() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}});
        let got = patched(pod, json!({"spec": {"containers": [{"name": "a", "image": "y"}]}}));
        assert_eq!(got, json!({"spec": {"containers": [{"name": "a", "image": "y"}]}}));
    }

    #[test]
    fn removing_a_missing_member_is_a_no_op() {
        let got = patched(json!({"a": 1}), json!({"b": null}));
        assert_eq!(got, json!({"a": 1}));
    }
}
