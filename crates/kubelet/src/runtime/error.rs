//! Errors of runtime calls, naming the call and what it was about.

use std::path::PathBuf;

/// A failed runtime call.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime's socket could not be reached.
    #[error("connecting to the container runtime at {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    /// The runtime answered a call with an error (or the call's transport failed).
    #[error("{call} {subject}: {message} ({code:?})")]
    Call { call: &'static str, subject: String, code: tonic::Code, message: String },
    /// The runtime answered without a field CRI requires.
    #[error("{call} {subject}: the runtime's answer has no {field}")]
    Incomplete { call: &'static str, subject: String, field: &'static str },
}

impl RuntimeError {
    pub(crate) fn call(
        call: &'static str,
        subject: impl Into<String>,
        status: tonic::Status,
    ) -> RuntimeError {
        RuntimeError::Call {
            call,
            subject: subject.into(),
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// The gRPC code of a failed call (`Unknown` for other failures).
    pub fn code(&self) -> tonic::Code {
        match self {
            RuntimeError::Call { code, .. } => *code,
            RuntimeError::Connect { .. } => tonic::Code::Unavailable,
            RuntimeError::Incomplete { .. } => tonic::Code::Unknown,
        }
    }

    /// Whether the sandbox, container or image the call named does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == tonic::Code::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_call_and_its_subject() {
        let err = RuntimeError::call("PullImage", "busybox:1", tonic::Status::not_found("no such image"));
        assert_eq!(err.to_string(), "PullImage busybox:1: no such image (NotFound)");
        assert!(err.is_not_found());
        let err = RuntimeError::call("StartContainer", "abc", tonic::Status::internal("boom"));
        assert!(!err.is_not_found());
    }
}
