//! Bids and schedules as the store tests write them.

use chrono::{DateTime, Days, NaiveDate, Utc};
use vpp_dispatch::domain::{Bid, BidSide};
use vpp_dispatch::store::{BidRecord, BidState, NewSchedule};

use crate::service::plant;

/// The start of `day` in the plant's local time.
pub(crate) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    let tz = plant().tz();
    day.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).unwrap().with_timezone(&Utc)
}

/// An active first revision of a 5 MW sell bid at shihe, `hour` hours into `day`.
pub(crate) fn record(bot: &str, id: &str, day: NaiveDate, hour: i64, price: f64) -> BidRecord {
    BidRecord {
        bid: Bid {
            id: id.into(),
            bot: bot.into(),
            node: "shihe".into(),
            interval_start: day_start(day) + chrono::Duration::hours(hour),
            side: BidSide::Sell,
            quantity_mw: 5.0,
            price,
            green: false,
            park: None,
            firm: false,
            award_price: None,
        },
        delivery_day: day,
        revision: 1,
        state: BidState::Active,
        acknowledged_at: Utc::now(),
    }
}

/// A schedule of `day` re-planning `replans_version` (0: day-ahead) whose forecast is
/// `{"tag":"<tag>"}`, so each publication can be told apart.
pub(crate) fn new_schedule(day: NaiveDate, replans_version: u32, tag: &str) -> NewSchedule {
    NewSchedule {
        day,
        published_at: Utc::now(),
        objective: "green-share".into(),
        green_share: 0.5,
        cost_yuan: 1000.0,
        replans_version,
        plant_toml: "plant".into(),
        forecast_json: format!("{{\"tag\":\"{tag}\"}}"),
        options_json: "{}".into(),
        schedule_json: "{}".into(),
    }
}

/// A delivery day `30 + k` days from today.
pub(crate) fn test_day(k: u64) -> NaiveDate {
    Utc::now().date_naive() + Days::new(30 + k)
}
