//! The service's one error type. Every refusal and failure of the service is one of these;
//! the edges translate it, each with one exhaustive match: `api::status` to a gRPC code,
//! `web::api` to an HTTP status. Messages name the field and the problem; store errors
//! never carry SQL or row data.

use crate::domain::limits;
use crate::model::DispatchError;
use crate::store::StoreError;

/// Why a service call did not succeed. The variant is the kind (it decides the gRPC code
/// and the HTTP status); the text is the message the caller reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No or unknown credentials (gRPC UNAUTHENTICATED, HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Known caller, not allowed (PERMISSION_DENIED, 403).
    #[error("{0}")]
    PermissionDenied(String),
    /// Bad input, naming the field (INVALID_ARGUMENT, 400).
    #[error("{0}")]
    Invalid(String),
    /// Nothing there (NOT_FOUND, 404).
    #[error("{0}")]
    NotFound(String),
    /// Already there, differently (ALREADY_EXISTS, 409).
    #[error("{0}")]
    AlreadyExists(String),
    /// Valid input the present state refuses: gate closed, no day-ahead to re-plan, an
    /// infeasible plant and forecast (FAILED_PRECONDITION, 412).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The solver queue is full (RESOURCE_EXHAUSTED, 429).
    #[error("{0}")]
    Busy(String),
    /// The caller's deadline or the solver's time ran out (DEADLINE_EXCEEDED, 504).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The work was abandoned (CANCELLED, 499 is not standard: 503).
    #[error("{0}")]
    Cancelled(String),
    /// Shutting down, or the store is down: retry (UNAVAILABLE, 503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours (INTERNAL, 500).
    #[error("{0}")]
    Internal(String),
}

/// Longest message sent (characters); a longer one is cut, so no input echoed back can
/// swell a `grpc-message` header or an HTTP body.
const MAX_MESSAGE_CHARS: usize = 2000;

/// `message`, cut to [`MAX_MESSAGE_CHARS`].
pub(crate) fn bounded(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message
    } else {
        let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        cut.push_str(" … (message cut)");
        cut
    }
}

impl Error {
    /// Bad input in `field`.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Error {
        Error::Invalid(bounded(format!("{}: {problem}", limits::short(field))))
    }

    /// The message the caller reads.
    pub fn message(&self) -> &str {
        match self {
            Error::Unauthenticated(m)
            | Error::PermissionDenied(m)
            | Error::Invalid(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::FailedPrecondition(m)
            | Error::Busy(m)
            | Error::DeadlineExceeded(m)
            | Error::Cancelled(m)
            | Error::Unavailable(m)
            | Error::Internal(m) => m,
        }
    }
}

impl From<DispatchError> for Error {
    fn from(e: DispatchError) -> Error {
        match e {
            DispatchError::InvalidForecast(v) => Error::Invalid(bounded(format!("invalid forecast:\n{v}"))),
            DispatchError::InvalidOptions(v) => Error::Invalid(bounded(format!("invalid options:\n{v}"))),
            DispatchError::InvalidPlant(v) => Error::FailedPrecondition(format!("the server's plant is invalid:\n{v}")),
            e @ DispatchError::Infeasible(_) => Error::FailedPrecondition(e.to_string()),
            DispatchError::TimeLimit(_) => Error::DeadlineExceeded("the solver ran out of time".into()),
            DispatchError::Cancelled => Error::Cancelled("the solve was abandoned".into()),
            // Neither optimal nor infeasible: the input passed every range check yet the
            // solver could not settle it. Documented as FAILED_PRECONDITION (README, codes),
            // so a client can tell it from a server fault.
            e @ DispatchError::Unbounded(_) => Error::FailedPrecondition(e.to_string()),
            DispatchError::Solver(msg) => Error::FailedPrecondition(format!("the solver could not settle this input: {msg}")),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match &e {
            // A race between replicas, answered by the caller; not a fault.
            StoreError::DayAheadExists { .. } => tracing::info!(error = %e, "store refused a second day-ahead schedule"),
            _ => tracing::error!(error = %e, "store error"),
        }
        match e {
            StoreError::Unavailable(_) => Error::Unavailable("the store is unavailable; retry".into()),
            StoreError::Corrupt(_) => Error::Internal("stored data could not be read".into()),
            StoreError::DayAheadExists { day, .. } => {
                Error::AlreadyExists(format!("the day-ahead schedule of {day} is already published; change it with Replan"))
            }
            StoreError::Unsafe(_) => Error::Unavailable("the store refuses to run on a database that could lose writes".into()),
        }
    }
}
