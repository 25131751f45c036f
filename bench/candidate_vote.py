"""Benchmark: a patchset to its Verified vote on a candidate region of its own, cold and warm.

Runs ``tests/integration/gerrit/vote_bench.py`` (a real salt-master and salt-api with the reactors,
the Gerrit stand-in, the lab copy ``cand1`` of the default region, the real formula): each round
posts a patchset-created event with the role layers' cache emptied (cold: the region builds the
layers, then bootstraps) and then another change's (warm: its nodes mount them), and times each
from the POST to the vote.  Reports medians, each step's median, and warm/cold.  Needs root and
the lab; it empties ``<lab cache_dir>/layers`` (the role layers are a cache).  One round takes
about 25 minutes on 2 cores.

    .venv/bin/python bench/candidate_vote.py [--rounds 1] [--out bench/results/vote.md]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = "tests/integration/gerrit/vote_bench.py"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "vote.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "rounds.json")
        env = dict(os.environ, RELEASETRAIN_BENCH_ROUNDS=str(args.rounds), RELEASETRAIN_BENCH_OUT=raw,
                   RELEASETRAIN_REGION_TESTS="1")
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", CASES, "-q", "-s", "-p", "no:cacheprovider"],
                              cwd=ROOT, env=env, check=False)
        results = json.load(open(raw, encoding="utf-8")) if os.path.exists(raw) else []
    if proc.returncode != 0 or not results:
        print(f"candidate_vote: the cases failed ({proc.returncode}); {len(results)} vote(s) measured", file=sys.stderr)
        if not results:
            return 1
    report = render(results, started, args.rounds, proc.returncode)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(report)
    print(report)
    return 0 if proc.returncode == 0 else 1


def render(results, started, rounds, returncode):
    by_case = {case: [r for r in results if r["case"] == case] for case in ("cold", "warm")}
    medians = {case: statistics.median(r["seconds"] for r in runs) for case, runs in by_case.items() if runs}
    lines = [
        "# A patchset to its vote on a candidate region (bench/candidate_vote.py)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {rounds} round(s){'' if returncode == 0 else ', the cases FAILED'}. "
        "From the POST of patchset-created to salt-api until the vote, the default 4-node region "
        "copied as cand1, the real formula, the apt cache warm.",
        "",
        "| case | target | median | runs | load at the end |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for case, runs in by_case.items():
        if runs:
            target = "under 8 min" if case == "warm" else "(the baseline: layers built)"
            seconds = ", ".join(f"{run['seconds']:.0f}" for run in runs)
            loads = ", ".join(f"{run['load'][0]:.1f}" for run in runs)
            lines.append(f"| {case} | {target} | {medians[case]:.0f} s | {seconds} | {loads} |")
    if "cold" in medians and "warm" in medians:
        lines += ["", f"warm / cold: {medians['warm'] / medians['cold']:.2f}"]
    deploys = [s["seconds"] for r in by_case.get("warm", []) for s in r["steps"] if s["step"] == "deploy"]
    if deploys:
        lines += ["", f"The bootstrap of the region (the deploy step: every state in full, the packages in the "
                      f"role layers), warm: median {statistics.median(deploys):.0f} s; target under 10 min "
                      f"({'met' if statistics.median(deploys) < 600 else 'not met'})."]
    lines += ["", "Median seconds of each step of the pipeline run:", "",
              "| step | cold | warm |", "| --- | ---: | ---: |"]
    steps = []
    for runs in by_case.values():
        for run in runs:
            steps += [step["step"] for step in run["steps"] if step["step"] not in steps]
    for step in steps:
        cells = []
        for case in ("cold", "warm"):
            values = [s["seconds"] for r in by_case[case] for s in r["steps"] if s["step"] == step]
            cells.append(f"{statistics.median(values):.1f}" if values else "")
        lines.append(f"| {step} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
