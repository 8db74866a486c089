//! OpenAPI v3 schemas of the built-in kinds, and the field validation that rests on them.
//!
//! Three parts, all free of I/O:
//!
//! - **Schemas** ([`document_schemas`], [`definition_for`], [`schema`]): upstream's
//!   `components.schemas` for the per group-version documents under `/openapi/v3`, keyed by
//!   upstream's definition names (`io.k8s.api.core.v1.Pod`). They come from the `k8s-openapi`
//!   crate's schemars implementations (Kubernetes 1.35), reshaped where upstream publishes
//!   something else (`IntOrString`, `Quantity`, `JSON`), with `x-kubernetes-group-version-kind`
//!   on every kind and list kind, and upstream's patch and list metadata
//!   (`x-kubernetes-patch-strategy`, `-patch-merge-key`, `-list-type`, `-list-map-keys`) on
//!   the fields that carry it. `kubectl explain` reads these; so does kubectl's client-side
//!   apply once the documents declare strategic merge patch bodies.
//!
//!   Nothing is computed before the first call. The first call generates every definition once
//!   (732 of them from the 98 kinds `k8s-openapi` knows, with their lists: about 1.1 MiB of
//!   JSON, about 18 ms in a debug build; the `generation_cost` test prints both) and keeps
//!   them for the life of the process.
//!
//! - **Strict field validation of built-in kinds** ([`strict_errors`], [`unknown_fields`],
//!   [`duplicate_fields`], [`strict_error_message`]): what `fieldValidation=Strict` rejects and
//!   `Warn` reports, with upstream's paths (`spec.template.spec.containers[0].imagePullPolcy`)
//!   and wording (`unknown field "spec.foo"`, `duplicate field "spec.replicas"`).
//!
//! - **Type checking of built-in kinds** ([`type_error`], [`type_error_message`]): the first
//!   value whose JSON type does not fit its field, worded as Go's `encoding/json` words it
//!   when upstream decodes the body into the kind's Go type (`json: cannot unmarshal array
//!   into Go struct field NodeAffinity.spec.affinity.nodeAffinity.requiredDuringScheduling...
//!   of type v1.NodeSelector`). Upstream fails such a body with `400 BadRequest` in every
//!   field validation mode, before strict validation.
//!
//! - **Custom resources** ([`prune_custom`], [`default_custom`], [`validate_custom`]): the
//!   structural-schema pruning, defaulting and OpenAPI validation upstream applies to custom
//!   resources, with upstream's causes (`FieldValueRequired`, `FieldValueTypeInvalid`, ...).
//!
//! # Where strict validation sits in a request (upstream's order)
//!
//! Create and update of a built-in kind: [`strict_errors`] over the raw JSON body. Under
//! `Strict`, any error fails the request with `400 BadRequest` and
//! [`strict_errors_message`]'s text (`Deployment in version "v1" cannot be handled as a
//! Deployment: strict decoding error: unknown field "spec.foo", duplicate field
//! "spec.replicas"`); under `Warn`, each error's text ([`StrictError`]'s `Display`,
//! `unknown field "spec.foo"`) becomes a `Warning` header; `Ignore` skips the check.
//!
//! JSON merge patch and strategic merge patch of a built-in kind: the duplicates of the patch
//! body ([`duplicate_fields`]; upstream decodes it as an untyped map), then the unknown fields
//! of the patched object ([`unknown_fields`]; upstream re-encodes it with sorted keys, the
//! order given here; a JSON patch's own duplicates read `json patch duplicate field "[0].op"`).
//! Under `Strict` upstream answers `422 Invalid` with one cause,
//! `{FieldValueInvalid, field "patch", "Invalid value: \"<patched object>\": strict decoding
//! error: ..."}` ([`strict_decoding_message`]).
//!
//! Custom resources: duplicates over the raw body ([`duplicate_fields`]), then the pruned
//! fields ([`prune_custom`]) as unknown fields, in that order, with the create/update wording.

mod builtin;
mod custom;
mod extensions;
mod strict;
#[cfg(test)]
mod tests;
mod types;

pub use builtin::{REF_PREFIX, definition_for, definition_names, document_schemas, schema};
pub use custom::{default_custom, prune_custom, validate_custom};
pub use strict::{
    MAX_STRICT_ERRORS, StrictError, duplicate_fields, strict_decoding_message, strict_error_message,
    strict_errors, strict_errors_message, unknown_fields,
};
pub use types::{type_error, type_error_message};
