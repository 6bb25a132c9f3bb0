//! The ledger's files: meter readings as CSV (what a utility hands over, and what
//! `vpp meter simulate` writes), and the certificates and monthly statements as CSV for an
//! auditor.
//!
//! Readings: a header `interval_start,meter,quantity,value_mwh`, then one row per meter,
//! quantity and interval:
//!
//! | quantity | meter | value |
//! | --- | --- | --- |
//! | `output` | a wind farm or PV plant | energy produced in the interval, MWh |
//! | `charge`, `discharge` | a storage | energy taken in / given out at its terminals, MWh |
//! | `soc` | a storage | energy stored at the end of the interval, MWh |
//! | `consumption` | a park | energy its load took in the interval, MWh |
//! | `import`, `export` | a grid exchange | energy imported / exported, MWh |
//!
//! `interval_start` is RFC 3339 (`2026-12-01T03:15:00Z`, or with an offset). A missing row,
//! or an empty value, is a missing reading: reported as missing, never filled. The time
//! grid is the readings' own: from the earliest start, in steps of the shortest gap
//! between starts (or the interval given). The same key twice with the same value is one
//! reading; with different values it is refused (a correction is a new file of the day, or
//! a correction through the meter service, not a second row).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::limits;
use crate::domain::plant::Plant;
use crate::domain::validation::{Collector, Problem, ValidationErrors};

use super::{mwh_to_wh, Destination, Ledger, Origin, ParkStatement, Quantity, Readings, Via, WH_PER_MWH};

/// The header of a readings file.
pub const READINGS_HEADER: &str = "interval_start,meter,quantity,value_mwh";

/// One row read: its line, and the reading (Wh, `None` when empty).
type Row = (usize, Option<i64>);

/// Readings from CSV text (`file` names it in messages, `file:line.column`), on the grid
/// of its starts (`interval_minutes` when given, else the shortest gap between starts).
/// Every problem is reported at once. The readings are then checked against the plant by
/// the ledger ([`Readings::validate`]).
pub fn readings_from_csv(plant: &Plant, file: &str, text: &str, interval_minutes: Option<u32>) -> Result<Readings, ValidationErrors> {
    let mut c = Collector::default();
    let mut lines = text.lines().enumerate().map(|(k, l)| (k + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, header)) if header.trim() == READINGS_HEADER => {}
        Some((n, header)) => c.push(format!("{file}:{n}"), format!("the header must be {READINGS_HEADER}, got {}", limits::quote(header))),
        None => c.push(file.to_string(), format!("is empty: it needs the header {READINGS_HEADER} and one row per reading")),
    }
    let mut rows: BTreeMap<(DateTime<Utc>, Quantity, String), Row> = BTreeMap::new();
    for (n, line) in lines {
        let at = |col: &str| format!("{file}:{n}.{col}");
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.contains('"') || fields.len() != 4 {
            c.push(format!("{file}:{n}"), format!("a row is 4 plain fields ({READINGS_HEADER}), got {}", limits::quote(line)));
            continue;
        }
        let start = match DateTime::parse_from_rfc3339(fields[0]) {
            Ok(t) if limits::instant_in_range(t.with_timezone(&Utc)) => Some(t.with_timezone(&Utc)),
            Ok(t) => {
                c.push(at("interval_start"), format!("{} {}", t.to_rfc3339(), limits::day_range_text()));
                None
            }
            Err(_) => {
                c.push(at("interval_start"), format!("{} is not an RFC 3339 instant", limits::quote(fields[0])));
                None
            }
        };
        let quantity = Quantity::parse(fields[2]);
        let meter = fields[1];
        match quantity {
            None => c.push(at("quantity"), format!("{} is not one of {}", limits::quote(fields[2]), Quantity::names())),
            Some(q) if !q.metered_by(plant, meter) => {
                c.push(at("meter"), format!("no {} named {} in plant {}", q.meter(), limits::quote(meter), plant.name))
            }
            Some(_) => {}
        }
        let value = match fields[3] {
            "" => Some(None),
            v => match v.parse::<f64>() {
                Ok(mwh) => {
                    // A negative reading is kept negative, for the ledger's check to name it.
                    let wh = mwh_to_wh(mwh.abs()).map(|wh| if mwh < 0.0 { -(wh as i64) } else { wh as i64 });
                    wh.map(Some).map_err(|e| c.push(at("value_mwh"), e.to_string())).ok()
                }
                Err(_) => {
                    c.push(at("value_mwh"), format!("{} is not a number (leave it empty for a missing reading)", limits::quote(v)));
                    None
                }
            },
        };
        let (Some(start), Some(q), Some(value)) = (start, quantity, value) else { continue };
        match rows.get(&(start, q, meter.to_string())) {
            Some((first, v)) if *v != value => c.push(
                at("value_mwh"),
                format!("{} {} at {} was already read on line {first} with another value", q.name(), meter, start.to_rfc3339()),
            ),
            Some(_) => {}
            None => {
                rows.insert((start, q, meter.to_string()), (n, value));
            }
        }
    }
    c.finish()?;
    let (first, step, intervals) = grid(file, rows.keys().map(|k| k.0), interval_minutes)?;
    let mut r = Readings::empty(plant, first, step, intervals);
    for ((start, q, meter), (_, value)) in rows {
        let t = ((start - first).num_minutes() / i64::from(step)) as usize;
        let slot = r.slot(q, &meter, t);
        if let Some(slot) = slot {
            *slot = value;
        }
    }
    Ok(r)
}

