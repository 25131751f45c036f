"""Benchmark: a patchset to its Verified vote on a candidate region of its own, cold, warm and plain.

Runs ``tests/integration/gerrit/vote_bench.py`` (a real salt-master and salt-api with the reactors,
the Gerrit stand-in, the lab copy ``cand1`` of the default region, the real formula): each round
posts a patchset-created event with the role layers' cache emptied (cold: the region builds the
layers, then bootstraps) and then another change's (warm: its nodes mount them), and times each
from the POST to the vote.  Then, in a second run of the cases with the candidate regions' layers
off, each round posts one more change (plain: every package installed by the states, as on a
production region; ``--no-plain`` skips it).  Reports medians, each step's median, warm/cold and
the bootstrap (the deploy step) with and without layers.  Needs root and the lab; it empties
``<lab cache_dir>/layers`` (the role layers are a cache).  A round takes about 20 minutes on 2
cores (10 without the plain case).

    .venv/bin/python bench/candidate_vote.py [--rounds 1] [--no-plain] [--out bench/results/vote-bench.md]
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
sys.path.insert(0, ROOT)

from tests.support.candidate_lab import LAYERS_ENV  # noqa: E402  pylint: disable=wrong-import-position

CASES = "tests/integration/gerrit/vote_bench.py"
KINDS = ("cold", "warm", "plain")
TARGETS = {"cold": "(the baseline: layers built)", "warm": "under 8 min",
           "plain": "(no layers: what a production region installs)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-plain", action="store_true", help="skip the plain case (no layers)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "vote-bench.md"))
    args = parser.parse_args()
    returncode = 0
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "rounds.json")
        started = time.time()
        for layers in ("1",) if args.no_plain else ("1", "0"):
            env = dict(os.environ, RELEASETRAIN_BENCH_ROUNDS=str(args.rounds), RELEASETRAIN_BENCH_OUT=raw,
                       RELEASETRAIN_REGION_TESTS="1", **{LAYERS_ENV: layers})
            proc = subprocess.run([sys.executable, "-m", "pytest", CASES, "-q", "-s", "-p", "no:cacheprovider"],
                                  cwd=ROOT, env=env, check=False)
            returncode = returncode or proc.returncode
        results = json.load(open(raw, encoding="utf-8")) if os.path.exists(raw) else []
    if returncode != 0 or not results:
        print(f"candidate_vote: the cases failed ({returncode}); {len(results)} vote(s) measured", file=sys.stderr)
        if not results:
            return 1
    report = render(results, started, args.rounds, returncode)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(report)
    print(report)
    return 0 if returncode == 0 else 1


def render(results, started, rounds, returncode):
    by_case = {case: [r for r in results if r["case"] == case] for case in KINDS}
    medians = {case: statistics.median(r["seconds"] for r in runs) for case, runs in by_case.items() if runs}
    lines = [
        "# A patchset to its vote on a candidate region (bench/candidate_vote.py)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {rounds} round(s){'' if returncode == 0 else ', the cases FAILED'}. "
        "From the POST of patchset-created to salt-api until the vote, the default 4-node region "
        "copied as cand1, the real formula, the apt cache warm; cold and warm over role layers, plain "
        "without them.",
        "",
        "| case | target | median | runs | load at the end |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for case, runs in by_case.items():
        if runs:
            target = TARGETS[case]
            seconds = ", ".join(f"{run['seconds']:.0f}" for run in runs)
            loads = ", ".join(f"{run['load'][0]:.1f}" for run in runs)
            lines.append(f"| {case} | {target} | {medians[case]:.0f} s | {seconds} | {loads} |")
    if "cold" in medians and "warm" in medians:
        lines += ["", f"warm / cold: {medians['warm'] / medians['cold']:.2f}"]
    if "plain" in medians and "warm" in medians:
        lines += ["", f"warm / plain: {medians['warm'] / medians['plain']:.2f}"]
    for case, how in (("warm", "every state in full, the packages in the role layers"),
                      ("plain", "every state in full, every package installed by them")):
        deploys = [s["seconds"] for r in by_case[case] for s in r["steps"] if s["step"] == "deploy"]
        if deploys:
            median = statistics.median(deploys)
            lines += ["", f"The bootstrap of the region (the deploy step: {how}), {case}: median {median:.0f} s; "
                          f"target under 10 min ({'met' if median < 600 else 'not met'})."]
    kinds = [case for case in KINDS if by_case[case]]
    lines += ["", "Median seconds of each step of the pipeline run:", "",
              f"| step | {' | '.join(kinds)} |", f"| --- |{' ---: |' * len(kinds)}"]
    steps = []
    for runs in by_case.values():
        for run in runs:
            steps += [step["step"] for step in run["steps"] if step["step"] not in steps]
    for step in steps:
        cells = []
        for case in kinds:
            values = [s["seconds"] for r in by_case[case] for s in r["steps"] if s["step"] == step]
            cells.append(f"{statistics.median(values):.1f}" if values else "")
        lines.append(f"| {step} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
