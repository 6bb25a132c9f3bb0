//! Who is calling: bearer tokens checked by an interceptor, and the rules of who may do
//! what.
//!
//! | call | operator | park manager | bot |
//! | --- | --- | --- | --- |
//! | day-ahead, re-plan, schedules, inputs | yes | no | no |
//! | a park's green share | any park | own park only | no |
//! | the plant's green share | yes | yes | no |
//! | submit, amend, cancel bids | no | no | own bids |
//! | list bids, stream awards | all | no | own bids |
//! | web API: a park's day (`/api/v1/days/{day}/parks/{park}`) | any park | own park only | no |
//! | web API: the whole plant (`/api/v1/days/{day}/plant`) | yes | no | no |

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Principal {
    /// A grid operator: schedules, all parks, clearing.
    Operator {
        /// Who (for logs).
        #[serde(default)]
        name: String,
    },
    /// A park energy manager: their own park's green share.
    ParkManager {
        /// The park.
        park: String,
    },
    /// A market bot: its own bids and awards.
    Bot {
        /// The bot's name.
        bot: String,
    },
}

impl Principal {
    /// How logs name the caller: `operator:<name>`, `park_manager:<park>`, `bot:<bot>`.
    pub fn label(&self) -> String {
        match self {
            Principal::Operator { name } => format!("operator:{name}"),
            Principal::ParkManager { park } => format!("park_manager:{park}"),
            Principal::Bot { bot } => format!("bot:{bot}"),
        }
    }
}

/// Checks `authorization: Bearer <token>` against the configured tokens. Tokens are kept
/// only as SHA-256 digests.
#[derive(Clone)]
pub struct Authenticator {
    by_digest: Arc<HashMap<[u8; 32], Principal>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    /// From (token, principal) pairs.
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a str, Principal)>) -> Authenticator {
        Authenticator { by_digest: Arc::new(tokens.into_iter().map(|(t, p)| (digest(t), p)).collect()) }
    }
}

impl Authenticator {
    /// Who an `authorization` header value (`Bearer <token>`) names: the one check behind
    /// the gRPC interceptor and the web API. `None` or `Err(())` is a missing or non-text
    /// header.
    pub fn authenticate(&self, header: Option<Result<&str, ()>>) -> Result<Principal, Status> {
        let text = header
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?
            .map_err(|()| Status::unauthenticated("malformed authorization header"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be: Bearer <token>"))?;
        self.by_digest.get(&digest(token.trim())).cloned().ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").map(|v| v.to_str().map_err(|_| ()));
        let principal = self.authenticate(header)?;
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

pub(crate) fn require_operator(p: &Principal) -> Result<(), Status> {
    match p {
        Principal::Operator { .. } => Ok(()),
        _ => Err(Status::permission_denied("only grid operators may do this")),
    }
}

/// A park's green share, schedule and prices: operators any park, a park manager only their
/// own, bots none. Decided before anything about the park is looked up.
pub(crate) fn may_read_park(p: &Principal, park: &str) -> Result<(), Status> {
    match p {
        Principal::Operator { .. } => Ok(()),
        Principal::ParkManager { park: own } if own == park => Ok(()),
        Principal::ParkManager { .. } => Err(Status::permission_denied("park managers may read only their own park")),
        Principal::Bot { .. } => Err(Status::permission_denied("market bots may not read green shares")),
    }
}

pub(crate) fn require_bot(p: &Principal) -> Result<&str, Status> {
    match p {
        Principal::Bot { bot } => Ok(bot),
        _ => Err(Status::permission_denied("only market bots submit and change bids")),
    }
}
