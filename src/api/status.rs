//! The service's errors as gRPC statuses: one exhaustive match, so a new kind of error
//! cannot reach a caller unmapped.

use tonic::Status;

use crate::service::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::Invalid(m) => Status::invalid_argument(m),
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Busy(m) => Status::resource_exhausted(m),
            Error::DeadlineExceeded(m) => Status::deadline_exceeded(m),
            Error::Cancelled(m) => Status::cancelled(m),
            Error::Unavailable(m) => Status::unavailable(m),
            Error::Internal(m) => Status::internal(m),
        }
    }
}

/// INVALID_ARGUMENT naming a wire field.
pub(crate) fn invalid(field: &str, problem: impl std::fmt::Display) -> Status {
    Error::invalid(field, problem).into()
}
