//! On-disk encoding of current values and log records.
//!
//! Current value (table `kv`, keyed by key): `create_rev i64 | mod_rev i64 | value`.
//! Log record (table `log`, keyed by revision): `kind u8 | key_len u32 | key | create_rev i64 |
//! value_len u32 | value | has_prev u8 [| prev_create i64 | prev_mod i64 | prev_value]`.
//! All integers little-endian. Decoding never panics: damaged bytes become an error.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Event, EventKind, KeyValue, Revision, StoreError};

pub(crate) fn encode_value(create: Revision, modified: Revision, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + value.len());
    out.extend_from_slice(&create.to_le_bytes());
    out.extend_from_slice(&modified.to_le_bytes());
    out.extend_from_slice(value);
    out
}

pub(crate) fn decode_value(key: &[u8], raw: &[u8]) -> Result<KeyValue, StoreError> {
    let mut r = Reader::new(raw);
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    Ok(KeyValue { key: utf8(key)?, value: Bytes::copy_from_slice(r.rest()), create_revision, mod_revision })
}

pub(crate) fn encode_event(event: &Event) -> Vec<u8> {
    let prev_len = event.prev.as_ref().map_or(0, |p| 16 + p.value.len());
    let mut out =
        BytesMut::with_capacity(1 + 4 + event.kv.key.len() + 8 + 4 + event.kv.value.len() + 1 + prev_len);
    out.put_u8(match event.kind {
        EventKind::Create => 0,
        EventKind::Update => 1,
        EventKind::Delete => 2,
    });
    put_bytes(&mut out, event.kv.key.as_bytes());
    out.put_i64_le(event.kv.create_revision);
    put_bytes(&mut out, &event.kv.value);
    match &event.prev {
        None => out.put_u8(0),
        Some(prev) => {
            out.put_u8(1);
            out.put_i64_le(prev.create_revision);
            out.put_i64_le(prev.mod_revision);
            out.put_slice(&prev.value);
        }
    }
    out.to_vec()
}

pub(crate) fn decode_event(revision: Revision, raw: &[u8]) -> Result<Event, StoreError> {
    let mut r = Reader::new(raw);
    let kind = match r.u8()? {
        0 => EventKind::Create,
        1 => EventKind::Update,
        2 => EventKind::Delete,
        other => return Err(corrupt(format!("unknown event kind {other} at revision {revision}"))),
    };
    let key = utf8(r.sized()?)?;
    let create_revision = r.i64()?;
    let value = Bytes::copy_from_slice(r.sized()?);
    let prev = match r.u8()? {
        0 => None,
        _ => Some(KeyValue {
            key: key.clone(),
            create_revision: r.i64()?,
            mod_revision: r.i64()?,
            value: Bytes::copy_from_slice(r.rest()),
        }),
    };
    Ok(Event { kind, kv: KeyValue { key, value, create_revision, mod_revision: revision }, prev })
}

/// The key of a log record, read without decoding the values (for prefix filtering).
pub(crate) fn event_key(raw: &[u8]) -> Result<&[u8], StoreError> {
    let mut r = Reader::new(raw);
    r.u8()?;
    r.sized()
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    // Keys and values are bounded by MAX_VALUE_SIZE, far below u32::MAX.
    out.put_u32_le(bytes.len() as u32);
    out.put_slice(bytes);
}

fn utf8(bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("key is not UTF-8".into()))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Unavailable(format!("damaged record in the embedded datastore: {what}"))
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(corrupt(format!("record ends early: wanted {n} bytes, {} left", self.buf.len())));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(b))
    }

    fn sized(&mut self) -> Result<&'a [u8], StoreError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        self.take(u32::from_le_bytes(b) as usize)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, create: i64, modified: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from(value.to_string()),
            create_revision: create,
            mod_revision: modified,
        }
    }

    #[test]
    fn events_round_trip() {
        let events = [
            Event { kind: EventKind::Create, kv: kv("/a", "one", 5, 5), prev: None },
            Event { kind: EventKind::Update, kv: kv("/a", "two", 5, 6), prev: Some(kv("/a", "one", 5, 5)) },
            Event { kind: EventKind::Delete, kv: kv("/a", "", 0, 7), prev: Some(kv("/a", "two", 5, 6)) },
        ];
        for e in events {
            let raw = encode_event(&e);
            assert_eq!(decode_event(e.revision(), &raw).unwrap(), e);
            assert_eq!(event_key(&raw).unwrap(), b"/a");
        }
    }

    #[test]
    fn values_round_trip() {
        let raw = encode_value(3, 9, b"hello");
        assert_eq!(decode_value(b"/k", &raw).unwrap(), kv("/k", "hello", 3, 9));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let raw = encode_event(&Event { kind: EventKind::Create, kv: kv("/a", "one", 5, 5), prev: None });
        for cut in 0..raw.len() {
            assert!(decode_event(5, &raw[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_value(b"/k", &[1, 2, 3]).is_err());
        assert!(decode_event(1, &[9]).is_err());
    }
}
