//! One map from the library's errors to gRPC status codes. Messages name the field and the
//! problem; store errors never carry SQL or row data.

use tonic::Status;

use crate::model::DispatchError;
use crate::store::StoreError;

/// The status for a dispatch error.
pub fn from_dispatch(e: DispatchError) -> Status {
    match e {
        DispatchError::InvalidForecast(v) => Status::invalid_argument(bounded(format!("invalid forecast:\n{v}"))),
        DispatchError::InvalidOptions(v) => Status::invalid_argument(bounded(format!("invalid options:\n{v}"))),
        DispatchError::InvalidPlant(v) => Status::failed_precondition(format!("the server's plant is invalid:\n{v}")),
        e @ DispatchError::Infeasible(_) => Status::failed_precondition(e.to_string()),
        DispatchError::TimeLimit(_) => Status::deadline_exceeded("the solver ran out of time"),
        DispatchError::Cancelled => Status::cancelled("the solve was abandoned"),
        // Neither optimal nor infeasible: the input passed every range check yet the solver
        // could not settle it. Documented as FAILED_PRECONDITION (README, codes), so a
        // client can tell it from a server fault.
        e @ DispatchError::Unbounded(_) => Status::failed_precondition(e.to_string()),
        DispatchError::Solver(msg) => Status::failed_precondition(format!("the solver could not settle this input: {msg}")),
    }
}

/// The status for a store error.
pub fn from_store(e: StoreError) -> Status {
    match &e {
        // A race between replicas, answered by the caller; not a fault.
        StoreError::DayAheadExists { .. } => tracing::info!(error = %e, "store refused a second day-ahead schedule"),
        _ => tracing::error!(error = %e, "store error"),
    }
    match e {
        StoreError::Unavailable(_) => Status::unavailable("the store is unavailable; retry"),
        StoreError::Corrupt(_) => Status::internal("stored data could not be read"),
        StoreError::DayAheadExists { day, .. } => {
            Status::already_exists(format!("the day-ahead schedule of {day} is already published; change it with Replan"))
        }
        StoreError::Unsafe(_) => Status::unavailable("the store refuses to run on a database that could lose writes"),
    }
}

/// Longest status message sent (characters); a longer one is cut, so no input echoed
/// back can swell a `grpc-message` header.
const MAX_MESSAGE_CHARS: usize = 2000;

/// INVALID_ARGUMENT naming a field.
pub(crate) fn invalid(field: &str, problem: impl std::fmt::Display) -> Status {
    Status::invalid_argument(bounded(format!("{}: {problem}", crate::domain::limits::short(field))))
}

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
