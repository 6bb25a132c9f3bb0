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

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let value = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?;
        let text = value.to_str().map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be: Bearer <token>"))?;
        let principal = self.by_digest.get(&digest(token.trim())).ok_or_else(|| Status::unauthenticated("unknown token"))?;
        request.extensions_mut().insert(principal.clone());
        Ok(request)
    }
}

/// The caller of a request that went through the interceptor.
pub(crate) fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no credentials"))
}

pub(crate) fn require_operator(p: &Principal) -> Result<(), Status> {
    match p {
        Principal::Operator { .. } => Ok(()),
        _ => Err(Status::permission_denied("only grid operators may do this")),
    }
}

pub(crate) fn require_bot(p: &Principal) -> Result<&str, Status> {
    match p {
        Principal::Bot { bot } => Ok(bot),
        _ => Err(Status::permission_denied("only market bots submit and change bids")),
    }
}
