//! What a meter measures, and which meter of a plant measures it: the one list the CSV
//! files, the meter service and MQTT share.

use crate::domain::plant::Plant;

use super::{Readings, WH_PER_MWH};

/// A quantity a meter reads, in Wh per interval (`Soc`: at the interval's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantity {
    /// A wind farm's or PV plant's output.
    Output,
    /// A storage's charge at its terminals.
    Charge,
    /// A storage's discharge at its terminals.
    Discharge,
    /// A storage's stored energy at the end of the interval.
    Soc,
    /// A park's consumption.
    Consumption,
    /// A grid exchange's import.
    Import,
    /// A grid exchange's export.
    Export,
}

const ALL: [Quantity; 7] =
    [Quantity::Output, Quantity::Charge, Quantity::Discharge, Quantity::Soc, Quantity::Consumption, Quantity::Import, Quantity::Export];

impl Quantity {
    /// Its name in files, on the wire and in topics.
    pub fn name(self) -> &'static str {
        match self {
            Quantity::Output => "output",
            Quantity::Charge => "charge",
            Quantity::Discharge => "discharge",
            Quantity::Soc => "soc",
            Quantity::Consumption => "consumption",
            Quantity::Import => "import",
            Quantity::Export => "export",
        }
    }

    /// The quantity named `name`.
    pub fn parse(name: &str) -> Option<Quantity> {
        ALL.into_iter().find(|q| q.name() == name)
    }

    /// Every name, for messages.
    pub fn names() -> String {
        ALL.map(Quantity::name).join(", ")
    }

    /// The kind of meter that reads it, as messages name it.
    pub fn meter(self) -> &'static str {
        match self {
            Quantity::Output => "wind farm or PV plant",
            Quantity::Charge | Quantity::Discharge | Quantity::Soc => "storage",
            Quantity::Consumption => "park",
            Quantity::Import | Quantity::Export => "grid exchange",
        }
    }

    /// Whether `meter` is a meter of `plant` reading this quantity.
    pub fn metered_by(self, plant: &Plant, meter: &str) -> bool {
        self.range_wh(plant, meter, 1.0).is_some()
    }

    /// The most `meter` can read in an interval of `dt_hours` (its physical range, Wh), or
    /// `None` when `plant` has no such meter.
    pub fn range_wh(self, plant: &Plant, meter: &str, dt_hours: f64) -> Option<i64> {
        let wh = |mwh: f64| (mwh * WH_PER_MWH as f64).ceil() as i64;
        match self {
            Quantity::Output => plant.renewables().find(|(_, r)| r.name == meter).map(|(_, r)| wh(r.capacity_mw * dt_hours)),
            Quantity::Charge => plant.storage.iter().find(|s| s.name == meter).map(|s| wh(s.charge_mw * dt_hours)),
            Quantity::Discharge => plant.storage.iter().find(|s| s.name == meter).map(|s| wh(s.discharge_mw * dt_hours)),
            Quantity::Soc => plant.storage.iter().find(|s| s.name == meter).map(|s| wh(s.e_max_mwh)),
            Quantity::Consumption => {
                plant.parks.iter().find(|p| p.name == meter).map(|_| wh(crate::domain::limits::MAX_POWER_MW * dt_hours))
            }
            Quantity::Import => plant.grids.iter().find(|g| g.name == meter).map(|g| wh(g.import_cap_mw * dt_hours)),
            Quantity::Export => plant.grids.iter().find(|g| g.name == meter).map(|g| wh(g.export_cap_mw * dt_hours)),
        }
    }
}

impl Readings {
    /// Where the reading of `meter`'s `q` in interval `t` is kept (`None` when the readings
    /// hold no such series or interval).
    pub fn slot(&mut self, q: Quantity, meter: &str, t: usize) -> Option<&mut Option<i64>> {
        match q {
            Quantity::Output => self.output_wh.get_mut(meter).and_then(|s| s.get_mut(t)),
            Quantity::Consumption => self.consumption_wh.get_mut(meter).and_then(|s| s.get_mut(t)),
            Quantity::Charge => self.storage.get_mut(meter).and_then(|s| s.get_mut(t)).map(|s| &mut s.charge_wh),
            Quantity::Discharge => self.storage.get_mut(meter).and_then(|s| s.get_mut(t)).map(|s| &mut s.discharge_wh),
            Quantity::Soc => self.storage.get_mut(meter).and_then(|s| s.get_mut(t)).map(|s| &mut s.soc_wh),
            Quantity::Import => self.grid.get_mut(meter).and_then(|s| s.get_mut(t)).map(|g| &mut g.import_wh),
            Quantity::Export => self.grid.get_mut(meter).and_then(|s| s.get_mut(t)).map(|g| &mut g.export_wh),
        }
    }
}

/// One reading of a [`Readings`]: which meter, what, which interval, how much (Wh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The meter.
    pub meter: &'a str,
    /// What it read.
    pub quantity: Quantity,
    /// The interval's index.
    pub t: usize,
    /// The value, Wh.
    pub wh: i64,
}

impl Readings {
    /// Every reading present (missing ones left out), interval by interval.
    pub fn entries(&self) -> Vec<Entry<'_>> {
        let mut list = Vec::new();
        for t in 0..self.intervals {
            for (m, s) in &self.output_wh {
                list.extend(s.get(t).copied().flatten().map(|wh| Entry { meter: m, quantity: Quantity::Output, t, wh }));
            }
            for (m, s) in &self.storage {
                let r = s.get(t).copied().unwrap_or_default();
                for (q, v) in [(Quantity::Charge, r.charge_wh), (Quantity::Discharge, r.discharge_wh), (Quantity::Soc, r.soc_wh)] {
                    list.extend(v.map(|wh| Entry { meter: m, quantity: q, t, wh }));
                }
            }
            for (m, s) in &self.consumption_wh {
                list.extend(s.get(t).copied().flatten().map(|wh| Entry { meter: m, quantity: Quantity::Consumption, t, wh }));
            }
            for (m, s) in &self.grid {
                let g = s.get(t).copied().unwrap_or_default();
                for (q, v) in [(Quantity::Import, g.import_wh), (Quantity::Export, g.export_wh)] {
                    list.extend(v.map(|wh| Entry { meter: m, quantity: q, t, wh }));
                }
            }
        }
        list
    }
}
