//! The crate's one error type.

/// Why building, writing or pushing an image failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a root filesystem or writing an archive failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The registry could not be reached.
    #[error("{context}: {message}")]
    Transport { context: String, message: String },
    /// The registry answered with an unexpected status.
    #[error("{context}: registry answered {status}: {body}")]
    Registry { context: String, status: u16, body: String },
    /// An input (a reference, a path, a manifest) is malformed.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub(crate) fn transport(context: impl Into<String>, message: impl ToString) -> Self {
        Error::Transport { context: context.into(), message: message.to_string() }
    }
}
