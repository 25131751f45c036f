"""The review gate end to end: patchset-created at salt-api's webhook -> reactor -> pipeline ->
a lab region of the candidate's own (``cand1``, a copy of lab/region-minimal.yml) -> deploy.region
bootstrap of the candidate kit there -> Verified on the Gerrit stand-in -> the region removed.

* Patchset 1 of a change is superseded by patchset 2 while its region is up: it is stopped, its
  region removed, it gets a message and no vote; patchset 2 deploys the whole region and gets +1.
  Patchset 1's region built the role layers of the candidate's package states (``layers: true``):
  patchset 2's nodes mount them, and the deploy runs every state as before.
* Another change posted meanwhile waits in order (``max_regions: 1``) and runs after patchset 2.
* A patchset whose nova.conf template does not render gets -1 naming the stage and the state.
* Nothing of a candidate region is left on the host afterwards: namespaces, bridges, mounts,
  containers, its apt proxy and its minion keys.
"""

import os
import time

import pytest

from releasetrain.lab import region
from tests.support.candidate_lab import (  # noqa: F401 (fixtures)
    assert_nothing_left, deploy_lab_dirs, gate, gate_state_dir, gerrit_server, lab_master_overrides, patchset,
    reviews_of, run_of)
from tests.support.gerrit import post_hook

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

CHANGE, BROKEN = 12501, 12502


def test_a_new_patchset_supersedes_the_running_one_and_gets_plus_one_on_its_own_region(gate, gerrit_server):
    started = time.monotonic()
    first, first_sha = patchset(gate, CHANGE, 1, "nova: patchset 1")
    post_hook(gate.api, first)
    deadline = time.monotonic() + 900
    while not os.path.exists(os.path.join(gate_state_dir(gate.lab_settings), region.STATE_FILE)):
        assert time.monotonic() < deadline, "patchset 1's region did not come up"
        time.sleep(2)
    second, second_sha = patchset(gate, CHANGE, 2, "nova: patchset 2")
    post_hook(gate.api, second)
    deadline = time.monotonic() + 300
    while not [t for t in gate.pipeline.status()["candidate_regions"]["waiting"] if t["patchset"] == 2]:
        assert time.monotonic() < deadline, "patchset 2 did not queue for a region"
        time.sleep(1)  # the other change's ticket comes after patchset 2's
    broken, gate.broken_sha = patchset(gate, BROKEN, 1, "nova: state_path from a setting", _break_nova_conf)
    post_hook(gate.api, broken)

    old = run_of(gate, CHANGE, 1)
    assert old["result"] == "superseded" and "superseded by patchset 2" in old["reason"], old
    assert [r["labels"] for r in reviews_of(gerrit_server, first_sha)] == [{}]

    new = run_of(gate, CHANGE, 2)
    print(f"\nchange {CHANGE}: patchset 1 event to patchset 2's vote: {time.monotonic() - started:.0f} s")
    for run in (old, new):
        print(f"patchset {run['patchset']} ({run['result']}, {run['seconds']:.0f} s):")
        for step in run["steps"]:
            print(f"  {step['step']:<14} {step['seconds']:8.1f} s  {step.get('layers', '')}")
    # patchset 1's region built the role layers of these package states; patchset 2's mounts them
    (region_step,) = [step for step in new["steps"] if step["step"] == "region"]
    assert region_step["layers"] == 4, new["steps"]
    assert new["result"] == "success" and new["region"] == "cand1" and new["envs"] == ["volatile"], new
    (vote,) = reviews_of(gerrit_server, second_sha)
    assert vote["labels"] == {"Verified": 1} and "PASSED" in vote["message"].splitlines()[0], vote
    assert "  ok      " in vote["message"]  # every step's result and time
    # the other change takes cand1 as soon as it is free: what is left is checked once that one is done
    assert [step["ok"] for step in new["steps"] if step["step"] == "remove region"] == [True], new["steps"]


def _break_nova_conf(text):
    broken = text.replace("state_path: /var/lib/nova", "state_path: '{nova_state_dir}'", 1)
    assert broken != text
    return broken


def _seconds(run, name):
    return sum(step["seconds"] for step in run["steps"] if step["step"] == name)


def test_a_nova_conf_template_error_gets_minus_one_naming_the_stage_and_the_state(gate, gerrit_server):
    """The change posted while patchset 2 held the only region: it waited its turn, then failed."""
    run = run_of(gate, BROKEN, 1)
    new = run_of(gate, CHANGE, 2)
    assert run["result"] == "failure", run
    assert _seconds(run, "queue") > _seconds(new, "deploy"), (run["steps"], new["steps"])
    (vote,) = reviews_of(gerrit_server, gate.broken_sha)
    message = vote["message"]
    print("\n" + message)
    assert vote["labels"] == {"Verified": -1}
    assert "halted at stage precheck on cand1-ctl01:" in message, message
    assert "openstack.nova" in message and "nova_state_dir" in message, message
    assert_nothing_left(gate_state_dir(gate.lab_settings), gate.master, gate.lab_settings)
