//! Header blocks: name/value pairs compressed with zlib and the SPDY/3 dictionary.
//!
//! Each direction of a connection has one compression context for its whole life: every block
//! is a sync-flushed continuation of the same zlib stream, so the decoder must see every block
//! the peer sent, in order, even those of streams it ignores.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::{Error, dictionary::DICTIONARY};

/// The most a header block may inflate to; more is taken as an attack, not as headers.
const MAX_BLOCK: usize = 256 * 1024;

/// Header name/value pairs. Names are lowercase; a name given more than once carries several
/// values (on the wire, one value joined with NUL bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value; the name is lowercased, as SPDY requires.
    pub fn add(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Builder form of [`Headers::add`].
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.add(name, value);
        self
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The uncompressed block: a 32-bit count of names, then each name and its (NUL-joined)
    /// value behind 32-bit lengths.
    fn encode_plain(&self) -> Vec<u8> {
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &self.0 {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(names.len() as u32).to_be_bytes());
        for name in names {
            let value = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
            let value = value.join("\0");
            out.extend_from_slice(&(name.len() as u32).to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    fn decode_plain(mut block: &[u8]) -> Result<Self, Error> {
        let count = take_u32(&mut block)?;
        let mut headers = Headers::new();
        for _ in 0..count {
            let name = take_str(&mut block)?;
            if name.is_empty() {
                return Err(Error::Protocol("empty header name".into()));
            }
            let value = take_str(&mut block)?;
            for part in value.split('\0') {
                headers.0.push((name.to_ascii_lowercase(), part.to_string()));
            }
        }
        if !block.is_empty() {
            return Err(Error::Protocol(format!("{} bytes after the header block", block.len())));
        }
        Ok(headers)
    }
}

fn take_u32(block: &mut &[u8]) -> Result<u32, Error> {
    let Some((head, rest)) = block.split_first_chunk::<4>() else {
        return Err(Error::Protocol("truncated header block".into()));
    };
    *block = rest;
    Ok(u32::from_be_bytes(*head))
}

fn take_str(block: &mut &[u8]) -> Result<String, Error> {
    let len = take_u32(block)? as usize;
    if len > block.len() {
        return Err(Error::Protocol("header length past the end of the block".into()));
    }
    let (s, rest) = block.split_at(len);
    *block = rest;
    String::from_utf8(s.to_vec()).map_err(|_| Error::Protocol("header is not UTF-8".into()))
}

/// The sending side's compression context.
pub(crate) struct HeaderEncoder(Compress);

impl HeaderEncoder {
    pub fn new() -> Result<Self, Error> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(&DICTIONARY).map_err(|e| Error::Zlib(e.to_string()))?;
        Ok(Self(z))
    }

    /// Compresses one block, sync-flushed so the peer can inflate it alone.
    pub fn encode(&mut self, headers: &Headers) -> Result<Vec<u8>, Error> {
        let plain = headers.encode_plain();
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        let start_in = self.0.total_in();
        loop {
            let consumed = (self.0.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(plain.len() + 64);
            }
            self.0
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| Error::Zlib(e.to_string()))?;
            let done = (self.0.total_in() - start_in) as usize == plain.len();
            // A sync flush is complete when it left room in the output buffer.
            if done && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The receiving side's decompression context.
pub(crate) struct HeaderDecoder(Decompress);

impl HeaderDecoder {
    pub fn new() -> Self {
        Self(Decompress::new(true))
    }

    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, Error> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len() * 4 + 64);
        let start_in = self.0.total_in();
        loop {
            let consumed = (self.0.total_in() - start_in) as usize;
            if out.len() == out.capacity() {
                if out.len() >= MAX_BLOCK {
                    return Err(Error::Protocol("header block too large".into()));
                }
                out.reserve(out.len());
            }
            match self.0.decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync) {
                Ok(Status::StreamEnd) => {
                    return Err(Error::Protocol("the peer ended its header compression stream".into()));
                }
                Ok(_) => {}
                Err(e) => match e.needs_dictionary() {
                    Some(_) => {
                        self.0.set_dictionary(&DICTIONARY).map_err(|e| Error::Zlib(e.to_string()))?;
                        continue;
                    }
                    None => return Err(Error::Zlib(e.to_string())),
                },
            }
            let all_in = (self.0.total_in() - start_in) as usize == block.len();
            if all_in && out.len() < out.capacity() {
                return Headers::decode_plain(&out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_through_one_context_per_direction() {
        let mut enc = HeaderEncoder::new().unwrap();
        let mut dec = HeaderDecoder::new();
        let first = Headers::new().with("StreamType", "error").with("port", "8080").with("requestid", "0");
        let second = Headers::new().with("streamtype", "data").with("port", "8080").with("requestid", "0");
        let a = enc.encode(&first).unwrap();
        let b = enc.encode(&second).unwrap();
        // The zlib header names the SPDY dictionary (FDICT set, DICTID = its Adler-32).
        assert_eq!(a[1] & 0x20, 0x20);
        assert_eq!(&a[2..6], &0xe3c6_a7c2u32.to_be_bytes());
        // The second block reuses the first's history, so it is smaller.
        assert!(b.len() < a.len(), "{} vs {}", b.len(), a.len());
        assert_eq!(dec.decode(&a).unwrap().get("streamtype"), Some("error"));
        let got = dec.decode(&b).unwrap();
        assert_eq!(got, second);
    }

    #[test]
    fn repeated_names_travel_as_one_nul_joined_value() {
        let h = Headers::new().with("x", "1").with("y", "a").with("x", "2");
        let plain = h.encode_plain();
        let back = Headers::decode_plain(&plain).unwrap();
        assert_eq!(back.iter().filter(|(n, _)| *n == "x").map(|(_, v)| v).collect::<Vec<_>>(), ["1", "2"]);
        assert!(plain.windows(3).any(|w| w == b"1\x002"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = HeaderDecoder::new();
        assert!(dec.decode(&[0x78, 0xbb, 1, 2, 3, 4, 5]).is_err());
        assert!(Headers::decode_plain(&[0, 0, 0, 5, 0, 0, 0, 200, b'a']).is_err());
    }
}
