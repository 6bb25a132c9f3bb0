//! Synthetic forecasts for a plant: representative days made from solar geometry,
//! deterministic wind profiles and an industrial load shape.
//!
//! The generator is pure (no IO, no randomness crate): the same plant, day kind, interval
//! length and number of days always give the same [`Forecast`]. It is what `vpp forecast`
//! runs and what made the files in `fixtures/forecasts/`.
//!
//! How each series is made:
//!
//! - **PV availability**: clear-sky irradiance on a south-facing panel at Xinyang
//!   (32.149°N, 114.091°E): NOAA declination and equation of time, hour angle from true
//!   solar time, Kasten–Young air mass, Meinel beam attenuation `1.353·0.7^(AM^0.678)`
//!   kW/m², a diffuse part of 10 % of the beam and 20 % ground albedo, on a 25° tilt (10°
//!   for plants whose name says `roof` or `bipv`). It is multiplied by a performance ratio
//!   of 0.80 and by a day-kind cloud factor, averaged over 5-minute sub-steps of each
//!   interval and clamped to `[0, 0.85]`.
//! - **Wind availability**: a diurnal profile per day kind (summer: weak with an evening
//!   pick-up, ~0.1–0.3; spring: moderate, ~0.25–0.45; windy winter: strong, ~0.5–0.85,
//!   with a cold front passing around midday), a per-farm level and phase shift, and smooth
//!   value noise from a hash of the farm's name.
//! - **Park demand**: a two-shift industrial day (08–22 h high, night base ~75 % of the
//!   day), a cooling hump on summer afternoons, scaled by a peak per park (see
//!   [`park_peak_mw`]) and by a day-kind level (summer 1.0, spring 0.85, winter 0.90).
//! - **Natural inflow** of pumped hydro: a constant share of turbine power per hour (2 % in
//!   summer, 1.2 % in spring, 0.6 % in winter), times the interval length.
//!
//! Every series is an interval mean; availabilities are rounded to 4 decimals, demand to
//! 0.01 MW and inflow to 0.001 MWh, so that fixture files stay readable.
//!
//! No bids, import-price overrides or interruptible limits are produced: the plant's
//! tariff and constant limits apply. The solar position is always Xinyang's, since the
//! plant file carries no coordinates.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use crate::domain::{Forecast, Plant};

/// Latitude of Xinyang, degrees north.
pub const LATITUDE_DEG: f64 = 32.149;
/// Longitude of Xinyang, degrees east.
pub const LONGITUDE_DEG: f64 = 114.091;
/// Highest PV availability the generator produces (inverter clipping and losses).
pub const PV_MAX_AVAILABILITY: f64 = 0.85;
/// Peak demand (MW) assumed for a park that is not in [`PARK_PEAKS_MW`] and has no
/// interruptible limit to scale from.
pub const DEFAULT_PARK_PEAK_MW: f64 = 100.0;

/// Summer peak demand (MW) of the Xinyang parks, keyed by park name. Park loads are not
/// public; these are assumed from the city's ~1.7 GW peak of 2012, grown since (1,500 MW
/// together).
pub const PARK_PEAKS_MW: [(&str, f64); 5] = [
    ("pingqiao_park", 400.0),
    ("shihe_park", 350.0),
    ("yudongnan_hitech", 300.0),
    ("huangchuan_zero_carbon", 250.0),
    ("shangtianti_park", 200.0),
];

/// A representative kind of day to forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A hot, mostly clear July day: high load, strong sun, weak wind that picks up in the
    /// evening (`summer-peak`).
    SummerPeak,
    /// A mild, partly cloudy April day: low load, moderate wind, midday valley tariff
    /// (`spring-valley`).
    SpringValley,
    /// A January day with a cold front: strong wind, low sun, clouds as the front passes
    /// (`windy-winter`).
    WindyWinter,
}

impl DayKind {
    /// Every day kind, in a fixed order.
    pub const ALL: [DayKind; 3] = [DayKind::SummerPeak, DayKind::SpringValley, DayKind::WindyWinter];

