//! The plant description: nodes, lines and assets, as read from a `models/*.toml` file.
//!
//! Units throughout: MW, MWh, yuan, tCO2. Names are identifiers: forecasts, bids and
//! schedules refer to assets by name.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::limits;
use super::tariff::Tariff;
use super::validation::{Collector, ValidationErrors};

/// A virtual power plant: its network and every asset on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// Short identifier of the plant.
    pub name: String,
    /// IANA time zone in which delivery days, tariffs and daily caps are read.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Power base (MVA) for line reactances given in per unit.
    #[serde(default = "default_base_mva")]
    pub base_mva: f64,
    /// Buses of the network.
    #[serde(default, rename = "node")]
    pub nodes: Vec<Node>,
    /// Lines between nodes.
    #[serde(default, rename = "line")]
    pub lines: Vec<Line>,
    /// Wind farms.
    #[serde(default)]
    pub wind: Vec<Renewable>,
    /// PV plants.
    #[serde(default)]
    pub pv: Vec<Renewable>,
    /// Storage plants of every kind (pumped hydro, compressed air, batteries), in one list.
    #[serde(default)]
    pub storage: Vec<Storage>,
    /// Industrial-park loads.
    #[serde(default, rename = "park")]
    pub parks: Vec<Park>,
    /// Exchanges with the wider grid.
    #[serde(default, rename = "grid")]
    pub grids: Vec<GridExchange>,
    /// Dispatchable thermal units (grey).
    #[serde(default)]
    pub thermal: Vec<Thermal>,
}

fn default_timezone() -> String {
    "Asia/Shanghai".to_string()
}

fn default_base_mva() -> f64 {
    100.0
}

/// What a node is; informative, the model treats all nodes alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An industrial park's connection point.
    Park,
    /// A generation or storage site.
    PlantSite,
    /// A point of connection to the wider grid.
    GridPoint,
}

/// A bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Identifier.
    pub name: String,
    /// What the node is.
    pub kind: NodeKind,
}

/// A line between two nodes. With a reactance it obeys DC power flow; without one it is a
/// controllable path (transport model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Identifier.
    pub name: String,
    /// Sending node (positive flow goes from `from` to `to`).
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Thermal limit, MW, in both directions.
    pub capacity_mw: f64,
    /// Series reactance in per unit on `base_mva`; flow = base_mva·(θ_from − θ_to)/x.
    #[serde(default)]
    pub reactance_pu: Option<f64>,
}

/// A wind farm or PV plant; its availability comes from the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewable {
    /// Identifier; the forecast's `availability` is keyed by it.
    pub name: String,
    /// Connection node.
    pub node: String,
    /// Installed capacity, MW.
    pub capacity_mw: f64,
    /// The park behind whose meter it sits (rooftop PV aggregated per park: many small
    /// systems as one profile). Its green output counts for that park first; what the park
    /// does not use goes to the plant's pool. Absent: a plant of the pool.
    #[serde(default)]
    pub park: Option<String>,
}

/// What a renewable plant is; the table it is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RenewableKind {
    /// A wind farm (`[[wind]]`).
    Wind,
    /// A PV plant or aggregated rooftop PV (`[[pv]]`).
    Pv,
}

impl RenewableKind {
    /// Name as written in plant files and schedules.
    pub fn name(self) -> &'static str {
        match self {
            RenewableKind::Wind => "wind",
            RenewableKind::Pv => "pv",
        }
    }
}

/// The technology of a storage plant. What differs between kinds is data on [`Storage`]
/// (inflow for pumped hydro, a minimum generation for CAES, a cycle-ageing cost for
/// batteries), not a separate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// Pumped hydro: the only kind with a natural inflow (the forecast's `inflow_mwh`),
    /// which arrives green and may spill.
    PumpedHydro,
    /// Compressed-air energy storage.
    Caes,
    /// A battery (electrochemical storage), at a node or behind a park's meter.
    Battery,
}

impl StorageKind {
    /// Name as written in plant files and schedules.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::PumpedHydro => "pumped_hydro",
            StorageKind::Caes => "caes",
            StorageKind::Battery => "battery",
        }
    }

    /// Whether the forecast may give this kind a natural inflow.
    pub fn has_inflow(self) -> bool {
        self == StorageKind::PumpedHydro
    }
}

