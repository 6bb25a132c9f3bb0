#!/usr/bin/env python3
"""vpp against PyPSA on the same plant and forecast: the least-cost dispatch of
`vpp solve --objective cost` and PyPSA's own model of the plant (built here from the plant
TOML and the forecast JSON, solved by `n.optimize(solver_name="highs")`). Checks that the
two optima agree, writes both LPs (ours: `vpp solve --mps`; PyPSA's: linopy, as MPS) and
times, per horizon, the median of --runs runs, each in a fresh process (the four
measurements take turns, run by run), HiGHS on 1 thread:

  - HiGHS alone (highspy readModel + run; the run is timed, the read reported apart) on
    our LP and on PyPSA's LP;
  - the whole `vpp solve --objective cost` process (wall time; it also runs the tie-break
    LPs that pick one dispatch among equal optima, and writes nothing but its summary);
  - PyPSA's network build + `n.optimize` (imports excluded, reported apart; linopy's
    default file-based hand-over to HiGHS, as PyPSA does it out of the box).

Horizons: 24 h hourly, 96 x 15 min, 168 h hourly, all from `vpp forecast --day DAY` (the
one-day ones are the files in fixtures/forecasts/). Prints a Markdown table; --json writes
the same with every run.

Run from the repository root after `cargo build --release` (the script makes a virtual
environment with pypsa and highspy if asked to, --venv DIR, and runs its children there):

    python3 benches/scripts/pypsa_compare.py --venv /tmp/pv --runs 7 \
        --json /tmp/pypsa-cmp/result.json

The plant both tools get is a copy of --model without any park's `min_green_share`
(written to --work): PyPSA has no colour of energy, and in cost mode colour changes the
optimum only through those minimum shares and through storages' initial green fractions
(the script refuses a plant with a fraction above 0). How PyPSA models the plant:

  - buses = nodes; lines = PyPSA Lines on v_nom = 1 with x = reactance_pu / base_mva and
    s_nom = capacity_mw (the same DC power flow; PyPSA writes it as Kirchhoff voltage law
    around a cycle basis instead of our voltage angles, the same feasible flows);
  - wind and PV: generators, p_nom = capacity, p_max_pu = availability, no cost (rooftop
    PV behind a park's meter sits at the park's node, as in our network);
  - parks: a Load (demand) and an interruption generator at the park's node, p_nom =
    interruptible_mw, p_max_pu = min(limit, demand) / p_nom, marginal cost =
    compensation, and per local day (Asia/Shanghai) a row sum(dt * p) <= the daily cap
    (linopy, through extra_functionality: PyPSA has no per-day energy limit);
  - storage: a Store on its own bus (e_nom = e_max, e_min_pu = e_min / e_max and, at the
    last snapshot, the end target e0 / e_max; standing_loss chosen so that PyPSA's
    (1 - loss)^dt equals our 1 - sigma * dt; e_initial = (1 - sigma * dt) * e0, as PyPSA
    applies no standing loss to e_initial in the first snapshot and we do), a charge
    Link (efficiency eta_ch, p_nom = charge_mw, cost = cycle cost per MWh charged) and a
    discharge Link
    (efficiency eta_dis, p_nom = discharge_mw / eta_dis on its input side, cost =
    (variable + cycle cost) * eta_dis per MWh taken from the store = per MWh delivered);
    pumped-hydro inflow is a generator on the store's bus with p_max_pu * p_nom =
    inflow_mwh / dt (the part not taken is our spill);
  - CAES min_generation_mw: not modelled, as in our LP (vpp enforces it only in its MILP
    mode, `--milp`, and says so in a warning);
  - the grid: an import generator (p_nom = import cap, marginal cost = the time-of-use
    price of each interval's local start hour and month, or the forecast's import_price)
    and an export generator (p_min_pu = -1, p_max_pu = 0, p_nom = export cap, marginal
    cost = export price, so exports earn it);
  - snapshot weightings = the interval length in hours (objective, stores, generators).

Not supported (the script stops with a message): thermal units, bids, lines without a
reactance, storages with an initial green fraction above 0.

The two LPs are the same problem written differently, so their sizes differ: ours carries
the colour of energy (green parts of charge, discharge, stored energy and exports, green
to load: about 600 of the 24 h LP's 2,112 columns) and voltage angles; PyPSA's has no
colour and no angles (a Store-p column per store instead) but writes every capacity limit
of a non-extendable asset as a row ("fix-p-lower/upper"), which HiGHS's presolve removes.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HORIZONS = {
    "24h": {"interval": 60, "days": 1},
    "96x15min": {"interval": 15, "days": 1},
    "168h": {"interval": 60, "days": 7},
}


# ------------------------------------------------------------------ PyPSA's model


def read_inputs(plant_path, forecast_path):
    import tomllib

    with open(plant_path, "rb") as f:
        plant = tomllib.load(f)
    with open(forecast_path) as f:
        forecast = json.load(f)
    problems = []
    if plant.get("thermal"):
        problems.append("thermal units")
    if forecast.get("bids"):
        problems.append("bids")
    problems += [f"line {l['name']} has no reactance" for l in plant.get("line", []) if "reactance_pu" not in l]
    problems += [f"storage {s['name']} has an initial green fraction" for s in plant.get("storage", []) if s.get("initial_green_fraction", 0.0) > 0.0]
    problems += [f"park {p['name']} has a minimum green share" for p in plant.get("park", []) if "min_green_share" in p]
    if problems:
        sys.exit("not modelled in PyPSA here: " + "; ".join(problems))
    return plant, forecast


def horizon(plant, forecast):
    """Snapshots (naive UTC), interval length in hours, and each interval's local time."""
    import pandas as pd

    start = pd.Timestamp(forecast["start"])
    snapshots = pd.date_range(start, periods=forecast["intervals"], freq=f"{forecast['interval_minutes']}min")
    local = snapshots.tz_convert(plant["timezone"])
    return snapshots.tz_convert(None), forecast["interval_minutes"] / 60.0, local


