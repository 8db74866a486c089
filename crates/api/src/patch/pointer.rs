//! RFC 6901 JSON pointers: parsing and walking a document.

use serde_json::Value;

/// Splits a pointer into its unescaped reference tokens; `""` is the whole document.
pub(crate) fn parse(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer {pointer:?}: it must be empty or start with '/'"));
    };
    rest.split('/')
        .map(|token| {
            unescape(token).ok_or_else(|| {
                format!("invalid JSON pointer {pointer:?}: '~' must be followed by '0' or '1'")
            })
        })
        .collect()
}

/// Decodes `~1` and `~0` in one left-to-right pass, so `~01` is the literal `~1` as the RFC requires.
fn unescape(token: &str) -> Option<String> {
    if !token.contains('~') {
        return Some(token.to_owned());
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return None,
        }
    }
    Some(out)
}

/// Encodes one field name as a pointer token.
#[cfg(test)]
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Reads an array index. Negative indices count from the end: the upstream server's JSON patch
/// library accepts them, so clients may rely on it.
fn parse_index(token: &str) -> Result<i64, String> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("value was not a proper array index: '{token}'"));
    }
    token.parse::<i64>().map_err(|_| invalid_index(token))
}

fn invalid_index(index: impl std::fmt::Display) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

fn signed_len(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Index of an existing element of an array of `len` elements.
pub(crate) fn element_index(token: &str, len: usize) -> Result<usize, String> {
    let index = parse_index(token)?;
    let resolved = if index < 0 { signed_len(len) + index } else { index };
    usize::try_from(resolved).ok().filter(|&i| i < len).ok_or_else(|| invalid_index(index))
}

/// Position at which `add` inserts into an array of `len` elements; `-` appends.
pub(crate) fn insert_index(token: &str, len: usize) -> Result<usize, String> {
    if token == "-" {
        return Ok(len);
    }
    let index = parse_index(token)?;
    let resolved = if index < 0 { signed_len(len) + 1 + index } else { index };
    usize::try_from(resolved).ok().filter(|&i| i <= len).ok_or_else(|| invalid_index(index))
}

/// The member or element `token` names in `node`, if there is one.
pub(crate) fn child<'a>(node: &'a Value, token: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => element_index(token, items.len()).ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn child_mut<'a>(node: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => element_index(token, items.len()).ok().and_then(|i| items.get_mut(i)),
        _ => None,
    }
}

/// The value the tokens lead to.
pub(crate) fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |node, token| child(node, token))
}

/// The value the tokens lead to, for writing.
pub(crate) fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Option<&'a mut Value> {
    tokens.iter().try_fold(doc, |node, token| child_mut(node, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokens(pointer: &str) -> Vec<String> {
        parse(pointer).expect("valid pointer")
    }

    #[test]
    fn parses_and_unescapes() {
        assert!(tokens("").is_empty());
        assert_eq!(tokens("/"), vec![""]);
        assert_eq!(tokens("/a~1b/c~0d"), vec!["a/b", "c~d"]);
        assert_eq!(tokens("/~01"), vec!["~1"]);
        assert_eq!(
            tokens("/metadata/annotations/kubectl.kubernetes.io~1restartedAt"),
            vec!["metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]
        );
    }

    #[test]
    fn rejects_bad_pointers() {
        assert!(parse("spec/replicas").unwrap_err().contains("start with '/'"));
        assert!(parse("/a~2").is_err());
        assert!(parse("/a~").is_err());
    }

    #[test]
    fn escape_round_trips() {
        let name = "example.com/a~b";
        assert_eq!(tokens(&format!("/{}", escape(name))), vec![name]);
    }

    #[test]
    fn element_indices() {
        assert_eq!(element_index("0", 2), Ok(0));
        assert_eq!(element_index("1", 2), Ok(1));
        assert_eq!(element_index("-1", 2), Ok(1));
        assert_eq!(element_index("-2", 2), Ok(0));
        assert!(element_index("2", 2).unwrap_err().contains("invalid index referenced"));
        assert!(element_index("-3", 2).is_err());
        assert!(element_index("-", 2).unwrap_err().contains("not a proper array index"));
        assert!(element_index("x", 2).unwrap_err().contains("not a proper array index"));
        assert!(element_index("+1", 2).is_err());
        assert!(element_index("99999999999999999999", 2).is_err());
    }

    #[test]
    fn insert_indices() {
        assert_eq!(insert_index("-", 2), Ok(2));
        assert_eq!(insert_index("2", 2), Ok(2));
        assert_eq!(insert_index("0", 0), Ok(0));
        assert_eq!(insert_index("-1", 2), Ok(2));
        assert_eq!(insert_index("-3", 2), Ok(0));
        assert!(insert_index("3", 2).is_err());
        assert!(insert_index("-4", 2).is_err());
    }

    #[test]
    fn walks_documents() {
        let doc = json!({"a": {"b": [10, {"c": true}]}, "": 1});
        assert_eq!(get(&doc, &tokens("/a/b/1/c")), Some(&json!(true)));
        assert_eq!(get(&doc, &tokens("/a/b/-1/c")), Some(&json!(true)));
        assert_eq!(get(&doc, &tokens("/")), Some(&json!(1)));
        assert_eq!(get(&doc, &tokens("")), Some(&doc));
        assert_eq!(get(&doc, &tokens("/a/b/2")), None);
        assert_eq!(get(&doc, &tokens("/a/b/0/x")), None);

        let mut doc = doc;
        if let Some(v) = get_mut(&mut doc, &tokens("/a/b/0")) {
            *v = json!(11);
        }
        assert_eq!(doc["a"]["b"][0], json!(11));
    }
}
