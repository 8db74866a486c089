//! The generic decoder: walks a message's bytes with its schema entry and builds the JSON a Go
//! client would have sent for the same object.

use serde_json::{Map, Value};

use super::ProtobufError;
use super::schema::{INLINE, Kind, MAP, Message, OMIT_EMPTY, OMIT_ZERO, REP, Special, message};
use super::wire::{Reader, WireError, WireValue};

/// How deep messages may nest (JSONSchemaProps recurse; real objects stay far below this).
pub(super) const MAX_DEPTH: usize = 100;

/// What the wire held for one schema field.
enum Slot<'a> {
    Empty,
    /// A singular scalar other than bytes (last occurrence wins).
    Scalar(Value),
    /// A singular bytes field (last occurrence wins).
    Bytes(&'a [u8]),
    /// A singular message; every occurrence, to be merged as protobuf does.
    Message(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

pub(super) fn wire_error(message: &'static str, err: WireError) -> ProtobufError {
    match err {
        WireError::Truncated => ProtobufError::Truncated { message },
        WireError::VarintOverflow => {
            ProtobufError::Malformed { message, detail: "varint longer than 10 bytes".into() }
        }
        WireError::InvalidTag(tag) => {
            ProtobufError::Malformed { message, detail: format!("invalid field number {tag}") }
        }
        WireError::InvalidWireType(t) => {
            ProtobufError::Malformed { message, detail: format!("invalid wire type {t}") }
        }
        WireError::UnbalancedGroup => ProtobufError::Malformed { message, detail: "unbalanced group".into() },
    }
}

fn wrong_wire_type(msg: &Message, field: &'static str, found: &WireValue, expected: u8) -> ProtobufError {
    ProtobufError::WrongWireType { message: msg.name, field, found: found.wire_type(), expected }
}

fn expected_wire_type(kind: Kind) -> u8 {
    match kind {
        Kind::Bool | Kind::I32 | Kind::I64 => 0,
        Kind::F64 => 1,
        Kind::Str | Kind::Bytes | Kind::M(_) => 2,
    }
}

/// Decodes a singular scalar (bytes fields are rendered by the caller).
fn scalar(msg: &Message, field: &'static str, kind: Kind, value: &WireValue) -> Result<Value, ProtobufError> {
    Ok(match (kind, value) {
        (Kind::Str, WireValue::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        (Kind::Bytes, WireValue::Bytes(b)) => Value::String(base64(b)),
        (Kind::Bool, WireValue::Varint(v)) => Value::Bool(*v != 0),
        // Truncation, as Go's decoder does for int32.
        (Kind::I32, WireValue::Varint(v)) => Value::from(*v as i32),
        (Kind::I64, WireValue::Varint(v)) => Value::from(*v as i64),
        (Kind::F64, WireValue::Fixed64(bits)) => float(msg, field, f64::from_bits(*bits))?,
        _ => return Err(wrong_wire_type(msg, field, value, expected_wire_type(kind))),
    })
}

/// A double as JSON: Go writes integral values without a fraction (`1`, not `1.0`), so they
/// become integers here, exactly as if the JSON text had been parsed.
fn float(msg: &Message, field: &'static str, v: f64) -> Result<Value, ProtobufError> {
    if !v.is_finite() {
        return Err(ProtobufError::InvalidValue {
            message: msg.name,
            field,
            detail: format!("{v} is not valid JSON"),
        });
    }
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        return Ok(Value::from(v as i64));
    }
    Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
}

/// Appends the elements of a repeated scalar field occurrence (packed or not).
fn repeated_scalar(
    msg: &Message,
    field: &'static str,
    kind: Kind,
    value: &WireValue,
    out: &mut Vec<Value>,
) -> Result<(), ProtobufError> {
    match (kind, value) {
        (Kind::Bool | Kind::I32 | Kind::I64, WireValue::Bytes(packed)) => {
            let mut r = Reader::new(packed);
            while !r.is_empty() {
                let v = r.varint().map_err(|e| wire_error(msg.name, e))?;
                out.push(scalar(msg, field, kind, &WireValue::Varint(v))?);
            }
        }
        (Kind::F64, WireValue::Bytes(packed)) => {
            if packed.len() % 8 != 0 {
                return Err(ProtobufError::Truncated { message: msg.name });
            }
            for chunk in packed.chunks_exact(8) {
                let mut bits = [0u8; 8];
                bits.copy_from_slice(chunk);
                out.push(float(msg, field, f64::from_le_bytes(bits))?);
            }
        }
        _ => out.push(scalar(msg, field, kind, value)?),
    }
    Ok(())
}

/// Decodes one message of the schema at `index` into JSON.
pub(super) fn decode_message(index: u16, data: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep(MAX_DEPTH));
    }
    let msg = message(index);
    let slots = collect(msg, data, depth)?;
    match msg.special {
        Special::None => render_object(msg, slots, depth),
        special => render_special(msg, special, data.is_empty(), slots, depth),
    }
}

