//! Client errors, split by what a caller does about them.

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub could not be reached (connection refused, timeout, TLS).
    #[error("hub unreachable at {url}")]
    Unreachable {
        /// The URL that failed.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The secret is missing or wrong (HTTP 401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The thing asked for does not exist (HTTP 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The hub refused the input (HTTP 400/413/422); the message says why.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Any other non-success answer.
    #[error("hub answered HTTP {status}: {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The hub's `detail`, or the body.
        detail: String,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the hub: {0}")]
    Decode(String),
    /// The client is misconfigured (URL, name, missing secret).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<tubemail_core::NameError> for Error {
    fn from(e: tubemail_core::NameError) -> Self {
        Error::Config(format!("invalid worker name: {e}"))
    }
}

/// Result of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
