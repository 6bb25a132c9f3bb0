//! Writes the seed corpus of the `wire` fuzz target (fuzz/corpus/wire/): one valid request
//! of each kind the target decodes, built from the Xinyang fixtures. Run from the
//! repository root: `cargo run --example fuzz_seeds`.

use prost::Message;
use vpp_dispatch::api::pb;
use vpp_dispatch::domain::Forecast;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new("fuzz/corpus/wire");
    std::fs::create_dir_all(dir)?;
    let fc = Forecast::load("fixtures/forecasts/summer-peak-60.json")?;
    let start = prost_types::Timestamp { seconds: fc.start.timestamp(), nanos: 0 };
    let forecast = vpp_dispatch::api::forecast_to_pb(&fc);
    let options = pb::SolveOptions { objective: pb::Objective::Cost as i32, carbon_price: 50.0, ..Default::default() };
    let seeds: Vec<(u8, Vec<u8>)> = vec![
        (
            0,
            pb::SubmitDayAheadRequest {
                delivery_day: "2026-07-15".into(),
                forecast: Some(forecast.clone()),
                options: Some(options),
                stochastic: None,
            }
            .encode_to_vec(),
        ),
        (
            1,
            pb::Bid {
                bid_id: "seed-1".into(),
                node: "shihe".into(),
                interval_start: Some(start),
                side: pb::Side::Sell as i32,
                quantity_mw: 20.0,
                price: 300.0,
                green: true,
                park: String::new(),
            }
            .encode_to_vec(),
        ),
        (
            2,
            pb::ReplanRequest {
                delivery_day: "2026-07-15".into(),
                from: Some(start),
                levels: vec![pb::StorageLevel { storage: "wuyue".into(), green_mwh: 100.0, grey_mwh: 500.0 }],
                forecast: Some(forecast),
                options: None,
            }
            .encode_to_vec(),
        ),
        (3, pb::ListSchedulesRequest { from_day: "2026-07-01".into(), to_day: "2026-07-31".into() }.encode_to_vec()),
        (4, pb::ParkShareRequest { park: "shihe_park".into(), from_day: "2026-07-15".into(), to_day: String::new() }.encode_to_vec()),
    ];
    for (kind, body) in seeds {
        let mut bytes = vec![kind];
        bytes.extend(body);
        std::fs::write(dir.join(format!("seed-{kind}")), bytes)?;
    }
    Ok(())
}
