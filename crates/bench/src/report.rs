//! Writes a benchmark's table into its own section of BENCHMARKS.md.

use std::path::Path;

use anyhow::Context;

/// Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`, or
/// appends the section if the markers are missing.
pub fn record(path: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{start}\n{body}\n{end}");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(s), Some(e)) if s < e => format!("{}{}{}", &old[..s], section, &old[e + end.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        std::fs::write(&path, "# B\n<!-- bench:a:start -->\nold\n<!-- bench:a:end -->\ntail\n").unwrap();
        record(&path, "a", "new").unwrap();
        record(&path, "b", "other").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# B\n<!-- bench:a:start -->\nnew\n<!-- bench:a:end -->\ntail\n\n<!-- bench:b:start -->\nother\n<!-- bench:b:end -->\n"
        );
    }
}
