//! Objects as stored bytes, without a parse: the hot read paths (LIST, GET, watch) splice the
//! resourceVersion into the stored JSON and concatenate, which keeps a LIST of thousands of
//! objects close to the cost of copying them.

use bytes::{BufMut, Bytes, BytesMut};

/// The stored JSON object with `"resourceVersion":"<rv>"` added to its top-level `metadata`,
/// or `None` if the bytes are not an object with a `metadata` object at the top level (the
/// caller then takes the parsing path).
pub fn with_resource_version(raw: &[u8], rv: i64) -> Option<Bytes> {
    let at = metadata_body_offset(raw)?;
    let mut out = BytesMut::with_capacity(raw.len() + 40);
    splice_resource_version(raw, at, rv, &mut out);
    Some(out.freeze())
}

/// Appends `raw` with `"resourceVersion":"<rv>"` inserted at `at`, an offset from
/// [`metadata_body_offset`].
pub fn splice_resource_version(raw: &[u8], at: usize, rv: i64, out: &mut BytesMut) {
    let digits = rv.to_string();
    out.put_slice(&raw[..at]);
    out.put_slice(b"\"resourceVersion\":\"");
    out.put_slice(digits.as_bytes());
    out.put_u8(b'"');
    // Metadata is either empty (`}` next) or has members that need a separator.
    if raw.get(at) != Some(&b'}') {
        out.put_u8(b',');
    }
    out.put_slice(&raw[at..]);
}

/// Offset just after the `{` that opens the value of the top-level `"metadata"` key.
pub fn metadata_body_offset(raw: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    // Start of the most recent string at depth 1, to recognise keys.
    let mut key_start = None;
    while i < raw.len() {
        match raw[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < raw.len() && raw[i] != b'"' {
                    i += if raw[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 {
                    key_start = Some((start, i));
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 2
                    && raw[i] == b'{'
                    && let Some((s, e)) = key_start
                    && &raw[s..e] == b"metadata"
                    && raw[e + 1..i].iter().all(|b| *b == b':' || b.is_ascii_whitespace())
                {
                    return Some(i + 1);
                }
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn splice(v: &Value) -> Value {
        serde_json::from_slice(&with_resource_version(v.to_string().as_bytes(), 42).unwrap()).unwrap()
    }

    #[test]
    fn splices_into_the_top_level_metadata_only() {
        let obj = json!({
            "apiVersion": "apps/v1",
            "aaa": {"metadata": {"name": "decoy"}, "s": "\"metadata\":{"},
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"a": "b"}},
            "spec": {"template": {"metadata": {"labels": {"a": "b"}}}},
        });
        let out = splice(&obj);
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "web");
        assert!(out["aaa"]["metadata"].get("resourceVersion").is_none());
        assert!(out["spec"]["template"]["metadata"].get("resourceVersion").is_none());
        let mut without = out.clone();
        without["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        assert_eq!(without, obj);
    }

    #[test]
    fn empty_metadata_and_odd_inputs() {
        assert_eq!(splice(&json!({"metadata": {}}))["metadata"], json!({"resourceVersion": "42"}));
        assert!(with_resource_version(b"{\"kind\":\"X\"}", 1).is_none());
        assert!(with_resource_version(b"[1,2]", 1).is_none());
        assert!(with_resource_version(b"{\"metadata\":", 1).is_none());
        assert!(with_resource_version(b"}}}", 1).is_none());
        assert!(with_resource_version(b"{\"a\":\"\\\\\",\"metadata\":{\"x\":1}}", 1).is_some());
    }
}
