//! A SPDY connection: a reader task that routes frames to streams and answers pings, a writer
//! task that owns the encoder, and handles to both.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    sync::{mpsc, oneshot},
};
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    sync::CancellationToken,
};

use crate::{
    Error,
    frame::{Codec, Frame, status},
    headers::Headers,
};

/// Which end of the connection this is: clients open odd streams and pings, servers even ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// What arrives on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's SYN_REPLY to a stream this side opened.
    Reply(Headers),
    /// A HEADERS frame.
    Headers(Headers),
    Data(Bytes),
    /// The peer will send no more on this stream (its half is closed).
    Fin,
    /// The peer reset the stream with this status.
    Reset(u32),
}

/// Frames queued for the writer before senders wait.
const WRITE_QUEUE: usize = 64;
/// Events buffered per stream before the reader waits for the application.
const STREAM_QUEUE: usize = 16;
/// The largest data frame this side sends.
const MAX_DATA_FRAME: usize = 64 * 1024;
/// Bytes read before the window is returned to the peer.
const WINDOW_RETURN: u32 = 32 * 1024;

struct Shared {
    role: Role,
    frames: mpsc::Sender<Frame>,
    streams: Mutex<HashMap<u32, mpsc::Sender<Event>>>,
    /// The next id this side opens; held across the SYN_STREAM send so ids go out in order.
    next_stream: tokio::sync::Mutex<u32>,
    /// The highest stream id the peer opened.
    last_peer_stream: AtomicU32,
    next_ping: AtomicU32,
    pings: Mutex<HashMap<u32, oneshot::Sender<()>>>,
    going_away: AtomicBool,
    closed: CancellationToken,
}

/// The handle of a connection: opens streams, pings, says goodbye. Cloning it is cheap.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

/// The streams the peer opens, with their headers, in order.
pub struct Incoming {
    rx: mpsc::Receiver<Stream>,
}

impl Incoming {
    /// The next stream the peer opened; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Stream> {
        self.rx.recv().await
    }
}