/// The readings' time grid: first start, step (minutes) and number of intervals; every
/// start on it.
fn grid(
    file: &str,
    starts: impl Iterator<Item = DateTime<Utc>>,
    given: Option<u32>,
) -> Result<(DateTime<Utc>, u32, usize), ValidationErrors> {
    let refuse = |field: String, message: &str| ValidationErrors { problems: vec![Problem { field, message: message.to_string() }] };
    let mut starts: Vec<DateTime<Utc>> = starts.collect();
    starts.sort_unstable();
    starts.dedup();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Err(refuse(file.to_string(), "holds no reading"));
    };
    let shortest = starts.windows(2).map(|w| (w[1] - w[0]).num_minutes()).min();
    let step = match (given, shortest) {
        (Some(m), _) => i64::from(m),
        (None, Some(m)) => m,
        (None, None) => return Err(refuse(file.to_string(), "has readings of one interval only: give the interval length")),
    };
    if step <= 0 || 60 % step != 0 {
        return Err(refuse(format!("{file}.interval_start"), &format!("the interval ({step} minutes) must divide an hour")));
    }
    let mut c = Collector::default();
    for s in &starts {
        let off = *s - first;
        if off.num_seconds() % (step * 60) != 0 {
            c.push(
                format!("{file}.interval_start"),
                format!("{} is not on the {step}-minute grid from {}", s.to_rfc3339(), first.to_rfc3339()),
            );
        }
    }
    c.finish()?;
    let intervals = ((last - first).num_minutes() / step) as usize + 1;
    Ok((first, step as u32, intervals))
}

/// Wh as MWh with six decimals: exact.
pub fn mwh_text(wh: u64) -> String {
    format!("{}.{:06}", wh / WH_PER_MWH, wh % WH_PER_MWH)
}