    /// The name used on the command line and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::SummerPeak => "summer-peak",
            DayKind::SpringValley => "spring-valley",
            DayKind::WindyWinter => "windy-winter",
        }
    }

    /// A representative local date in 2026 for this kind of day.
    pub fn date(self) -> NaiveDate {
        let (m, d) = match self {
            DayKind::SummerPeak => (7, 22),
            DayKind::SpringValley => (4, 15),
            DayKind::WindyWinter => (1, 14),
        };
        NaiveDate::from_ymd_opt(2026, m, d).expect("valid date")
    }

    /// Demand level relative to the summer peak.
    fn demand_level(self) -> f64 {
        match self {
            DayKind::SummerPeak => 1.0,
            DayKind::SpringValley => 0.85,
            DayKind::WindyWinter => 0.90,
        }
    }

    /// Natural inflow to pumped hydro, share of turbine power per hour.
    fn inflow_share_per_h(self) -> f64 {
        match self {
            DayKind::SummerPeak => 0.02,
            DayKind::SpringValley => 0.012,
            DayKind::WindyWinter => 0.006,
        }
    }

    fn seed(self) -> u64 {
        match self {
            DayKind::SummerPeak => 0x5u64,
            DayKind::SpringValley => 0x59u64,
            DayKind::WindyWinter => 0x3fu64,
        }
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DayKind {
    type Err = String;

    fn from_str(s: &str) -> Result<DayKind, String> {
        DayKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| format!("unknown day kind '{s}'; expected one of summer-peak, spring-valley, windy-winter"))
    }
}

/// Summer peak demand (MW) the generator uses for a park: the value in
/// [`PARK_PEAKS_MW`], otherwise 12.5 × its interruptible limit (interruptible load being
/// ~8 % of peak), at least [`DEFAULT_PARK_PEAK_MW`].
pub fn park_peak_mw(name: &str, interruptible_mw: f64) -> f64 {
    PARK_PEAKS_MW.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).unwrap_or_else(|| (12.5 * interruptible_mw).max(DEFAULT_PARK_PEAK_MW))
}

/// Makes a forecast of `days` consecutive local days of kind `day` for `plant`, in
/// intervals of `interval_minutes`, starting at local midnight (in the plant's zone) of
/// [`DayKind::date`]. Every wind farm and PV plant gets an availability series, every park
/// a demand series and every pumped-hydro station an inflow series.
///
/// # Panics
///
/// If `interval_minutes` is zero or does not divide a day (1440 minutes).
pub fn generate(plant: &Plant, day: DayKind, interval_minutes: u32, days: usize) -> Forecast {
    assert!(
        interval_minutes > 0 && 1440 % interval_minutes == 0,
        "interval_minutes must divide a day (15, 30, 60, …), got {interval_minutes}"
    );
    let tz = plant.tz();
    let start = crate::domain::local_midnight(tz, day.date());
    let intervals = days * 1440 / interval_minutes as usize;
    let dt_h = f64::from(interval_minutes) / 60.0;
    let subs = (interval_minutes / 5).max(1);
    let sub_s = f64::from(interval_minutes) * 60.0 / f64::from(subs);

    // Sub-step midpoints of each interval: (UTC instant, local hour of day, hours since start).
    let grid: Vec<Vec<(DateTime<Utc>, f64, f64)>> = (0..intervals)
        .map(|t| {
            (0..subs)
                .map(|j| {
                    let offset_s = t as f64 * dt_h * 3600.0 + (f64::from(j) + 0.5) * sub_s;
                    let at = start + Duration::milliseconds((offset_s * 1000.0).round() as i64);
                    let local = at.with_timezone(&tz);
                    let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0 + f64::from(local.second()) / 3600.0;
                    (at, hour, offset_s / 3600.0)
                })
                .collect()
        })
        .collect();
    // Interval means, rounded to `decimals` so that fixtures stay readable and diffable.
    let average = |decimals: i32, f: &dyn Fn(DateTime<Utc>, f64, f64) -> f64| -> Vec<f64> {
        let scale = 10f64.powi(decimals);
        grid.iter()
            .map(|steps| steps.iter().map(|&(at, h, th)| f(at, h, th)).sum::<f64>() / steps.len() as f64)
            .map(|v| (v * scale).round() / scale)
            .collect()
    };

    let mut forecast = Forecast {
        description: String::new(),
        start,
        interval_minutes,
        intervals,
        availability: Default::default(),
        demand_mw: Default::default(),
        inflow_mwh: Default::default(),
        interruptible_mw: Default::default(),
        import_price: Default::default(),
        bids: Vec::new(),
        scenarios: Vec::new(),
        quantiles: None,
    };

    for pv in &plant.pv {
        let lower = pv.name.to_ascii_lowercase();
        let tilt = if lower.contains("roof") || lower.contains("bipv") { 10.0 } else { 25.0 };
        let seed = hash_name(&pv.name) ^ day.seed();
        let series = average(4, &|at, h, th| (clear_sky_pv(at, tilt) * cloud_factor(day, seed, h, th)).clamp(0.0, PV_MAX_AVAILABILITY));
        forecast.availability.insert(pv.name.clone(), series);
    }
    for w in &plant.wind {
        let seed = hash_name(&w.name) ^ day.seed().rotate_left(17);
        let series = average(4, &|_, h, th| wind_availability(day, seed, h, th));
        forecast.availability.insert(w.name.clone(), series);
    }
    for park in &plant.parks {
        let peak = park_peak_mw(&park.name, park.interruptible_mw);
        let seed = hash_name(&park.name) ^ day.seed().rotate_left(29);
        let series = average(2, &|_, h, th| peak * demand_shape(day, seed, h, th));
        forecast.demand_mw.insert(park.name.clone(), series);
    }
    for hydro in plant.storage.iter().filter(|s| s.kind.has_inflow()) {
        let per_interval = (day.inflow_share_per_h() * hydro.discharge_mw.max(0.0) * dt_h * 1000.0).round() / 1000.0;
        forecast.inflow_mwh.insert(hydro.name.clone(), vec![per_interval; intervals]);
    }

    forecast.description = format!(
        "Synthetic {day} forecast for plant {plant}: {days} local day(s) from {date} ({tz}), \
         {intervals} intervals of {interval_minutes} min. PV from clear-sky solar geometry at \
         {LATITUDE_DEG}N {LONGITUDE_DEG}E times a {cloud} cloud factor; wind from a deterministic \
         {wind} profile per farm; park demand from a two-shift industrial load shape; \
         pumped-hydro inflow {inflow:.1} % of turbine power per hour. No bids; the tariff sets \
         import prices. Produced by `vpp forecast` (vpp_dispatch::synth::generate).",
        plant = plant.name,
        date = day.date(),
        tz = plant.timezone,
        cloud = match day {
            DayKind::SummerPeak => "mostly clear summer (afternoon convection)",
            DayKind::SpringValley => "partly cloudy spring",
            DayKind::WindyWinter => "winter cold-front",
        },
        wind = match day {
            DayKind::SummerPeak => "weak summer (evening pick-up)",
            DayKind::SpringValley => "moderate spring",
            DayKind::WindyWinter => "strong winter (front passing around midday)",
        },
        inflow = day.inflow_share_per_h() * 100.0,
    );
    forecast
}

