//! Warm starts across requests (issue 16): the final simplex bases of recent solves, kept
//! by the shape of their LP, so that a new run's first LP, and its least-cost LP after a
//! share or green floor, start from the bases an earlier run of the same shape ended those
//! LPs with, instead of from scratch or from the previous LP's basis. With the bases, the
//! green share each shape's latest run found: a green-share run's Dinkelbach iterations
//! start there instead of at 0. The tie-break stages' LPs carry rows of their run's own
//! optimal faces; their bases are kept by that whole shape, so they help a run whose faces
//! hold the same rows (the same day planned again, as by a replica or a repeated request)
//! and no other.
//!
//! Day-ahead LPs of one plant differ from day to day only in bounds, right-hand sides and
//! costs: the matrix, and so the shape, is the same. A basis that was optimal yesterday is
//! a few dual simplex iterations from today's optimum, where a cold start runs presolve
//! and a full simplex (see benches/README.md, "Warm starts across requests").
//!
//! What a start from a basis changes is the path to the optimum, not the optimum: the
//! tie-break stages pick one vertex by a fixed rule (see `stages`), so the schedule is the
//! same, to the solver's tolerances, whichever basis an LP started from.
//!
//! The cache is off unless asked for ([`WarmStarts::keep`]): the service keeps one for
//! all its solves, the backtest one per policy (so that its figures do not depend on how
//! its threads interleave). Clones share the cache.
//!
//! A cache can be written out and read back ([`WarmStarts::changed_since`],
//! [`WarmStarts::restore`], as [`KeptStart`]s), so that a restarted service, or a replica
//! of it on the same store, starts warm. A shape's key is the same in every process (FxHash
//! has no random seed); a kept start read back is checked against its key before it is
//! kept, and HiGHS checks a basis again before it takes one.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use super::lp::Lp;
use super::Objective;

/// A simplex basis as HiGHS states it: one status per column and per row
/// (`kHighsBasisStatus`: lower, basic, upper, zero, nonbasic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Basis {
    pub(crate) cols: Vec<highs_sys::HighsInt>,
    pub(crate) rows: Vec<highs_sys::HighsInt>,
}

/// What identifies an LP's shape: its columns, and each row's family, sense and which
/// columns it touches (not the coefficients, bounds or right-hand sides that vary from
/// request to request), with the run's objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    cols: usize,
    rows: usize,
    objective: Objective,
    /// Which LP of a run: 0 for the LP itself, more for a tie-break stage
    /// ([`Shape::at_stage`]).
    stage: u8,
    fingerprint: u64,
}

impl Shape {
    /// The shape of `lp` as a run for `objective` solves it.
    pub(crate) fn of(lp: &Lp, objective: Objective) -> Shape {
        // FxHash, not SipHash: the fingerprint is computed for every kept LP of every run
        // and only ever compared within the process (SipHash over every nonzero's column
        // was 3.5 % of a warm day-ahead's instructions).
        let mut h = rustc_hash::FxHasher::default();
        for r in &lp.rows {
            (r.name.family as u8, r.sense as u8, r.end - r.start).hash(&mut h);
            for &(v, _) in lp.terms(r) {
                v.0.hash(&mut h);
            }
        }
        for c in &lp.cols {
            // Free columns and integers change what a basis means for them (a column fixed
            // at zero, PV at night, is a bound like any other).
            (c.integer, c.lo.is_finite(), c.hi.is_finite()).hash(&mut h);
        }
        Shape { cols: lp.cols.len(), rows: lp.rows.len(), objective, stage: 0, fingerprint: h.finish() }
    }

    /// The key of the LP of a run's stage `stage` (0: the objective's own stages; more: a
    /// tie-break stage, whose LP with its optimal faces held has this shape: the face rows
    /// differ from run to run, so a kept basis is found only by a run whose faces hold the
    /// same rows).
    pub(crate) fn at_stage(self, stage: u8) -> Shape {
        Shape { stage, ..self }
    }
}