fn signed_mwh(wh: i64) -> String {
    if wh < 0 {
        format!("-{}", mwh_text(wh.unsigned_abs()))
    } else {
        mwh_text(wh.unsigned_abs())
    }
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Readings as CSV (missing readings are left out).
pub fn readings_to_csv(r: &Readings) -> String {
    let mut out = format!("{READINGS_HEADER}\n");
    for e in r.entries() {
        out.push_str(&format!("{},{},{},{}\n", instant(r.instant(e.t)), e.meter, e.quantity.name(), signed_mwh(e.wh)));
    }
    out
}

/// Every certificate and where each of its Wh went, one row per placement:
/// `certificate_id,asset,interval_start,origin,sources,destination,to,via,mwh`
/// (`sources`: the certificates a storage release was fed by, separated by `;`).
pub fn certificates_csv(ledger: &Ledger) -> String {
    let mut out = String::from("certificate_id,asset,interval_start,origin,sources,destination,to,via,mwh\n");
    for c in ledger.certificates() {
        let (origin, sources) = match &c.origin {
            Origin::Direct => ("direct", String::new()),
            Origin::Storage { sources, .. } => ("storage", sources.join(";")),
        };
        for p in &c.placements {
            let (destination, to, via) = match &p.to {
                Destination::Cancelled { park, via } => {
                    ("cancelled", park.as_str(), if *via == Via::OwnMeter { "own_meter" } else { "pool" })
                }
                Destination::Stored { storage } => ("stored", storage.as_str(), ""),
                Destination::Exported { grid } => ("exported", grid.as_str(), ""),
                Destination::Unallocated => ("unallocated", "", ""),
            };
            out.push_str(&format!(
                "{},{},{},{origin},{sources},{destination},{to},{via},{}\n",
                c.id,
                c.asset,
                instant(c.interval_start),
                mwh_text(p.wh)
            ));
        }
    }
    out
}

/// The monthly statements as CSV, one row per park and month.
pub fn statement_csv(statements: &[ParkStatement]) -> String {
    let mut out = String::from(
        "park,month,consumption_mwh,own_green_mwh,pool_green_mwh,green_mwh,hourly_matched_share,missing_intervals,gec_issued,carried_mwh,scope2_location_t,scope2_market_t\n",
    );
    for s in statements {
        for m in &s.months {
            out.push_str(&format!(
                "{},{:04}-{:02},{},{},{},{},{},{},{},{},{:.6},{:.6}\n",
                s.park,
                m.year,
                m.month,
                mwh_text(m.consumption_wh),
                mwh_text(m.own_wh),
                mwh_text(m.pool_wh),
                mwh_text(m.cancelled_wh()),
                m.share.map_or(String::new(), |x| format!("{x:.6}")),
                m.missing_intervals,
                m.gec_issued,
                mwh_text(m.carried_wh),
                m.location_based_t,
                m.market_based_t
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant() -> Plant {
        Plant::from_toml(include_str!("../../../../models/xinyang.toml")).expect("the Xinyang plant")
    }

    #[test]
    fn readings_round_trip_through_csv_exactly() {
        let plant = plant();
        let start = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").expect("instant").with_timezone(&Utc);
        let mut r = Readings::empty(&plant, start, 15, 3);
        let park = plant.parks[0].name.clone();
        r.consumption_wh.insert(park.clone(), vec![Some(1_234_567), None, Some(0)]);
        let pv = plant.pv[0].name.clone();
        r.output_wh.insert(pv, vec![Some(7), Some(8_000_001), None]);
        let text = readings_to_csv(&r);
        assert!(text.contains(&format!("2026-12-01T00:00:00Z,{park},consumption,1.234567\n")), "{text}");
        let back = readings_from_csv(&plant, "r.csv", &text, Some(15)).expect("reads back");
        assert_eq!(back, r);
    }

    #[test]
    fn bad_rows_are_named_by_file_line_and_column() {
        let plant = plant();
        let park = &plant.parks[0].name;
        let text = format!(
            "{READINGS_HEADER}\n\
             2026-12-01T00:00:00Z,{park},consumption,1.5\n\
             2026-12-01T00:15:00Z,nowhere,consumption,1\n\
             2026-12-01T00:30:00Z,{park},volume,1\n\
             yesterday,{park},consumption,1\n\
             2026-12-01T00:00:00Z,{park},consumption,2.5\n\
             2026-12-01T00:45:00Z,{park},consumption,lots\n\
             2026-12-01T01:00:00Z,{park},consumption\n"
        );
        let e = readings_from_csv(&plant, "r.csv", &text, None).expect_err("refused").to_string();
        assert!(e.contains("r.csv:3.meter: no park named 'nowhere'"), "{e}");
        assert!(e.contains("r.csv:4.quantity: 'volume' is not one of output, charge"), "{e}");
        assert!(e.contains("r.csv:5.interval_start: 'yesterday' is not an RFC 3339 instant"), "{e}");
        assert!(e.contains("r.csv:6.value_mwh: consumption"), "{e}");
        assert!(e.contains("already read on line 2 with another value"), "{e}");
        assert!(e.contains("r.csv:7.value_mwh: 'lots' is not a number"), "{e}");
        assert!(e.contains("r.csv:8: a row is 4 plain fields"), "{e}");
    }

    #[test]
    fn an_off_grid_start_and_a_missing_header_are_refused() {
        let plant = plant();
        let park = &plant.parks[0].name;
        let text = format!("{READINGS_HEADER}\n2026-12-01T00:00:00Z,{park},consumption,1\n2026-12-01T00:20:00Z,{park},consumption,1\n");
        let e = readings_from_csv(&plant, "r.csv", &text, Some(15)).expect_err("refused").to_string();
        assert!(e.contains("2026-12-01T00:20:00+00:00 is not on the 15-minute grid"), "{e}");
        let e = readings_from_csv(&plant, "r.csv", "when,what\n", None).expect_err("refused").to_string();
        assert!(e.contains("r.csv:1: the header must be interval_start,meter,quantity,value_mwh"), "{e}");
    }
}