// ------------------------------------------------------------------ solar geometry

/// Solar declination (rad), equation of time (min) and hour angle (rad) at `at` for
/// Xinyang, by the NOAA approximations.
fn solar_angles(at: DateTime<Utc>) -> (f64, f64, f64) {
    use chrono::Datelike;
    let utc_min = f64::from(at.hour()) * 60.0 + f64::from(at.minute()) + f64::from(at.second()) / 60.0;
    let doy = f64::from(at.ordinal());
    let year_days = if NaiveDate::from_ymd_opt(at.year(), 12, 31).map(|d| d.ordinal()) == Some(366) { 366.0 } else { 365.0 };
    let g = 2.0 * PI / year_days * (doy - 1.0 + (utc_min / 60.0 - 12.0) / 24.0);
    let eot = 229.18 * (0.000075 + 0.001868 * g.cos() - 0.032077 * g.sin() - 0.014615 * (2.0 * g).cos() - 0.040849 * (2.0 * g).sin());
    let decl = 0.006918 - 0.399912 * g.cos() + 0.070257 * g.sin() - 0.006758 * (2.0 * g).cos() + 0.000907 * (2.0 * g).sin()
        - 0.002697 * (3.0 * g).cos()
        + 0.00148 * (3.0 * g).sin();
    let true_solar_min = utc_min + eot + 4.0 * LONGITUDE_DEG;
    let hour_angle = (true_solar_min / 4.0 - 180.0).to_radians();
    (decl, eot, hour_angle)
}

