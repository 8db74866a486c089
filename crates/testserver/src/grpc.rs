//! The gRPC health service (`grpc.health.v1.Health/Check`) over cleartext HTTP/2, for gRPC
//! probes. Just enough HTTP/2 for one unary call per stream: request headers are not decoded
//! (every call is answered as a health check), responses use HPACK literals only.

use std::{
    io::{self, Read, Write},
    net::TcpStream,
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// `HealthCheckResponse.ServingStatus`.
const SERVING: u8 = 1;
const NOT_SERVING: u8 = 2;

/// Serves one connection; `healthy` is read per call, so the health switch applies.
pub fn serve(mut stream: TcpStream, healthy: impl Fn() -> bool) -> io::Result<()> {
    let mut preface = [0u8; PREFACE.len()];
    stream.read_exact(&mut preface)?;
    if preface != PREFACE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/2 connection preface"));
    }
    write_frame(&mut stream, SETTINGS, 0, 0, &[])?;
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head)?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream_id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if length > 1 << 20 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
        }
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload)?;
        match kind {
            SETTINGS if flags & ACK == 0 => write_frame(&mut stream, SETTINGS, ACK, 0, &[])?,
            PING if flags & ACK == 0 => write_frame(&mut stream, PING, ACK, 0, &payload)?,
            GOAWAY => return Ok(()),
            // The call is complete once the client ends its half of the stream.
            HEADERS | DATA if flags & END_STREAM != 0 && stream_id != 0 => {
                let status = if healthy() { SERVING } else { NOT_SERVING };
                respond(&mut stream, stream_id, status)?;
            }
            _ => {}
        }
    }
}

fn respond(stream: &mut TcpStream, stream_id: u32, status: u8) -> io::Result<()> {
    // `:status: 200` is static table entry 8; content-type (entry 31) as a literal value.
    let mut headers = vec![0x88, 0x0f, 0x10];
    push_string(&mut headers, "application/grpc");
    write_frame(stream, HEADERS, END_HEADERS, stream_id, &headers)?;
    // One length-prefixed, uncompressed message: field 1 (status) as a varint.
    let message = [0x08, status];
    let mut data = vec![0u8];
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(&message);
    write_frame(stream, DATA, 0, stream_id, &data)?;
    let mut trailers = vec![0x00];
    push_string(&mut trailers, "grpc-status");
    push_string(&mut trailers, "0");
    write_frame(stream, HEADERS, END_HEADERS | END_STREAM, stream_id, &trailers)?;
    stream.flush()
}

/// An HPACK string literal without Huffman coding (all our strings are under 127 bytes).
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn write_frame(out: &mut impl Write, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> io::Result<()> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut frame = Vec::with_capacity(9 + payload.len());
    frame.extend_from_slice(&length[1..]);
    frame.push(kind);
    frame.push(flags);
    frame.extend_from_slice(&stream_id.to_be_bytes());
    frame.extend_from_slice(payload);
    out.write_all(&frame)
}
