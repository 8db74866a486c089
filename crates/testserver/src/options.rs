//! Command-line options of the server mode.

pub const USAGE: &str =
    "usage: testserver [--http-port N] [--tcp-port N] [--grpc-port N] [--start-delay S] [--ready-after S] \
[--unready] [--unhealthy-after S] [--exit-after S [--exit-code N]] [--term-delay S] [--index TEXT]
       testserver pause";

/// Times are whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// HTTP port (8080; 0 picks a free one, printed at start).
    pub http_port: u16,
    /// TCP echo port (9000; `--tcp-port off` disables it).
    pub tcp_port: Option<u16>,
    /// gRPC health service port (9090; `off` disables it).
    pub grpc_port: Option<u16>,
    /// Wait before listening at all (slow starts, startup probes).
    pub start_delay: u64,
    /// Report not ready until this many seconds after start.
    pub ready_after: Option<u64>,
    /// Start not ready until `POST /readyz/pass`.
    pub unready: bool,
    /// Fail /healthz from this many seconds after start (liveness restarts).
    pub unhealthy_after: Option<u64>,
    /// Exit on its own after this many seconds, with `exit_code`.
    pub exit_after: Option<u64>,
    pub exit_code: i32,
    /// On SIGTERM or SIGINT, wait this long before exiting (grace periods).
    pub term_delay: u64,
    /// The body of `GET /` (HTML if it starts with `<`), so the image can stand in for a web
    /// server the tutorials use.
    pub index: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http_port: 8080,
            tcp_port: Some(9000),
            grpc_port: Some(9090),
            start_delay: 0,
            ready_after: None,
            unready: false,
            unhealthy_after: None,
            exit_after: None,
            exit_code: 0,
            term_delay: 0,
            index: None,
        }
    }
}

impl Options {
    /// Parses the arguments after the program name; `--name=value` and `--name value` both work.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.iter().flat_map(|a| match a.split_once('=') {
            Some((name, value)) if a.starts_with("--") => vec![name.to_string(), value.to_string()],
            _ => vec![a.clone()],
        });
        while let Some(name) = args.next() {
            if name == "--unready" {
                options.unready = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            let number = || value.parse::<u64>().map_err(|e| format!("{name} {value}: {e}"));
            match name.as_str() {
                "--http-port" => {
                    options.http_port = value.parse().map_err(|e| format!("{name} {value}: {e}"))?
                }
                "--tcp-port" if value == "off" => options.tcp_port = None,
                "--tcp-port" => {
                    options.tcp_port = Some(value.parse().map_err(|e| format!("{name} {value}: {e}"))?)
                }
                "--grpc-port" if value == "off" => options.grpc_port = None,
                "--grpc-port" => {
                    options.grpc_port = Some(value.parse().map_err(|e| format!("{name} {value}: {e}"))?)
                }
                "--start-delay" => options.start_delay = number()?,
                "--ready-after" => options.ready_after = Some(number()?),
                "--unhealthy-after" => options.unhealthy_after = Some(number()?),
                "--exit-after" => options.exit_after = Some(number()?),
                "--exit-code" => {
                    options.exit_code = value.parse().map_err(|e| format!("{name} {value}: {e}"))?
                }
                "--term-delay" => options.term_delay = number()?,
                "--index" => options.index = Some(value),
                _ => return Err(format!("unknown option {name}")),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_parse_in_both_spellings() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let o = parse(&[
            "--http-port=81",
            "--tcp-port",
            "off",
            "--unready",
            "--exit-after",
            "3",
            "--exit-code=7",
        ])
        .unwrap();
        assert_eq!(
            (o.http_port, o.tcp_port, o.unready, o.exit_after, o.exit_code),
            (81, None, true, Some(3), 7)
        );
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(parse(&["--http-port"]).is_err());
        assert!(parse(&["--http-port", "x"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
        assert!(parse(&["--index"]).is_err());
    }
}