/// A storage plant of any kind. Energies are stored energy: E rises by `eta_charge` ×
/// charge and falls by discharge / `eta_discharge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Identifier; the forecast's `inflow_mwh` (pumped hydro) and re-plans' start levels
    /// are keyed by it.
    pub name: String,
    /// Technology.
    pub kind: StorageKind,
    /// Connection node.
    pub node: String,
    /// The park behind whose meter it sits (user-side storage): its green discharge counts
    /// for that park first. Absent: a storage of the pool.
    #[serde(default)]
    pub park: Option<String>,
    /// Maximum charging power (pumping, compression), MW.
    pub charge_mw: f64,
    /// Maximum discharging power (turbine, generation), MW.
    pub discharge_mw: f64,
    /// Lowest usable stored energy, MWh.
    pub e_min_mwh: f64,
    /// Highest stored energy, MWh.
    pub e_max_mwh: f64,
    /// Energy at the start of the horizon, MWh (a request may override it).
    pub e0_mwh: f64,
    /// Charging efficiency (electric energy to stored energy), (0, 1].
    pub eta_charge: f64,
    /// Discharging efficiency (stored energy to electric energy), (0, 1].
    pub eta_discharge: f64,
    /// Standing loss, fraction of stored energy lost per hour, [0, 1).
    #[serde(default)]
    pub standing_loss_per_h: f64,
    /// Minimum generation when running, MW (enforced in MILP mode).
    #[serde(default)]
    pub min_generation_mw: Option<f64>,
    /// Share of the initial energy that is green, [0, 1].
    #[serde(default)]
    pub initial_green_fraction: f64,
    /// Variable cost per MWh discharged, yuan/MWh.
    #[serde(default)]
    pub variable_cost: f64,
    /// Cycle-ageing cost per MWh of throughput (every MWh charged and every MWh
    /// discharged, at the terminals), yuan/MWh: what a cycle costs a battery in lost life.
    #[serde(default)]
    pub cycle_cost_yuan_per_mwh: f64,
}

/// An industrial park's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Park {
    /// Identifier; the forecast's `demand_mw` is keyed by it.
    pub name: String,
    /// Connection node.
    pub node: String,
    /// Interruptible limit, MW (the forecast's `interruptible_mw` may give it per interval).
    #[serde(default)]
    pub interruptible_mw: f64,
    /// Interruptible energy per local day, MWh; absent means no daily cap.
    #[serde(default)]
    pub daily_interruptible_mwh: Option<f64>,
    /// Compensation paid per MWh interrupted, yuan/MWh.
    #[serde(default)]
    pub compensation_yuan_per_mwh: f64,
    /// Minimum green share in every interval, [0, 1].
    #[serde(default)]
    pub min_green_share: Option<f64>,
}

/// The connection to the wider grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridExchange {
    /// Identifier.
    pub name: String,
    /// Connection node.
    pub node: String,
    /// Import limit, MW.
    pub import_cap_mw: f64,
    /// Export limit, MW.
    pub export_cap_mw: f64,
    /// Price received for exports, yuan/MWh.
    pub export_price: f64,
    /// Carbon intensity of imports, tCO2/MWh.
    pub carbon_intensity: f64,
    /// Green fraction φ of imports, [0, 1].
    #[serde(default)]
    pub green_fraction: f64,
    /// Time-of-use import tariff.
    pub tariff: Tariff,
}

/// A dispatchable thermal unit (grey). Without unit commitment its output stays within
/// `[p_min_mw, p_max_mw]` in every interval (a must-run unit when `p_min_mw > 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thermal {
    /// Identifier.
    pub name: String,
    /// Connection node.
    pub node: String,
    /// Minimum output, MW.
    pub p_min_mw: f64,
    /// Maximum output, MW.
    pub p_max_mw: f64,
    /// Marginal cost, yuan/MWh.
    pub marginal_cost: f64,
    /// Carbon intensity, tCO2/MWh.
    pub carbon_intensity: f64,
}

