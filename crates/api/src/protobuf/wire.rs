//! The protobuf wire format: a bounds-checked reader that never panics.

/// One field's payload as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
    /// A (deprecated) group; its content has been skipped.
    Group,
}

impl WireValue<'_> {
    pub(super) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Group => 3,
            WireValue::Fixed32(_) => 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WireError {
    Truncated,
    VarintOverflow,
    InvalidTag(u64),
    InvalidWireType(u8),
    UnbalancedGroup,
}

/// How deep groups may nest when skipping them.
const MAX_GROUP_DEPTH: usize = 64;

pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(WireError::Truncated);
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::VarintOverflow)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 || tag > (1 << 29) - 1 {
            return Err(WireError::InvalidTag(tag));
        }
        Ok((tag as u32, (key & 7) as u8))
    }

    /// The next field, or `None` at the end of the buffer.
    pub(super) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let (tag, wire_type) = self.key()?;
        let value = match wire_type {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                WireValue::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(tag)?;
                WireValue::Group
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            4 => return Err(WireError::UnbalancedGroup),
            other => return Err(WireError::InvalidWireType(other)),
        };
        Ok(Some((tag, value)))
    }

    /// Skips a group's content up to and including its end marker.
    fn skip_group(&mut self, start_tag: u32) -> Result<(), WireError> {
        let mut open = vec![start_tag];
        while let Some(&innermost) = open.last() {
            let (tag, wire_type) = self.key()?;
            match wire_type {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                    self.take(len)?;
                }
                3 => {
                    if open.len() >= MAX_GROUP_DEPTH {
                        return Err(WireError::UnbalancedGroup);
                    }
                    open.push(tag);
                }
                4 => {
                    if tag != innermost {
                        return Err(WireError::UnbalancedGroup);
                    }
                    open.pop();
                }
                5 => {
                    self.take(4)?;
                }
                other => return Err(WireError::InvalidWireType(other)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r =
            Reader::new(&[0x96, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.varint(), Ok(150));
        assert_eq!(r.varint(), Ok(0));
        assert_eq!(r.varint(), Ok(u64::MAX));
        assert!(r.is_empty());
        assert_eq!(Reader::new(&[0x80]).varint(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(WireError::VarintOverflow));
        // Like Go's decoder, bits past the 64th in a tenth byte are dropped.
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x03]).varint(),
            Ok(1 << 63)
        );
    }

    #[test]
    fn fields_and_groups() {
        // field 1 varint 5; field 2 group containing field 3 bytes "a" and a nested group 4;
        // field 6 fixed32; field 7 fixed64.
        let buf = [
            0x08, 0x05, 0x13, 0x1a, 0x01, b'a', 0x23, 0x24, 0x14, 0x35, 1, 0, 0, 0, 0x39, 2, 0, 0, 0, 0, 0,
            0, 0,
        ];
        let mut r = Reader::new(&buf);
        assert_eq!(r.next_field(), Ok(Some((1, WireValue::Varint(5)))));
        assert_eq!(r.next_field(), Ok(Some((2, WireValue::Group))));
        assert_eq!(r.next_field(), Ok(Some((6, WireValue::Fixed32(1)))));
        assert_eq!(r.next_field(), Ok(Some((7, WireValue::Fixed64(2)))));
        assert_eq!(r.next_field(), Ok(None));
        // A length running past the end, an end-group without a start, tag 0, wire type 6.
        assert_eq!(Reader::new(&[0x0a, 0x05, 1]).next_field(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0x0c]).next_field(), Err(WireError::UnbalancedGroup));
        assert_eq!(Reader::new(&[0x00, 0x00]).next_field(), Err(WireError::InvalidTag(0)));
        assert_eq!(Reader::new(&[0x0e]).next_field(), Err(WireError::InvalidWireType(6)));
        // A group closed by the wrong tag.
        assert_eq!(Reader::new(&[0x13, 0x1c]).next_field(), Err(WireError::UnbalancedGroup));
    }
}