def import_prices(grid, forecast, local):
    """The import price of each interval: the forecast's series, or else the tariff (later
    rules override earlier ones; hours are [start, end) local clock hours)."""
    if grid["name"] in forecast.get("import_price", {}):
        return list(forecast["import_price"][grid["name"]])
    tariff = grid["tariff"]
    prices = []
    for t in local:
        period = tariff["default_period"]
        for rule in tariff.get("rule", []):
            if (not rule.get("months") or t.month in rule["months"]) and rule["hours"][0] <= t.hour < rule["hours"][1]:
                period = rule["period"]
        prices.append(tariff["prices"][period])
    return prices


def build_network(plant, forecast):
    import pandas as pd
    import pypsa

    pypsa.options.api.legacy_string_dtype = True  # PyPSA 1.x's behaviour, without its warning
    snapshots, dt, local = horizon(plant, forecast)
    n = pypsa.Network()
    n.set_snapshots(snapshots)
    n.snapshot_weightings = n.snapshot_weightings * dt  # 1 per snapshot by default
    series = lambda values: pd.Series(values, index=snapshots, dtype=float)  # noqa: E731

    n.add("Bus", [b["name"] for b in plant["node"]])
    for line in plant["line"]:
        n.add("Line", line["name"], bus0=line["from"], bus1=line["to"], x=line["reactance_pu"] / plant["base_mva"], s_nom=line["capacity_mw"])
    for r in plant.get("wind", []) + plant.get("pv", []):
        n.add("Generator", r["name"], bus=r["node"], p_nom=r["capacity_mw"], p_max_pu=series(forecast["availability"][r["name"]]))
    for park in plant.get("park", []):
        demand = forecast["demand_mw"][park["name"]]
        n.add("Load", park["name"], bus=park["node"], p_set=series(demand))
        limit = forecast.get("interruptible_mw", {}).get(park["name"], [park.get("interruptible_mw", 0.0)] * len(demand))
        cap = [min(i, d) for i, d in zip(limit, demand)]
        p_nom = max(cap)
        if p_nom > 0:
            n.add(
                "Generator",
                f"{park['name']}:interrupt",
                bus=park["node"],
                p_nom=p_nom,
                p_max_pu=series([c / p_nom for c in cap]),
                marginal_cost=park.get("compensation_yuan_per_mwh", 0.0),
            )
    for s in plant.get("storage", []):
        bus = f"{s['name']}:store"
        n.add("Bus", bus)
        e_min_pu = [s["e_min_mwh"] / s["e_max_mwh"]] * len(snapshots)
        e_min_pu[-1] = max(s["e_min_mwh"], s["e0_mwh"]) / s["e_max_mwh"]
        keep = 1.0 - s.get("standing_loss_per_h", 0.0) * dt
        n.add(
            "Store",
            s["name"],
            bus=bus,
            e_nom=s["e_max_mwh"],
            e_min_pu=series(e_min_pu),
            e_initial=keep * s["e0_mwh"],
            standing_loss=1.0 - keep ** (1.0 / dt),
        )
        cycle = s.get("cycle_cost_yuan_per_mwh", 0.0)
        n.add("Link", f"{s['name']}:charge", bus0=s["node"], bus1=bus, p_nom=s["charge_mw"], efficiency=s["eta_charge"], marginal_cost=cycle)
        n.add(
            "Link",
            f"{s['name']}:discharge",
            bus0=bus,
            bus1=s["node"],
            p_nom=s["discharge_mw"] / s["eta_discharge"],
            efficiency=s["eta_discharge"],
            marginal_cost=(s.get("variable_cost", 0.0) + cycle) * s["eta_discharge"],
        )
        inflow = forecast.get("inflow_mwh", {}).get(s["name"]) if s["kind"] == "pumped_hydro" else None
        if inflow and max(inflow) > 0:
            peak = max(inflow) / dt
            n.add("Generator", f"{s['name']}:inflow", bus=bus, p_nom=peak, p_max_pu=series([v / dt / peak for v in inflow]))
    for g in plant.get("grid", []):
        n.add("Generator", f"{g['name']}:import", bus=g["node"], p_nom=g["import_cap_mw"], marginal_cost=series(import_prices(g, forecast, local)))
        n.add("Generator", f"{g['name']}:export", bus=g["node"], p_nom=g["export_cap_mw"], p_min_pu=-1.0, p_max_pu=0.0, marginal_cost=g["export_price"])
    return n, daily_caps(plant, local, dt)