/// Why a plant file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    /// The file could not be read.
    #[error("cannot read plant file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        reason: std::io::Error,
    },
    /// The file is not valid TOML for a plant.
    #[error("plant file {path} is not a valid plant description: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with the offending key and line.
        message: String,
    },
    /// The plant parsed but is inconsistent.
    #[error("plant file {path} has {} problem(s):\n{errors}", errors.problems.len())]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found.
        errors: ValidationErrors,
    },
}

/// Tables of plant files written before storage became one list, with the renamed fields.
const LEGACY_TABLES: [(&str, &str); 2] = [
    ("pumped_hydro", "pump_mw -> charge_mw, turbine_mw -> discharge_mw, eta_pump -> eta_charge, eta_turbine -> eta_discharge"),
    ("caes", "compression_mw -> charge_mw, generation_mw -> discharge_mw"),
];

impl Plant {
    /// Reads, parses and validates a plant file.
    pub fn load(path: impl AsRef<Path>) -> Result<Plant, PlantError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PlantError::Io { path: shown.clone(), reason: source })?;
        let plant = Plant::from_toml(&text).map_err(|message| PlantError::Parse { path: shown.clone(), message })?;
        plant.validate().map_err(|errors| PlantError::Invalid { path: shown, errors })?;
        Ok(plant)
    }

    /// Parses TOML text without validating it.
    pub fn from_toml(text: &str) -> Result<Plant, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.to_string().trim_end().to_string();
            match LEGACY_TABLES.iter().find(|(table, _)| message.contains(&format!("unknown field `{table}`"))) {
                Some((table, hint)) => format!("{message}\n[[{table}]] was replaced by [[storage]] with kind = \"{table}\" ({hint})"),
                None => message,
            }
        })
    }

    /// The storage plant with this name.
    pub fn storage(&self, name: &str) -> Option<&Storage> {
        self.storage.iter().find(|s| s.name == name)
    }

    /// The renewables in schedule order (wind, then PV), each with its kind.
    pub fn renewables(&self) -> impl Iterator<Item = (RenewableKind, &Renewable)> {
        let wind = self.wind.iter().map(|r| (RenewableKind::Wind, r));
        wind.chain(self.pv.iter().map(|r| (RenewableKind::Pv, r)))
    }

    /// Index of a park by name.
    pub fn park_index(&self, name: &str) -> Option<usize> {
        self.parks.iter().position(|p| p.name == name)
    }

    /// True when some asset sits behind a park's meter.
    pub fn has_behind_the_meter(&self) -> bool {
        self.renewables().any(|(_, r)| r.park.is_some()) || self.storage.iter().any(|s| s.park.is_some())
    }

    /// The plant's time zone.
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::Asia__Shanghai)
    }

    /// The node with this name, by index.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Names of every asset that a forecast or bid may refer to, with its table.
    pub fn asset_names(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let wind = self.wind.iter().map(|a| ("wind", a.name.as_str()));
        let pv = self.pv.iter().map(|a| ("pv", a.name.as_str()));
        let storage = self.storage.iter().map(|a| ("storage", a.name.as_str()));
        let parks = self.parks.iter().map(|a| ("park", a.name.as_str()));
        let grids = self.grids.iter().map(|a| ("grid", a.name.as_str()));
        let thermal = self.thermal.iter().map(|a| ("thermal", a.name.as_str()));
        wind.chain(pv).chain(storage).chain(parks).chain(grids).chain(thermal)
    }

    /// Checks every field and cross-reference; reports all problems at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector::default();
        if self.name.trim().is_empty() {
            c.push("name", "must not be empty");
        }
        if self.timezone.parse::<Tz>().is_err() {
            c.push("timezone", format!("'{}' is not an IANA time zone", self.timezone));
        }
        let (lo, hi) = limits::BASE_MVA;
        c.range("base_mva", self.base_mva, lo, hi, "MVA");
        if self.nodes.is_empty() {
            c.push("node", "a plant needs at least one node");
        }
        let mut nodes = BTreeSet::new();
        for (k, n) in self.nodes.iter().enumerate() {
            check_name(&mut c, "node", k, &n.name);
            if !nodes.insert(n.name.as_str()) {
                c.push(format!("node[{}].name", n.name), "duplicate node name");
            }
        }
        let node_ok = |c: &mut Collector, path: String, node: &str| {
            if !nodes.contains(node) {
                c.push(path, format!("unknown node '{node}'"));
            }
        };
        let mut lines = BTreeSet::new();
        for (k, l) in self.lines.iter().enumerate() {
            check_name(&mut c, "line", k, &l.name);
            let p = format!("line[{}]", label(&l.name, k));
            if !lines.insert(l.name.as_str()) {
                c.push(format!("{p}.name"), "duplicate line name");
            }
            node_ok(&mut c, format!("{p}.from"), &l.from);
            node_ok(&mut c, format!("{p}.to"), &l.to);
            if l.from == l.to {
                c.push(format!("{p}.to"), "a line must join two different nodes");
            }
            c.power(&format!("{p}.capacity_mw"), l.capacity_mw);
            if let Some(x) = l.reactance_pu {
                let (lo, hi) = limits::REACTANCE_PU;
                c.range(&format!("{p}.reactance_pu"), x, lo, hi, "pu");
            }
        }
        let mut assets: HashMap<&str, &str> = HashMap::new();
        for (table, name) in self.asset_names() {
            if let Some(first) = assets.insert(name, table) {
                c.push(format!("{table}[{name}].name"), format!("name already used by {first}[{name}]; asset names must be unique"));
            }
        }
        let parks: HashMap<&str, &str> = self.parks.iter().map(|p| (p.name.as_str(), p.node.as_str())).collect();
        let behind_meter = |c: &mut Collector, p: &str, park: Option<&String>, node: &str| {
            if let Some(park) = park {
                match parks.get(park.as_str()) {
                    None => c.push(format!("{p}.park"), format!("unknown park {}", limits::quote(park))),
                    Some(&at) if at != node => c.push(
                        format!("{p}.node"),
                        format!("behind the meter of park {} it must be at that park's node '{at}', not '{node}'", limits::quote(park)),
                    ),
                    Some(_) => {}
                }
            }
        };
        for (table, list) in [("wind", &self.wind), ("pv", &self.pv)] {
            for (k, r) in list.iter().enumerate() {
                check_name(&mut c, table, k, &r.name);
                let p = format!("{table}[{}]", label(&r.name, k));
                node_ok(&mut c, format!("{p}.node"), &r.node);
                c.power(&format!("{p}.capacity_mw"), r.capacity_mw);
                behind_meter(&mut c, &p, r.park.as_ref(), &r.node);
            }
        }
        for (k, s) in self.storage.iter().enumerate() {
            check_name(&mut c, "storage", k, &s.name);
            let p = format!("storage[{}]", label(&s.name, k));
            node_ok(&mut c, format!("{p}.node"), &s.node);
            behind_meter(&mut c, &p, s.park.as_ref(), &s.node);
            c.power(&format!("{p}.charge_mw"), s.charge_mw);
            c.power(&format!("{p}.discharge_mw"), s.discharge_mw);
            c.efficiency(&format!("{p}.eta_charge"), s.eta_charge);
            c.efficiency(&format!("{p}.eta_discharge"), s.eta_discharge);
            if c.finite(&format!("{p}.standing_loss_per_h"), s.standing_loss_per_h) && !(0.0..1.0).contains(&s.standing_loss_per_h) {
                c.push(format!("{p}.standing_loss_per_h"), format!("must lie in [0, 1), got {}", s.standing_loss_per_h));
            }
            if let Some(m) = s.min_generation_mw {
                let f = format!("{p}.min_generation_mw");
                if c.finite(&f, m) && !(0.0..=s.discharge_mw).contains(&m) {
                    c.push(f, format!("must lie in [0, discharge_mw = {}], got {m}", s.discharge_mw));
                }
            }
            c.within(&format!("{p}.initial_green_fraction"), s.initial_green_fraction, 0.0, 1.0);
            c.cost(&format!("{p}.variable_cost"), s.variable_cost);
            c.cost(&format!("{p}.cycle_cost_yuan_per_mwh"), s.cycle_cost_yuan_per_mwh);
            check_energy(&mut c, &p, s.e_min_mwh, s.e_max_mwh, s.e0_mwh);
        }
        for (k, l) in self.parks.iter().enumerate() {
            check_name(&mut c, "park", k, &l.name);
            let p = format!("park[{}]", label(&l.name, k));
            node_ok(&mut c, format!("{p}.node"), &l.node);
            c.power(&format!("{p}.interruptible_mw"), l.interruptible_mw);
            if let Some(cap) = l.daily_interruptible_mwh {
                c.energy(&format!("{p}.daily_interruptible_mwh"), cap);
            }
            c.cost(&format!("{p}.compensation_yuan_per_mwh"), l.compensation_yuan_per_mwh);
            if let Some(a) = l.min_green_share {
                c.within(&format!("{p}.min_green_share"), a, 0.0, 1.0);
            }
        }
        for (k, g) in self.grids.iter().enumerate() {
            check_name(&mut c, "grid", k, &g.name);
            let p = format!("grid[{}]", label(&g.name, k));
            node_ok(&mut c, format!("{p}.node"), &g.node);
            c.power(&format!("{p}.import_cap_mw"), g.import_cap_mw);
            c.power(&format!("{p}.export_cap_mw"), g.export_cap_mw);
            c.price(&format!("{p}.export_price"), g.export_price);
            c.range(&format!("{p}.carbon_intensity"), g.carbon_intensity, 0.0, limits::MAX_CARBON_INTENSITY_T_PER_MWH, "t/MWh");
            c.within(&format!("{p}.green_fraction"), g.green_fraction, 0.0, 1.0);
            g.tariff.validate(&format!("{p}.tariff"), &mut c);
        }
        for (k, u) in self.thermal.iter().enumerate() {
            check_name(&mut c, "thermal", k, &u.name);
            let p = format!("thermal[{}]", label(&u.name, k));
            node_ok(&mut c, format!("{p}.node"), &u.node);
            c.power(&format!("{p}.p_min_mw"), u.p_min_mw);
            c.power(&format!("{p}.p_max_mw"), u.p_max_mw);
            if u.p_min_mw > u.p_max_mw {
                c.push(format!("{p}.p_min_mw"), format!("must not exceed p_max_mw ({} > {})", u.p_min_mw, u.p_max_mw));
            }
            c.price(&format!("{p}.marginal_cost"), u.marginal_cost);
            c.range(&format!("{p}.carbon_intensity"), u.carbon_intensity, 0.0, limits::MAX_CARBON_INTENSITY_T_PER_MWH, "t/MWh");
        }
        c.finish()
    }
}

