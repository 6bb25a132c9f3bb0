//! Collected validation problems, each naming the field path it is about.

use std::fmt;

/// One problem found in an input, with the path of the field it concerns
/// (for example `pumped_hydro[wuyue].e_min_mwh`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// Field path, in the input's own naming.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ValidationErrors {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, p) in self.problems.iter().enumerate() {
            if k > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

/// Accumulates problems while a validator walks an input.
#[derive(Debug, Default)]
pub struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    /// Records a problem at `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { field: field.into(), message: message.into() });
    }

    /// Checks that `value` is a finite number.
    pub fn finite(&mut self, field: &str, value: f64) -> bool {
        if value.is_finite() {
            true
        } else {
            self.push(field, format!("must be a finite number, got {}", super::limits::num(value)));
            false
        }
    }

    /// Checks that `value` is finite and at least zero.
    pub fn non_negative(&mut self, field: &str, value: f64) {
        if self.finite(field, value) && value < 0.0 {
            self.push(field, format!("must not be negative, got {}", super::limits::num(value)));
        }
    }

    /// Checks that `value` is finite and lies in `[lo, hi]`.
    pub fn within(&mut self, field: &str, value: f64, lo: f64, hi: f64) {
        if self.finite(field, value) && !(lo..=hi).contains(&value) {
            self.push(field, format!("must lie in [{lo}, {hi}], got {}", super::limits::num(value)));
        }
    }

    /// Checks that `value` is finite and at most `hi` in magnitude (`unit` names it).
    pub fn magnitude(&mut self, field: &str, value: f64, hi: f64, unit: &str) -> bool {
        if !self.finite(field, value) {
            return false;
        }
        if value.abs() > hi {
            self.push(field, format!("must lie within ±{hi} {unit}, got {}", super::limits::num(value)));
            return false;
        }
        true
    }

    /// Checks that `value` is a power in [0, MAX_POWER_MW].
    pub fn power(&mut self, field: &str, value: f64) {
        self.range(field, value, 0.0, super::limits::MAX_POWER_MW, "MW");
    }

    /// Checks that `value` is an energy in [0, MAX_ENERGY_MWH].
    pub fn energy(&mut self, field: &str, value: f64) {
        self.range(field, value, 0.0, super::limits::MAX_ENERGY_MWH, "MWh");
    }

    /// Checks that `value` is a price within ±MAX_PRICE_YUAN_PER_MWH.
    pub fn price(&mut self, field: &str, value: f64) {
        self.magnitude(field, value, super::limits::MAX_PRICE_YUAN_PER_MWH, "yuan/MWh");
    }

    /// Checks that `value` is a non-negative price up to MAX_PRICE_YUAN_PER_MWH.
    pub fn cost(&mut self, field: &str, value: f64) {
        self.range(field, value, 0.0, super::limits::MAX_PRICE_YUAN_PER_MWH, "yuan/MWh");
    }

    /// Checks that `value` is finite and lies in `[lo, hi]`, naming the unit.
    pub fn range(&mut self, field: &str, value: f64, lo: f64, hi: f64, unit: &str) {
        if !self.finite(field, value) {
            return;
        }
        if value < lo && lo == 0.0 {
            self.push(field, format!("must not be negative, got {}", super::limits::num(value)));
        } else if !(lo..=hi).contains(&value) {
            self.push(field, format!("must lie in [{lo}, {hi}] {unit}, got {}", super::limits::num(value)));
        }
    }

    /// Checks that an efficiency lies in (0, 1].
    pub fn efficiency(&mut self, field: &str, value: f64) {
        if self.finite(field, value) && !(value > 0.0 && value <= 1.0) {
            self.push(field, format!("an efficiency must lie in (0, 1], got {}", super::limits::num(value)));
        }
    }

    /// Number of problems collected so far.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Turns the collected problems into a result.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors { problems: self.problems })
        }
    }
}
