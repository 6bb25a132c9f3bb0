//! The linear program as plain data: columns with bounds, named rows, a sparse matrix.
//!
//! Every asset family adds its variables and rows here; the solver backends translate the
//! whole thing into good_lp at the end. Keeping our own representation lets the same model
//! be solved in several stages, made elastic for diagnosis, and written out as MPS.

use std::fmt::Write as _;

/// A column of the LP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Var(pub(crate) u32);

impl Var {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}

/// A row of the LP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RowId(pub(crate) u32);

impl RowId {
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}

/// The constraint families of MODEL.md, by the names used in reports and MPS files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// Node balance (MWh): injections = demand − interrupted.
    Balance,
    /// DC power flow: f = base·(θ_from − θ_to)/x.
    DcFlow,
    /// Green energy dynamics of a storage.
    DynamicsGreen,
    /// Grey energy dynamics of a storage.
    DynamicsGrey,
    /// E_green + E_grey ≥ E_min.
    EnergyMin,
    /// E_green + E_grey ≤ E_max.
    EnergyMax,
    /// E_T ≥ target.
    EndEnergy,
    /// E_green,T ≥ initial green fraction × target.
    EndGreen,
    /// Green charge ≤ charge.
    ChargeSplit,
    /// Green discharge ≤ discharge.
    DischargeSplit,
    /// Green export ≤ export.
    ExportSplit,
    /// Green part of a buy bid ≤ its award.
    BuySplit,
    /// Interrupted + curtailed by bids ≤ demand.
    CurtailLimit,
    /// Daily interruptible energy cap.
    DailyInterrupt,
    /// Hourly matching: green to load + green charged + green exported ≤ green available
    /// (tight in every returned schedule: the tie-break stage rewards every green use).
    GreenMatch,
    /// Green to load ≤ served.
    GreenServed,
    /// Parks' minimum green shares in one interval.
    ParkMinShare,
    /// A park's own green ≤ the green produced behind its meter.
    OwnGreen,
    /// A park's own green ≤ its served energy.
    OwnServed,
    /// The parks' own green together ≤ green to load.
    OwnWithinGreen,
    /// What a park with something behind its meter needs from the pool for its minimum.
    ParkNeed,
    /// Plant minimum green share over the horizon.
    PlantMinShare,
    /// Stage 2: share ≥ stage-1 optimum − tolerance.
    ShareFloor,
    /// Stage 2 (green-energy): green MWh ≥ stage-1 optimum − tolerance.
    GreenFloor,
    /// Tie-break: an inequality held tight because its dual was nonzero at an optimum, so
    /// later stages stay on that optimum's face.
    OptimalFace,
    /// MILP: charge only when the charging binary is on.
    MilpCharge,
    /// MILP: discharge only when the discharging binary is on.
    MilpDischarge,
    /// MILP: not both binaries at once.
    MilpExclusive,
    /// MILP: generation ≥ minimum when running.
    MinGeneration,
    /// MILP: import only when the exchange's direction binary says import.
    MilpImport,
    /// MILP: export only when it says export.
    MilpExport,
    /// Stochastic day-ahead: a scenario's net import = the day-ahead position + bought
    /// short − sold long.
    Position,
    /// Stochastic day-ahead: a scenario's interruption = the notice given the day before.
    Notice,
    /// Stochastic day-ahead: a scenario's bid award = the award cleared the day before.
    Award,
    /// Stochastic day-ahead: a scenario's cost above the CVaR threshold (Rockafellar–Uryasev).
    CvarCost,
    /// Stochastic day-ahead: a scenario's shortfall from the P10 minimum share above the
    /// tail threshold, and the tail's mean shortfall ≤ 0.
    P10Share,
}