impl Connection {
    /// Starts the connection's reader and writer tasks on `io` (on the current tokio runtime).
    pub fn new<T>(io: T, role: Role) -> Result<(Connection, Incoming), Error>
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (frames, queue) = mpsc::channel(WRITE_QUEUE);
        let (first_stream, first_ping) = match role {
            Role::Client => (1, 1),
            Role::Server => (2, 2),
        };
        let shared = Arc::new(Shared {
            role,
            frames,
            streams: Mutex::new(HashMap::new()),
            next_stream: tokio::sync::Mutex::new(first_stream),
            last_peer_stream: AtomicU32::new(0),
            next_ping: AtomicU32::new(first_ping),
            pings: Mutex::new(HashMap::new()),
            going_away: AtomicBool::new(false),
            closed: CancellationToken::new(),
        });
        // Each direction has its own compression context: the reader's codec only decodes and
        // the writer's only encodes.
        let reader = FramedRead::new(read, Codec::new()?);
        let writer = FramedWrite::new(write, Codec::new()?);
        let (incoming, rx) = mpsc::channel(STREAM_QUEUE);
        tokio::spawn(write_loop(writer, queue, shared.closed.clone()));
        tokio::spawn(read_loop(reader, shared.clone(), incoming));
        Ok((Connection { shared }, Incoming { rx }))
    }

    /// Opens a stream with `headers`; `fin` closes this side at once. The peer's answer comes
    /// as [`Event::Reply`].
    ///
    /// # Errors
    /// If the connection is closed or out of stream ids.
    pub async fn open(&self, headers: Headers, fin: bool) -> Result<Stream, Error> {
        let mut next = self.shared.next_stream.lock().await;
        let stream_id = *next;
        if stream_id > 0x7fff_ffff {
            return Err(Error::Protocol("out of stream ids".into()));
        }
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        self.lock_streams().insert(stream_id, tx);
        let frame = Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin,
            unidirectional: false,
            headers: headers.clone(),
        };
        if self.shared.frames.send(frame).await.is_err() {
            self.lock_streams().remove(&stream_id);
            return Err(Error::Closed);
        }
        *next += 2;
        Ok(Stream::new(stream_id, headers, rx, self.shared.frames.clone()))
    }

    /// Sends a PING and waits for its echo.
    ///
    /// # Errors
    /// If the connection closes first.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let id = self.shared.next_ping.fetch_add(2, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.pings.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let start = Instant::now();
        self.shared.frames.send(Frame::Ping { id }).await.map_err(|_| Error::Closed)?;
        tokio::select! {
            answer = rx => answer.map_err(|_| Error::Closed)?,
            () = self.shared.closed.cancelled() => return Err(Error::Closed),
        }
        Ok(start.elapsed())
    }

    /// Tells the peer this side opens and accepts no more streams (GOAWAY, status OK); streams
    /// already open go on.
    ///
    /// # Errors
    /// If the connection is already closed.
    pub async fn go_away(&self) -> Result<(), Error> {
        self.shared.going_away.store(true, Ordering::Relaxed);
        let last_good_stream_id = self.shared.last_peer_stream.load(Ordering::Relaxed);
        self.shared
            .frames
            .send(Frame::GoAway { last_good_stream_id, status: 0 })
            .await
            .map_err(|_| Error::Closed)
    }

    /// Resolves once the peer has closed the connection (or it failed).
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await;
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Stops reading and writing now; open streams see the end of their events.
    pub fn shutdown(&self) {
        self.shared.closed.cancel();
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::Sender<Event>>> {
        self.shared.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One stream: its id and opening headers, what arrives on it, and how to write to it.
pub struct Stream {
    id: u32,
    headers: Headers,
    reader: StreamReader,
    writer: StreamWriter,
}

impl Stream {
    fn new(id: u32, headers: Headers, events: mpsc::Receiver<Event>, frames: mpsc::Sender<Frame>) -> Self {
        let writer = StreamWriter { id, frames };
        Stream { id, headers, reader: StreamReader { events, unreturned: 0, writer: writer.clone() }, writer }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// The headers of the SYN_STREAM that opened it.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn writer(&self) -> &StreamWriter {
        &self.writer
    }

    /// The next event; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.reader.next().await
    }

    pub fn into_parts(self) -> (Headers, StreamReader, StreamWriter) {
        (self.headers, self.reader, self.writer)
    }
}

/// The receiving half of a stream.
pub struct StreamReader {
    events: mpsc::Receiver<Event>,
    unreturned: u32,
    writer: StreamWriter,
}

impl StreamReader {
    /// The next event; `None` once the connection is gone. Reading data returns window to the
    /// peer.
    pub async fn next(&mut self) -> Option<Event> {
        let event = self.events.recv().await?;
        if let Event::Data(data) = &event {
            self.unreturned += data.len() as u32;
            if self.unreturned >= WINDOW_RETURN {
                let delta = std::mem::take(&mut self.unreturned);
                let _ = self.writer.send(Frame::WindowUpdate { stream_id: self.writer.id, delta }).await;
                let _ = self.writer.send(Frame::WindowUpdate { stream_id: 0, delta }).await;
            }
        }
        Some(event)
    }
}

/// The sending half of a stream; clones write to the same stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    frames: mpsc::Sender<Frame>,
}

impl StreamWriter {
    pub fn id(&self) -> u32 {
        self.id
    }

    async fn send(&self, frame: Frame) -> Result<(), Error> {
        self.frames.send(frame).await.map_err(|_| Error::Closed)
    }

    /// Accepts a stream the peer opened (SYN_REPLY).
    ///
    /// # Errors
    /// If the connection is closed.
    pub async fn reply(&self, headers: Headers, fin: bool) -> Result<(), Error> {
        self.send(Frame::SynReply { stream_id: self.id, fin, headers }).await
    }

    /// Sends a HEADERS frame.
    ///
    /// # Errors
    /// If the connection is closed.
    pub async fn headers(&self, headers: Headers, fin: bool) -> Result<(), Error> {
        self.send(Frame::Headers { stream_id: self.id, fin, headers }).await
    }

    /// Sends `data`, in frames of at most 64 KiB.
    ///
    /// # Errors
    /// If the connection is closed.
    pub async fn write(&self, mut data: Bytes) -> Result<(), Error> {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_FRAME));
            self.send(Frame::Data { stream_id: self.id, fin: false, data: chunk }).await?;
        }
        Ok(())
    }

    /// Closes this side of the stream (an empty DATA frame with FIN).
    ///
    /// # Errors
    /// If the connection is closed.
    pub async fn close(&self) -> Result<(), Error> {
        self.send(Frame::Data { stream_id: self.id, fin: true, data: Bytes::new() }).await
    }

    /// Resets the stream (RST_STREAM with `status`, e.g. [`status::CANCEL`]).
    ///
    /// # Errors
    /// If the connection is closed.
    pub async fn reset(&self, status: u32) -> Result<(), Error> {
        self.send(Frame::RstStream { stream_id: self.id, status }).await
    }
}

