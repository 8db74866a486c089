//! SPDY/3.1 frames and their wire format (draft 3.1, section 2.2 and 2.6).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    Error,
    headers::{HeaderDecoder, HeaderEncoder, Headers},
};

pub const VERSION: u16 = 3;
/// The largest payload a frame's 24-bit length can state.
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;
const FLAG_CLEAR_SETTINGS: u8 = 0x01;

/// RST_STREAM status codes.
pub mod status {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const UNSUPPORTED_VERSION: u32 = 4;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
    pub const FRAME_TOO_LARGE: u32 = 11;
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        slot: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        fin: bool,
        data: Bytes,
    },
}

/// Encodes and decodes frames for one side of a connection; it owns that side's two header
/// compression contexts, so one codec must see every frame of the connection.
pub struct Codec {
    encoder: HeaderEncoder,
    decoder: HeaderDecoder,
}

impl Codec {
    /// # Errors
    /// If zlib refuses the dictionary (it does not).
    pub fn new() -> Result<Self, Error> {
        Ok(Self { encoder: HeaderEncoder::new()?, decoder: HeaderDecoder::new() })
    }
}

fn control_header(dst: &mut BytesMut, kind: u16, flags: u8, len: usize) -> Result<(), Error> {
    if len > MAX_PAYLOAD {
        return Err(Error::Protocol(format!("a frame of {len} bytes does not fit")));
    }
    dst.put_u16(0x8000 | VERSION);
    dst.put_u16(kind);
    dst.put_u32((u32::from(flags) << 24) | len as u32);
    Ok(())
}

fn flags(fin: bool, other: u8, on: bool) -> u8 {
    (if fin { FLAG_FIN } else { 0 }) | if on { other } else { 0 }
}

impl Encoder<Frame> for Codec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Error> {
        match frame {
            Frame::SynStream { stream_id, associated_to, priority, slot, fin, unidirectional, headers } => {
                let block = self.encoder.encode(&headers)?;
                let flags = flags(fin, FLAG_UNIDIRECTIONAL, unidirectional);
                control_header(dst, SYN_STREAM, flags, 10 + block.len())?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u32(associated_to & 0x7fff_ffff);
                dst.put_u8((priority & 0x07) << 5);
                dst.put_u8(slot);
                dst.put_slice(&block);
            }
            Frame::SynReply { stream_id, fin, headers } => {
                let block = self.encoder.encode(&headers)?;
                control_header(dst, SYN_REPLY, flags(fin, 0, false), 4 + block.len())?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_slice(&block);
            }
            Frame::Headers { stream_id, fin, headers } => {
                let block = self.encoder.encode(&headers)?;
                control_header(dst, HEADERS, flags(fin, 0, false), 4 + block.len())?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control_header(dst, RST_STREAM, 0, 8)?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u32(status);
            }
            Frame::Settings { clear, entries } => {
                control_header(
                    dst,
                    SETTINGS,
                    flags(false, FLAG_CLEAR_SETTINGS, clear),
                    4 + 8 * entries.len(),
                )?;
                dst.put_u32(entries.len() as u32);
                for e in entries {
                    dst.put_u32((u32::from(e.flags) << 24) | (e.id & 0x00ff_ffff));
                    dst.put_u32(e.value);
                }
            }
            Frame::Ping { id } => {
                control_header(dst, PING, 0, 4)?;
                dst.put_u32(id);
            }
            Frame::GoAway { last_good_stream_id, status } => {
                control_header(dst, GOAWAY, 0, 8)?;
                dst.put_u32(last_good_stream_id & 0x7fff_ffff);
                dst.put_u32(status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control_header(dst, WINDOW_UPDATE, 0, 8)?;
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u32(delta & 0x7fff_ffff);
            }
            Frame::Data { stream_id, fin, data } => {
                if data.len() > MAX_PAYLOAD {
                    return Err(Error::Protocol(format!(
                        "a data frame of {} bytes does not fit",
                        data.len()
                    )));
                }
                dst.reserve(8 + data.len());
                dst.put_u32(stream_id & 0x7fff_ffff);
                dst.put_u32((u32::from(flags(fin, 0, false)) << 24) | data.len() as u32);
                dst.put_slice(&data);
            }
        }
        Ok(())
    }
}

