//! The query of an exec or attach request, read as upstream's remotecommand `NewOptions`.

/// What the client asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// exec's command and arguments (`command` repeats); empty for attach.
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Options {
    /// Reads `stdin`, `stdout`, `stderr`, `tty` and `command` from a query string. The API
    /// server passes kubectl's query as it came (`true`); upstream's API server rewrites it
    /// for the kubelet (`1`): both are accepted.
    ///
    /// # Errors
    /// Upstream's message when no stream is asked for.
    pub fn from_query(query: &str) -> Result<Options, String> {
        let mut options = Options::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let on = value == "1" || value.eq_ignore_ascii_case("true");
            match key.as_ref() {
                "command" => options.command.push(value.into_owned()),
                "stdin" => options.stdin = on,
                "stdout" => options.stdout = on,
                "stderr" => options.stderr = on,
                "tty" => options.tty = on,
                _ => {}
            }
        }
        // A terminal merges stderr into stdout (upstream drops stderr the same way).
        if options.tty {
            options.stderr = false;
        }
        if !options.stdin && !options.stdout && !options.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kubectl_and_upstream_api_server_queries() {
        let kubectl =
            Options::from_query("command=sh&command=-c&command=echo+a%26b&stdout=true&stderr=true").unwrap();
        assert_eq!(kubectl.command, ["sh", "-c", "echo a&b"]);
        assert!(kubectl.stdout && kubectl.stderr && !kubectl.stdin && !kubectl.tty);
        let upstream = Options::from_query("command=sh&stdin=1&stdout=1&stderr=1&tty=1").unwrap();
        assert!(upstream.stdin && upstream.stdout && upstream.tty);
        assert!(!upstream.stderr, "a terminal has no separate stderr");
        assert_eq!(
            Options::from_query("command=ls&stdout=false").unwrap_err(),
            "you must specify at least 1 of stdin, stdout, stderr"
        );
    }
}