async fn write_loop<W>(
    mut sink: FramedWrite<W, Codec>,
    mut queue: mpsc::Receiver<Frame>,
    closed: CancellationToken,
) where
    W: AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::select! {
            frame = queue.recv() => frame,
            () = closed.cancelled() => None,
        };
        let Some(frame) = frame else { break };
        if let Err(err) = sink.feed(frame).await {
            tracing::debug!(error = %err, "SPDY write failed");
            break;
        }
        // Batch what is already queued into one flush.
        while let Ok(frame) = queue.try_recv() {
            if let Err(err) = sink.feed(frame).await {
                tracing::debug!(error = %err, "SPDY write failed");
                closed.cancel();
                return;
            }
        }
        if let Err(err) = sink.flush().await {
            tracing::debug!(error = %err, "SPDY flush failed");
            break;
        }
    }
    closed.cancel();
    let _ = sink.get_mut().shutdown().await;
}

async fn read_loop<R>(mut source: FramedRead<R, Codec>, shared: Arc<Shared>, incoming: mpsc::Sender<Stream>)
where
    R: AsyncRead + Unpin,
{
    let conn = Connection { shared: shared.clone() };
    loop {
        let frame = tokio::select! {
            frame = source.next() => frame,
            () = shared.closed.cancelled() => break,
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => {
                tracing::debug!(error = %err, "SPDY read failed");
                // A broken header block desynchronises the compression context for good.
                let last_good_stream_id = shared.last_peer_stream.load(Ordering::Relaxed);
                let _ = shared.frames.try_send(Frame::GoAway { last_good_stream_id, status: 1 });
                break;
            }
            None => break,
        };
        if let Err(Error::Closed) = handle(&conn, &incoming, frame).await {
            break;
        }
    }
    shared.closed.cancel();
    conn.lock_streams().clear();
    shared.pings.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Routes one frame. Errors only when the connection is done for.
async fn handle(conn: &Connection, incoming: &mpsc::Sender<Stream>, frame: Frame) -> Result<(), Error> {
    let shared = &conn.shared;
    match frame {
        Frame::SynStream { stream_id, fin, headers, .. } => {
            let peer_parity = match shared.role {
                Role::Client => 0,
                Role::Server => 1,
            };
            let last = shared.last_peer_stream.load(Ordering::Relaxed);
            if stream_id % 2 != peer_parity || stream_id <= last {
                let rst = Frame::RstStream { stream_id, status: status::PROTOCOL_ERROR };
                return shared.frames.send(rst).await.map_err(|_| Error::Closed);
            }
            shared.last_peer_stream.store(stream_id, Ordering::Relaxed);
            if shared.going_away.load(Ordering::Relaxed) {
                let rst = Frame::RstStream { stream_id, status: status::REFUSED_STREAM };
                return shared.frames.send(rst).await.map_err(|_| Error::Closed);
            }
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            if fin {
                let _ = tx.try_send(Event::Fin);
            } else {
                conn.lock_streams().insert(stream_id, tx);
            }
            let stream = Stream::new(stream_id, headers, rx, shared.frames.clone());
            if incoming.send(stream).await.is_err() {
                conn.lock_streams().remove(&stream_id);
                let rst = Frame::RstStream { stream_id, status: status::REFUSED_STREAM };
                return shared.frames.send(rst).await.map_err(|_| Error::Closed);
            }
        }
        Frame::SynReply { stream_id, fin, headers } => {
            deliver(conn, stream_id, Event::Reply(headers), fin).await
        }
        Frame::Headers { stream_id, fin, headers } => {
            deliver(conn, stream_id, Event::Headers(headers), fin).await
        }
        Frame::Data { stream_id, fin, data } => {
            if data.is_empty() {
                if fin {
                    deliver(conn, stream_id, Event::Fin, false).await;
                }
            } else {
                deliver(conn, stream_id, Event::Data(data), fin).await;
            }
        }
        Frame::RstStream { stream_id, status } => {
            let tx = conn.lock_streams().remove(&stream_id);
            if let Some(tx) = tx {
                let _ = tx.send(Event::Reset(status)).await;
            }
        }
        Frame::Ping { id } => {
            let ours = match shared.role {
                Role::Client => 1,
                Role::Server => 0,
            };
            if id % 2 == ours {
                if let Some(waiter) = shared.pings.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
                    let _ = waiter.send(());
                }
            } else {
                shared.frames.send(Frame::Ping { id }).await.map_err(|_| Error::Closed)?;
            }
        }
        Frame::GoAway { .. } => {
            // The peer opens nothing more; what is open goes on until it closes the connection.
            shared.going_away.store(true, Ordering::Relaxed);
        }
        // No send-side flow control (see the crate docs); settings change nothing here.
        Frame::WindowUpdate { .. } | Frame::Settings { .. } => {}
    }
    Ok(())
}