impl Decoder for Codec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        loop {
            if src.len() < 8 {
                return Ok(None);
            }
            let word = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
            let flags = src[4];
            let len = (u32::from_be_bytes([0, src[5], src[6], src[7]])) as usize;
            if src.len() < 8 + len {
                src.reserve(8 + len - src.len());
                return Ok(None);
            }
            let header = src.split_to(8);
            let mut body = src.split_to(len).freeze();
            if word & 0x8000_0000 == 0 {
                let stream_id = word & 0x7fff_ffff;
                if stream_id == 0 {
                    return Err(Error::Protocol("data frame on stream 0".into()));
                }
                return Ok(Some(Frame::Data { stream_id, fin: flags & FLAG_FIN != 0, data: body }));
            }
            let version = ((word >> 16) & 0x7fff) as u16;
            if version != VERSION {
                return Err(Error::Protocol(format!("SPDY version {version}, want {VERSION}")));
            }
            let kind = (word & 0xffff) as u16;
            drop(header);
            let fin = flags & FLAG_FIN != 0;
            let need = |n: usize| {
                if len < n {
                    Err(Error::Protocol(format!("control frame type {kind} of {len} bytes is too short")))
                } else {
                    Ok(())
                }
            };
            let frame = match kind {
                SYN_STREAM => {
                    need(10)?;
                    let stream_id = body.get_u32() & 0x7fff_ffff;
                    let associated_to = body.get_u32() & 0x7fff_ffff;
                    let priority = body.get_u8() >> 5;
                    let slot = body.get_u8();
                    let headers = self.decoder.decode(&body)?;
                    nonzero(stream_id, kind)?;
                    Frame::SynStream {
                        stream_id,
                        associated_to,
                        priority,
                        slot,
                        fin,
                        unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                        headers,
                    }
                }
                SYN_REPLY | HEADERS => {
                    need(4)?;
                    let stream_id = body.get_u32() & 0x7fff_ffff;
                    let headers = self.decoder.decode(&body)?;
                    nonzero(stream_id, kind)?;
                    if kind == SYN_REPLY {
                        Frame::SynReply { stream_id, fin, headers }
                    } else {
                        Frame::Headers { stream_id, fin, headers }
                    }
                }
                RST_STREAM => {
                    need(8)?;
                    let stream_id = body.get_u32() & 0x7fff_ffff;
                    Frame::RstStream { stream_id, status: body.get_u32() }
                }
                SETTINGS => {
                    need(4)?;
                    let count = body.get_u32() as usize;
                    if body.remaining() < count.saturating_mul(8) {
                        return Err(Error::Protocol(format!("SETTINGS with {count} entries is too short")));
                    }
                    let entries = (0..count)
                        .map(|_| {
                            let word = body.get_u32();
                            Setting {
                                flags: (word >> 24) as u8,
                                id: word & 0x00ff_ffff,
                                value: body.get_u32(),
                            }
                        })
                        .collect();
                    Frame::Settings { clear: flags & FLAG_CLEAR_SETTINGS != 0, entries }
                }
                PING => {
                    need(4)?;
                    Frame::Ping { id: body.get_u32() }
                }
                GOAWAY => {
                    need(8)?;
                    Frame::GoAway {
                        last_good_stream_id: body.get_u32() & 0x7fff_ffff,
                        status: body.get_u32(),
                    }
                }
                WINDOW_UPDATE => {
                    need(8)?;
                    Frame::WindowUpdate {
                        stream_id: body.get_u32() & 0x7fff_ffff,
                        delta: body.get_u32() & 0x7fff_ffff,
                    }
                }
                // Unknown control frames are ignored, as the spec asks; NOOP (5) and
                // CREDENTIAL (10) included.
                _ => continue,
            };
            return Ok(Some(frame));
        }
    }
}

