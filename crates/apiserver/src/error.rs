//! The one place that turns errors into HTTP responses: always a `Status` body.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use tug_api::status::ApiError;
use tug_store::StoreError;

/// Handler error: an [`ApiError`] rendered as a `Status` (boxed: errors are the cold path).
#[derive(Debug)]
pub struct Error(pub Box<ApiError>);

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error(Box::new(e))
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
            StoreError::ValueTooLarge { .. } => {
                ApiError::new(tug_api::status::Reason::RequestEntityTooLarge, e.to_string())
            }
            StoreError::InvalidArgument(msg) => ApiError::bad_request(msg),
            other => ApiError::internal(other.to_string()),
        };
        Error(Box::new(api))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.0.to_status().to_string();
        (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}