def daily_caps(plant, local, dt):
    """extra_functionality adding each park's daily interruption cap, per local day."""
    days = {}
    for k, t in enumerate(local):
        days.setdefault(t.date(), []).append(k)
    caps = {f"{p['name']}:interrupt": p["daily_interruptible_mwh"] for p in plant.get("park", []) if "daily_interruptible_mwh" in p}

    def add(n, snapshots):
        p = n.model["Generator-p"]
        for name in sorted(caps.keys() & set(n.generators.index)):
            for day, ks in days.items():
                energy = (p.sel(name=name, snapshot=snapshots[ks]) * dt).sum()
                n.model.add_constraints(energy <= caps[name], name=f"daily-cap-{name}-{day}")

    return add


def cost_parts(n, plant):
    """PyPSA's optimum split as our schedule's cost breakdown, yuan."""
    w = n.snapshot_weightings.objective
    mc = n.get_switchable_as_dense("Generator", "marginal_cost")
    cost = lambda names: float((mc[names] * n.generators_t.p[names]).mul(w, axis=0).sum().sum())  # noqa: E731
    grids = [g["name"] for g in plant.get("grid", [])]
    return {
        "imports": cost([f"{g}:import" for g in grids]),
        "export_revenue": -cost([f"{g}:export" for g in grids]),
        "interruption": cost([g for g in n.generators.index if g.endswith(":interrupt")]),
        "storage": float((n.links_t.p0 * n.links.marginal_cost).mul(w, axis=0).sum().sum()),
    }


# ------------------------------------------------------------------ children (fresh processes)


