//! Bids from market bots: offers to sell or buy energy, or to curtail load, in one interval.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a bid offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BidSide {
    /// Sell energy into the node (paid `price` if accepted).
    Sell,
    /// Buy energy from the node (pays `price` if accepted).
    Buy,
    /// Reduce a park's load at the node (paid `price` per MWh not consumed).
    Curtail,
}

/// A bid for one interval. `quantity_mw` is average power over the interval, so the
/// energy is `quantity_mw · Δ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bid {
    /// Client-chosen identifier, unique within a request.
    pub id: String,
    /// The bot that placed it.
    #[serde(default)]
    pub bot: String,
    /// Node the energy is delivered to or taken from.
    pub node: String,
    /// Start of the interval, as a UTC instant.
    pub interval_start: DateTime<Utc>,
    /// Sell, buy or curtail.
    pub side: BidSide,
    /// Maximum quantity, MW.
    pub quantity_mw: f64,
    /// Limit price, yuan/MWh.
    pub price: f64,
    /// A sell bid of green energy (wind, solar, hydro); only for `sell`.
    #[serde(default)]
    pub green: bool,
    /// For `curtail` at a node with several parks: which park's load is reduced.
    #[serde(default)]
    pub park: Option<String>,
    /// A firm position (an award already made, carried into a re-plan): accepted in full.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub firm: bool,
    /// For a firm position: the clearing price it was awarded at, yuan/MWh. It settles at
    /// this price in every later version (a firm award keeps its price and quantity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub award_price: Option<f64>,
}

impl Bid {
    /// How rows, reports and messages name the bid: `bot/id`, or `id` without a bot.
    pub fn label(&self) -> String {
        if self.bot.is_empty() {
            self.id.clone()
        } else {
            format!("{}/{}", self.bot, self.id)
        }
    }
}
