"""The review gate's speed, for ``bench/candidate_vote.py`` (not collected by a plain ``pytest``: the
file name does not start with ``test_``).

Each round posts changes' patchset-created events, one after the other, through salt-api, and
times each from the POST to its vote: *cold*, with the role layers' cache emptied first (the
candidate's region builds them, then bootstraps), and *warm*, a second change with the same
package states (its nodes mount those layers).  With ``RELEASETRAIN_CANDIDATE_LAYERS=0`` a round
is one *plain* change instead: no layers, every package installed by the states, the bootstrap
a production region gets.  The rounds, their steps and the votes go to the JSON file
``RELEASETRAIN_BENCH_OUT`` names (appended to: one file for both kinds of run).
"""

import json
import os
import shutil
import time

import pytest

from releasetrain.lab import layers
from tests.support.candidate_lab import (  # noqa: F401 (fixtures)
    deploy_lab_dirs, gate, gerrit_server, lab_master_overrides, layers_on, patchset, reviews_of, run_of)
from tests.support.gerrit import post_hook

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

FIRST_CHANGE = 13001


def test_patchset_to_vote(gate, gerrit_server):
    rounds = int(os.environ.get("RELEASETRAIN_BENCH_ROUNDS", "1"))
    out = os.environ.get("RELEASETRAIN_BENCH_OUT")
    results = json.load(open(out, encoding="utf-8")) if out and os.path.exists(out) else []
    change = FIRST_CHANGE + len(results)
    layered = layers_on()
    cases = ("cold", "warm") if layered else ("plain",)
    for number in range(1, rounds + 1):
        if layered:
            shutil.rmtree(layers.root_dir(gate.lab_settings), ignore_errors=True)
        for case in cases:
            event, sha = patchset(gate, change, 1, f"bench round {number}: {case}")
            started = time.monotonic()
            post_hook(gate.api, event)
            run = run_of(gate, change, 1)
            seconds = time.monotonic() - started
            (vote,) = reviews_of(gerrit_server, sha)
            results.append({"round": number, "case": case, "seconds": round(seconds, 1), "result": run["result"],
                            "vote": vote["labels"], "message": vote.get("message"), "steps": run["steps"],
                            "load": os.getloadavg()})
            print(f"round {number} {case}: {seconds:.0f} s, {run['result']}, {vote['labels']}")
            if out:
                with open(out, "w", encoding="utf-8") as handle:
                    json.dump(results, handle, indent=1)
            assert run["result"] == "success" and vote["labels"] == {"Verified": 1}, run
            change += 1
