//! Scenarios of a point forecast: correlated errors drawn per asset type, and their
//! reduction to a few representative scenarios.
//!
//! Pure and deterministic, like [`crate::synth`]: the same forecast, error model, number of
//! scenarios and seed always give the same scenarios (no randomness crate; normal draws by
//! Box–Muller from a hash of (seed, stream, index)).
//!
//! # The error model (parameters assumed, not fitted: no forecast archive of the plant is
//! # public; [`ErrorModel::default`] holds them)
//!
//! Each error is a Gaussian AR(1) process in time, φ = exp(−Δt/τ) per interval of Δt
//! hours (so its correlation decays over τ hours), made of a part common to every asset of
//! the type and a part of the asset's own, mixed so that two assets of a type correlate
//! at `cross`:
//!
//! - **Wind**: availability + e, e with standard deviation σ(lead) = `wind_sigma0` +
//!   `wind_sigma_slope` × min(lead, 48 h)/24 h (absolute, in availability units: 0.06 at
//!   lead 0, 0.16 a day ahead, 0.26 at 48 h), τ = 6 h, cross-farm correlation 0.6. Errors
//!   grow with the lead time, counted from the forecast's issue at 12:00 local the day before
//!   its first day (a day-ahead market's gate).
//! - **PV**: availability × (1 + e), σ = 0.25, τ = 3 h, cross-plant correlation 0.8
//!   (clouds are regional): relative to the forecast's own availability, which is the
//!   clear-sky availability times a cloud factor, so the error scales with the clear-sky
//!   index and is zero at night.
//! - **Load**: demand × (1 + e), σ = 0.02, τ = 12 h, cross-park correlation 0.3.
//!
//! Availabilities are clipped to [0, 1] (PV to its forecast's clear-sky cap
//! [`crate::synth::PV_MAX_AVAILABILITY`] or the point value, whichever is higher), demand
//! at 0. Every scenario has probability 1/N.
//!
//! # Reduction
//!
//! [`reduce`] keeps K of N scenarios by fast forward selection (Heitsch and Römisch 2003):
//! repeatedly add the scenario that most lowers the probability-weighted distance of every
//! scenario to its nearest kept one; then each dropped scenario's probability goes to its
//! nearest kept one. The distance is Euclidean over every series in MW (availability ×
//! capacity, demand), summed over intervals. Ties go to the earlier scenario.

use crate::domain::{Forecast, Plant, Scenario};

/// The error model's parameters (see the module's documentation; all assumed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorModel {
    /// Wind: σ at lead 0, availability units.
    pub wind_sigma0: f64,
    /// Wind: σ added per 24 h of lead (up to 48 h).
    pub wind_sigma_slope: f64,
    /// Wind: time constant, hours.
    pub wind_tau_h: f64,
    /// Wind: correlation between two farms.
    pub wind_cross: f64,
    /// PV: relative σ.
    pub pv_sigma: f64,
    /// PV: time constant, hours.
    pub pv_tau_h: f64,
    /// PV: correlation between two plants.
    pub pv_cross: f64,
    /// Load: relative σ.
    pub load_sigma: f64,
    /// Load: time constant, hours.
    pub load_tau_h: f64,
    /// Load: correlation between two parks.
    pub load_cross: f64,
    /// Hours before local midnight of the first day at which the forecast is issued.
    pub issued_hours_before: f64,
}

impl Default for ErrorModel {
    fn default() -> Self {
        ErrorModel {
            wind_sigma0: 0.06,
            wind_sigma_slope: 0.10,
            wind_tau_h: 6.0,
            wind_cross: 0.6,
            pv_sigma: 0.25,
            pv_tau_h: 3.0,
            pv_cross: 0.8,
            load_sigma: 0.02,
            load_tau_h: 12.0,
            load_cross: 0.3,
            issued_hours_before: 12.0,
        }
    }
}

/// Most scenarios [`generate`] makes.
pub const MAX_GENERATED: usize = crate::domain::MAX_SCENARIOS;