/// The label used in field paths: the asset's name, or its position when it has none.
fn label(name: &str, k: usize) -> String {
    if name.trim().is_empty() {
        k.to_string()
    } else {
        limits::short(name)
    }
}

fn check_name(c: &mut Collector, table: &str, k: usize, name: &str) {
    if name.trim().is_empty() {
        c.push(format!("{table}[{k}].name"), "must not be empty");
    } else if name.chars().count() > 64 {
        c.push(format!("{table}[{k}].name"), format!("at most 64 characters, got {}", name.chars().count()));
    } else if !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-') {
        c.push(format!("{table}[{name}].name"), "use only ASCII letters, digits, '_' and '-'");
    }
}

fn check_energy(c: &mut Collector, p: &str, e_min: f64, e_max: f64, e0: f64) {
    c.energy(&format!("{p}.e_min_mwh"), e_min);
    c.energy(&format!("{p}.e_max_mwh"), e_max);
    c.energy(&format!("{p}.e0_mwh"), e0);
    if e_min > e_max {
        c.push(format!("{p}.e_min_mwh"), format!("must not exceed e_max_mwh ({e_min} > {e_max})"));
    } else if !(e_min..=e_max).contains(&e0) && e0.is_finite() {
        c.push(format!("{p}.e0_mwh"), format!("must lie in [e_min_mwh, e_max_mwh] = [{e_min}, {e_max}], got {e0}"));
    }
}
