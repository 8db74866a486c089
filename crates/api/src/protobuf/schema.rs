//! The shape of the generated schema table (`generated.rs`) and lookups into it.

use super::generated::{KINDS, MESSAGES};

/// The protobuf type of a field (for maps: of the map's values; keys are always strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Bool,
    I32,
    I64,
    F64,
    Bytes,
    /// A message: index into `MESSAGES`.
    M(u16),
}

/// `repeated` field: a JSON array.
pub(super) const REP: u8 = 1;
/// `map<string, kind>` field (repeated entry messages, key = 1, value = 2): a JSON object.
pub(super) const MAP: u8 = 2;
/// A non-pointer Go scalar with `omitempty`: Go clients always write it, even when zero, and a
/// JSON client would leave a zero out; so a zero value is dropped.
pub(super) const OMIT_EMPTY: u8 = 4;
/// An embedded Go struct with `json:",inline"`: its own message on the wire, its fields merged
/// into the parent object in JSON.
pub(super) const INLINE: u8 = 8;
/// `omitzero`: a message that decodes to `null` or `{}` is dropped.
pub(super) const OMIT_ZERO: u8 = 16;

#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub tag: u32,
    /// The JSON name ("" for inline fields).
    pub json: &'static str,
    pub kind: Kind,
    pub flags: u8,
}

impl Field {
    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Special {
    None,
    /// meta/v1 Time: RFC 3339, second precision; empty message = zero time = `null`.
    Time,
    /// meta/v1 MicroTime: RFC 3339 with 6 fractional digits.
    MicroTime,
    /// meta/v1 Duration: int64 nanoseconds, rendered like Go's `time.Duration.String()`.
    Duration,
    /// resource.Quantity: its string.
    Quantity,
    /// intstr.IntOrString: a number or a string.
    IntOrString,
    /// RawExtension, FieldsV1, apiextensions JSON: bytes holding a JSON document.
    RawJson,
    /// A Go slice or map type wrapped in a message for protobuf (ExtraValue, Verbs): the JSON
    /// is the value of its single field.
    Unwrap,
    /// apiextensions JSONSchemaPropsOrArray: an array of schemas, or one schema.
    SchemaOrArray,
    /// apiextensions JSONSchemaPropsOrBool: a schema, or a boolean.
    SchemaOrBool,
    /// apiextensions JSONSchemaPropsOrStringArray: an array of strings, or a schema.
    SchemaOrStringArray,
}

#[derive(Debug)]
pub(super) struct Message {
    /// Full protobuf name, e.g. `k8s.io.api.core.v1.Pod`.
    pub name: &'static str,
    pub special: Special,
    /// Sorted by tag.
    pub fields: &'static [Field],
}

impl Message {
    /// Index into `fields` of the field with this tag.
    pub(super) fn field_index(&self, tag: u32) -> Option<usize> {
        self.fields.binary_search_by_key(&tag, |f| f.tag).ok()
    }
}

pub(super) const fn f(tag: u32, json: &'static str, kind: Kind, flags: u8) -> Field {
    Field { tag, json, kind, flags }
}

pub(super) fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

/// Kinds of meta.k8s.io/v1 that upstream registers in every group version, so a body may carry
/// them under any apiVersion (e.g. a DELETE body `{"apiVersion": "v1", "kind": "DeleteOptions"}`).
const SHARED_META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
];

/// The message index of a top-level kind.
pub(super) fn kind_index(api_version: &str, kind: &str) -> Option<u16> {
    let find = |api_version: &str| {
        KINDS.binary_search_by(|&(v, k, _)| (v, k).cmp(&(api_version, kind))).ok().map(|i| KINDS[i].2)
    };
    find(api_version).or_else(
        || {
            if SHARED_META_KINDS.contains(&kind) { find("meta.k8s.io/v1") } else { None }
        },
    )
}
