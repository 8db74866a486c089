//! One HTTP GET to a container, as upstream's probes and lifecycle hooks send it: a fresh
//! connection per request (`Connection: close`), HTTPS without certificate verification,
//! `User-Agent: kube-<purpose>/1.35` and `Accept: */*` unless the spec sets them, and Go's
//! wording for transport errors (`Get "<url>": dial tcp <addr>: connect: connection refused`),
//! since those texts end up in events.

use std::{sync::Arc, time::Duration};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// The Kubernetes version in upstream's `User-Agent` (`kube-probe/1.35`).
pub const KUBE_VERSION: &str = "1.35";
/// How much of a body is read, as upstream's probes (10 KiB).
const MAX_BODY: usize = 10 * 1024;

/// A GET to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The path and query, as the spec wrote it.
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// The answer: status code, the start of the body, and where a redirect points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Get {
    /// `scheme://host:port/path`, with IPv6 hosts in brackets.
    pub fn url(&self) -> String {
        let path = if self.path.starts_with('/') || self.path.is_empty() {
            self.path.clone()
        } else {
            format!("/{}", self.path)
        };
        format!("{}://{}{path}", self.scheme, self.authority())
    }

    /// The GET a redirect to `location` asks for (absolute, or relative to this URL), with the
    /// same headers but `Host`, as Go's client follows one; `None` if it cannot be parsed.
    pub fn redirect(&self, location: &str) -> Option<Get> {
        let mut next = self.clone();
        next.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        if location.contains("://") {
            let uri = location.parse::<http::Uri>().ok()?;
            next.scheme = uri.scheme_str()?.to_ascii_lowercase();
            next.host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_string();
            next.port = uri.port_u16().unwrap_or(if next.scheme == "https" { 443 } else { 80 });
            next.path = uri.path_and_query().map_or_else(|| "/".into(), |p| p.as_str().to_string());
        } else if location.starts_with('/') {
            next.path = location.to_string();
        } else {
            let path = self.path.split('?').next().unwrap_or_default();
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            next.path = format!("{dir}/{location}");
        }
        Some(next)
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Sends the request and reads the answer within `timeout` (none if zero). `purpose` names
    /// the user agent: `probe` or `lifecycle`.
    ///
    /// # Errors
    /// Go's `net/http` wording of the failure, as upstream's events carry it.
    pub async fn send(&self, purpose: &str, timeout: Duration) -> Result<Answer, String> {
        let url = self.url();
        let work = self.exchange(purpose);
        let result = if timeout.is_zero() {
            work.await
        } else {
            match tokio::time::timeout(timeout, work).await {
                Ok(result) => result,
                Err(_) => {
                    Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into())
                }
            }
        };
        result.map_err(|e| format!("Get {url:?}: {e}"))
    }

    async fn exchange(&self, purpose: &str) -> Result<Answer, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| dial_error(&self.authority(), &e))?;
        let request = self.request(purpose)?;
        if self.scheme == "https" {
            let name = ServerName::try_from(self.host.clone()).map_err(|e| e.to_string())?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(
                tug_client::unverified::http1_config().map_err(|e| e.to_string())?,
            ));
            let tls = connector.connect(name, tcp).await.map_err(|e| format!("remote error: tls: {e}"))?;
            exchange(TokioIo::new(tls), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }

    fn request(&self, purpose: &str) -> Result<http::Request<Empty<Bytes>>, String> {
        let path = if self.path.starts_with('/') { self.path.clone() } else { format!("/{}", self.path) };
        let mut builder = http::Request::get(path)
            .header(http::header::HOST, self.header("Host").map_or_else(|| self.authority(), str::to_string))
            .header(http::header::CONNECTION, "close");
        for (name, value) in &self.headers {
            // An empty Accept removes the default, as upstream; Host went in above.
            if name.eq_ignore_ascii_case("host") || (name.eq_ignore_ascii_case("accept") && value.is_empty())
            {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if self.header("User-Agent").is_none() {
            builder = builder.header(http::header::USER_AGENT, format!("kube-{purpose}/{KUBE_VERSION}"));
        }
        if self.header("Accept").is_none() {
            builder = builder.header(http::header::ACCEPT, "*/*");
        }
        builder.body(Empty::new()).map_err(|e| e.to_string())
    }
}

async fn exchange<T>(io: TokioIo<T>, request: http::Request<Empty<Bytes>>) -> Result<Answer, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| e.to_string());
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    let status = response.status().as_u16();
    let location =
        response.headers().get(http::header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_string);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            Some(Err(e)) => {
                driver.abort();
                return Err(e.to_string());
            }
            None => break,
        }
    }
    driver.abort();
    bytes.truncate(MAX_BODY);
    Ok(Answer { status, body: String::from_utf8_lossy(&bytes).into_owned(), location })
}

