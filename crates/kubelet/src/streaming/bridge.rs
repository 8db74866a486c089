//! Copies one session between the client's WebSocket and the runtime's until either ends.
//! Channels mean the same on both sides (stdin, stdout, stderr, error, resize); the runtime
//! closing its side ends the session with a normal close (1000) toward the client.

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

use super::{
    backend::RuntimeSocket,
    websocket::{CLOSE, ClientSocket, ERROR, frame},
};

pub async fn run(mut client: ClientSocket, mut runtime: RuntimeSocket) {
    loop {
        tokio::select! {
            message = client.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if data.first() == Some(&CLOSE) {
                        // v4 toward the runtime has no way to end stdin alone.
                        tracing::debug!("the client closed a channel the runtime's protocol cannot close");
                        continue;
                    }
                    if data.len() > 1 && runtime.send(Message::Binary(data)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = runtime.close(None).await;
                    return;
                }
                Some(Ok(_)) => {}
            },
            message = runtime.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if client.send(Message::Binary(data)).await.is_err() {
                        let _ = runtime.close(None).await;
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    let status = failure(&format!("the runtime's stream failed: {e}"));
                    let _ = client.send(Message::Binary(frame(ERROR, &status).into())).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
    let _ = client.close(Some(normal)).await;
}

/// A metav1.Status Failure for the error channel.
pub fn failure(message: &str) -> Vec<u8> {
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    });
    status.to_string().into_bytes()
}
