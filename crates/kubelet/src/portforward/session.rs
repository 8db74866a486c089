//! The `portforward.k8s.io` protocol over an upgraded SPDY connection, as upstream's
//! `httpStreamHandler`: each forwarded connection is a pair of streams (`streamtype: error`
//! and `data`) sharing a `requestid`; once both arrived the pod's port is dialled and bytes are
//! copied, and a failure is written as text on the error stream.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
    time::Instant,
};
use tug_spdy::{Connection, Event, Headers, Incoming, Stream, StreamReader, StreamWriter, status};

use super::{PortForwarder, Sandbox};

/// How long the second stream of a pair may lag the first (upstream's
/// `streamCreationTimeout` default).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// After one direction of a forwarded connection ends, how long the other gets to finish
/// (containerd's port-forward waits the same).
const LINGER: Duration = Duration::from_secs(1);

const STREAM_TYPE: &str = "streamtype";
const PORT: &str = "port";
const REQUEST_ID: &str = "requestid";

/// Checks a new stream's headers as upstream's `httpStreamReceived`; a refused stream is reset.
fn check(headers: &Headers) -> Result<(u16, bool), String> {
    let port = headers.get(PORT).unwrap_or_default();
    if port.is_empty() {
        return Err(format!("{PORT:?} header is required"));
    }
    let port: u16 = port.parse().map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    match headers.get(STREAM_TYPE).unwrap_or_default() {
        "" => Err(format!("{STREAM_TYPE:?} header is required")),
        "error" => Ok((port, true)),
        "data" => Ok((port, false)),
        other => Err(format!("invalid stream type {other:?}")),
    }
}

/// The request a stream belongs to; clients older than request ids get one from the stream id
/// (the error stream opens first, its data stream two ids later), as upstream guesses.
fn request_id(stream: &Stream, is_error: bool) -> String {
    match stream.headers().get(REQUEST_ID) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ if is_error => stream.id().to_string(),
        _ => stream.id().saturating_sub(2).to_string(),
    }
}

#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
    deadline: Option<Instant>,
}

/// Serves one upgraded connection until the client closes it.
pub async fn serve(
    conn: Connection,
    mut incoming: Incoming,
    forwarder: Arc<dyn PortForwarder>,
    sandbox: Sandbox,
) {
    let sandbox = Arc::new(sandbox);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = JoinSet::new();
    loop {
        let next_deadline = pairs.values().filter_map(|p| p.deadline).min();
        let stream = tokio::select! {
            stream = incoming.next() => stream,
            () = sleep_until(next_deadline) => {
                expire(&mut pairs).await;
                continue;
            }
            Some(_) = forwards.join_next(), if !forwards.is_empty() => continue,
        };
        let Some(stream) = stream else { break };
        let (port, is_error) = match check(stream.headers()) {
            Ok(v) => v,
            Err(reason) => {
                tracing::warn!(stream = stream.id(), %reason, "port-forward stream rejected");
                let _ = stream.writer().reset(status::CANCEL).await;
                continue;
            }
        };
        if stream.writer().reply(Headers::new(), false).await.is_err() {
            break;
        }
        let id = request_id(&stream, is_error);
        let pair = pairs.entry(id.clone()).or_insert_with(|| Pair {
            deadline: Some(Instant::now() + STREAM_CREATION_TIMEOUT),
            ..Pair::default()
        });
        let taken = if is_error { pair.error.is_some() } else { pair.data.is_some() };
        if taken {
            let kind = if is_error { "error" } else { "data" };
            let message = format!("error processing stream for request {id}: {kind} stream already assigned");
            tracing::warn!("port-forward: {message}");
            if let Some(error) = &pair.error {
                let _ = error.writer().write(Bytes::from(message)).await;
            }
            let _ = stream.writer().reset(status::CANCEL).await;
            continue;
        }
        if is_error {
            pair.error = Some(stream);
        } else {
            pair.data = Some(stream);
        }
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair { error: Some(error), data: Some(data), .. }) = pairs.remove(&id)
        {
            // The data stream's port is the one dialled, as upstream.
            let port = check(data.headers()).map_or(port, |(p, _)| p);
            forwards.spawn(forward(data, error, port, forwarder.clone(), sandbox.clone()));
        }
    }
    forwards.abort_all();
    conn.shutdown();
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Drops the pairs whose second stream never came, telling the client on the error stream.
async fn expire(pairs: &mut HashMap<String, Pair>) {
    let now = Instant::now();
    let late: Vec<String> = pairs
        .iter()
        .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in late {
        let Some(pair) = pairs.remove(&id) else { continue };
        let message = format!("(request={id}) timed out waiting for streams");
        tracing::warn!("port-forward: {message}");
        if let Some(error) = pair.error {
            let _ = error.writer().write(Bytes::from(message)).await;
            let _ = error.writer().close().await;
        }
        if let Some(data) = pair.data {
            let _ = data.writer().close().await;
        }
    }
}

