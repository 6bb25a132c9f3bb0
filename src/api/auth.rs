//! The gRPC side of authentication: the interceptor asks the service's
//! [`Authenticator`] who a bearer token names and hands the [`Principal`] to the handler,
//! which needs it to reach any view of the service (`service::auth` has the rules).

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::service::{Authenticator, Principal};

/// The interceptor in front of every gRPC service.
#[derive(Clone)]
pub struct GrpcAuth(pub Authenticator);

impl Interceptor for GrpcAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").map(|v| v.to_str().map_err(|_| ()));
        let principal = self.0.authenticate(header)?;
        // The call's span (server::calls) names who made it; never the token.
        tracing::Span::current().record("principal", principal.label().as_str());
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The caller of a request that went through the interceptor.
pub(crate) fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request.extensions().get::<Principal>().cloned().ok_or_else(|| Status::unauthenticated("no credentials"))
}