fn nonzero(stream_id: u32, kind: u16) -> Result<(), Error> {
    if stream_id == 0 {
        return Err(Error::Protocol(format!("control frame type {kind} on stream 0")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        let h = Headers::new().with("streamtype", "data").with("port", "80");
        vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                slot: 0,
                fin: false,
                unidirectional: true,
                headers: h.clone(),
            },
            Frame::SynReply { stream_id: 1, fin: true, headers: Headers::new() },
            Frame::RstStream { stream_id: 3, status: status::CANCEL },
            Frame::Settings {
                clear: true,
                entries: vec![
                    Setting { flags: 1, id: 7, value: 65536 },
                    Setting { flags: 0, id: 4, value: 100 },
                ],
            },
            Frame::Ping { id: 2 },
            Frame::GoAway { last_good_stream_id: 5, status: 0 },
            Frame::Headers { stream_id: 1, fin: false, headers: h },
            Frame::WindowUpdate { stream_id: 0, delta: 1 << 20 },
            Frame::Data { stream_id: 1, fin: true, data: Bytes::from_static(b"hello") },
            Frame::Data { stream_id: 7, fin: false, data: Bytes::new() },
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        let (mut tx, mut rx) = (Codec::new().unwrap(), Codec::new().unwrap());
        let mut wire = BytesMut::new();
        for f in all_frames() {
            tx.encode(f, &mut wire).unwrap();
        }
        for want in all_frames() {
            assert_eq!(rx.decode(&mut wire).unwrap(), Some(want));
        }
        assert_eq!(rx.decode(&mut wire).unwrap(), None);
    }

    #[test]
    fn frames_have_the_spec_layout() {
        let mut codec = Codec::new().unwrap();
        let mut wire = BytesMut::new();
        codec.encode(Frame::Ping { id: 1 }, &mut wire).unwrap();
        assert_eq!(&wire[..], &[0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
        wire.clear();
        codec.encode(Frame::RstStream { stream_id: 5, status: status::CANCEL }, &mut wire).unwrap();
        assert_eq!(&wire[..], &[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5]);
        wire.clear();
        codec
            .encode(Frame::Data { stream_id: 3, fin: true, data: Bytes::from_static(b"ab") }, &mut wire)
            .unwrap();
        assert_eq!(&wire[..], &[0, 0, 0, 3, 0x01, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn partial_input_waits_for_more() {
        let (mut tx, mut rx) = (Codec::new().unwrap(), Codec::new().unwrap());
        let mut wire = BytesMut::new();
        tx.encode(Frame::Data { stream_id: 1, fin: false, data: Bytes::from_static(b"abcdef") }, &mut wire)
            .unwrap();
        let mut partial = wire.split_to(9);
        assert_eq!(rx.decode(&mut partial).unwrap(), None);
        partial.unsplit(wire);
        assert!(matches!(rx.decode(&mut partial).unwrap(), Some(Frame::Data { .. })));
    }

    #[test]
    fn unknown_control_frames_are_skipped_and_bad_ones_refused() {
        let mut rx = Codec::new().unwrap();
        let mut wire = BytesMut::from(&[0x80, 0x03, 0x00, 0x05, 0, 0, 0, 2, 9, 9][..]);
        wire.extend_from_slice(&[0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 9]);
        assert_eq!(rx.decode(&mut wire).unwrap(), Some(Frame::Ping { id: 9 }));
        let mut v2 = BytesMut::from(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 9][..]);
        assert!(rx.decode(&mut v2).is_err());
        let mut short = BytesMut::from(&[0x80, 0x03, 0x00, 0x03, 0, 0, 0, 2, 0, 1][..]);
        assert!(Codec::new().unwrap().decode(&mut short).is_err());
        let mut zero = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(Codec::new().unwrap().decode(&mut zero).is_err());
    }
}
