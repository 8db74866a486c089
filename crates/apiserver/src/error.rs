//! The one place that turns errors into HTTP responses.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use tug_api::status::ApiError;
use tug_store::StoreError;

/// Handler error.
#[derive(Debug)]
pub enum Error {
    /// Rendered as a `Status` (boxed: errors are the cold path).
    Api(Box<ApiError>),
    /// A path that names no resource. Upstream answers these with a plain-text
    /// `404 page not found`, not a `Status`, and clients word their errors from that.
    PageNotFound,
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        // Precondition failures are mapped by the handlers, which know the resource; what
        // reaches here is the datastore failing.
        let api = match e {
            StoreError::Compacted { requested, compacted } => {
                ApiError::expired(format!("too old resource version: {requested} ({compacted})"))
            }
            StoreError::ValueTooLarge { size, limit, .. } => ApiError::new(
                tug_api::status::Reason::RequestEntityTooLarge,
                format!(
                    "Request entity too large: the object is {size} bytes, the datastore's limit is {limit}"
                ),
            ),
            StoreError::InvalidArgument(msg) => ApiError::bad_request(msg),
            other => ApiError::internal(other.to_string()),
        };
        api.into()
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::PageNotFound => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "404 page not found\n",
            )
                .into_response(),
            Error::Api(err) => {
                let code = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (code, [(header::CONTENT_TYPE, "application/json")], err.to_status().to_string())
                    .into_response()
            }
        }
    }
}