def child_highs(lp_path):
    import resource

    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    started = time.perf_counter()
    h.readModel(lp_path)
    read = time.perf_counter()
    h.run()
    done = time.perf_counter()
    lp = h.getLp()
    return {
        "status": h.modelStatusToString(h.getModelStatus()),
        "objective": h.getInfo().objective_function_value,
        "cols": lp.num_col_,
        "rows": lp.num_row_,
        "read_ms": (read - started) * 1e3,
        "run_ms": (done - read) * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def child_pypsa(plant_path, forecast_path, write_lp):
    """Builds the network and optimizes it, or (write_lp) writes its LP as MPS instead."""
    import logging
    import resource

    started = time.perf_counter()
    import pypsa  # noqa: F401  (imported here to time the import apart)

    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    imported = time.perf_counter()
    plant, forecast = read_inputs(plant_path, forecast_path)
    n, extra = build_network(plant, forecast)
    built = time.perf_counter()
    if write_lp:
        n.optimize.create_model(include_objective_constant=False)
        extra(n, n.snapshots)
        n.model.to_file(write_lp)
        return {"lp": write_lp}
    status, condition = n.optimize(
        solver_name="highs",
        solver_options={"threads": 1, "output_flag": False},
        extra_functionality=extra,
        include_objective_constant=False,  # no extendable assets: the constant is 0
    )
    done = time.perf_counter()
    return {
        "status": f"{status}/{condition}",
        "objective": float(n.objective),
        "cost": cost_parts(n, plant),
        "import_ms": (imported - started) * 1e3,
        "build_ms": (built - imported) * 1e3,
        "optimize_ms": (done - built) * 1e3,
        "total_ms": (done - imported) * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


# ------------------------------------------------------------------ the parent


def spawn(argv, out_path):
    """Runs argv in a fresh process, stdout to out_path and stderr to out_path + '.err';
    returns its wall time (ms) and peak RSS (MiB). Stops the script if it fails."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [(os.POSIX_SPAWN_OPEN, 1, out_path, flags, 0o644), (os.POSIX_SPAWN_OPEN, 2, out_path + ".err", flags, 0o644)]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall_ms = (time.perf_counter() - started) * 1e3
    if os.waitstatus_to_exitcode(status) != 0:
        with open(out_path + ".err") as f:
            sys.exit(f"failed: {' '.join(argv)}\n{f.read()[-2000:]}")
    return wall_ms, usage.ru_maxrss / 1024.0


def child_json(argv, out_path):
    spawn(argv, out_path)
    with open(out_path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def plant_copy(model, work, vpp):
    """--model without any `min_green_share` line, checked by `vpp check`."""
    with open(model) as f:
        text = f.read()
    out = os.path.join(work, "plant-no-min-green-share.toml")
    with open(out, "w") as f:
        f.write(re.sub(r"(?m)^\s*min_green_share\s*=.*\n", "", text))
    subprocess.run([vpp, "check", out], check=True, capture_output=True)
    return out


def relative(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1.0)


def run_horizon(name, a, python, plant):
    h = HORIZONS[name]
    base = os.path.join(a.work, f"{a.day}-{name}")
    forecast = base + ".json"
    subprocess.run(
        [a.vpp, "forecast", "--model", plant, "--day", a.day, "--interval", str(h["interval"]), "--days", str(h["days"]), "--out", forecast],
        check=True,
        capture_output=True,
    )
    ours_lp, theirs_lp, schedule = base + "-vpp.mps", base + "-pypsa.mps", base + "-vpp-schedule.json"
    solve = [a.vpp, "solve", "--model", plant, "--forecast", forecast, "--objective", "cost"]
    spawn(solve + ["--json", schedule, "--mps", ours_lp], base + "-vpp.out")
    with open(schedule) as f:
        reference = json.load(f)
    totals = reference["totals"]
    me = os.path.abspath(__file__)
    child_json([python, me, "--child", "write-lp", plant, forecast, theirs_lp], base + "-write.out")
    runs = {"vpp_ms": [], "vpp_rss": [], "highs_ours": [], "highs_pypsa": [], "pypsa": []}
    for _ in range(a.runs):
        wall, rss = spawn(solve, base + "-vpp-timed.out")
        runs["vpp_ms"].append(wall)
        runs["vpp_rss"].append(rss)
        runs["highs_ours"].append(child_json([python, me, "--child", "highs", ours_lp], base + "-highs.out"))
        runs["highs_pypsa"].append(child_json([python, me, "--child", "highs", theirs_lp], base + "-highs.out"))
        runs["pypsa"].append(child_json([python, me, "--child", "optimize", plant, forecast], base + "-pypsa.out"))
    med = statistics.median
    ho, hp, py = runs["highs_ours"][0], runs["highs_pypsa"][0], runs["pypsa"][0]
    objectives = {
        "vpp_cost": totals["cost_yuan"],
        "highs_ours_lp": ho["objective"],
        "highs_pypsa_lp": hp["objective"],
        "pypsa_optimize": py["objective"],
    }
    result = {
        "horizon": name,
        "forecast": forecast,
        "ours_lp": {"path": ours_lp, "cols": ho["cols"], "rows": ho["rows"]},
        "pypsa_lp": {"path": theirs_lp, "cols": hp["cols"], "rows": hp["rows"]},
        "median_ms": {
            "highs_ours_run": med([r["run_ms"] for r in runs["highs_ours"]]),
            "highs_ours_read": med([r["read_ms"] for r in runs["highs_ours"]]),
            "highs_pypsa_run": med([r["run_ms"] for r in runs["highs_pypsa"]]),
            "highs_pypsa_read": med([r["read_ms"] for r in runs["highs_pypsa"]]),
            "vpp_solve_process": med(runs["vpp_ms"]),
            "pypsa_build_optimize": med([r["total_ms"] for r in runs["pypsa"]]),
            "pypsa_build": med([r["build_ms"] for r in runs["pypsa"]]),
            "pypsa_import": med([r["import_ms"] for r in runs["pypsa"]]),
        },
        "peak_rss_mib": {
            "vpp_solve": max(runs["vpp_rss"]),
            "highs_ours": max(r["peak_rss_mib"] for r in runs["highs_ours"]),
            "highs_pypsa": max(r["peak_rss_mib"] for r in runs["highs_pypsa"]),
            "pypsa_optimize": max(r["peak_rss_mib"] for r in runs["pypsa"]),
        },
        "vpp_solver": {k: reference["solver"][k] for k in ("solves", "build_ms", "solve_ms")},
        "objectives": objectives,
        "relative_difference": max(relative(objectives["vpp_cost"], v) for v in objectives.values()),
        "cost_parts": {"vpp": totals["cost"], "pypsa": py["cost"]},
        "status": {"highs_ours": ho["status"], "highs_pypsa": hp["status"], "pypsa": py["status"]},
        "runs": runs,
    }
    result["ratio_vpp_to_highs_pypsa_lp"] = result["median_ms"]["vpp_solve_process"] / result["median_ms"]["highs_pypsa_run"]
    return result


def table(results):
    lines = [
        "| horizon | our LP cols × rows | PyPSA LP cols × rows | HiGHS alone, ours (ms) | HiGHS alone, PyPSA's (ms) "
        "| vpp solve, whole process (ms) | PyPSA build + optimize (ms) | vpp whole / HiGHS on PyPSA's LP "
        "| vpp cost (yuan) | PyPSA objective (yuan) | max rel. diff. of the 4 objectives |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        m, o = r["median_ms"], r["objectives"]
        lines.append(
            f"| {r['horizon']} | {r['ours_lp']['cols']} × {r['ours_lp']['rows']} | {r['pypsa_lp']['cols']} × {r['pypsa_lp']['rows']} "
            f"| {m['highs_ours_run']:.1f} | {m['highs_pypsa_run']:.1f} | {m['vpp_solve_process']:.1f} | {m['pypsa_build_optimize']:.0f} "
            f"| {r['ratio_vpp_to_highs_pypsa_lp']:.2f} | {o['vpp_cost']:.2f} | {o['pypsa_optimize']:.2f} | {r['relative_difference']:.1e} |"
        )
    lines.append("")
    lines.append(
        "| horizon | HiGHS read ours / PyPSA's (ms) | PyPSA import / build (ms) | vpp LPs solved, their solve ms (reference run) "
        "| HiGHS objective, our LP | HiGHS objective, PyPSA's LP | peak RSS vpp / PyPSA (MiB) |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        m, o, p, v = r["median_ms"], r["objectives"], r["peak_rss_mib"], r["vpp_solver"]
        lines.append(
            f"| {r['horizon']} | {m['highs_ours_read']:.1f} / {m['highs_pypsa_read']:.1f} | {m['pypsa_import']:.0f} / {m['pypsa_build']:.0f} "
            f"| {v['solves']}, {v['solve_ms']:.0f} | {o['highs_ours_lp']:.2f} | {o['highs_pypsa_lp']:.2f} | {p['vpp_solve']:.0f} / {p['pypsa_optimize']:.0f} |"
        )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vpp", default="target/release/vpp", help="the vpp binary (default: %(default)s)")
    p.add_argument("--model", default="models/xinyang.toml", help="plant file (default: %(default)s)")
    p.add_argument("--day", default="windy-winter", choices=["summer-peak", "spring-valley", "windy-winter"], help="the forecast's kind of day (default: %(default)s)")
    p.add_argument("--horizons", nargs="*", default=list(HORIZONS), choices=list(HORIZONS))
    p.add_argument("--runs", type=int, default=7, help="timed runs per measurement; the median is reported (default: %(default)s)")
    p.add_argument("--work", default="/tmp/pypsa-cmp", help="directory for the plant copy, forecasts and LPs (default: %(default)s)")
    p.add_argument("--json", help="write the results (with every run) here")
    p.add_argument(
        "--venv", help="a virtual environment to make (if missing) with pypsa and highspy, and run the children in (default: this python, which must have them)"
    )
    p.add_argument("--child", choices=["highs", "optimize", "write-lp"], help=argparse.SUPPRESS)
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child == "highs":
        print(json.dumps(child_highs(*a.args)))
        return
    if a.child:
        print(json.dumps(child_pypsa(a.args[0], a.args[1], a.args[2] if a.child == "write-lp" else None)))
        return
    python = sys.executable
    if a.venv:
        python = os.path.join(os.path.abspath(a.venv), "bin", "python")
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", a.venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "pypsa", "highspy"], check=True)
    a.vpp = os.path.abspath(a.vpp)
    os.makedirs(a.work, exist_ok=True)
    plant = plant_copy(a.model, a.work, a.vpp)
    results = []
    for name in a.horizons:
        results.append(run_horizon(name, a, python, plant))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"day": a.day, "model": a.model, "plant_copy": plant, "runs": a.runs, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