fn collect<'a>(msg: &'static Message, data: &'a [u8], depth: usize) -> Result<Vec<Slot<'a>>, ProtobufError> {
    let mut slots: Vec<Slot<'a>> = msg
        .fields
        .iter()
        .map(|f| {
            if f.has(MAP) {
                Slot::Map(Map::new())
            } else if f.has(REP) {
                Slot::List(Vec::new())
            } else {
                Slot::Empty
            }
        })
        .collect();
    let mut reader = Reader::new(data);
    while let Some((tag, value)) = reader.next_field().map_err(|e| wire_error(msg.name, e))? {
        // Unknown fields are skipped, as Go's decoder does.
        let Some(i) = msg.field_index(tag) else { continue };
        let field = &msg.fields[i];
        let name = field.json;
        match &mut slots[i] {
            Slot::Map(map) => {
                let WireValue::Bytes(entry) = value else {
                    return Err(wrong_wire_type(msg, name, &value, 2));
                };
                let (key, value) = map_entry(msg, name, field.kind, entry, depth)?;
                map.insert(key, value);
            }
            Slot::List(list) => match field.kind {
                Kind::M(index) => {
                    let WireValue::Bytes(bytes) = value else {
                        return Err(wrong_wire_type(msg, name, &value, 2));
                    };
                    list.push(decode_message(index, bytes, depth + 1)?);
                }
                kind => repeated_scalar(msg, name, kind, &value, list)?,
            },
            slot => match (field.kind, value) {
                (Kind::M(_), WireValue::Bytes(bytes)) => match slot {
                    Slot::Message(segments) => segments.push(bytes),
                    other => *other = Slot::Message(vec![bytes]),
                },
                (Kind::Bytes, WireValue::Bytes(bytes)) => *slot = Slot::Bytes(bytes),
                (Kind::M(_) | Kind::Bytes, value) => return Err(wrong_wire_type(msg, name, &value, 2)),
                (kind, value) => *slot = Slot::Scalar(scalar(msg, name, kind, &value)?),
            },
        }
    }
    Ok(slots)
}

