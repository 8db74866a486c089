//! The Kubernetes resource model, free of I/O: resources, statuses, object metadata rules,
//! selectors and patches.

// ApiError is a large value, but errors are the cold path of every caller; boxing them here
// would only move the cost to every construction site.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod convert;
pub mod crd;
pub mod defaults;
pub mod meta;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;