/// Clear-sky PV availability (before clouds and clamping) of a south-facing panel tilted
/// `tilt_deg` at Xinyang: plane-of-array irradiance in kW/m² (STC = 1) × performance ratio.
fn clear_sky_pv(at: DateTime<Utc>, tilt_deg: f64) -> f64 {
    let (decl, _, w) = solar_angles(at);
    let phi = LATITUDE_DEG.to_radians();
    let cz = phi.sin() * decl.sin() + phi.cos() * decl.cos() * w.cos();
    if cz <= 0.0 {
        return 0.0;
    }
    let zenith_deg = cz.clamp(-1.0, 1.0).acos().to_degrees();
    let air_mass = 1.0 / (cz + 0.50572 * (96.07995 - zenith_deg).powf(-1.6364));
    let beam = 1.353 * 0.7f64.powf(air_mass.powf(0.678));
    let diffuse = 0.1 * beam;
    let global = beam * cz + diffuse;
    let beta = tilt_deg.to_radians();
    let cos_inc = (phi - beta).sin() * decl.sin() + (phi - beta).cos() * decl.cos() * w.cos();
    let poa = beam * cos_inc.max(0.0) + diffuse * (1.0 + beta.cos()) / 2.0 + 0.2 * global * (1.0 - beta.cos()) / 2.0;
    0.80 * poa
}

/// Share of clear-sky output that gets through the clouds.
fn cloud_factor(day: DayKind, seed: u64, hour: f64, t_h: f64) -> f64 {
    let d = (t_h / 24.0).floor();
    // Weather is regional: most of the noise is shared by all plants (day-kind seed), a
    // little is local (plant seed).
    let regional = value_noise(day.seed() ^ 0xC10D, t_h / 2.0);
    let local = value_noise(seed, t_h / 1.5);
    let f = match day {
        DayKind::SummerPeak => 0.93 - 0.20 * bump(hour, 15.0, 1.8) + 0.03 * regional + 0.02 * local,
        DayKind::SpringValley => 0.72 + 0.13 * regional + 0.05 * local,
        DayKind::WindyWinter => {
            let front = 10.5 + 1.5 * unit(day.seed() ^ 0xF407, d as u64);
            0.90 - 0.50 * bump(hour, front, 2.2) + 0.03 * local
        }
    };
    f.clamp(0.0, 1.0)
}

// ------------------------------------------------------------------ wind and load

/// Wind availability of a farm (seeded by its name) at local `hour`, `t_h` hours into the
/// horizon.
fn wind_availability(day: DayKind, seed: u64, hour: f64, t_h: f64) -> f64 {
    let level = 0.9 + 0.2 * unit(seed, 1);
    let shift = 2.0 * unit(seed, 2);
    let d = (t_h / 24.0).floor();
    let noise = value_noise(seed, t_h / 3.0);
    let a = match day {
        DayKind::SummerPeak => {
            let h = hour - shift;
            let v = 0.13 + 0.05 * (2.0 * PI * (h - 3.0) / 24.0).cos() + 0.12 * bump(h, 20.5, 2.5) + 0.03 * noise;
            (level * v).clamp(0.08, 0.35)
        }
        DayKind::SpringValley => {
            let h = hour - shift;
            let v = 0.35 + 0.07 * (2.0 * PI * (h - 9.0) / 24.0).sin() + 0.05 * noise;
            (level * v).clamp(0.2, 0.5)
        }
        DayKind::WindyWinter => {
            // The front reaches the western farms first: up to 3 h between farms, and it
            // comes at a slightly different hour each day.
            let front = 10.5 + 3.0 * unit(seed, 3) + 1.5 * unit(day.seed() ^ 0xF407, d as u64);
            let since = circular(hour - front);
            let v = 0.55 + 0.27 * bump(hour, front, 2.5) + 0.12 * sigmoid(since / 1.5) - 0.04 * (since - 4.0).max(0.0) / 8.0 + 0.04 * noise;
            (level.min(1.0) * v).clamp(0.45, 0.9)
        }
    };
    a.clamp(0.0, 1.0)
}

/// Demand as a share of the park's summer peak at local `hour`.
fn demand_shape(day: DayKind, seed: u64, hour: f64, t_h: f64) -> f64 {
    // Two-shift industrial day, hourly knots 00:00 .. 24:00 (linear in between).
    const KNOTS: [f64; 25] = [
        0.76, 0.75, 0.74, 0.74, 0.74, 0.75, 0.78, 0.85, 0.93, 0.97, 0.98, 0.97, 0.92, 0.95, 0.98, 0.99, 0.98, 0.97, 0.97, 0.98, 0.97, 0.94,
        0.88, 0.81, 0.76,
    ];
    let h = hour.rem_euclid(24.0);
    let k = (h.floor() as usize).min(23);
    let base = KNOTS[k] + (KNOTS[k + 1] - KNOTS[k]) * (h - k as f64);
    let seasonal = match day {
        // Cooling on summer afternoons and warm nights; normalised so the peak is ~1.0.
        DayKind::SummerPeak => (base + 0.05 * bump(h, 15.0, 3.0) + 0.02) / 1.05,
        DayKind::SpringValley => base,
        // Electric heating at the morning start of the shift.
        DayKind::WindyWinter => base + 0.03 * bump(h, 8.5, 1.5),
    };
    let noise = 0.015 * value_noise(seed, t_h);
    (day.demand_level() * seasonal * (1.0 + noise)).max(0.0)
}