/// One forwarded connection: dial, copy both ways, report a failure on the error stream.
async fn forward(
    data: Stream,
    error: Stream,
    port: u16,
    forwarder: Arc<dyn PortForwarder>,
    sandbox: Arc<Sandbox>,
) {
    // kubectl writes nothing on the error stream; its reader is dropped.
    let (_, _, error) = error.into_parts();
    let (_, reader, writer) = data.into_parts();
    let outcome = match forwarder.connect(&sandbox, port).await {
        Ok(tcp) => copy(tcp, reader, writer.clone()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        let message = format!("error forwarding port {port} to pod {}, uid {}: {e}", sandbox.id, sandbox.uid);
        tracing::info!("port-forward: {message}");
        let _ = error.write(Bytes::from(message)).await;
    }
    let _ = writer.close().await;
    let _ = error.close().await;
}

/// Copies between the client's data stream and the pod's socket until both directions end
/// (or one ended and the other lingered past [`LINGER`]).
async fn copy(tcp: TcpStream, mut from_client: StreamReader, to_client: StreamWriter) -> Result<(), String> {
    let (mut pod_read, mut pod_write) = tcp.into_split();
    let upstream = async move {
        while let Some(event) = from_client.next().await {
            match event {
                Event::Data(bytes) => {
                    if let Err(e) = pod_write.write_all(&bytes).await {
                        return Err(format!("writing to the pod: {e}"));
                    }
                }
                Event::Fin | Event::Reset(_) => break,
                Event::Reply(_) | Event::Headers(_) => {}
            }
        }
        // The client is done sending: half-close, so the pod sees end of input.
        let _ = pod_write.shutdown().await;
        Ok(())
    };
    let downstream = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match pod_read.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(format!("reading from the pod: {e}")),
            };
            if to_client.write(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
        Ok(())
    };
    tokio::pin!(upstream, downstream);
    let (first, other_done) = tokio::select! {
        r = &mut upstream => (r, false),
        r = &mut downstream => (r, true),
    };
    let second = if other_done {
        tokio::time::timeout(LINGER, &mut upstream).await
    } else {
        tokio::time::timeout(LINGER, &mut downstream).await
    };
    first?;
    second.unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_headers_are_checked_as_upstream() {
        let h = |pairs: &[(&str, &str)]| pairs.iter().fold(Headers::new(), |h, (k, v)| h.with(k, *v));
        assert_eq!(check(&h(&[("port", "8080"), ("streamtype", "data")])), Ok((8080, false)));
        assert_eq!(check(&h(&[("port", "80"), ("streamtype", "error")])), Ok((80, true)));
        assert_eq!(check(&h(&[("streamtype", "data")])), Err("\"port\" header is required".into()));
        assert!(
            check(&h(&[("port", "x"), ("streamtype", "data")])).unwrap_err().starts_with("unable to parse")
        );
        assert!(check(&h(&[("port", "0"), ("streamtype", "data")])).unwrap_err().contains("must be > 0"));
        assert_eq!(check(&h(&[("port", "1")])), Err("\"streamtype\" header is required".into()));
        assert_eq!(
            check(&h(&[("port", "1"), ("streamtype", "stdin")])),
            Err("invalid stream type \"stdin\"".into())
        );
    }
}