/// Decodes a map entry message (key = 1, value = 2); a missing part is its zero value.
fn map_entry(
    msg: &Message,
    field: &'static str,
    kind: Kind,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(entry);
    while let Some((tag, v)) = reader.next_field().map_err(|e| wire_error(msg.name, e))? {
        match (tag, v) {
            (1, WireValue::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (1, other) => return Err(wrong_wire_type(msg, field, &other, 2)),
            (2, v) => {
                value = Some(match (kind, v) {
                    (Kind::M(index), WireValue::Bytes(b)) => decode_message(index, b, depth + 1)?,
                    (Kind::M(_), other) => return Err(wrong_wire_type(msg, field, &other, 2)),
                    (kind, v) => scalar(msg, field, kind, &v)?,
                })
            }
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        None => match kind {
            Kind::Str | Kind::Bytes => Value::String(String::new()),
            Kind::Bool => Value::Bool(false),
            Kind::I32 | Kind::I64 | Kind::F64 => Value::from(0),
            Kind::M(index) => decode_message(index, &[], depth + 1)?,
        },
    };
    Ok((key, value))
}

/// Decodes a singular message from all its occurrences (concatenation = protobuf merge).
fn merged(index: u16, segments: &[&[u8]], depth: usize) -> Result<Value, ProtobufError> {
    match segments {
        [one] => decode_message(index, one, depth + 1),
        many => decode_message(index, &many.concat(), depth + 1),
    }
}

fn is_zero_scalar(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn render_object(msg: &Message, slots: Vec<Slot>, depth: usize) -> Result<Value, ProtobufError> {
    let mut obj = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        let value = match slot {
            Slot::Empty => continue,
            Slot::Scalar(v) => v,
            Slot::Bytes(b) => Value::String(base64(b)),
            Slot::List(list) if list.is_empty() => continue,
            Slot::List(list) => Value::Array(list),
            Slot::Map(map) if map.is_empty() => continue,
            Slot::Map(map) => Value::Object(map),
            Slot::Message(segments) => {
                let Kind::M(index) = field.kind else { continue };
                let v = merged(index, &segments, depth)?;
                if field.has(INLINE) {
                    // Go's rule: a field of the outer struct wins over a promoted one.
                    if let Value::Object(inner) = v {
                        for (k, v) in inner {
                            obj.entry(k).or_insert(v);
                        }
                    }
                    continue;
                }
                if field.has(OMIT_ZERO) && (v.is_null() || v.as_object().is_some_and(Map::is_empty)) {
                    continue;
                }
                v
            }
        };
        if field.has(OMIT_EMPTY) && is_zero_scalar(&value) {
            continue;
        }
        obj.insert(field.json.to_owned(), value);
    }
    Ok(Value::Object(obj))
}

/// The slot of the field with this tag.
fn slot_of<'s, 'a>(msg: &Message, slots: &'s mut [Slot<'a>], tag: u32) -> Option<&'s mut Slot<'a>> {
    msg.field_index(tag).and_then(|i| slots.get_mut(i))
}

fn int_of(msg: &Message, slots: &mut [Slot], tag: u32) -> i64 {
    match slot_of(msg, slots, tag) {
        Some(Slot::Scalar(v)) => v.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn render_special<'a>(
    msg: &'static Message,
    special: Special,
    empty: bool,
    mut slots: Vec<Slot<'a>>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    let invalid = |detail: String| ProtobufError::InvalidValue { message: msg.name, field: "", detail };
    let take = |slots: &mut [Slot<'a>], tag: u32| -> Slot<'a> {
        slot_of(msg, slots, tag).map(|s| std::mem::replace(s, Slot::Empty)).unwrap_or(Slot::Empty)
    };
    let schema = |slot: Slot, index: Option<Kind>| -> Result<Option<Value>, ProtobufError> {
        match (slot, index) {
            (Slot::Message(segments), Some(Kind::M(index))) => Ok(Some(merged(index, &segments, depth)?)),
            _ => Ok(None),
        }
    };
    let kind_of = |tag: u32| msg.field_index(tag).map(|i| msg.fields[i].kind);
    Ok(match special {
        Special::None => render_object(msg, slots, depth)?,
        Special::Time | Special::MicroTime => {
            // Go: an empty message is the zero time, which marshals as null.
            if empty {
                return Ok(Value::Null);
            }
            let seconds = int_of(msg, &mut slots, 1);
            let nanos = if special == Special::MicroTime {
                // Truncated to microseconds, toward zero, as upstream does.
                i128::from(int_of(msg, &mut slots, 2) as i32 / 1000 * 1000)
            } else {
                0 // metav1.Time drops nanoseconds when decoding protobuf.
            };
            let total = i128::from(seconds) * 1_000_000_000 + nanos;
            let (secs, nsec) = (total.div_euclid(1_000_000_000), total.rem_euclid(1_000_000_000));
            let secs = i64::try_from(secs).map_err(|_| invalid("time out of range".into()))?;
            if secs == GO_ZERO_TIME && nsec == 0 {
                return Ok(Value::Null);
            }
            let micros = (special == Special::MicroTime).then_some((nsec / 1000) as u32);
            Value::String(
                format_time(secs, micros)
                    .ok_or_else(|| invalid(format!("time {secs}s is outside years 0-9999")))?,
            )
        }
        Special::Duration => Value::String(go_duration(int_of(msg, &mut slots, 1))),
        Special::Quantity => match take(&mut slots, 1) {
            Slot::Scalar(v @ Value::String(_)) => v,
            _ => Value::String("0".into()),
        },
        Special::IntOrString => match int_of(msg, &mut slots, 1) {
            0 => Value::from(int_of(msg, &mut slots, 2) as i32),
            1 => match take(&mut slots, 3) {
                Slot::Scalar(v @ Value::String(_)) => v,
                _ => Value::String(String::new()),
            },
            other => {
                return Err(invalid(format!("IntOrString type {other} is neither 0 (int) nor 1 (string)")));
            }
        },
        Special::RawJson => match take(&mut slots, 1) {
            Slot::Bytes(raw) => raw_json(msg, raw, depth)?,
            _ => Value::Null,
        },
        Special::Unwrap => match slots.into_iter().next() {
            Some(Slot::List(list)) if !list.is_empty() => Value::Array(list),
            Some(Slot::Map(map)) if !map.is_empty() => Value::Object(map),
            _ => Value::Null,
        },
        Special::SchemaOrArray => match (take(&mut slots, 2), take(&mut slots, 1)) {
            (Slot::List(list), _) if !list.is_empty() => Value::Array(list),
            (_, one) => schema(one, kind_of(1))?.unwrap_or(Value::Null),
        },
        Special::SchemaOrBool => match schema(take(&mut slots, 2), kind_of(2))? {
            Some(v) => v,
            None => Value::Bool(matches!(take(&mut slots, 1), Slot::Scalar(Value::Bool(true)))),
        },
        Special::SchemaOrStringArray => match (take(&mut slots, 2), take(&mut slots, 1)) {
            (Slot::List(list), _) if !list.is_empty() => Value::Array(list),
            (_, one) => schema(one, kind_of(1))?.unwrap_or(Value::Null),
        },
    })
}

/// The bytes of a RawExtension / FieldsV1 / JSON: a JSON document, or a nested protobuf object.
fn raw_json(msg: &'static Message, raw: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(super::MAGIC) {
        return super::decode_object_at(raw, depth + 1);
    }
    let invalid = |detail: String| ProtobufError::InvalidValue { message: msg.name, field: "raw", detail };
    if raw.starts_with(&[0xd9, 0xd9, 0xf7]) {
        return Err(invalid("embedded CBOR is not supported".into()));
    }
    serde_json::from_slice(raw).map_err(|e| invalid(format!("embedded document is not JSON: {e}")))
}

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which marshals as `null`.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// RFC 3339 in UTC: `2006-01-02T15:04:05Z`, or with `micros`, `2006-01-02T15:04:05.000000Z`.
/// `None` outside years 0..=9999.
pub(super) fn format_time(secs: i64, micros: Option<u32>) -> Option<String> {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    Some(match micros {
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
        Some(us) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{us:06}Z"),
    })
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub(super) fn go_duration(d: i64) -> String {
    fn split(v: u64, prec: u32) -> (u64, String) {
        let p = 10u64.pow(prec);
        let frac = v % p;
        if frac == 0 {
            return (v / p, String::new());
        }
        let digits = format!("{frac:0width$}", width = prec as usize);
        (v / p, format!(".{}", digits.trim_end_matches('0')))
    }
    if d == 0 {
        return "0s".into();
    }
    let sign = if d < 0 { "-" } else { "" };
    let u = d.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (whole, frac) = split(u, prec);
        return format!("{sign}{whole}{frac}{unit}");
    }
    let (secs, frac) = split(u, 9);
    let mut out = format!("{}{frac}s", secs % 60);
    let mins = secs / 60;
    if mins > 0 {
        out = format!("{}m{out}", mins % 60);
        let hours = mins / 60;
        if hours > 0 {
            out = format!("{hours}h{out}");
        }
    }
    format!("{sign}{out}")
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(2_000_000), "2ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(-(72 * 3600 + 3 * 60) * 1_000_000_000 - 500_000_000), "-72h3m0.5s");
        assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0, None).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(format_time(1_700_000_000, None).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(format_time(951_825_600, Some(123_456)).as_deref(), Some("2000-02-29T12:00:00.123456Z"));
        assert_eq!(format_time(-1, None).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(format_time(253_402_300_799, None).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(format_time(253_402_300_800, None), None);
        assert_eq!(format_time(i64::MIN, None), None);
        assert_eq!(format_time(i64::MAX, None), None);
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }
}