// ------------------------------------------------------------------ helpers

/// Gaussian bump of width `sigma` hours around `centre`, on the 24-hour circle.
fn bump(hour: f64, centre: f64, sigma: f64) -> f64 {
    let d = circular(hour - centre);
    (-0.5 * (d / sigma).powi(2)).exp()
}

/// An hour difference folded into [-12, 12).
fn circular(d: f64) -> f64 {
    (d + 12.0).rem_euclid(24.0) - 12.0
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// FNV-1a hash of a name: the seed of an asset's deterministic noise.
fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic number in [0, 1) for (seed, k).
fn unit(seed: u64, k: u64) -> f64 {
    (mix(seed ^ mix(k)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Smooth deterministic noise in [-1, 1]: random values at integer `x`, cosine-interpolated.
fn value_noise(seed: u64, x: f64) -> f64 {
    let i = x.floor();
    let f = x - i;
    let lattice = |n: f64| 2.0 * unit(seed, n as i64 as u64) - 1.0;
    let w = (1.0 - (PI * f).cos()) / 2.0;
    lattice(i) * (1.0 - w) + lattice(i + 1.0) * w
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn xinyang() -> Plant {
        Plant::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/xinyang.toml")).expect("models/xinyang.toml loads")
    }

    fn local_hour_mid(f: &Forecast, tz: chrono_tz::Tz, t: usize) -> f64 {
        let at = f.start + Duration::seconds(i64::from(f.interval_minutes) * 60 * t as i64 + i64::from(f.interval_minutes) * 30);
        let l = at.with_timezone(&tz);
        f64::from(l.hour()) + f64::from(l.minute()) / 60.0 + f64::from(l.second()) / 3600.0
    }

    #[test]
    fn day_kind_names_round_trip() {
        for k in DayKind::ALL {
            assert_eq!(k.to_string().parse::<DayKind>().unwrap(), k);
        }
        assert!("autumn".parse::<DayKind>().is_err());
        assert_eq!(DayKind::SummerPeak.date(), NaiveDate::from_ymd_opt(2026, 7, 22).unwrap());
    }

    #[test]
    fn starts_at_local_midnight() {
        let plant = xinyang();
        let f = generate(&plant, DayKind::SummerPeak, 60, 1);
        assert_eq!(f.start, Utc.with_ymd_and_hms(2026, 7, 21, 16, 0, 0).unwrap());
    }

    #[test]
    fn lengths_follow_interval_and_days() {
        let plant = xinyang();
        for (minutes, days, n) in [(60, 1, 24), (15, 1, 96), (60, 7, 168), (30, 2, 96)] {
            let f = generate(&plant, DayKind::SpringValley, minutes, days);
            assert_eq!(f.intervals, n);
            assert_eq!(f.interval_minutes, minutes);
            for s in f.availability.values().chain(f.demand_mw.values()).chain(f.inflow_mwh.values()) {
                assert_eq!(s.len(), n);
            }
            assert_eq!(f.availability.len(), plant.wind.len() + plant.pv.len());
            assert_eq!(f.demand_mw.len(), plant.parks.len());
            assert_eq!(f.inflow_mwh.len(), plant.storage.iter().filter(|s| s.kind.has_inflow()).count());
            assert!(f.bids.is_empty() && f.import_price.is_empty() && f.interruptible_mw.is_empty());
        }
    }

    #[test]
    fn availability_within_bounds_and_demand_positive() {
        let plant = xinyang();
        for day in DayKind::ALL {
            for minutes in [15, 60] {
                let f = generate(&plant, day, minutes, 2);
                for (name, s) in &f.availability {
                    for v in s {
                        assert!(v.is_finite() && (0.0..=1.0).contains(v), "{day} {name}: {v}");
                    }
                }
                for pv in &plant.pv {
                    assert!(f.availability[&pv.name].iter().all(|v| *v <= PV_MAX_AVAILABILITY + 1e-12));
                }
                for s in f.demand_mw.values() {
                    assert!(s.iter().all(|v| v.is_finite() && *v > 0.0));
                }
            }
        }
    }

    #[test]
    fn pv_is_dark_at_night_and_peaks_near_solar_noon() {
        let plant = xinyang();
        let tz = plant.tz();
        for day in DayKind::ALL {
            let f = generate(&plant, day, 15, 1);
            for pv in &plant.pv {
                let s = &f.availability[&pv.name];
                for (t, v) in s.iter().enumerate() {
                    let h = local_hour_mid(&f, tz, t);
                    if !(4.5..=20.0).contains(&h) {
                        assert_eq!(*v, 0.0, "{day} {} at {h:.2} h", pv.name);
                    }
                }
                assert!(s.iter().cloned().fold(0.0, f64::max) > 0.2, "{day} {} never bright", pv.name);
            }
        }
        // Clear sky: the brightest minute lies within the equation of time of 12:24 local.
        for day in DayKind::ALL {
            let midnight = tz.from_local_datetime(&day.date().and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
            let best = (0..1440)
                .max_by(|a, b| {
                    let pa = clear_sky_pv(midnight + Duration::minutes(*a), 25.0);
                    let pb = clear_sky_pv(midnight + Duration::minutes(*b), 25.0);
                    pa.partial_cmp(&pb).unwrap()
                })
                .unwrap();
            let noon = 12.0 * 60.0 + 24.0;
            assert!((best as f64 - noon).abs() <= 17.0, "{day}: clear-sky maximum at minute {best}");
        }
        // On the mostly clear summer day the brightest quarter-hour is close to noon too.
        let f = generate(&plant, DayKind::SummerPeak, 15, 1);
        let s = &f.availability["gushi_pv"];
        let t_max = (0..s.len()).max_by(|a, b| s[*a].partial_cmp(&s[*b]).unwrap()).unwrap();
        let h = local_hour_mid(&f, tz, t_max);
        assert!((h - 12.4).abs() < 1.0, "summer PV maximum at {h:.2} h");
    }

    #[test]
    fn wind_ranges_follow_day_kind() {
        let plant = xinyang();
        let mean = |day| {
            let f = generate(&plant, day, 60, 1);
            let all: Vec<f64> = plant.wind.iter().flat_map(|w| f.availability[&w.name].clone()).collect();
            all.iter().sum::<f64>() / all.len() as f64
        };
        let (s, p, w) = (mean(DayKind::SummerPeak), mean(DayKind::SpringValley), mean(DayKind::WindyWinter));
        assert!((0.1..0.3).contains(&s), "summer {s}");
        assert!((0.25..0.45).contains(&p), "spring {p}");
        assert!((0.5..0.85).contains(&w), "winter {w}");
    }

    #[test]
    fn generated_forecasts_validate_and_are_deterministic() {
        let plant = xinyang();
        for day in DayKind::ALL {
            for minutes in [15, 60] {
                let f = generate(&plant, day, minutes, 1);
                f.validate(&plant).unwrap_or_else(|e| panic!("{day} {minutes}: {e}"));
                assert_eq!(f, generate(&plant, day, minutes, 1));
            }
        }
    }

    #[test]
    fn zero_carbon_park_share_is_reachable_from_wind_alone() {
        // The park's hourly minimum green share must be feasible even on the calmest night.
        let plant = xinyang();
        for day in DayKind::ALL {
            let f = generate(&plant, day, 60, 1);
            for t in 0..f.intervals {
                let wind: f64 = plant.wind.iter().map(|w| w.capacity_mw * f.availability[&w.name][t]).sum();
                for park in plant.parks.iter().filter(|p| p.min_green_share.is_some()) {
                    let need = park.min_green_share.unwrap() * f.demand_mw[&park.name][t];
                    assert!(wind > 1.3 * need, "{day} t={t}: wind {wind} vs {need} for {}", park.name);
                }
            }
        }
    }

    #[test]
    fn unknown_parks_get_a_default_peak() {
        assert_eq!(park_peak_mw("pingqiao_park", 0.0), 400.0);
        assert_eq!(park_peak_mw("elsewhere", 0.0), DEFAULT_PARK_PEAK_MW);
        assert_eq!(park_peak_mw("elsewhere", 40.0), 500.0);
    }
}
