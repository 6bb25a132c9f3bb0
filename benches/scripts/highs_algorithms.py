#!/usr/bin/env python3
"""HiGHS alone on one LP (an MPS file, e.g. `vpp solve --mps`) with each of its LP
algorithms, one fresh process per algorithm, for issue 16 item 5 (pick the algorithm for
a 15-minute year by measurement). Prints, per algorithm: model status, objective, wall
time of read + run, iterations and the process's peak RSS.

Needs highspy (HiGHS's own Python binding; the script makes a virtual environment with it
if asked to: --venv DIR). Example:

    target/release/vpp forecast --model models/xinyang.toml --day spring-valley \
        --interval 15 --days 365 --out /tmp/y15.json
    target/release/vpp solve ... --objective cost --mps /tmp/y15.mps   # (stop it after the file is written)
    python3 benches/scripts/highs_algorithms.py /tmp/y15.mps --venv /tmp/hv \
        --time-limit 1800 ipm-no-crossover ipm dual

Algorithms: dual (dual simplex after presolve, HiGHS's default), primal, ipm (interior
point with crossover), ipm-no-crossover, pdlp (first-order; not exact).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SETTINGS = {
    "dual": {"solver": "simplex", "simplex_strategy": 1},
    "primal": {"solver": "simplex", "simplex_strategy": 4},
    "ipm": {"solver": "ipm", "run_crossover": "on"},
    "ipm-no-crossover": {"solver": "ipm", "run_crossover": "off"},
    "pdlp": {"solver": "pdlp"},
}


def child(path, algorithm, time_limit):
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(time_limit))
    for k, v in SETTINGS[algorithm].items():
        h.setOptionValue(k, v)
    started = time.perf_counter()
    h.readModel(path)
    read_s = time.perf_counter() - started
    h.run()
    total_s = time.perf_counter() - started
    info = h.getInfo()
    out = {
        "algorithm": algorithm,
        "status": h.modelStatusToString(h.getModelStatus()),
        "objective": info.objective_function_value,
        "read_s": round(read_s, 2),
        "total_s": round(total_s, 2),
        "simplex_iterations": info.simplex_iteration_count,
        "ipm_iterations": info.ipm_iteration_count,
        "crossover_iterations": info.crossover_iteration_count,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
    }
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mps")
    p.add_argument("algorithms", nargs="*", default=["ipm-no-crossover", "ipm", "dual"])
    p.add_argument("--time-limit", type=float, default=3600.0)
    p.add_argument("--venv", help="a virtual environment to make (if missing) with highspy, and run in")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_intermixed_args()
    if a.child:
        child(a.mps, a.child, a.time_limit)
        return
    python = sys.executable
    if a.venv:
        python = os.path.join(a.venv, "bin", "python")
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", a.venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "highspy"], check=True)
    for algorithm in a.algorithms:
        if algorithm not in SETTINGS:
            sys.exit(f"unknown algorithm {algorithm!r}: one of {', '.join(SETTINGS)}")
        r = subprocess.run(
            [python, __file__, a.mps, "--time-limit", str(a.time_limit), "--child", algorithm],
            capture_output=True,
            text=True,
        )
        line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else json.dumps({"algorithm": algorithm, "error": r.stderr[-500:]})
        print(line, flush=True)


if __name__ == "__main__":
    main()