/// Hands `event` (then `Fin` if `fin`) to the stream; a stream that finished or whose reader
/// is gone is forgotten.
async fn deliver(conn: &Connection, stream_id: u32, event: Event, fin: bool) {
    let tx = conn.lock_streams().get(&stream_id).cloned();
    let Some(tx) = tx else { return };
    let is_fin = matches!(event, Event::Fin);
    let mut alive = tx.send(event).await.is_ok();
    if fin && alive {
        alive = tx.send(Event::Fin).await.is_ok();
    }
    if fin || is_fin || !alive {
        conn.lock_streams().remove(&stream_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> ((Connection, Incoming), (Connection, Incoming)) {
        let (a, b) = tokio::io::duplex(8 * 1024);
        (Connection::new(a, Role::Client).unwrap(), Connection::new(b, Role::Server).unwrap())
    }

    /// Everything that arrives until the peer's FIN (or reset), data joined.
    async fn drain(stream: &mut Stream) -> (Vec<u8>, Option<Event>) {
        let mut data = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Event::Data(d) => data.extend_from_slice(&d),
                Event::Reply(_) | Event::Headers(_) => {}
                end => return (data, Some(end)),
            }
        }
        (data, None)
    }

    /// A server that replies to every stream and echoes its data back upper-cased.
    fn echoserver(mut incoming: Incoming) -> tokio::task::JoinHandle<Vec<Headers>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut tasks = Vec::new();
            while let Some(mut stream) = incoming.next().await {
                seen.push(stream.headers().clone());
                tasks.push(tokio::spawn(async move {
                    stream.writer().reply(Headers::new().with("x-echo", "yes"), false).await.unwrap();
                    let writer = stream.writer().clone();
                    while let Some(event) = stream.next().await {
                        match event {
                            Event::Data(d) => {
                                writer.write(Bytes::from(d.to_ascii_uppercase())).await.unwrap()
                            }
                            Event::Fin => {
                                writer.close().await.unwrap();
                                break;
                            }
                            _ => break,
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            seen
        })
    }

    #[tokio::test]
    async fn a_full_session_over_a_loopback_pipe() {
        let ((client, _), (server, incoming)) = pair();
        let served = echoserver(incoming);

        let mut a =
            client.open(Headers::new().with("streamtype", "data").with("port", "80"), false).await.unwrap();
        let mut b = client.open(Headers::new().with("streamtype", "error"), false).await.unwrap();
        assert_eq!((a.id(), b.id()), (1, 3), "client streams are odd and increase");
        assert_eq!(a.next().await, Some(Event::Reply(Headers::new().with("x-echo", "yes"))));

        // Two streams interleaved, one carrying far more than SPDY/3.1's initial 64 KiB window:
        // spdystream never grants window, so nothing may wait for it.
        let (wa, wb) = (a.writer().clone(), b.writer().clone());
        let big = vec![b'z'; 300_000];
        let reader_a = tokio::spawn(async move { drain(&mut a).await });
        let reader_b = tokio::spawn(async move { drain(&mut b).await });
        wa.write(Bytes::from_static(b"hello ")).await.unwrap();
        wb.write(Bytes::from_static(b"other")).await.unwrap();
        wa.write(Bytes::from(big.clone())).await.unwrap();
        wb.close().await.unwrap();
        wa.close().await.unwrap();

        let (data, end) = reader_a.await.unwrap();
        assert_eq!(end, Some(Event::Fin));
        assert_eq!(&data[..6], b"HELLO ");
        assert_eq!(data.len(), 6 + big.len());
        assert!(data[6..].iter().all(|c| *c == b'Z'));
        assert_eq!(reader_b.await.unwrap(), (b"OTHER".to_vec(), Some(Event::Fin)));

        // Pings both ways: each side answers the other's and matches its own.
        client.ping().await.unwrap();
        server.ping().await.unwrap();

        drop(client);
        drop(server);
        // Both handles gone: the server's incoming ends once the client's tasks stop.
        served.abort();
    }

    #[tokio::test]
    async fn resets_go_both_ways() {
        let ((client, _), (_server, mut incoming)) = pair();
        let mut s = client.open(Headers::new().with("k", "v"), false).await.unwrap();
        let mut accepted = incoming.next().await.unwrap();
        assert_eq!(accepted.headers().get("K"), Some("v"));
        accepted.writer().reply(Headers::new(), false).await.unwrap();
        assert!(matches!(s.next().await, Some(Event::Reply(_))));
        s.writer().reset(status::CANCEL).await.unwrap();
        assert_eq!(accepted.next().await, Some(Event::Reset(status::CANCEL)));

        let mut t = client.open(Headers::new(), false).await.unwrap();
        let accepted = incoming.next().await.unwrap();
        accepted.writer().reset(status::REFUSED_STREAM).await.unwrap();
        assert_eq!(t.next().await, Some(Event::Reset(status::REFUSED_STREAM)));
    }

    #[tokio::test]
    async fn a_peer_closing_ends_every_stream_and_the_incoming_queue() {
        let ((client, _), (server, mut incoming)) = pair();
        let mut s = client.open(Headers::new(), false).await.unwrap();
        let mut accepted = incoming.next().await.unwrap();
        client.shutdown();
        assert_eq!(accepted.next().await, None);
        assert!(incoming.next().await.is_none());
        server.closed().await;
        assert_eq!(s.next().await, None);
        assert!(client.open(Headers::new(), false).await.is_err());
    }

    #[tokio::test]
    async fn goaway_refuses_new_streams_but_keeps_open_ones() {
        let ((client, _), (server, mut incoming)) = pair();
        let mut open = client.open(Headers::new(), false).await.unwrap();
        let first = incoming.next().await.unwrap();
        server.go_away().await.unwrap();
        let mut late = client.open(Headers::new(), false).await.unwrap();
        assert_eq!(late.next().await, Some(Event::Reset(status::REFUSED_STREAM)));
        first.writer().write(Bytes::from_static(b"still here")).await.unwrap();
        assert_eq!(open.next().await, Some(Event::Data(Bytes::from_static(b"still here"))));
    }

    #[tokio::test]
    async fn streams_with_the_wrong_parity_or_order_are_refused() {
        let (raw, b) = tokio::io::duplex(4096);
        let (_server, mut incoming) = Connection::new(b, Role::Server).unwrap();
        let mut peer = tokio_util::codec::Framed::new(raw, Codec::new().unwrap());
        let syn = |stream_id| Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin: false,
            unidirectional: false,
            headers: Headers::new(),
        };
        peer.send(syn(3)).await.unwrap();
        peer.send(syn(2)).await.unwrap();
        peer.send(syn(1)).await.unwrap();
        assert_eq!(incoming.next().await.unwrap().id(), 3);
        let rst = |stream_id| Frame::RstStream { stream_id, status: status::PROTOCOL_ERROR };
        assert_eq!(peer.next().await.unwrap().unwrap(), rst(2));
        assert_eq!(peer.next().await.unwrap().unwrap(), rst(1));
        // A peer's ping is echoed; window updates and settings are accepted quietly.
        peer.send(Frame::WindowUpdate { stream_id: 0, delta: 10 }).await.unwrap();
        peer.send(Frame::Settings { clear: false, entries: vec![] }).await.unwrap();
        peer.send(Frame::Ping { id: 7 }).await.unwrap();
        assert_eq!(peer.next().await.unwrap().unwrap(), Frame::Ping { id: 7 });
    }

    #[tokio::test]
    async fn reading_returns_window_to_the_peer() {
        let (raw, b) = tokio::io::duplex(1 << 20);
        let (_client, _) = Connection::new(b, Role::Client).unwrap();
        let mut peer = tokio_util::codec::Framed::new(raw, Codec::new().unwrap());
        let mut s = _client.open(Headers::new(), false).await.unwrap();
        assert!(matches!(peer.next().await.unwrap().unwrap(), Frame::SynStream { stream_id: 1, .. }));
        peer.send(Frame::SynReply { stream_id: 1, fin: false, headers: Headers::new() }).await.unwrap();
        peer.send(Frame::Data { stream_id: 1, fin: false, data: Bytes::from(vec![0; 40_000]) })
            .await
            .unwrap();
        assert!(matches!(s.next().await, Some(Event::Reply(_))));
        assert!(matches!(s.next().await, Some(Event::Data(d)) if d.len() == 40_000));
        assert_eq!(peer.next().await.unwrap().unwrap(), Frame::WindowUpdate { stream_id: 1, delta: 40_000 });
        assert_eq!(peer.next().await.unwrap().unwrap(), Frame::WindowUpdate { stream_id: 0, delta: 40_000 });
    }
}