/// Go's `dial tcp` errors for the common failures.
pub fn dial_error(addr: &str, err: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let what = match err.kind() {
        ConnectionRefused => "connect: connection refused".to_string(),
        TimedOut => "i/o timeout".to_string(),
        HostUnreachable => "connect: no route to host".to_string(),
        NetworkUnreachable => "connect: network is unreachable".to_string(),
        _ => err.to_string(),
    };
    format!("dial tcp {addr}: {what}")
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server that answers one request with `answer` and hands back what it was sent.
    async fn serve_once(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        (port, task)
    }

    fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Get {
        Get {
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[tokio::test]
    async fn a_get_carries_upstreams_headers_and_reads_the_answer() {
        let (port, seen) =
            serve_once("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nsick").await;
        let answer = get(port, "/healthz?x=1", &[("X-Probe", "yes")])
            .send("probe", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer, Answer { status: 500, body: "sick".into(), location: None });
        let request = seen.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /healthz?x=1 http/1.1\r\n"), "{request}");
        for header in ["user-agent: kube-probe/1.35", "accept: */*", "x-probe: yes", "connection: close"] {
            assert!(request.contains(header), "{header} in {request}");
        }
        assert!(request.contains(&format!("host: 127.0.0.1:{port}")), "{request}");

        let (port, seen) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let headers = [("User-Agent", "mine"), ("Accept", ""), ("Host", "example.com")];
        get(port, "", &headers).send("lifecycle", Duration::ZERO).await.unwrap();
        let request = seen.await.unwrap().to_ascii_lowercase();
        assert!(request.contains("user-agent: mine") && !request.contains("accept:"), "{request}");
        assert!(request.contains("host: example.com"), "{request}");
    }

    #[test]
    fn redirects_resolve_against_the_request() {
        let from = get(8080, "/a/b?x=1", &[("Host", "h"), ("X", "y")]);
        let next = from.redirect("/c").unwrap();
        assert_eq!(
            (next.url(), next.headers.clone()),
            ("http://127.0.0.1:8080/c".into(), vec![("X".into(), "y".into())])
        );
        assert_eq!(from.redirect("d?z").unwrap().url(), "http://127.0.0.1:8080/a/d?z");
        assert_eq!(from.redirect("https://other:8443/e").unwrap().url(), "https://other:8443/e");
        assert_eq!(from.redirect("http://[fd00::1]/").unwrap().url(), "http://[fd00::1]:80/");
    }

    #[tokio::test]
    async fn https_accepts_any_certificate() {
        let tls = crate::logs::server::tls_config(vec!["not-the-host.example".into()]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await.unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            stream.write_all(b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            stream.shutdown().await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let get = Get { scheme: "https".into(), ..get(port, "/livez", &[]) };
        let answer = get.send("probe", Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer.status, 302);
        assert!(server.await.unwrap().starts_with("GET /livez HTTP/1.1"));
    }

    #[tokio::test]
    async fn failures_read_as_go_reports_them() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = get(port, "/healthz", &[]).send("probe", Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(
            err,
            format!(
                "Get \"http://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        );
        // Accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let err = get(port, "/", &[]).send("probe", Duration::from_millis(200)).await.unwrap_err();
        assert!(
            err.ends_with("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"),
            "{err}"
        );
    }
}
