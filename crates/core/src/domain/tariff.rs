//! Time-of-use import tariffs: named periods with prices, chosen by local month and hour.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::validation::Collector;

/// A time-of-use tariff. The price at an instant is the price of the period named by the
/// last rule that matches the instant's local month and hour, or of `default_period`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Price of each period, yuan/MWh.
    pub prices: BTreeMap<String, f64>,
    /// Period in force where no rule matches.
    pub default_period: String,
    /// Rules, applied in order; a later match overrides an earlier one.
    #[serde(default, rename = "rule")]
    pub rules: Vec<TariffRule>,
}

/// One rule of a tariff: `period` applies in the local hours `[hours[0], hours[1])` of the
/// listed months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffRule {
    /// Name of the period this rule selects.
    pub period: String,
    /// Start (inclusive) and end (exclusive) local hour, 0..=24.
    pub hours: [u32; 2],
    /// Months (1–12) the rule applies in; empty means every month.
    #[serde(default)]
    pub months: Vec<u32>,
}

impl Tariff {
    /// The period in force at `instant`, read in local time `tz`.
    pub fn period_at(&self, instant: DateTime<Utc>, tz: Tz) -> &str {
        let local = instant.with_timezone(&tz);
        let (month, hour) = (local.month(), local.hour());
        let mut period = self.default_period.as_str();
        for rule in &self.rules {
            let in_month = rule.months.is_empty() || rule.months.contains(&month);
            if in_month && rule.hours[0] <= hour && hour < rule.hours[1] {
                period = &rule.period;
            }
        }
        period
    }

    /// The price (yuan/MWh) in force at `instant`.
    pub fn price_at(&self, instant: DateTime<Utc>, tz: Tz) -> f64 {
        self.prices.get(self.period_at(instant, tz)).copied().unwrap_or(f64::NAN)
    }

    pub(crate) fn validate(&self, path: &str, c: &mut Collector) {
        if self.prices.is_empty() {
            c.push(format!("{path}.prices"), "a tariff needs at least one period price");
        }
        for (name, price) in &self.prices {
            c.price(&format!("{path}.prices.{name}"), *price);
        }
        if !self.prices.contains_key(&self.default_period) {
            c.push(format!("{path}.default_period"), format!("period '{}' has no price in prices", self.default_period));
        }
        for (k, rule) in self.rules.iter().enumerate() {
            let rp = format!("{path}.rule[{k}]");
            if !self.prices.contains_key(&rule.period) {
                c.push(format!("{rp}.period"), format!("period '{}' has no price in prices", rule.period));
            }
            let [a, b] = rule.hours;
            if a >= b || b > 24 {
                c.push(format!("{rp}.hours"), format!("must be [start, end) with 0 <= start < end <= 24, got [{a}, {b}]"));
            }
            for m in &rule.months {
                if !(1..=12).contains(m) {
                    c.push(format!("{rp}.months"), format!("months are 1..=12, got {m}"));
                }
            }
        }
    }
}
