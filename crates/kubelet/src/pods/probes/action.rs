//! Running one probe: exec (CRI `ExecSync`), httpGet, tcpSocket or grpc, with upstream's
//! outcomes and the output its `Unhealthy` events quote.

use std::time::Duration;

use k8s_openapi::{
    api::core::v1::{Container, HTTPGetAction, Probe},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{Outcome, grpc, http};
use crate::runtime::Runtime;

/// The probe's timeout: `timeoutSeconds`, 1 s by default and at least.
pub fn timeout(probe: &Probe) -> Duration {
    Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64)
}

/// A port by number, or by the name of one of the container's ports (or a number written as a
/// string), as upstream's `ResolveContainerPort`.
///
/// # Errors
/// Upstream's message when the name is unknown or the number out of range.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let named = container.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str()));
            match named {
                Some(p) => i64::from(p.container_port),
                None => name
                    .parse::<i64>()
                    .map_err(|_| format!("strconv.Atoi: parsing {name:?}: invalid syntax"))?,
            }
        }
    };
    u16::try_from(number).ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

/// The GET an httpGet action sends: host defaults to the pod's IP, scheme to HTTP.
///
/// # Errors
/// When the port cannot be resolved.
pub fn http_get(action: &HTTPGetAction, container: &Container, pod_ip: &str) -> Result<http::Get, String> {
    let scheme = action.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
    let host = action.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
    Ok(http::Get {
        scheme: if scheme.is_empty() { "http".into() } else { scheme },
        host,
        port: resolve_port(&action.port, container)?,
        path: action.path.clone().unwrap_or_default(),
        headers: action.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
    })
}

/// Runs `probe` once against the container `container_id` of `container` at `pod_ip`.
///
/// # Errors
/// When the probe could not be run at all (an unknown port name, a runtime failure other
/// than a timeout): upstream throws such a result away after an event.
pub async fn run(
    runtime: &dyn Runtime,
    probe: &Probe,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
) -> Result<(Outcome, String), String> {
    let timeout = timeout(probe);
    if let Some(exec) = &probe.exec {
        let command = expand_static(exec.command.as_deref().unwrap_or_default(), container);
        return match runtime.exec_sync(container_id, &command, timeout).await {
            Ok(answer) => {
                let mut output = answer.stdout;
                output.extend_from_slice(&answer.stderr);
                output.truncate(10 * 1024);
                let output = String::from_utf8_lossy(&output).into_owned();
                let outcome = if answer.exit_code == 0 { Outcome::Success } else { Outcome::Failure };
                Ok((outcome, output))
            }
            Err(e) if e.code() == tonic::Code::DeadlineExceeded => {
                Ok((Outcome::Failure, format!("command {:?} timed out", command.join(" "))))
            }
            Err(e) => Err(e.to_string()),
        };
    }
    if let Some(action) = &probe.http_get {
        return Ok(http_probe(http_get(action, container, pod_ip)?, timeout).await);
    }
    if let Some(action) = &probe.tcp_socket {
        let port = resolve_port(&action.port, container)?;
        let host = action.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        return Ok(match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(_)) => (Outcome::Success, String::new()),
            Ok(Err(e)) => (Outcome::Failure, http::dial_error(&addr, &e)),
            Err(_) => (Outcome::Failure, format!("dial tcp {addr}: i/o timeout")),
        });
    }
    if let Some(action) = &probe.grpc {
        let port = u16::try_from(action.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port number: {}", action.port))?;
        let service = action.service.clone().unwrap_or_default();
        return Ok(grpc::check(pod_ip, port, &service, timeout).await);
    }
    Err(format!("missing probe handler for container {}", container.name))
}

/// An exec probe's command with `$(NAME)` replaced by the container's env `value`s (an env
/// var set from elsewhere stands for the empty string) and `$$` by `$`, as upstream's
/// `ExpandContainerCommandOnlyStatic`; unknown or unclosed references stay as written.
pub fn expand_static(command: &[String], container: &Container) -> Vec<String> {
    let env: std::collections::HashMap<&str, &str> = container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
        .collect();
    command.iter().map(|arg| expand(arg, &env)).collect()
}

