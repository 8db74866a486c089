//! SPDY tunnelled through WebSocket, as kubectl's tunnelling dialer sends it: the SPDY byte
//! stream travels in binary messages, split anywhere. A pipe turns the messages back into a
//! byte stream for the SPDY connection.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role},
};

/// Buffering between the WebSocket and the SPDY connection, each way.
const PIPE: usize = 256 * 1024;

/// Wraps the upgraded connection `io` (the server's side of a WebSocket) and returns the byte
/// stream inside it; two tasks pump until either side ends.
pub async fn tunnel<T>(io: T) -> DuplexStream
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut messages) = ws.split();
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let (mut from_spdy, mut to_spdy) = tokio::io::split(theirs);
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(Message::Binary(bytes)) => {
                    if to_spdy.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                // Pings are answered by tungstenite itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    tracing::debug!("port-forward tunnel: text message, closing");
                    break;
                }
                Ok(Message::Close(_)) => break,
                Err(err) => {
                    tracing::debug!(error = %err, "port-forward tunnel: read failed");
                    break;
                }
            }
        }
        let _ = to_spdy.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_spdy.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::binary(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    });
    ours
}