impl Family {
    /// Name used in row names, reports and MPS files.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Family::Balance => "balance",
            Family::DcFlow => "dc_flow",
            Family::DynamicsGreen => "storage_green",
            Family::DynamicsGrey => "storage_grey",
            Family::EnergyMin => "energy_min",
            Family::EnergyMax => "energy_max",
            Family::EndEnergy => "end_energy",
            Family::EndGreen => "end_green",
            Family::ChargeSplit => "charge_split",
            Family::DischargeSplit => "discharge_split",
            Family::ExportSplit => "export_split",
            Family::BuySplit => "buy_split",
            Family::CurtailLimit => "curtail_limit",
            Family::DailyInterrupt => "daily_interrupt",
            Family::GreenMatch => "green_match",
            Family::GreenServed => "green_served",
            Family::ParkMinShare => "park_min_share",
            Family::OwnGreen => "own_green",
            Family::OwnServed => "own_served",
            Family::OwnWithinGreen => "own_within_green",
            Family::ParkNeed => "park_need",
            Family::PlantMinShare => "plant_min_share",
            Family::ShareFloor => "share_floor",
            Family::GreenFloor => "green_floor",
            Family::OptimalFace => "optimal_face",
            Family::MilpCharge => "milp_charge",
            Family::MilpDischarge => "milp_discharge",
            Family::MilpExclusive => "milp_exclusive",
            Family::MinGeneration => "min_generation",
            Family::MilpImport => "milp_import",
            Family::MilpExport => "milp_export",
            Family::Position => "position",
            Family::Notice => "notice",
            Family::Award => "award",
            Family::CvarCost => "cvar_cost",
            Family::P10Share => "p10_share",
        }
    }

    /// Requirement rows (as opposed to physics and definitions) may be violated, at a
    /// price, in the elastic re-solve that explains an infeasible request.
    pub(crate) fn elastic(self) -> bool {
        matches!(
            self,
            Family::Balance
                | Family::EnergyMin
                | Family::EnergyMax
                | Family::EndEnergy
                | Family::EndGreen
                | Family::ParkMinShare
                | Family::PlantMinShare
        )
    }
}

/// Sense of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sense {
    Le,
    Ge,
    Eq,
}

/// Where a row comes from: family, subject (asset or node name) and interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    pub(crate) family: Family,
    pub(crate) subject: u32,
    pub(crate) t: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: Name,
    pub(crate) sense: Sense,
    pub(crate) rhs: f64,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) integer: bool,
}

/// A linear expression Σ a·x + constant.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinExpr {
    pub(crate) terms: Vec<(Var, f64)>,
    pub(crate) constant: f64,
}

impl LinExpr {
    pub(crate) fn add(&mut self, v: Var, a: f64) {
        if a != 0.0 {
            self.terms.push((v, a));
        }
    }

    /// Value at the point `x`.
    pub(crate) fn eval(&self, x: &[f64]) -> f64 {
        self.constant + self.terms.iter().map(|&(v, a)| a * x[v.idx()]).sum::<f64>()
    }

    /// `self + k·other`.
    pub(crate) fn plus(&self, k: f64, other: &LinExpr) -> LinExpr {
        let mut out = self.clone();
        out.terms.extend(other.terms.iter().map(|&(v, a)| (v, k * a)));
        out.constant += k * other.constant;
        out
    }
}

/// The LP.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lp {
    pub(crate) cols: Vec<Col>,
    pub(crate) rows: Vec<Row>,
    pub(crate) coefs: Vec<(Var, f64)>,
    pub(crate) subjects: Vec<String>,
    subject_index: std::collections::HashMap<String, u32>,
}

impl Lp {
    /// A continuous column in `[lo, hi]`.
    pub(crate) fn var(&mut self, lo: f64, hi: f64) -> Var {
        self.cols.push(Col { lo, hi, integer: false });
        Var((self.cols.len() - 1) as u32)
    }

    /// A binary column.
    pub(crate) fn binary(&mut self) -> Var {
        self.cols.push(Col { lo: 0.0, hi: 1.0, integer: true });
        Var((self.cols.len() - 1) as u32)
    }

    /// Interns the name of an asset or node, for row names.
    pub(crate) fn subject(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.subject_index.get(name) {
            return k;
        }
        let k = self.subjects.len() as u32;
        self.subjects.push(name.to_string());
        self.subject_index.insert(name.to_string(), k);
        k
    }

    /// Adds `Σ terms  sense  rhs`.
    pub(crate) fn row(
        &mut self,
        family: Family,
        subject: u32,
        t: Option<usize>,
        terms: impl IntoIterator<Item = (Var, f64)>,
        sense: Sense,
        rhs: f64,
    ) -> RowId {
        let start = self.coefs.len();
        self.coefs.extend(terms.into_iter().filter(|&(_, a)| a != 0.0));
        let end = self.coefs.len();
        let name = Name { family, subject, t: t.map(|t| t as u32) };
        self.rows.push(Row { name, sense, rhs, start, end });
        RowId((self.rows.len() - 1) as u32)
    }

    /// Adds `expr sense 0`, moving the expression's constant to the right-hand side.
    pub(crate) fn row_expr(&mut self, family: Family, subject: u32, expr: &LinExpr, sense: Sense) -> RowId {
        self.row(family, subject, None, expr.terms.iter().copied(), sense, -expr.constant)
    }

