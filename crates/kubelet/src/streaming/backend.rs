//! The runtime's side: the URL CRI's `Exec` or `Attach` answered, on containerd's streaming
//! server (kubelet's cri/streaming as containerd 1.6 vendors it), reached over SPDY/3.1 with
//! remotecommand `v4.channel.k8s.io`: one stream per channel, opened in client-go's order.
//! SPDY rather than that server's WebSocket: WebSocket v4 cannot end stdin without ending the
//! session, a stream's FIN can.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tug_spdy::{Connection, Headers, Incoming, Role, StreamReader, StreamWriter};

use super::{
    options::Options,
    websocket::{ERROR, STDERR, STDOUT, V4},
};

/// One session on the runtime's streaming server.
pub struct RuntimeSession {
    pub connection: Connection,
    /// Streams the server would open (it opens none); kept so the connection's reader has
    /// somewhere to put them.
    pub _incoming: Incoming,
    pub stdin: Option<StreamWriter>,
    pub resize: Option<StreamWriter>,
    /// What the server writes, by the client's channel: error, stdout, stderr.
    pub outputs: Vec<(u8, StreamReader)>,
}

/// Opens the session at `url` (`http://host:port/exec/<token>`; containerd's streaming server
/// serves plain HTTP on loopback) with the streams `options` ask for.
///
/// # Errors
/// A message naming the URL when it is not plain HTTP, cannot be reached, or refuses.
pub async fn connect(url: &str, options: &Options) -> Result<RuntimeSession, String> {
    let failed = |e: &dyn std::fmt::Display| format!("connecting to the runtime's stream {url}: {e}");
    let rest =
        url.strip_prefix("http://").ok_or_else(|| failed(&"only http:// streaming URLs are supported"))?;
    let (host, path) = rest.split_once('/').map_or((rest, String::from("/")), |(h, p)| (h, format!("/{p}")));
    let tcp = TcpStream::connect(host).await.map_err(|e| failed(&e))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, http) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| failed(&e))?;
    tokio::spawn(async move {
        if let Err(e) = http.with_upgrades().await {
            tracing::debug!(error = %e, "the runtime's streaming connection ended with an error");
        }
    });
    let request = hyper::Request::post(path)
        .header(header::HOST, host)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", V4)
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(&e))?;
    let mut response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        return Err(failed(&format!("{status}: {}", body.trim())));
    }
    let upgraded = hyper::upgrade::on(&mut response).await.map_err(|e| failed(&e))?;
    let (connection, incoming) =
        Connection::new(TokioIo::new(upgraded), Role::Client).map_err(|e| failed(&e))?;
    open_streams(connection, incoming, options).await.map_err(|e| failed(&e))
}

/// Opens the session's streams on a SPDY connection to the runtime.
pub(super) async fn open_streams(
    connection: Connection,
    incoming: Incoming,
    options: &Options,
) -> Result<RuntimeSession, tug_spdy::Error> {
    let open = async |kind: &str| {
        let headers = Headers::new().with("streamType", kind);
        connection.open(headers, false).await.map(tug_spdy::Stream::into_parts)
    };
    let mut outputs = Vec::new();
    // client-go's order: error, stdin, stdout, stderr, resize.
    let (_, errors, _) = open("error").await?;
    outputs.push((ERROR, errors));
    let stdin = match options.stdin {
        true => Some(open("stdin").await?.2),
        false => None,
    };
    if options.stdout {
        outputs.push((STDOUT, open("stdout").await?.1));
    }
    if options.stderr && !options.tty {
        outputs.push((STDERR, open("stderr").await?.1));
    }
    let resize = match options.tty {
        true => Some(open("resize").await?.2),
        false => None,
    };
    Ok(RuntimeSession { connection, _incoming: incoming, stdin, resize, outputs })
}
