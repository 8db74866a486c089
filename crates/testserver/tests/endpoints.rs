//! Runs the test server binary and drives its endpoints over real sockets.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    os::unix::process::CommandExt,
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
};

struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    http: String,
    tcp: Option<String>,
    grpc: String,
}

impl Server {
    /// Starts the server on free ports and reads the addresses it prints.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tug-testserver"))
            .args(["--http-port", "0", "--tcp-port", "0", "--grpc-port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut server = Server { child, stdout, http: String::new(), tcp: None, grpc: String::new() };
        let port = |line: &str| line.rsplit(':').next().unwrap().to_string();
        server.http = format!("127.0.0.1:{}", port(&server.line_starting("listening on http ")));
        if !args.contains(&"off") {
            server.tcp = Some(format!("127.0.0.1:{}", port(&server.line_starting("listening on tcp-echo "))));
        }
        server.grpc = format!("127.0.0.1:{}", port(&server.line_starting("listening on grpc ")));
        server
    }

    fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "server ended before printing {prefix:?}");
            if line.starts_with(prefix) {
                return line.trim_end().to_string();
            }
        }
    }

    /// One request on a fresh connection: (status, body).
    fn request(&self, method: &str, target: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.http).unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: test\r\nX-Probe: yes\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    fn get(&self, target: &str) -> (u16, String) {
        self.request("GET", target, "")
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill only sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn http_endpoints_answer() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/").0, 200);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(server.get("/hostname"), (200, hostname));
    assert_eq!(server.get("/echo?msg=hello%20pod"), (200, "hello pod".into()));
    assert_eq!(server.request("POST", "/echo", "posted"), (200, "posted".into()));
    assert!(server.get("/headers").1.contains("X-Probe: yes\n"));
    assert_eq!(server.get("/status?code=418").0, 418);
    assert_eq!(server.get("/nope").0, 404);
    // SAFETY: setting no variable; reading the server's view of one the test inherited.
    let path = std::env::var("PATH").unwrap();
    assert_eq!(server.get("/env?name=PATH"), (200, path));
    assert_eq!(server.get("/env?name=TUG_SURELY_UNSET").0, 404);
    assert_eq!(
        server.get("/file?path=/proc/sys/kernel/hostname").1,
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap()
    );
    assert!(server.get("/cpu?ms=10").1.starts_with("burned "));
    assert_eq!(server.get("/memory?mb=2").1, "holding 2 MiB\n");
    assert_eq!(server.get("/memory?mb=3").1, "holding 5 MiB\n");
}

#[test]
fn health_and_readiness_switch() {
    let server = Server::start(&["--unready"]);
    assert_eq!(server.get("/readyz").0, 503);
    assert_eq!(server.get("/healthz").0, 200);
    assert_eq!(server.request("POST", "/readyz/pass", "").0, 200);
    assert_eq!(server.get("/readyz").0, 200);
    assert_eq!(server.request("POST", "/healthz/fail", "").0, 200);
    assert_eq!(server.get("/healthz"), (503, "unhealthy\n".into()));
    assert_eq!(server.request("POST", "/healthz/pass", "").0, 200);
    assert_eq!(server.get("/healthz").0, 200);
    // Switches change only on POST.
    assert_eq!(server.get("/healthz/fail").0, 404);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::start(&[]);
    let mut stream = TcpStream::connect(&server.http).unwrap();
    stream
        .write_all(
            b"GET /echo?msg=one HTTP/1.1\r\n\r\nGET /echo?msg=two HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(answer.ends_with("two"), "{answer}");
}

#[test]
fn index_page_is_configurable() {
    let server = Server::start(&["--index", "<h1>Welcome</h1>"]);
    assert_eq!(server.get("/"), (200, "<h1>Welcome</h1>".into()));
}

#[test]
fn tcp_port_echoes() {
    let server = Server::start(&[]);
    let mut stream = TcpStream::connect(server.tcp.as_ref().unwrap()).unwrap();
    stream.write_all(b"ping\n").unwrap();
    let mut buf = [0u8; 5];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping\n");
}

/// One `grpc.health.v1.Health/Check` call through the h2 crate's client (an independent
/// HTTP/2 implementation); answers the serving status.
async fn grpc_health_check(addr: &str) -> u8 {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    // An empty HealthCheckRequest: no compression, length 0.
    send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(data.len(), 7, "{data:?}");
    assert_eq!(&data[..6], &[0, 0, 0, 0, 2, 0x08]);
    data[6]
}

#[tokio::test]
async fn grpc_health_follows_the_health_switch() {
    let server = Server::start(&[]);
    assert_eq!(grpc_health_check(&server.grpc).await, 1, "SERVING");
    assert_eq!(server.request("POST", "/healthz/fail", "").0, 200);
    assert_eq!(grpc_health_check(&server.grpc).await, 2, "NOT_SERVING");
}

#[test]
fn exit_endpoint_exits_with_the_code() {
    let mut server = Server::start(&["--tcp-port", "off"]);
    assert_eq!(server.get("/exit?code=3"), (200, "exiting with 3\n".into()));
    assert_eq!(server.wait().code(), Some(3));
}

#[test]
fn sigterm_ends_the_server_cleanly() {
    let mut server = Server::start(&[]);
    server.signal(libc::SIGTERM);
    server.line_starting("received SIGTERM");
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn pause_sleeps_until_sigterm_or_sigint() {
    for (how, signal) in [("argument", libc::SIGTERM), ("name", libc::SIGINT)] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tug-testserver"));
        if how == "argument" {
            command.arg("pause");
        } else {
            command.arg0("/pause");
        }
        let mut child = KillOnDrop(command.stdout(Stdio::null()).spawn().unwrap());
        let child = &mut child.0;
        wait_until_blocked(child.id(), libc::SIGTERM);
        // SAFETY: signals only the child this test started; SIGCHLD alone does not end it.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGCHLD) }, 0);
        assert!(child.try_wait().unwrap().is_none());
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        assert_eq!(child.wait().unwrap().code(), Some(0), "pause by {how}");
    }
}

/// Polls /proc until the process blocks `signal` or waits for it in sigwait (which shows
/// as unblocked while it waits): sent earlier, it would meet the default action, which ends
/// the process.
fn wait_until_blocked(pid: u32, signal: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let blocked = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).unwrap().trim();
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        if u64::from_str_radix(blocked, 16).unwrap() & (1 << (signal - 1)) != 0
            || wchan.contains("sigtimedwait")
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "pause never blocked signal {signal}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