/// How many shapes a cache keeps by default: a run keeps up to four (its first LP, its
/// least-cost LP after the floor, and its two tie-break LPs, see `stages`), for every
/// remaining-horizon length of a day of 15-minute re-plans (96), with room for a second
/// objective's day-ahead. An hourly day's basis is 16 KB, a 15-minute day's 62 KB.
pub const DEFAULT_SHAPES: usize = 512;

/// The most recent basis of each of the last `capacity` shapes solved.
struct Bases {
    capacity: usize,
    /// Most recently used first; with the generation it was kept at.
    entries: VecDeque<(Shape, Arc<Basis>, u64)>,
    /// The green share the latest run of each shape found (Dinkelbach's λ at its end),
    /// most recently kept first; with the generation it was kept at.
    shares: VecDeque<(Shape, f64, u64)>,
    /// Rises with every basis or share kept.
    generation: u64,
    hits: u64,
    misses: u64,
}

impl Basis {
    /// True when the basis has one status per column and per row of `shape`.
    fn fits(&self, shape: &Shape) -> bool {
        self.cols.len() == shape.cols && self.rows.len() == shape.rows
    }
}

/// True when `v` is a share: a number in [0, 1].
fn is_share(v: f64) -> bool {
    (0.0..=1.0).contains(&v)
}

/// A kept start in a form to store: the shape's key (the same in every process), its
/// basis (one HiGHS status per column and per row, 0–4), and the green share its latest
/// green-share run found.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptStart {
    /// The shape's key (`v1:cols:rows:objective:stage:fingerprint`).
    pub key: String,
    /// One status per column.
    pub cols: Vec<u8>,
    /// One status per row.
    pub rows: Vec<u8>,
    /// The green share the shape's latest green-share run found.
    pub share: Option<f64>,
}

impl Shape {
    /// The key a kept start of this shape is stored under: `v1:` then columns, rows,
    /// objective, stage and fingerprint (hexadecimal), separated by colons.
    fn key(&self) -> String {
        format!("v1:{}:{}:{}:{}:{:016x}", self.cols, self.rows, self.objective.name(), self.stage, self.fingerprint)
    }

    /// The shape a stored key names (`None` for any other text).
    fn from_key(key: &str) -> Option<Shape> {
        let mut parts = key.split(':');
        if parts.next()? != "v1" {
            return None;
        }
        let cols = parts.next()?.parse().ok()?;
        let rows = parts.next()?.parse().ok()?;
        let objective = parts.next()?.parse().ok()?;
        let stage = parts.next()?.parse().ok()?;
        let fingerprint = u64::from_str_radix(parts.next()?, 16).ok()?;
        parts.next().is_none().then_some(Shape { cols, rows, objective, stage, fingerprint })
    }
}

/// HiGHS's basis statuses (`kHighsBasisStatus`: lower, basic, upper, zero, nonbasic).
const STATUSES: std::ops::RangeInclusive<u8> = 0..=4;

fn stored(statuses: &[highs_sys::HighsInt]) -> Vec<u8> {
    // Every status HiGHS reports is one of STATUSES; anything else is stored as 0 (lower),
    // which HiGHS checks like any basis given from outside.
    statuses.iter().map(|&s| u8::try_from(s).ok().filter(|s| STATUSES.contains(s)).unwrap_or(0)).collect()
}

fn read_back(statuses: &[u8]) -> Option<Vec<highs_sys::HighsInt>> {
    statuses.iter().map(|&s| STATUSES.contains(&s).then_some(highs_sys::HighsInt::from(s))).collect()
}

/// Final bases of recent solves, by LP shape; off by default. Clones share the cache.
#[derive(Clone, Default)]
pub struct WarmStarts(Option<Arc<Mutex<Bases>>>);

impl WarmStarts {
    /// A cache of the latest basis of each of the `capacity` most recently solved shapes.
    pub fn keep(capacity: usize) -> WarmStarts {
        let bases =
            Bases { capacity: capacity.max(1), entries: VecDeque::new(), shares: VecDeque::new(), generation: 0, hits: 0, misses: 0 };
        WarmStarts(Some(Arc::new(Mutex::new(bases))))
    }

