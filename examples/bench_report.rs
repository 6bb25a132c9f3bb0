//! Runs each benchmark case of `benches/dispatch.rs` once (after a warm-up, median of a few
//! repetitions for the small ones) and prints where the time goes:
//!
//! - ours: `Schedule.solver.build_ms` / `solve_ms` and the wall time of `model::solve`;
//! - HiGHS alone on the very LPs `solve_traced` ran (MPS files; read + run, 1 thread);
//! - a replica of `model::solver` over the same LPs (good_lp + HiGHS), phase by phase, and
//!   a direct `Highs_passLp` + `Highs_run` without good_lp, to show where the overhead is;
//! - peak RSS (VmHWM) of a child process that does only that case's `model::solve`.
//!
//! `cargo run --release --example bench_report [-- CASE_SUBSTRING…]`
//! (`-- --write-year FILE` writes the year's forecast as JSON instead).

#[path = "../benches/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use good_lp::{constraint, variable, Expression, ProblemVariables, Solution, SolutionWithDual, SolverModel, Variable};
use vpp_dispatch::model::{self, Objective};

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn vm(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The LP as HiGHS read it, row-wise and column-wise.
struct Lp {
    sense: i32,
    cost: Vec<f64>,
    col_lo: Vec<f64>,
    col_hi: Vec<f64>,
    row_lo: Vec<f64>,
    row_hi: Vec<f64>,
    r_start: Vec<i32>,
    r_index: Vec<i32>,
    r_value: Vec<f64>,
    c_start: Vec<i32>,
    c_index: Vec<i32>,
    c_value: Vec<f64>,
}

fn read_lp(path: &Path) -> Lp {
    use highs_sys::*;
    let file = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    unsafe {
        let h = Highs_create();
        Highs_setBoolOptionValue(h, c"output_flag".as_ptr(), 0);
        assert!(Highs_readModel(h, file.as_ptr()) != kHighsStatusError);
        let (nc, nr, nz) = (Highs_getNumCol(h), Highs_getNumRow(h), Highs_getNumNz(h));
        let (ncu, nru, nzu) = (nc as usize, nr as usize, nz as usize);
        let mut lp = Lp {
            sense: 0,
            cost: vec![0.0; ncu],
            col_lo: vec![0.0; ncu],
            col_hi: vec![0.0; ncu],
            row_lo: vec![0.0; nru],
            row_hi: vec![0.0; nru],
            r_start: vec![0; nru + 1],
            r_index: vec![0; nzu],
            r_value: vec![0.0; nzu],
            c_start: vec![0; ncu + 1],
            c_index: vec![0; nzu],
            c_value: vec![0.0; nzu],
        };
        let mut integrality = vec![0; ncu];
        let (mut a, mut b, mut c, mut off) = (0, 0, 0, 0.0);
        for (format, start, index, value) in [
            (kHighsMatrixFormatRowwise, &mut lp.r_start, &mut lp.r_index, &mut lp.r_value),
            (kHighsMatrixFormatColwise, &mut lp.c_start, &mut lp.c_index, &mut lp.c_value),
        ] {
            let st = Highs_getLp(
                h,
                format,
                &mut a,
                &mut b,
                &mut c,
                &mut lp.sense,
                &mut off,
                lp.cost.as_mut_ptr(),
                lp.col_lo.as_mut_ptr(),
                lp.col_hi.as_mut_ptr(),
                lp.row_lo.as_mut_ptr(),
                lp.row_hi.as_mut_ptr(),
                start.as_mut_ptr(),
                index.as_mut_ptr(),
                value.as_mut_ptr(),
                integrality.as_mut_ptr(),
            );
            assert!(st != kHighsStatusError);
        }
        lp.r_start[nru] = nz;
        lp.c_start[ncu] = nz;
        Highs_destroy(h);
        lp
    }
}

/// Phases of `model::solver::solve` replicated on `lp` (ms).
#[derive(Default, Clone, Copy)]
struct Replica {
    /// ProblemVariables + objective Expression (counted in our `build_ms`).
    vars: f64,
    /// `vars.minimise(obj).using(highs)`: good_lp's columns and objective lookup.
    using: f64,
    /// Row Expressions + `add_constraint` (good_lp/highs RowProblem).
    rows: f64,
    /// `model.solve()`: RowProblem → HiGHS (passModel) + options + run.
    solve: f64,
    /// Reading x (and duals when asked).
    extract: f64,
    objective: f64,
}

fn replica(lp: &Lp, want_duals: bool) -> Replica {
    let mut r = Replica::default();
    let t = Instant::now();
    let mut vars = ProblemVariables::new();
    let xs: Vec<Variable> = (0..lp.cost.len())
        .map(|j| {
            let mut def = variable();
            if lp.col_lo[j].is_finite() {
                def = def.min(lp.col_lo[j]);
            }
            if lp.col_hi[j].is_finite() {
                def = def.max(lp.col_hi[j]);
            }
            vars.add(def)
        })
        .collect();
    let nnz_obj = lp.cost.iter().filter(|c| **c != 0.0).count();
    let mut obj = Expression::with_capacity(nnz_obj);
    for (j, &c) in lp.cost.iter().enumerate() {
        if c != 0.0 {
            obj.add_mul(c, xs[j]);
        }
    }
    r.vars = ms(t);
    let t = Instant::now();
    let problem = if lp.sense < 0 { vars.maximise(obj) } else { vars.minimise(obj) };
    let mut model = problem.using(good_lp::solvers::highs::highs);
    model.set_verbose(false);
    model = model.set_threads(1);
    r.using = ms(t);
    let t = Instant::now();
    let refs: Vec<_> = (0..lp.row_lo.len())
        .map(|i| {
            let (a, b) = (lp.r_start[i] as usize, lp.r_start[i + 1] as usize);
            let mut e = Expression::with_capacity(b - a);
            for k in a..b {
                e.add_mul(lp.r_value[k], xs[lp.r_index[k] as usize]);
            }
            let (lo, hi) = (lp.row_lo[i], lp.row_hi[i]);
            let c = if lo == hi {
                constraint::eq(e, lo)
            } else if lo.is_finite() {
                constraint::geq(e, lo)
            } else {
                constraint::leq(e, hi)
            };
            model.add_constraint(c)
        })
        .collect();
    r.rows = ms(t);
    let t = Instant::now();
    let mut sol = model.solve().expect("replica solve");
    r.solve = ms(t);
    let t = Instant::now();
    let x: Vec<f64> = xs.iter().map(|&v| sol.value(v)).collect();
    if want_duals {
        let d = sol.compute_dual();
        let duals: Vec<f64> = refs.iter().map(|c| good_lp::solvers::DualValues::dual(&d, c.clone())).collect();
        std::hint::black_box(duals);
    }
    r.extract = ms(t);
    r.objective = lp.cost.iter().zip(&x).map(|(c, x)| c * x).sum();
    r
}

/// `Highs_passLp` (column-wise, as HiGHS stores it) + `Highs_run`, no good_lp: (pass ms, run ms).
fn direct(lp: &Lp) -> (f64, f64, f64) {
    use highs_sys::*;
    unsafe {
        let h = Highs_create();
        Highs_setBoolOptionValue(h, c"output_flag".as_ptr(), 0);
        Highs_setIntOptionValue(h, c"threads".as_ptr(), 1);
        let t = Instant::now();
        let st = Highs_passLp(
            h,
            lp.cost.len() as i32,
            lp.row_lo.len() as i32,
            lp.c_value.len() as i32,
            kHighsMatrixFormatColwise,
            lp.sense,
            0.0,
            lp.cost.as_ptr(),
            lp.col_lo.as_ptr(),
            lp.col_hi.as_ptr(),
            lp.row_lo.as_ptr(),
            lp.row_hi.as_ptr(),
            lp.c_start.as_ptr(),
            lp.c_index.as_ptr(),
            lp.c_value.as_ptr(),
        );
        assert!(st != kHighsStatusError);
        let pass = ms(t);
        let t = Instant::now();
        assert!(Highs_run(h) != kHighsStatusError);
        let run = ms(t);
        let obj = Highs_getObjectiveValue(h);
        Highs_destroy(h);
        (pass, run, obj)
    }
}

/// Child mode: only `model::solve` of case `k`, then print VmHWM (MiB) before and after.
fn rss_child(k: usize) {
    let plant = common::plant();
    let case = common::all(&plant).swap_remove(k);
    let before = vm("VmHWM:");
    let s = model::solve(&plant, &case.forecast, &case.options).expect("solve");
    std::hint::black_box(&s);
    println!("{before:.1} {:.1}", vm("VmHWM:"));
}

struct Row {
    name: &'static str,
    vars: usize,
    rows: usize,
    solves: u32,
    build: f64,
    solve_in: f64,
    wall: f64,
    alone: f64,
    alone_run: f64,
    rss_before: f64,
    rss: f64,
    rss_alone: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--rss-alone") {
        for f in &args[1..] {
            std::hint::black_box(common::highs_alone(Path::new(f)));
        }
        println!("{:.1}", vm("VmHWM:"));
        return;
    }
    if args.first().map(String::as_str) == Some("--rss-child") {
        rss_child(args[1].parse().unwrap());
        return;
    }
    let plant = common::plant();
    // The benchmark's year as a forecast file, for timing `vpp solve` and HiGHS alone on it.
    if args.first().map(String::as_str) == Some("--write-year") {
        let path = args.get(1).expect("--write-year FILE");
        let json = serde_json::to_string(&common::year(&plant)).expect("forecast serialises");
        std::fs::write(path, json).expect("write the year");
        return;
    }
    let cases = common::all(&plant);
    let mut table = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        if !args.is_empty() && !args.iter().any(|a| case.name.contains(a.as_str())) {
            continue;
        }
        let forecast = &case.forecast;
        let reps = match forecast.intervals {
            n if n <= 24 => 15,
            n if n <= 96 => 7,
            n if n <= 168 => 5,
            _ => 1,
        };
        eprintln!("== {} ({} intervals, {reps} rep(s))", case.name, forecast.intervals);
        // Our solve: warm-up (not for the year), then the median of `reps`.
        if reps > 1 {
            model::solve(&plant, forecast, &case.options).expect("solve");
        }
        let (mut build, mut solve_in, mut wall) = (vec![], vec![], vec![]);
        let mut last = None;
        for _ in 0..reps {
            let t = Instant::now();
            let s = model::solve(&plant, forecast, &case.options).expect("solve");
            wall.push(ms(t));
            build.push(s.solver.build_ms);
            solve_in.push(s.solver.solve_ms);
            last = Some(s);
        }
        let s = last.unwrap();
        // The same LPs for HiGHS alone.
        let (traced, lps) = model::solve_traced(&plant, forecast, &case.options);
        let traced = traced.expect("traced solve");
        assert_eq!(lps.len() as u32, traced.solver.solves);
        let files = common::MpsFiles::write(&format!("report{k}"), &lps);
        let mps_mb: f64 = lps.iter().map(|l| l.len() as f64).sum::<f64>() / 1048576.0;
        drop(lps);
        let (mut alone, mut alone_run, mut alone_read) = (vec![], vec![], vec![]);
        let mut per_lp = Vec::new();
        for _ in 0..reps {
            per_lp = files.files.iter().map(|f| common::highs_alone(f)).collect::<Vec<_>>();
            alone.push(per_lp.iter().map(|h| h.total_ms).sum());
            alone_run.push(per_lp.iter().map(|h| h.run_ms).sum());
            alone_read.push(per_lp.iter().map(|h| h.read_ms).sum());
        }
        for (i, h) in per_lp.iter().enumerate() {
            assert_eq!(h.model_status, 7, "LP {i} not optimal for HiGHS alone");
        }
        // Sanity: the final cost LP (green-share: last; cost: first) matches our objective.
        let cost_lp = if case.options.objective == Objective::Cost { 0 } else { per_lp.len() - 1 };
        let ours_obj = s.solver.objective;
        let alone_obj = per_lp[cost_lp].objective;
        let rel = (ours_obj - alone_obj).abs() / ours_obj.abs().max(1.0);
        eprintln!(
            "   objective check (LP {cost_lp}, least cost): ours {ours_obj:.6} yuan, HiGHS alone {alone_obj:.6} yuan, rel diff {rel:.1e}"
        );
        eprintln!(
            "   stage-1 {:.6}, {} Dinkelbach iteration(s), {} LPs, MPS {:.1} MiB in total",
            s.solver.stage1_objective,
            s.solver.iterations,
            per_lp.len(),
            mps_mb
        );
        // Where the time goes: replica of model::solver on the same LPs, and HiGHS direct.
        let want_duals = |i: usize| i == cost_lp;
        let mut rep = Replica::default();
        let (mut pass, mut run) = (0.0, 0.0);
        let mut max_obj_diff: f64 = 0.0;
        for (i, f) in files.files.iter().enumerate() {
            let lp = read_lp(f);
            let r = replica(&lp, want_duals(i));
            let (p, ru, o) = direct(&lp);
            max_obj_diff = max_obj_diff.max((r.objective - per_lp[i].objective).abs() / per_lp[i].objective.abs().max(1.0));
            max_obj_diff = max_obj_diff.max((o - per_lp[i].objective).abs() / per_lp[i].objective.abs().max(1.0));
            rep.vars += r.vars;
            rep.using += r.using;
            rep.rows += r.rows;
            rep.solve += r.solve;
            rep.extract += r.extract;
            pass += p;
            run += ru;
        }
        let (b, si, al, alr, ald) = (median(build), median(solve_in), median(alone), median(alone_run), median(alone_read));
        let wall = median(wall);
        eprintln!("   every LP: replica and direct objectives agree with HiGHS alone to {max_obj_diff:.1e} (relative)");
        eprintln!(
            "   ours: build_ms {b:.1} (builder once + good_lp variables/objective per solve), solve_ms {si:.1}, wall of model::solve {wall:.1}"
        );
        eprintln!("   HiGHS alone: read MPS {ald:.1} + run {alr:.1} = {al:.1} ms");
        let each: Vec<String> = per_lp.iter().map(|h| format!("{:.1}", h.run_ms)).collect();
        eprintln!("   HiGHS alone run per LP, in solve order (last repetition): [{}] ms", each.join(", "));
        eprintln!(
            "   replica of model::solver over the {} LPs (1 run): variables+objective {:.1}, using(highs) {:.1}, row Expressions+add_constraint {:.1}, \
             model.solve (pass + run) {:.1}, extract x/duals {:.1} => total {:.1} ms",
            files.files.len(),
            rep.vars,
            rep.using,
            rep.rows,
            rep.solve,
            rep.extract,
            rep.vars + rep.using + rep.rows + rep.solve + rep.extract
        );
        eprintln!("   HiGHS direct (passLp column-wise + run, no good_lp): pass {pass:.1} + run {run:.1} = {:.1} ms", pass + run);
        let out = Command::new(std::env::current_exe().unwrap())
            .arg("--rss-alone")
            .args(files.files.iter().map(|f| f.as_os_str()))
            .output()
            .expect("child");
        let rss_alone: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN);
        eprintln!("   peak RSS of a process running HiGHS alone on these MPS files one after another: {rss_alone:.1} MiB");
        drop(files);
        // Peak RSS of a process that does only this solve.
        let out = Command::new(std::env::current_exe().unwrap()).args(["--rss-child", &k.to_string()]).output().expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace().map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
        let (rss_before, rss) = (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN));
        eprintln!("   peak RSS of a solve-only process: {rss:.1} MiB (after loading plant + forecast: {rss_before:.1} MiB)");
        table.push(Row {
            name: case.name,
            vars: s.solver.variables,
            rows: s.solver.rows,
            solves: s.solver.solves,
            build: b,
            solve_in: si,
            wall,
            alone: al,
            alone_run: alr,
            rss_before,
            rss,
            rss_alone,
        });
    }
    println!();
    println!(
        "| case | variables | rows | solves | build ms | HiGHS-in-our-solve ms | ours total ms | model::solve wall ms | HiGHS alone ms (read+run) | of which run | ratio total/alone | peak RSS MiB | HiGHS-alone peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &table {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} (inputs {:.0}) | {:.0} |",
            r.name,
            r.vars,
            r.rows,
            r.solves,
            r.build,
            r.solve_in,
            r.build + r.solve_in,
            r.wall,
            r.alone,
            r.alone_run,
            (r.build + r.solve_in) / r.alone,
            r.rss,
            r.rss_before,
            r.rss_alone
        );
    }
}