/// `n` scenarios of `forecast` (its point series perturbed by `model`), named `s001`, …,
/// each of probability 1/n. The forecast must be valid for `plant`.
pub fn generate(plant: &Plant, forecast: &Forecast, model: &ErrorModel, n: usize, seed: u64) -> Result<Vec<Scenario>, String> {
    if n == 0 || n > MAX_GENERATED {
        return Err(format!("the number of scenarios must lie in 1..={MAX_GENERATED}, got {n}"));
    }
    let t_len = forecast.intervals;
    let dt = f64::from(forecast.interval_minutes) / 60.0;
    let first_day = forecast.start.with_timezone(&plant.tz()).date_naive();
    let issued =
        crate::domain::local_midnight(plant.tz(), first_day) - chrono::Duration::minutes((model.issued_hours_before * 60.0) as i64);
    let lead_h: Vec<f64> = (0..t_len)
        .map(|t| {
            let mid = forecast.start + chrono::Duration::seconds(((t as f64 + 0.5) * dt * 3600.0) as i64);
            ((mid - issued).num_seconds() as f64 / 3600.0).max(0.0)
        })
        .collect();
    let width = (n as f64).log10().floor() as usize + 1;
    let mut out = Vec::with_capacity(n);
    for s in 0..n {
        let mut sc = Scenario {
            name: format!("s{:0w$}", s + 1, w = width.max(3)),
            probability: 1.0 / n as f64,
            availability: Default::default(),
            demand_mw: Default::default(),
        };
        // Streams: 1 common + one per asset, per type; offsets keep them apart.
        let wind_common = ar1(seed, s as u64, 1, t_len, dt, model.wind_tau_h);
        for (k, w) in plant.wind.iter().enumerate() {
            let own = ar1(seed, s as u64, 100 + k as u64, t_len, dt, model.wind_tau_h);
            let point = &forecast.availability[&w.name];
            let series = (0..t_len)
                .map(|t| {
                    let sigma = model.wind_sigma0 + model.wind_sigma_slope * lead_h[t].min(48.0) / 24.0;
                    let e = sigma * mixed(wind_common[t], own[t], model.wind_cross);
                    round4((point[t] + e).clamp(0.0, 1.0))
                })
                .collect();
            sc.availability.insert(w.name.clone(), series);
        }
        let pv_common = ar1(seed, s as u64, 2, t_len, dt, model.pv_tau_h);
        for (k, p) in plant.pv.iter().enumerate() {
            let own = ar1(seed, s as u64, 10_000 + k as u64, t_len, dt, model.pv_tau_h);
            let point = &forecast.availability[&p.name];
            let series = (0..t_len)
                .map(|t| {
                    let e = model.pv_sigma * mixed(pv_common[t], own[t], model.pv_cross);
                    let cap = point[t].max(crate::synth::PV_MAX_AVAILABILITY);
                    round4((point[t] * (1.0 + e)).clamp(0.0, cap.min(1.0)))
                })
                .collect();
            sc.availability.insert(p.name.clone(), series);
        }
        let load_common = ar1(seed, s as u64, 3, t_len, dt, model.load_tau_h);
        for (k, park) in plant.parks.iter().enumerate() {
            let own = ar1(seed, s as u64, 20_000 + k as u64, t_len, dt, model.load_tau_h);
            let point = &forecast.demand_mw[&park.name];
            let series = (0..t_len)
                .map(|t| {
                    let e = model.load_sigma * mixed(load_common[t], own[t], model.load_cross);
                    ((point[t] * (1.0 + e)).max(0.0) * 100.0).round() / 100.0
                })
                .collect();
            sc.demand_mw.insert(park.name.clone(), series);
        }
        out.push(sc);
    }
    Ok(out)
}