    /// True when bases are kept.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// How many starts found a basis of their shape, and how many did not.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        self.0.as_ref().map_or((0, 0), |b| {
            let b = lock(b);
            (b.hits, b.misses)
        })
    }

    /// The latest basis of `shape`, if one is kept.
    pub(crate) fn get(&self, shape: &Shape) -> Option<Arc<Basis>> {
        let mut b = lock(self.0.as_ref()?);
        match b.entries.iter().position(|(s, _, _)| s == shape) {
            Some(k) => {
                b.hits += 1;
                let entry = b.entries.remove(k)?;
                let basis = entry.1.clone();
                b.entries.push_front(entry);
                Some(basis)
            }
            None => {
                b.misses += 1;
                None
            }
        }
    }

    /// Keeps `basis` as the latest of `shape` (a basis of another length is not kept).
    pub(crate) fn put(&self, shape: Shape, basis: Basis) {
        let Some(bases) = self.0.as_ref() else { return };
        if !basis.fits(&shape) {
            return;
        }
        let mut b = lock(bases);
        if let Some(k) = b.entries.iter().position(|(s, _, _)| *s == shape) {
            b.entries.remove(k);
        }
        b.generation += 1;
        let generation = b.generation;
        b.entries.push_front((shape, Arc::new(basis), generation));
        let capacity = b.capacity;
        b.entries.truncate(capacity);
    }

    /// The kept starts whose basis or share was kept after `generation` (0: every one kept
    /// by this process, not those restored), most recently used first, and the cache's
    /// generation now (every basis or share kept raises it): where to ask from next time.
    pub fn changed_since(&self, generation: u64) -> (Vec<KeptStart>, u64) {
        let Some(bases) = self.0.as_ref() else { return (Vec::new(), 0) };
        let b = lock(bases);
        let out = b
            .entries
            .iter()
            .filter_map(|(shape, basis, kept)| {
                let share = b.shares.iter().find(|(s, _, _)| s == shape);
                let changed = *kept > generation || share.is_some_and(|&(_, _, g)| g > generation);
                changed.then(|| KeptStart {
                    key: shape.key(),
                    cols: stored(&basis.cols),
                    rows: stored(&basis.rows),
                    share: share.map(|&(_, v, _)| v),
                })
            })
            .collect();
        (out, b.generation)
    }

    /// Keeps stored starts (as [`WarmStarts::changed_since`] gave them, most recently used
    /// first) where the cache has nothing newer of their shape. A start whose key is not
    /// one, whose basis does not fit its key, or whose share is not in [0, 1] is left out;
    /// returns how many were kept. Restoring does not count as a change.
    pub fn restore(&self, starts: &[KeptStart]) -> usize {
        let Some(bases) = self.0.as_ref() else { return 0 };
        let mut b = lock(bases);
        let capacity = b.capacity;
        let mut kept = 0;
        // In their order (most recent first), each to the back: the cache's own (newer)
        // entries stay in front.
        for start in starts {
            let Some(shape) = Shape::from_key(&start.key) else { continue };
            let (Some(cols), Some(rows)) = (read_back(&start.cols), read_back(&start.rows)) else { continue };
            let basis = Basis { cols, rows };
            if !basis.fits(&shape) || b.entries.iter().any(|(s, _, _)| *s == shape) {
                continue;
            }
            if b.entries.len() < capacity {
                b.entries.push_back((shape, Arc::new(basis), 0));
                kept += 1;
            }
            let share = start.share.filter(|&v| is_share(v));
            if let Some(share) = share {
                if b.shares.len() < capacity && !b.shares.iter().any(|(s, _, _)| *s == shape) {
                    b.shares.push_back((shape, share, 0));
                }
            }
        }
        kept
    }
}

