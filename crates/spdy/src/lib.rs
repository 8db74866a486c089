//! SPDY/3.1 as Kubernetes streaming speaks it (`kubectl port-forward`, `exec`, `attach`): the
//! frames with their zlib-compressed header blocks ([`frame`]) and a connection over any byte
//! stream that hands out incoming streams and opens its own ([`conn`]).
//!
//! Flow control follows what moby/spdystream, kubectl's implementation, does: it neither grants
//! window nor waits for it, so this crate never holds data back for lack of window; it still
//! returns WINDOW_UPDATEs as the application reads, so a stricter peer is not starved.

pub mod conn;
mod dictionary;
pub mod frame;
mod headers;

pub use conn::{Connection, Event, Incoming, Role, Stream, StreamReader, StreamWriter};
pub use frame::{Codec, Frame, Setting, status};
pub use headers::Headers;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SPDY connection I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    #[error("SPDY header compression: {0}")]
    Zlib(String),
    #[error("the SPDY connection is closed")]
    Closed,
}
