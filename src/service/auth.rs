//! Who is calling, and what each caller may do.
//!
//! Authorization is by construction: the service's operations are methods of *views*
//! ([`super::Operator`], [`super::Reader`], [`super::Trader`], [`super::BidReader`]), and
//! the only way to a view is [`super::Service::operator`] (and its siblings), which takes the
//! caller's [`Principal`] and applies the rule below. An edge that forgot a check would not
//! compile: it has no other way to reach the store or the solver.
//!
//! | call | operator | park manager | bot | meter |
//! | --- | --- | --- | --- | --- |
//! | day-ahead, re-plan, schedules, inputs, set-points, the whole plant's day | yes | no | no | no |
//! | a park's green share, day and measured ledger | any park | own park only | no | no |
//! | the plant's green share, the list of days | yes | yes | no | no |
//! | submit, amend, cancel bids | no | no | own bids | no |
//! | list bids, stream awards | all | no | own bids | no |
//! | submit meter readings | no | no | no | yes |

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Error;

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
    /// A meter or data logger (or the service's own MQTT bridge): submits readings.
    Meter {
        /// Who (for logs).
        #[serde(default)]
        name: String,
    },
}

impl Principal {
    /// How logs name the caller: `operator:<name>`, `park_manager:<park>`, `bot:<bot>`.
    pub fn label(&self) -> String {
        match self {
            Principal::Operator { name } => format!("operator:{name}"),
            Principal::ParkManager { park } => format!("park_manager:{park}"),
            Principal::Bot { bot } => format!("bot:{bot}"),
            Principal::Meter { name } => format!("meter:{name}"),
        }
    }

    /// May this caller read `park`'s share, schedule and prices: operators any park, a park
    /// manager only their own, bots none. Decided before anything about the park is
    /// looked up, so a refusal tells nothing about which parks exist.
    pub fn may_read_park(&self, park: &str) -> bool {
        match self {
            Principal::Operator { .. } => true,
            Principal::ParkManager { park: own } => own == park,
            Principal::Bot { .. } | Principal::Meter { .. } => false,
        }
    }
}

/// The rule for operator-only calls.
pub(super) fn require_operator(p: &Principal, what: &str) -> Result<(), Error> {
    match p {
        Principal::Operator { .. } => Ok(()),
        _ => Err(Error::PermissionDenied(format!("only grid operators may {what}"))),
    }
}

/// The rule for a park's figures.
pub(super) fn require_park(p: &Principal, park: &str) -> Result<(), Error> {
    match p {
        _ if p.may_read_park(park) => Ok(()),
        Principal::ParkManager { .. } => Err(Error::PermissionDenied("park managers may read only their own park".into())),
        _ => Err(Error::PermissionDenied("market bots and meters may not read green shares".into())),
    }
}

/// The rule for share readers (operators and park managers).
pub(super) fn require_reader(p: &Principal) -> Result<(), Error> {
    match p {
        Principal::Operator { .. } | Principal::ParkManager { .. } => Ok(()),
        Principal::Bot { .. } | Principal::Meter { .. } => {
            Err(Error::PermissionDenied("market bots and meters may not read green shares".into()))
        }
    }
}

/// The rule for submitting readings: meters only.
pub(super) fn require_meter(p: &Principal) -> Result<(), Error> {
    match p {
        Principal::Meter { .. } => Ok(()),
        _ => Err(Error::PermissionDenied("only meters submit readings".into())),
    }
}

/// The rule for changing bids: bots only, each its own.
pub(super) fn require_bot(p: &Principal) -> Result<&str, Error> {
    match p {
        Principal::Bot { bot } => Ok(bot),
        _ => Err(Error::PermissionDenied("only market bots submit and change bids".into())),
    }
}

/// The rule for reading bids and awards: operators all (`None`), a bot its own.
pub(super) fn bid_scope<'p>(p: &'p Principal, what: &str) -> Result<Option<&'p str>, Error> {
    match p {
        Principal::Operator { .. } => Ok(None),
        Principal::Bot { bot } => Ok(Some(bot)),
        Principal::ParkManager { .. } | Principal::Meter { .. } => {
            Err(Error::PermissionDenied(format!("park managers and meters may not read {what}")))
        }
    }
}

/// Checks `authorization: Bearer <token>` against the configured tokens. Tokens are kept
/// only as SHA-256 digests. The gRPC interceptor and the web API both ask it.
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

    /// Who an `authorization` header value (`Bearer <token>`) names. `None` or `Err(())` is
    /// a missing or non-text header.
    pub fn authenticate(&self, header: Option<Result<&str, ()>>) -> Result<Principal, Error> {
        let unauthenticated = |m: &str| Error::Unauthenticated(m.into());
        let text = header
            .ok_or_else(|| unauthenticated("missing authorization: Bearer <token>"))?
            .map_err(|()| unauthenticated("malformed authorization header"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("authorization must be: Bearer <token>"))?;
        self.by_digest.get(&digest(token.trim())).cloned().ok_or_else(|| unauthenticated("unknown token"))
    }
}
