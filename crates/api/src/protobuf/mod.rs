//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! client-go's typed clients (kubectl's `create namespace|configmap|secret|deployment|...`,
//! `autoscale`, `expose`, helm's release Secrets) send objects as protobuf: the magic `k8s\0`,
//! then a `runtime.Unknown` envelope (1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
//! 3: contentEncoding, 4: contentType) whose `raw` is the object's own message from upstream's
//! `generated.proto`. [`decode_object`] turns such a body into the JSON a Go client would have
//! sent for the same object, with `apiVersion` and `kind` set.
//!
//! The decoder is generic: it walks the bytes with a schema table (`generated.rs`, made by
//! `scripts/gen-protobuf-schema.py`) that lists, for every message, each field's tag, JSON name,
//! protobuf type and JSON rules. Those rules matter because Go's protobuf marshaller always
//! writes non-pointer scalars, zero or not: a zero value of a Go field with `omitempty` is
//! dropped (a JSON client would not have sent it), while a zero in a pointer field (`replicas:
//! 0`, `allowPrivilegeEscalation: false`) is kept. Messages whose JSON form is special (Time,
//! MicroTime, Duration, Quantity, IntOrString, RawExtension, FieldsV1, the apiextensions JSON
//! schema unions, Go slice types such as ExtraValue) are rendered as their Go `MarshalJSON` does.
//!
//! Pure logic, no I/O; no input makes it panic.

mod decode;
#[rustfmt::skip]
mod generated;
mod schema;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::Value;

use wire::{Reader, WireValue};

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

const ENVELOPE: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the magic prefix \"k8s\\0\"")]
    BadMagic,
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("unsupported content type {0:?} inside the protobuf envelope")]
    UnsupportedContentType(String),
    #[error("truncated protobuf message {message}")]
    Truncated { message: &'static str },
    #[error("malformed protobuf message {message}: {detail}")]
    Malformed { message: &'static str, detail: String },
    #[error("wrong wire type {found} for field {field:?} of {message} (expected {expected})")]
    WrongWireType { message: &'static str, field: &'static str, found: u8, expected: u8 },
    #[error("invalid value in {message}{}: {detail}", dotted(field))]
    InvalidValue { message: &'static str, field: &'static str, detail: String },
    #[error("protobuf messages nested deeper than {0} levels")]
    TooDeep(usize),
}

fn dotted(field: &str) -> String {
    if field.is_empty() { String::new() } else { format!(".{field}") }
}

/// Decodes a Kubernetes protobuf body (magic, `runtime.Unknown` envelope, object) into the
/// object's JSON, with `apiVersion` and `kind` taken from the envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_object_at(body, 0)
}

/// Whether [`decode_object`] knows the message of this kind.
pub fn is_supported_kind(api_version: &str, kind: &str) -> bool {
    schema::kind_index(api_version, kind).is_some()
}

/// The fields of the `runtime.Unknown` envelope.
#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

fn not_bytes(message: &'static str, field: &'static str, value: &WireValue) -> ProtobufError {
    ProtobufError::WrongWireType { message, field, found: value.wire_type(), expected: 2 }
}

fn string_field(
    message: &'static str,
    field: &'static str,
    value: WireValue,
) -> Result<String, ProtobufError> {
    match value {
        WireValue::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(not_bytes(message, field, &other)),
    }
}

fn envelope(body: &[u8]) -> Result<Envelope<'_>, ProtobufError> {
    let mut env = Envelope::default();
    let mut reader = Reader::new(body);
    while let Some((tag, value)) = reader.next_field().map_err(|e| decode::wire_error(ENVELOPE, e))? {
        match tag {
            1 => {
                let WireValue::Bytes(type_meta) = value else {
                    return Err(not_bytes(ENVELOPE, "typeMeta", &value));
                };
                let mut tm = Reader::new(type_meta);
                while let Some((tag, value)) =
                    tm.next_field().map_err(|e| decode::wire_error(TYPE_META, e))?
                {
                    match tag {
                        1 => env.api_version = string_field(TYPE_META, "apiVersion", value)?,
                        2 => env.kind = string_field(TYPE_META, "kind", value)?,
                        _ => {}
                    }
                }
            }
            2 => match value {
                WireValue::Bytes(raw) => env.raw = raw,
                other => return Err(not_bytes(ENVELOPE, "raw", &other)),
            },
            3 => env.content_encoding = string_field(ENVELOPE, "contentEncoding", value)?,
            4 => env.content_type = string_field(ENVELOPE, "contentType", value)?,
            _ => {}
        }
    }
    Ok(env)
}

pub(super) fn decode_object_at(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtobufError::BadMagic)?;
    let env = envelope(rest)?;
    if !env.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(env.content_encoding));
    }
    let mut object = match env.content_type.as_str() {
        "" | MEDIA_TYPE => {
            let index = schema::kind_index(&env.api_version, &env.kind).ok_or_else(|| {
                ProtobufError::UnknownKind { api_version: env.api_version.clone(), kind: env.kind.clone() }
            })?;
            decode::decode_message(index, env.raw, depth + 1)?
        }
        "application/json" => serde_json::from_slice(env.raw).map_err(|e| ProtobufError::InvalidValue {
            message: ENVELOPE,
            field: "raw",
            detail: format!("not JSON: {e}"),
        })?,
        _ => return Err(ProtobufError::UnsupportedContentType(env.content_type)),
    };
    if let Value::Object(map) = &mut object {
        if !env.api_version.is_empty() {
            map.insert("apiVersion".into(), Value::String(env.api_version));
        }
        if !env.kind.is_empty() {
            map.insert("kind".into(), Value::String(env.kind));
        }
    }
    Ok(object)
}
