//! Entry points for fuzzing: each takes arbitrary bytes, runs them through what the
//! service does with such input, and must return — never panic, never hand the solver an
//! input the validators did not pass. The cargo-fuzz targets in `fuzz/` call these, and
//! the integration test `tests/it/fuzz_corpus.rs` replays every kept input (seeds and any
//! crash found) on every `cargo test`, so a regression fails CI without a fuzzer.

use std::sync::OnceLock;

use prost::Message;

use crate::domain::{Forecast, Plant};
use crate::model::{self, Options};

use crate::service::{self, MarketRules};

use super::convert;
use super::pb;

/// The Xinyang plant, the plant the service runs (embedded, so fuzzing needs no files).
fn xinyang() -> Option<&'static Plant> {
    static PLANT: OnceLock<Option<Plant>> = OnceLock::new();
    PLANT.get_or_init(|| Plant::from_toml(include_str!("../../models/xinyang.toml")).ok()).as_ref()
}

/// What the service does with a forecast and options that came in: validate, and only
/// then build the LP.
fn forecast_and_options(plant: &Plant, forecast: &Forecast, options: &Options) {
    if forecast.validate(plant).is_err() || options.validate(plant, forecast).is_err() {
        return;
    }
    let h = forecast.horizon(plant.tz());
    let _ = (h.end(), h.label(0), h.days().len());
    let _ = model::export_mps(plant, forecast, options);
}

/// Wire bytes: the first byte picks a request message, the rest is its protobuf encoding;
/// decoded, converted to the domain and validated as the service would.
pub fn wire(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    let Some(plant) = xinyang() else { return };
    match kind % 5 {
        0 => {
            let Ok(r) = pb::SubmitDayAheadRequest::decode(body) else { return };
            let _ = service::day(&r.delivery_day, "delivery_day");
            let options = convert::options(r.options);
            if let (Some(f), Ok(options)) = (r.forecast, options) {
                if let Ok(forecast) = convert::forecast(f) {
                    forecast_and_options(plant, &forecast, &options);
                }
            }
        }
        1 => {
            let Ok(b) = pb::Bid::decode(body) else { return };
            let checked = convert::bid(b).ok().and_then(|b| service::check_bid(plant, &MarketRules::default(), b).ok());
            if let Some(bid) = checked {
                let _ = (bid.interval_start.with_timezone(&plant.tz()), bid.quantity_mw * bid.price);
            }
        }
        2 => {
            let Ok(r) = pb::ReplanRequest::decode(body) else { return };
            let _ = service::day(&r.delivery_day, "delivery_day");
            let _ = convert::instant(r.from.as_ref(), "from");
            let initial = convert::levels(r.levels);
            let options = convert::options(r.options);
            if let (Some(Ok(forecast)), Ok(options)) = (r.forecast.map(convert::forecast), options) {
                forecast_and_options(plant, &forecast, &Options { initial, ..options });
            }
        }
        3 => {
            let Ok(r) = pb::ListSchedulesRequest::decode(body) else { return };
            let _ = service::day_range(&r.from_day, &r.to_day);
        }
        _ => {
            let Ok(r) = pb::ParkShareRequest::decode(body) else { return };
            let _ = service::day_range(&r.from_day, &r.to_day);
        }
    }
}

/// A plant file: parsed, validated, and when valid its LP built for a flat day.
pub fn plant_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(plant) = Plant::from_toml(text) else { return };
    if plant.validate().is_err() {
        return;
    }
    let forecast = flat_day(&plant);
    forecast_and_options(&plant, &forecast, &Options::default());
}

/// A forecast file: parsed and validated against the Xinyang plant, and when valid its LP
/// built.
pub fn forecast_json(data: &[u8]) {
    let Ok(forecast) = serde_json::from_slice::<Forecast>(data) else { return };
    let Some(plant) = xinyang() else { return };
    forecast_and_options(plant, &forecast, &Options::default());
}

/// A day of 24 hours with every renewable at half its capacity and every park at 10 MW.
fn flat_day(plant: &Plant) -> Forecast {
    let start = chrono::DateTime::from_timestamp(1_784_044_800, 0).unwrap_or_default();
    Forecast {
        description: String::new(),
        start,
        interval_minutes: 60,
        intervals: 24,
        availability: plant.wind.iter().chain(&plant.pv).map(|r| (r.name.clone(), vec![0.5; 24])).collect(),
        demand_mw: plant.parks.iter().map(|p| (p.name.clone(), vec![10.0; 24])).collect(),
        inflow_mwh: Default::default(),
        interruptible_mw: Default::default(),
        import_price: Default::default(),
        bids: Vec::new(),
        scenarios: Vec::new(),
        quantiles: None,
    }
}