fn expand(arg: &str, env: &std::collections::HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(reference) = after.strip_prefix('(')
            && let Some(end) = reference.find(')')
        {
            let name = &reference[..end];
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Redirects followed at most, as Go's client.
const MAX_REDIRECTS: usize = 10;

/// An HTTP probe as upstream's: 200-399 passes; redirects to the same host are followed (up
/// to ten), one elsewhere is not and passes with a warning, as does any 3xx left unfollowed;
/// the timeout covers the whole exchange.
async fn http_probe(mut get: http::Get, timeout: Duration) -> (Outcome, String) {
    let deadline = tokio::time::Instant::now() + timeout;
    let host = get.host.clone();
    for _ in 0..=MAX_REDIRECTS {
        let left =
            deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(1));
        let answer = match get.send("probe", left).await {
            Ok(answer) => answer,
            Err(e) => return (Outcome::Failure, e),
        };
        match answer.status {
            200..=299 => return (Outcome::Success, answer.body),
            301 | 302 | 303 | 307 | 308 => match answer.location.as_deref().and_then(|l| get.redirect(l)) {
                Some(next) if next.host == host => get = next,
                _ => return redirect_warning(&answer.body),
            },
            300..=399 => return redirect_warning(&answer.body),
            status => return (Outcome::Failure, format!("HTTP probe failed with statuscode: {status}")),
        }
    }
    (Outcome::Failure, format!("Get {:?}: stopped after {MAX_REDIRECTS} redirects", get.url()))
}

fn redirect_warning(body: &str) -> (Outcome, String) {
    (Outcome::Warning, format!("Probe terminated redirects, Response body: {body}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::{FakeRuntime, proto::ExecSyncResponse};

    fn container(ports: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "main", "ports": ports})).unwrap()
    }

    fn probe(json: serde_json::Value) -> Probe {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn exec_commands_expand_static_env() {
        let c: Container = serde_json::from_value(serde_json::json!({"name": "main", "env": [
            {"name": "FILE", "value": "/tmp/ok"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ]}))
        .unwrap();
        let cmd = ["cat", "$(FILE)", "[$(POD)]", "$(NOPE)", "$$(FILE)", "$(FILE", "a$b"].map(String::from);
        assert_eq!(expand_static(&cmd, &c), ["cat", "/tmp/ok", "[]", "$(NOPE)", "$(FILE)", "$(FILE", "a$b"]);
    }

    #[test]
    fn ports_resolve_by_number_or_name() {
        let c = container(serde_json::json!([{"name": "http", "containerPort": 8080}]));
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Ok(81));
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::String("9000".into()), &c), Ok(9000));
        assert_eq!(
            resolve_port(&IntOrString::String("grpc".into()), &c),
            Err("strconv.Atoi: parsing \"grpc\": invalid syntax".into())
        );
        assert_eq!(resolve_port(&IntOrString::Int(0), &c), Err("invalid port number: 0".into()));
        let get =
            probe(serde_json::json!({"httpGet": {"port": "http", "path": "/readyz", "scheme": "HTTPS"}}));
        let get = http_get(get.http_get.as_ref().unwrap(), &c, "10.42.0.7").unwrap();
        assert_eq!(get.url(), "https://10.42.0.7:8080/readyz");
    }

    #[tokio::test]
    async fn exec_probes_pass_on_exit_zero_and_quote_the_output() {
        let fake = Arc::new(FakeRuntime::new());
        fake.script_exec(|_, cmd| {
            if cmd.last().map(String::as_str) == Some("slow") {
                return Err(tonic::Status::deadline_exceeded("timeout 1s exceeded"));
            }
            let code = if cmd.last().map(String::as_str) == Some("ok") { 0 } else { 1 };
            Ok(ExecSyncResponse { stdout: b"out ".to_vec(), stderr: b"err".to_vec(), exit_code: code })
        });
        let c = container(serde_json::json!([]));
        let run = |cmd: &'static str| {
            let fake = fake.clone();
            let c = c.clone();
            async move {
                let p = probe(serde_json::json!({"exec": {"command": ["sh", "-c", cmd]}}));
                // The fake answers only for running containers: exec needs one.
                super::run(fake.as_ref(), &p, &c, "nope", "").await
            }
        };
        assert!(run("ok").await.is_err(), "no such container: the probe errors");
        let sandbox = fake.run_pod_sandbox(&Default::default(), "").await.unwrap();
        fake.add_image("img");
        let config = crate::runtime::proto::ContainerConfig {
            image: Some(crate::runtime::proto::ImageSpec { image: "img".into(), ..Default::default() }),
            ..Default::default()
        };
        let id = fake.create_container(&sandbox, &config, &Default::default()).await.unwrap();
        fake.start_container(&id).await.unwrap();
        for (cmd, outcome, output) in [
            ("ok", Outcome::Success, "out err"),
            ("bad", Outcome::Failure, "out err"),
            ("slow", Outcome::Failure, "command \"sh -c slow\" timed out"),
        ] {
            let p = probe(serde_json::json!({"exec": {"command": ["sh", "-c", cmd]}}));
            assert_eq!(super::run(fake.as_ref(), &p, &c, &id, "").await, Ok((outcome, output.to_string())));
        }
        assert_eq!(fake.execs().len(), 3);
    }

    /// A server answering each connection's request by its path.
    async fn serve(answer: fn(&str) -> String) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split(' ').nth(1).unwrap_or("/").to_string();
                let _ = stream.write_all(answer(&path).as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_probes_follow_local_redirects_only() {
        let port = serve(|path| match path {
            "/ok" => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".into(),
            "/moved" => "HTTP/1.1 302 Found\r\nlocation: /broken\r\ncontent-length: 0\r\n\r\n".into(),
            "/away" => {
                "HTTP/1.1 301 Moved\r\nlocation: http://elsewhere.example/\r\ncontent-length: 4\r\n\r\ngone"
                    .into()
            }
            "/loop" => "HTTP/1.1 307 Again\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n".into(),
            _ => "HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n".into(),
        })
        .await;
        let fake = FakeRuntime::new();
        let c = container(serde_json::json!([]));
        let probe_path = |path: &str| probe(serde_json::json!({"httpGet": {"port": port, "path": path}}));
        let run = |path: &'static str| {
            let p = probe_path(path);
            let (fake, c) = (&fake, &c);
            async move { super::run(fake, &p, c, "id", "127.0.0.1").await.unwrap() }
        };
        assert_eq!(run("/ok").await, (Outcome::Success, "ok".into()));
        assert_eq!(run("/moved").await, (Outcome::Failure, "HTTP probe failed with statuscode: 500".into()));
        assert_eq!(
            run("/away").await,
            (Outcome::Warning, "Probe terminated redirects, Response body: gone".into())
        );
        assert_eq!(
            run("/loop").await,
            (Outcome::Failure, format!("Get \"http://127.0.0.1:{port}/loop\": stopped after 10 redirects"))
        );
    }

    #[tokio::test]
    async fn tcp_probes_connect() {
        let fake = FakeRuntime::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = container(serde_json::json!([{"name": "echo", "containerPort": port}]));
        let p = probe(serde_json::json!({"tcpSocket": {"port": "echo"}}));
        assert_eq!(run(&fake, &p, &c, "id", "127.0.0.1").await, Ok((Outcome::Success, String::new())));
        drop(listener);
        let (outcome, output) = run(&fake, &p, &c, "id", "127.0.0.1").await.unwrap();
        assert_eq!(outcome, Outcome::Failure);
        assert_eq!(output, format!("dial tcp 127.0.0.1:{port}: connect: connection refused"));
    }

    #[tokio::test]
    async fn grpc_probes_fail_without_a_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let (outcome, output) = grpc::check("127.0.0.1", port, "", Duration::from_secs(2)).await;
        assert_eq!(outcome, Outcome::Failure);
        assert!(
            output.starts_with(&format!("error: failed to connect service at \"127.0.0.1:{port}\"")),
            "{output}"
        );
    }
}
