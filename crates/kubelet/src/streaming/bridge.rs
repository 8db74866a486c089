//! Copies one session between the client's WebSocket and the runtime's SPDY streams. Channels
//! map one to one (stdin, stdout, stderr, error, resize); the client's v5 close of stdin
//! becomes the stdin stream's FIN. Once the runtime has ended every output stream (or the
//! connection), the client gets a normal close (1000).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};
use tug_spdy::{Event, StreamReader};

use super::{
    backend::RuntimeSession,
    websocket::{CLOSE, ClientSocket, ERROR, RESIZE, STDIN, frame},
};

pub async fn run(client: ClientSocket, session: RuntimeSession) {
    let RuntimeSession { connection, _incoming, mut stdin, resize, outputs } = session;
    let (mut sink, mut source) = client.split();
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    for (channel, reader) in outputs {
        tokio::spawn(pump(channel, reader, tx.clone()));
    }
    // `rx` ends once every pump has.
    drop(tx);
    let client_left = loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        break true;
                    }
                }
                None => break false,
            },
            message = source.next() => match message {
                Some(Ok(Message::Binary(data))) => match data.first().copied() {
                    Some(STDIN) if data.len() > 1 => {
                        if let Some(writer) = &stdin
                            && writer.write(Bytes::copy_from_slice(&data[1..])).await.is_err()
                        {
                            break false;
                        }
                    }
                    Some(RESIZE) if data.len() > 1 => {
                        if let Some(writer) = &resize {
                            let _ = writer.write(Bytes::copy_from_slice(&data[1..])).await;
                        }
                    }
                    Some(CLOSE) if data.get(1) == Some(&STDIN) => {
                        if let Some(writer) = stdin.take() {
                            let _ = writer.close().await;
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break true,
                Some(Ok(_)) => {}
            },
        }
    };
    connection.shutdown();
    if !client_left {
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = sink.send(Message::Close(Some(normal))).await;
        // Wait for the client's answering close (or its going away) so the close handshake
        // completes before the connection drops.
        while let Some(Ok(message)) = source.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    }
}

/// Forwards one runtime stream to the client's `channel` until the stream ends. The error
/// stream's status is sent whole, once it is complete.
async fn pump(channel: u8, mut reader: StreamReader, tx: mpsc::Sender<Message>) {
    let mut status = Vec::new();
    while let Some(event) = reader.next().await {
        match event {
            Event::Data(data) if channel == ERROR => status.extend_from_slice(&data),
            Event::Data(data) => {
                if tx.send(Message::Binary(frame(channel, &data).into())).await.is_err() {
                    return;
                }
            }
            Event::Fin | Event::Reset(_) => break,
            Event::Reply(_) | Event::Headers(_) => {}
        }
    }
    if !status.is_empty() {
        let _ = tx.send(Message::Binary(frame(ERROR, &status).into())).await;
    }
}