impl WarmStarts {
    /// The green share the latest run of `shape` ended at, if one is kept: where the next
    /// run's Dinkelbach iterations start (see `stages`).
    pub(crate) fn share(&self, shape: &Shape) -> Option<f64> {
        let b = lock(self.0.as_ref()?);
        b.shares.iter().find(|(s, _, _)| s == shape).map(|&(_, share, _)| share)
    }

    /// Keeps `share` as the latest of `shape` (a share that is not a number in [0, 1] is not).
    pub(crate) fn put_share(&self, shape: Shape, share: f64) {
        let Some(bases) = self.0.as_ref() else { return };
        if !is_share(share) {
            return;
        }
        let mut b = lock(bases);
        b.shares.retain(|(s, _, _)| *s != shape);
        b.generation += 1;
        let generation = b.generation;
        b.shares.push_front((shape, share, generation));
        let capacity = b.capacity;
        b.shares.truncate(capacity);
    }
}

/// The cache's lock, also after a panic elsewhere while it was held (its entries are
/// replaced whole, so they are never half-written).
fn lock(bases: &Mutex<Bases>) -> std::sync::MutexGuard<'_, Bases> {
    bases.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl std::fmt::Debug for WarmStarts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("WarmStarts(off)"),
            Some(b) => {
                let b = lock(b);
                write!(f, "WarmStarts({} of {} shapes, {} hits, {} misses)", b.entries.len(), b.capacity, b.hits, b.misses)
            }
        }
    }
}

/// Options compare by what they ask, not by the bases they may start from.
impl PartialEq for WarmStarts {
    fn eq(&self, _: &WarmStarts) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(cols: usize, fingerprint: u64) -> Shape {
        Shape { cols, rows: 1, objective: Objective::Cost, stage: 0, fingerprint }
    }

    fn basis(cols: usize) -> Basis {
        Basis { cols: vec![0; cols], rows: vec![1] }
    }

    #[test]
    fn keeps_the_latest_basis_of_the_most_recent_shapes() {
        let w = WarmStarts::keep(2);
        assert!(w.get(&shape(1, 1)).is_none());
        w.put(shape(1, 1), basis(1));
        w.put(shape(2, 2), basis(2));
        assert!(w.get(&shape(1, 1)).is_some(), "shape 1 kept");
        // Shape 1 was used last: shape 2 is the one dropped for shape 3.
        w.put(shape(3, 3), basis(3));
        assert!(w.get(&shape(2, 2)).is_none());
        assert!(w.get(&shape(1, 1)).is_some());
        assert!(w.get(&shape(3, 3)).is_some());
        // A basis that does not fit its shape is not kept.
        w.put(shape(4, 4), basis(5));
        assert!(w.get(&shape(4, 4)).is_none());
        assert_eq!(w.hits_and_misses(), (3, 3));
        // Off: nothing kept, nothing counted.
        let off = WarmStarts::default();
        off.put(shape(1, 1), basis(1));
        assert!(off.get(&shape(1, 1)).is_none());
        assert_eq!(off.hits_and_misses(), (0, 0));
        assert!(off.share(&shape(1, 1)).is_none());
    }

    #[test]
    fn keeps_the_latest_share_of_each_shape() {
        let w = WarmStarts::keep(2);
        assert!(w.share(&shape(1, 1)).is_none());
        w.put_share(shape(1, 1), 0.4);
        w.put_share(shape(1, 1), 0.6);
        w.put_share(shape(2, 2), 0.5);
        assert_eq!(w.share(&shape(1, 1)), Some(0.6));
        // Only numbers in [0, 1] are shares; the capacity bounds the shapes kept.
        w.put_share(shape(3, 3), f64::NAN);
        w.put_share(shape(3, 3), 1.5);
        assert!(w.share(&shape(3, 3)).is_none());
        w.put_share(shape(4, 4), 0.1);
        assert!(w.share(&shape(1, 1)).is_none(), "the oldest shape is dropped");
        assert_eq!(w.share(&shape(2, 2)), Some(0.5));
        assert_eq!(w.hits_and_misses(), (0, 0), "shares are not counted as bases");
    }