    /// Removes the last row (stage rows are pushed and popped).
    pub(crate) fn pop_row(&mut self) {
        if let Some(r) = self.rows.pop() {
            self.coefs.truncate(r.start);
        }
    }

    pub(crate) fn terms(&self, r: &Row) -> &[(Var, f64)] {
        &self.coefs[r.start..r.end]
    }

    pub(crate) fn has_integers(&self) -> bool {
        self.cols.iter().any(|c| c.integer)
    }

    /// `family[subject,t=07]`, the name a report or MPS file shows.
    pub(crate) fn row_name(&self, r: RowId) -> String {
        let n = self.rows[r.idx()].name;
        let mut s = format!("{}[{}", n.family.label(), self.subjects[n.subject as usize]);
        if let Some(t) = n.t {
            let _ = write!(s, ",t={t:02}");
        }
        s.push(']');
        s
    }

    fn mps_row(&self, k: usize) -> String {
        self.row_name(RowId(k as u32)).replace(char::is_whitespace, "_")
    }

    /// Writes the LP in free MPS format with `objective` (maximised or minimised), so
    /// HiGHS or any other solver can be timed on exactly the same problem. The objective's
    /// constant is left out.
    pub(crate) fn to_mps(&self, objective: &LinExpr, maximise: bool) -> String {
        let mut out = String::with_capacity(64 * (self.coefs.len() + self.rows.len() + self.cols.len()));
        out.push_str("NAME vpp\n");
        if maximise {
            out.push_str("OBJSENSE\n    MAX\n");
        }
        out.push_str("ROWS\n N obj\n");
        for (k, r) in self.rows.iter().enumerate() {
            let s = match r.sense {
                Sense::Le => 'L',
                Sense::Ge => 'G',
                Sense::Eq => 'E',
            };
            let _ = writeln!(out, " {s} {}", self.mps_row(k));
        }
        let mut by_col: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.cols.len()];
        for (k, r) in self.rows.iter().enumerate() {
            for &(v, a) in self.terms(r) {
                by_col[v.idx()].push((k, a));
            }
        }
        let mut obj = vec![0.0; self.cols.len()];
        for &(v, a) in &objective.terms {
            obj[v.idx()] += a;
        }
        out.push_str("COLUMNS\n");
        let mut in_int = false;
        for (j, entries) in by_col.iter().enumerate() {
            let int = self.cols[j].integer;
            if int != in_int {
                let tag = if int { "'INTORG'" } else { "'INTEND'" };
                let _ = writeln!(out, " M{j} 'MARKER' {tag}");
                in_int = int;
            }
            if obj[j] != 0.0 {
                let _ = writeln!(out, " x{j} obj {:e}", obj[j]);
            }
            for &(k, a) in entries {
                let _ = writeln!(out, " x{j} {} {a:e}", self.mps_row(k));
            }
            if entries.is_empty() && obj[j] == 0.0 {
                let _ = writeln!(out, " x{j} obj 0");
            }
        }
        if in_int {
            out.push_str(" Mend 'MARKER' 'INTEND'\n");
        }
        out.push_str("RHS\n");
        for (k, r) in self.rows.iter().enumerate() {
            if r.rhs != 0.0 {
                let _ = writeln!(out, " rhs {} {:e}", self.mps_row(k), r.rhs);
            }
        }
        out.push_str("BOUNDS\n");
        for (j, c) in self.cols.iter().enumerate() {
            match (c.lo.is_finite(), c.hi.is_finite()) {
                (true, true) if c.lo == c.hi => {
                    let _ = writeln!(out, " FX bnd x{j} {:e}", c.lo);
                }
                (true, true) => {
                    if c.lo != 0.0 {
                        let _ = writeln!(out, " LO bnd x{j} {:e}", c.lo);
                    }
                    let _ = writeln!(out, " UP bnd x{j} {:e}", c.hi);
                }
                (true, false) => {
                    if c.lo != 0.0 {
                        let _ = writeln!(out, " LO bnd x{j} {:e}", c.lo);
                    }
                }
                (false, true) => {
                    let _ = writeln!(out, " MI bnd x{j}\n UP bnd x{j} {:e}", c.hi);
                }
                (false, false) => {
                    let _ = writeln!(out, " FR bnd x{j}");
                }
            }
        }
        out.push_str("ENDATA\n");
        out
    }
}