/// Keeps `k` of `scenarios` by fast forward selection and gives each dropped one's
/// probability to its nearest kept one (module documentation). Kept scenarios stay in
/// their original order. `k` ≥ the number of scenarios keeps them all.
pub fn reduce(plant: &Plant, forecast: &Forecast, scenarios: &[Scenario], k: usize) -> Vec<Scenario> {
    let n = scenarios.len();
    if k == 0 || k >= n {
        return scenarios.to_vec();
    }
    let vectors: Vec<Vec<f64>> = scenarios.iter().map(|s| vector(plant, forecast, s)).collect();
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v: f64 = vectors[i].iter().zip(&vectors[j]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    let p: Vec<f64> = scenarios.iter().map(|s| s.probability).collect();
    // nearest[i]: distance from i to its nearest kept scenario so far.
    let mut nearest = vec![f64::INFINITY; n];
    let mut kept: Vec<usize> = Vec::with_capacity(k);
    for _ in 0..k {
        let mut best: Option<(usize, f64)> = None;
        for c in 0..n {
            if kept.contains(&c) {
                continue;
            }
            let cost: f64 = (0..n).filter(|i| *i != c).map(|i| p[i] * nearest[i].min(d[i * n + c])).sum();
            if best.is_none_or(|(_, b)| cost < b) {
                best = Some((c, cost));
            }
        }
        let Some((c, _)) = best else { break };
        kept.push(c);
        for i in 0..n {
            nearest[i] = nearest[i].min(d[i * n + c]);
        }
    }
    kept.sort_unstable();
    let mut probability: Vec<f64> = kept.iter().map(|&c| p[c]).collect();
    for i in (0..n).filter(|i| !kept.contains(i)) {
        // Nearest kept (ties to the earlier).
        let mut to = 0;
        for (slot, &c) in kept.iter().enumerate() {
            if d[i * n + c] < d[i * n + kept[to]] {
                to = slot;
            }
        }
        probability[to] += p[i];
    }
    kept.iter().zip(probability).map(|(&c, prob)| Scenario { probability: prob, ..scenarios[c].clone() }).collect()
}

/// The 10 %, 50 % and 90 % quantiles of every series over `scenarios`, interval by
/// interval (weighted by probability: the smallest value whose cumulative probability
/// reaches the level). A series no scenario gives is left to the point forecast.
pub fn quantiles(scenarios: &[Scenario]) -> crate::domain::Quantiles {
    use std::collections::BTreeMap;
    fn level(scenarios: &[Scenario], pick: impl Fn(&Scenario) -> &BTreeMap<String, Vec<f64>>, q: f64) -> BTreeMap<String, Vec<f64>> {
        let mut out = BTreeMap::new();
        let names: std::collections::BTreeSet<&String> = scenarios.iter().flat_map(|s| pick(s).keys()).collect();
        for name in names {
            let with: Vec<(&Vec<f64>, f64)> = scenarios.iter().filter_map(|s| pick(s).get(name).map(|v| (v, s.probability))).collect();
            let total: f64 = with.iter().map(|(_, p)| p).sum();
            let len = with.iter().map(|(v, _)| v.len()).min().unwrap_or(0);
            let series = (0..len)
                .map(|t| {
                    let mut values: Vec<(f64, f64)> = with.iter().map(|(v, p)| (v[t], *p)).collect();
                    values.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let mut run = 0.0;
                    for (v, p) in &values {
                        run += p / total;
                        if run >= q - 1e-12 {
                            return *v;
                        }
                    }
                    values.last().map_or(0.0, |v| v.0)
                })
                .collect();
            out.insert(name.clone(), series);
        }
        out
    }
    let at = |q: f64| crate::domain::QuantileSeries {
        availability: level(scenarios, |s| &s.availability, q),
        demand_mw: level(scenarios, |s| &s.demand_mw, q),
    };
    crate::domain::Quantiles { q10: at(0.1), q50: at(0.5), q90: at(0.9) }
}

/// A scenario's series in MW, in a fixed order (the point forecast's where it gives none).
fn vector(plant: &Plant, forecast: &Forecast, s: &Scenario) -> Vec<f64> {
    let mut v = Vec::new();
    for (_, asset) in plant.renewables() {
        let series = s.availability.get(&asset.name).or_else(|| forecast.availability.get(&asset.name));
        v.extend(series.into_iter().flatten().map(|a| a * asset.capacity_mw));
    }
    for park in &plant.parks {
        let series = s.demand_mw.get(&park.name).or_else(|| forecast.demand_mw.get(&park.name));
        v.extend(series.into_iter().flatten().copied());
    }
    v
}

/// ρ·common + √(1−ρ²)… mixed so that two series sharing `common` correlate at `cross`.
fn mixed(common: f64, own: f64, cross: f64) -> f64 {
    let c = cross.clamp(0.0, 1.0);
    c.sqrt() * common + (1.0 - c).sqrt() * own
}

/// A standard Gaussian AR(1) series of `len` steps of `dt` hours with time constant `tau`
/// hours (unit variance at every step).
fn ar1(seed: u64, scenario: u64, stream: u64, len: usize, dt: f64, tau: f64) -> Vec<f64> {
    let phi = (-dt / tau.max(1e-9)).exp();
    let innovation = (1.0 - phi * phi).sqrt();
    let mut x = normal(seed, scenario, stream, 0);
    let mut out = Vec::with_capacity(len);
    for t in 0..len {
        if t > 0 {
            x = phi * x + innovation * normal(seed, scenario, stream, t as u64);
        }
        out.push(x);
    }
    out
}

/// A standard normal draw (Box–Muller) from a hash of its coordinates.
fn normal(seed: u64, scenario: u64, stream: u64, index: u64) -> f64 {
    let key = mix(mix(mix(seed) ^ scenario.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ stream.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)) ^ index;
    let u1 = unit(mix(key));
    let u2 = unit(mix(key ^ 0xD6E8_FEB8_6659_FD93));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// In (0, 1).
fn unit(z: u64) -> f64 {
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, DayKind};

    fn xinyang() -> Plant {
        Plant::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/xinyang.toml")).unwrap()
    }

    #[test]
    fn scenarios_are_deterministic_valid_and_dark_at_night() {
        let plant = xinyang();
        let mut f = synth::generate(&plant, DayKind::SummerPeak, 60, 1);
        let a = generate(&plant, &f, &ErrorModel::default(), 50, 7).unwrap();
        assert_eq!(a, generate(&plant, &f, &ErrorModel::default(), 50, 7).unwrap());
        assert_ne!(a, generate(&plant, &f, &ErrorModel::default(), 50, 8).unwrap());
        assert!((a.iter().map(|s| s.probability).sum::<f64>() - 1.0).abs() < 1e-12);
        for p in &plant.pv {
            let point = &f.availability[&p.name];
            for s in &a {
                for (t, v) in s.availability[&p.name].iter().enumerate() {
                    if point[t] == 0.0 {
                        assert_eq!(*v, 0.0, "{} at {t} in {}", p.name, s.name);
                    }
                }
            }
        }
        f.scenarios = a;
        f.validate(&plant).unwrap();
    }

    /// Over many scenarios: wind errors widen with the lead time and are correlated in
    /// time; load errors are small.
    #[test]
    fn wind_errors_grow_with_lead_and_hold_in_time() {
        let plant = xinyang();
        // Two days: the second is further ahead.
        let f = synth::generate(&plant, DayKind::SpringValley, 60, 2);
        let s = generate(&plant, &f, &ErrorModel::default(), 400, 1).unwrap();
        let w = &plant.wind[0].name;
        let err = |t: usize| -> Vec<f64> { s.iter().map(|x| x.availability[w][t] - f.availability[w][t]).collect() };
        let sd = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        let (early, late) = (sd(&err(2)), sd(&err(40)));
        assert!(late > 1.3 * early, "σ at 2 h {early:.3}, at 40 h {late:.3}");
        let (a, b) = (err(20), err(21));
        let corr = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>() / (sd(&a) * sd(&b) * a.len() as f64);
        assert!(corr > 0.7, "lag-1 correlation {corr:.2}");
        let park = &plant.parks[0].name;
        let load: Vec<f64> = s.iter().map(|x| x.demand_mw[park][10] / f.demand_mw[park][10] - 1.0).collect();
        assert!(sd(&load) < 0.03, "{}", sd(&load));
    }

    #[test]
    fn quantiles_of_the_scenarios_are_ordered_and_valid() {
        let plant = xinyang();
        let mut f = synth::generate(&plant, DayKind::SpringValley, 60, 1);
        let s = generate(&plant, &f, &ErrorModel::default(), 200, 4).unwrap();
        let q = quantiles(&s);
        let w = &plant.wind[0].name;
        for t in 0..24 {
            let (lo, mid, hi) = (q.q10.availability[w][t], q.q50.availability[w][t], q.q90.availability[w][t]);
            assert!(lo <= mid && mid <= hi, "{t}: {lo} {mid} {hi}");
            // About a tenth of the draws lie below q10.
            let below = s.iter().filter(|x| x.availability[w][t] < lo).count();
            assert!(below <= 20, "{t}: {below} of 200 below q10");
        }
        assert!(q.q90.availability[w][12] > q.q10.availability[w][12], "a spread");
        f.quantiles = Some(q);
        f.validate(&plant).unwrap();
    }

    #[test]
    fn reduction_keeps_k_and_all_the_probability() {
        let plant = xinyang();
        let f = synth::generate(&plant, DayKind::WindyWinter, 60, 1);
        let s = generate(&plant, &f, &ErrorModel::default(), 60, 3).unwrap();
        let r = reduce(&plant, &f, &s, 5);
        assert_eq!(r.len(), 5);
        assert!((r.iter().map(|x| x.probability).sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(r.iter().all(|x| s.iter().any(|y| y.name == x.name && y.availability == x.availability)));
        assert_eq!(reduce(&plant, &f, &s, 60), s);
        assert_eq!(reduce(&plant, &f, &s, 5), r, "deterministic");
        // Two identical scenarios and a distant one: K = 2 keeps one of the pair and the
        // other, the pair's probability together.
        let mut far = s[0].clone();
        far.name = "far".into();
        for v in far.demand_mw.values_mut() {
            for x in v.iter_mut() {
                *x += 500.0;
            }
        }
        let trio = vec![
            Scenario { probability: 0.25, ..s[0].clone() },
            Scenario { name: "twin".into(), probability: 0.25, ..s[0].clone() },
            Scenario { probability: 0.5, ..far },
        ];
        let two = reduce(&plant, &f, &trio, 2);
        assert_eq!(two.iter().map(|x| (x.name.as_str(), x.probability)).collect::<Vec<_>>(), [(s[0].name.as_str(), 0.5), ("far", 0.5)]);
    }
}