    #[test]
    fn kept_starts_are_stored_and_read_back_by_key() {
        let w = WarmStarts::keep(3);
        let s1 = Shape { cols: 2, rows: 1, objective: Objective::GreenShare, stage: 0, fingerprint: 0xfeed };
        let s2 = Shape { stage: 2, ..s1 };
        w.put(s1, Basis { cols: vec![1, 0], rows: vec![4] });
        w.put_share(s1, 0.25);
        let g = w.changed_since(0).1;
        w.put(s2, Basis { cols: vec![2, 1], rows: vec![0] });
        let (all, now) = w.changed_since(0);
        assert_eq!(now, 3);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], KeptStart { key: "v1:2:1:green-share:2:000000000000feed".into(), cols: vec![2, 1], rows: vec![0], share: None });
        assert_eq!(all[1].share, Some(0.25));
        // Only what was kept after g: the stage-2 basis.
        let (changed, _) = w.changed_since(g);
        assert_eq!(changed.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), [all[0].key.as_str()]);
        assert!(w.changed_since(now).0.is_empty());

        // Another process reads them back: the same bases and share, found by shape.
        let other = WarmStarts::keep(3);
        let mut stored = all.clone();
        stored.push(KeptStart { key: "v1:2:1:cost:0:zz".into(), ..all[0].clone() }); // not a key
        stored.push(KeptStart { key: "v2:2:1:cost:0:1".into(), ..all[0].clone() }); // another format
        stored.push(KeptStart { key: "v1:3:1:cost:0:1".into(), ..all[0].clone() }); // basis too short
        stored.push(KeptStart { key: "v1:2:1:cost:0:2".into(), cols: vec![9, 1], ..all[0].clone() }); // not a status
        stored.push(KeptStart { key: "v1:2:1:cost:0:3".into(), share: Some(f64::NAN), ..all[0].clone() });
        assert_eq!(other.restore(&stored), 3);
        assert_eq!(other.get(&s1).as_deref(), Some(&Basis { cols: vec![1, 0], rows: vec![4] }));
        assert_eq!(other.get(&s2).as_deref(), Some(&Basis { cols: vec![2, 1], rows: vec![0] }));
        assert_eq!(other.share(&s1), Some(0.25));
        let s3 = Shape { objective: Objective::Cost, fingerprint: 3, ..s1 };
        assert!(other.get(&s3).is_some() && other.share(&s3).is_none(), "a share that is not one is left out");
        assert!(other.changed_since(0).0.is_empty(), "restoring is not a change");
        // What the cache kept itself is newer than what it reads back.
        w.put(s1, Basis { cols: vec![0, 1], rows: vec![1] });
        w.restore(&all);
        assert_eq!(w.get(&s1).as_deref(), Some(&Basis { cols: vec![0, 1], rows: vec![1] }));
        // Off: nothing kept.
        assert_eq!(WarmStarts::default().restore(&all), 0);
    }

    #[test]
    fn a_shape_is_its_structure_not_its_numbers() {
        let mut a = Lp::default();
        let x = a.var(0.0, 1.0);
        let y = a.var(0.0, 2.0);
        a.row(super::super::lp::Family::Balance, 0, Some(0), vec![(x, 1.0), (y, 1.0)], super::super::lp::Sense::Eq, 1.0);
        let mut b = a.clone();
        b.cols[1].hi = 5.0;
        b.rows[0].rhs = 3.0;
        b.coefs[0].1 = 2.0;
        assert_eq!(Shape::of(&a, Objective::Cost), Shape::of(&b, Objective::Cost));
        assert_ne!(Shape::of(&a, Objective::Cost), Shape::of(&a, Objective::GreenShare));
        let mut c = a.clone();
        c.coefs[1].0 = x;
        assert_ne!(Shape::of(&a, Objective::Cost), Shape::of(&c, Objective::Cost));
    }
}
