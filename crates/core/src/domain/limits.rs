//! The plausible range of every number the service accepts, in one place. The same rules
//! hold for the CLI, gRPC and the page, because every input goes through the domain
//! validators that use them; and they keep the LP well conditioned: no bound, cost or
//! coefficient beyond what these ranges allow reaches HiGHS.
//!
//! The ranges are generous for a city's virtual power plant (the largest Chinese
//! provincial grids peak near 100 GW; prices beyond ±100,000 yuan/MWh are a typo, not a
//! market) and narrow enough that sums over a year of 15-minute intervals stay far from
//! floating-point trouble.

use chrono::{DateTime, NaiveDate, Utc};

/// Largest power of any asset, line, park, series value or bid, MW (100 GW).
pub const MAX_POWER_MW: f64 = 100_000.0;
/// Largest energy of any storage level, daily cap or inflow, MWh (100 TWh).
pub const MAX_ENERGY_MWH: f64 = 100_000_000.0;
/// Largest price magnitude (tariffs, export prices, costs, bids, compensation), yuan/MWh.
pub const MAX_PRICE_YUAN_PER_MWH: f64 = 100_000.0;
/// Largest carbon price, yuan/tCO2.
pub const MAX_CARBON_PRICE_YUAN_PER_T: f64 = 100_000.0;
/// Largest carbon intensity, tCO2/MWh (coal is about 1).
pub const MAX_CARBON_INTENSITY_T_PER_MWH: f64 = 10.0;
/// Line reactance range, per unit on the plant's base: below it the DC-flow coefficient
/// base/x would exceed 10⁶ per unit of angle and make the LP ill-conditioned.
pub const REACTANCE_PU: (f64, f64) = (1e-4, 10.0);
/// Range of the plant's base power, MVA.
pub const BASE_MVA: (f64, f64) = (1.0, 100_000.0);
/// Most intervals in one horizon: a leap year at 15 minutes is 35,136.
pub const MAX_INTERVALS: usize = 40_000;
/// Largest time limit, seconds (a day).
pub const MAX_TIME_LIMIT_S: f64 = 86_400.0;
/// Most characters of an input quoted back in an error message.
pub const QUOTE_CHARS: usize = 100;

/// The first delivery day the service accepts.
pub fn earliest_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The last delivery day the service accepts.
pub fn latest_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2199, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// True for a delivery day within [`earliest_day`] ..= [`latest_day`].
pub fn day_in_range(day: NaiveDate) -> bool {
    (earliest_day()..=latest_day()).contains(&day)
}

/// True for an instant whose UTC date lies within the accepted days (every local date
/// of it then exists too, whatever the zone).
pub fn instant_in_range(t: DateTime<Utc>) -> bool {
    day_in_range(t.date_naive())
}

/// A sentence naming the accepted days.
pub fn day_range_text() -> String {
    format!("must lie between {} and {}", earliest_day(), latest_day())
}

/// `text` as quoted in an error message: at most [`QUOTE_CHARS`] characters, the rest
/// counted.
pub fn quote(text: &str) -> String {
    let n = text.chars().count();
    if n <= QUOTE_CHARS {
        format!("'{text}'")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS).collect();
        format!("'{head}…' ({n} characters)")
    }
}

/// A number as shown in a message: plain where that is short, in exponent form where a
/// plain rendering would run to hundreds of digits (1e308, 1e-308).
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A name as it appears in a field path: at most 64 characters, the rest elided.
pub fn short(name: &str) -> String {
    if name.chars().count() <= 64 {
        name.to_string()
    } else {
        let head: String = name.chars().take(64).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("2027-07-22"), "'2027-07-22'");
        let long = "x".repeat(10_000);
        let q = quote(&long);
        assert!(q.chars().count() < 130 && q.ends_with("(10000 characters)"), "{q}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(1e308), "1e308");
        assert_eq!(num(1e-308), "1e-308");
        assert_eq!(num(250.5), "250.5");
        assert_eq!(num(0.0), "0");
    }

    #[test]
    fn the_window_holds_chrono_arithmetic() {
        assert!(day_in_range(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()));
        assert!(!day_in_range(NaiveDate::from_ymd_opt(262_142, 12, 31).unwrap()));
        assert!(!day_in_range(NaiveDate::MIN));
    }
}
