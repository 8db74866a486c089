//! Copies one session between the client's WebSocket and the runtime's SPDY streams. Channels
//! map one to one (stdin, stdout, stderr, error, resize); the client's v5 close of stdin
//! becomes the stdin stream's FIN. Once the runtime has ended every output stream (or the
//! connection), the client gets a normal close (1000).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use tug_spdy::{Event, StreamReader};

use super::{
    backend::RuntimeSession,
    websocket::{CLOSE, ERROR, RESIZE, STDIN, frame},
};

pub async fn run<S>(client: WebSocketStream<S>, session: RuntimeSession)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
    use tug_spdy::{Connection, Headers, Incoming, Role};

    use super::*;
    use crate::streaming::{backend::open_streams, options::Options, websocket::STDOUT};

    const EXIT_3: &str = r#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;

    /// containerd's side of `cat; exit 3`: stdin echoed to stdout until stdin's FIN, then the
    /// status.
    async fn runtime(mut incoming: Incoming) {
        let mut streams = HashMap::new();
        while streams.len() < 3 {
            let stream = incoming.next().await.expect("the agent opens its streams");
            let _ = stream.writer().reply(Headers::new(), false).await;
            let kind = stream.headers().get("streamType").unwrap_or_default().to_string();
            streams.insert(kind, stream);
        }
        let (mut stdin, stdout, error) = (
            streams.remove("stdin").expect("stdin"),
            streams.remove("stdout").expect("stdout"),
            streams.remove("error").expect("error"),
        );
        while let Some(Event::Data(data)) = stdin.next().await {
            let _ = stdout.writer().write(data).await;
        }
        let _ = stdout.writer().close().await;
        let _ = error.writer().write(Bytes::from_static(EXIT_3.as_bytes())).await;
        let _ = error.writer().close().await;
    }

    #[tokio::test]
    async fn v5s_close_ends_stdin_and_the_status_comes_before_a_normal_close() {
        let (to_client, client_io) = tokio::io::duplex(1 << 16);
        let (to_runtime, runtime_io) = tokio::io::duplex(1 << 16);
        let (_runtime, incoming) = Connection::new(runtime_io, Role::Server).unwrap();
        tokio::spawn(runtime(incoming));
        let (connection, incoming) = Connection::new(to_runtime, Role::Client).unwrap();
        let options = Options { stdin: true, stdout: true, ..Options::default() };
        let session = open_streams(connection, incoming, &options).await.unwrap();
        let agent = WebSocketStream::from_raw_socket(to_client, WsRole::Server, None).await;
        tokio::spawn(run(agent, session));

        // kubectl, speaking v5.
        let mut kubectl = WebSocketStream::from_raw_socket(client_io, WsRole::Client, None).await;
        // client-go pings every 5 s and gives up on a connection that stops answering.
        kubectl.send(Message::Ping(Bytes::from_static(b"beat"))).await.unwrap();
        let pong = tokio::time::timeout(std::time::Duration::from_secs(10), kubectl.next()).await;
        assert!(
            matches!(pong, Ok(Some(Ok(Message::Pong(ref data)))) if data.as_ref() == b"beat"),
            "{pong:?}"
        );
        kubectl.send(Message::Binary(frame(STDIN, b"line\n").into())).await.unwrap();
        kubectl.send(Message::Binary(vec![CLOSE, STDIN].into())).await.unwrap();
        let (mut channels, mut close) = (HashMap::<u8, Vec<u8>>::new(), None);
        // Without the FIN the runtime waits for more stdin and the session never ends.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, kubectl.next()).await {
            match message.unwrap() {
                Message::Binary(data) => {
                    channels.entry(data[0]).or_default().extend_from_slice(&data[1..]);
                }
                Message::Close(frame) => {
                    close = frame;
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(channels.get(&STDOUT).map(Vec::as_slice), Some(&b"line\n"[..]));
        assert_eq!(channels.get(&ERROR).map(Vec::as_slice), Some(EXIT_3.as_bytes()));
        assert_eq!(close.map(|c| c.code), Some(CloseCode::Normal));
    }
}
