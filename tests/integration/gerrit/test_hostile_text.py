"""Real Gerrit payloads whose every string holds generated text over the whole of Unicode, posted
through the real salt-api: each reaches handle_hook (job cache), good ones the pipeline and a vote;
hostile text in a checked field is rejected with a reason, never dropped in silence.

Lone surrogates are left out of what goes through salt-api: salt-api cannot put them on the master
bus (msgpack refuses them) and answers 500, which the last test pins (Gerrit then retries; it
never sends them anyway: Java's UTF-8 encoder writes an unpaired surrogate as '?'). The reactors
and the runner take them: tests/unit/gerrit/test_reactors.py.
"""

import copy
import json
import time

import pytest
import requests

from releasetrain import config as rt_config
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit.pipeline import Pipeline

from tests.support.gerrit import SECRET, candidate_event, post_hook, recorded, runner_returns
from tests.unit.gerrit.hostile_text import hook_body, hostile_strings, with_hostile_strings

pytestmark = pytest.mark.slow

SEED = 20261203
KINDS = ("patchset-created", "change-merged", "comment-added", "ref-updated")
# Every field normalise() checks, per kind: hostile text in any of them is rejected, naming the value.
CHECKED = {
    "patchset-created": ("type", "project", "change.project", "change.branch", "change.number", "change.id",
                         "patchSet.number", "patchSet.revision", "patchSet.ref", "eventCreatedOn"),
    "change-merged": ("newRev", "change.branch", "patchSet.ref", "project"),
    "comment-added": ("approvals.0.type", "approvals.1.value", "project.name", "change.number"),
    "ref-updated": ("refUpdate.project", "refUpdate.refName", "refUpdate.newRev", "refUpdate.oldRev"),
}


def free_text_event(kind, strings, created, base=None):
    """A recorded event (or ``base``) with hostile text in every field normalise() does not check,
    plus a topic and hashtags as newer Gerrit versions send; ``created`` makes its key unique."""
    event = copy.deepcopy(base) if base else recorded(f"{kind}.json")
    if "change" in event:
        event["change"].update(topic="", hashtags=["", ""])
    filled = with_hostile_strings(event, strings)
    filled.update(eventCreatedOn=created, **{"project": event["project"]} if "project" in event else {})
    return filled


def with_value(event, path, value):
    event = copy.deepcopy(event)
    *parents, leaf = path.split(".")
    target = event
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(leaf) if isinstance(target, list) else leaf] = value
    return event


def test_any_text_in_any_field_reaches_the_pipeline_or_a_reason(running, gerrit_rest, formula_repos, rt_paths):
    master = running()
    start = time.time()
    good, bad = [], []
    real = candidate_event(formula_repos["formula"])  # a patchset the pipeline can build: it must get +1
    for index in range(6):
        seed = SEED + index
        strings = hostile_strings(seed, 24, surrogates=False)
        for kind in KINDS:
            base = real if (index, kind) == (0, "patchset-created") else None
            good.append((seed, free_text_event(kind, strings, 1_764_000_000 + 10 * index + KINDS.index(kind), base)))
        for offset, (kind, path) in enumerate((k, p) for k in KINDS for p in CHECKED[k]):
            if offset % 6 == index:
                bad.append((seed, path, strings[offset % len(strings)],
                            with_value(free_text_event(kind, strings, 1_700_000_000 + offset), path,
                                       strings[offset % len(strings)])))
    for number, (seed, event) in enumerate(good):
        post_hook(master, hook_body(event, raw_utf8=number % 2 == 0))
    for number, (seed, _, _, event) in enumerate(bad):
        post_hook(master, hook_body(event, raw_utf8=number % 2 == 1))

    returns = [r["return"] for r in runner_returns(master, "pipeline.handle_hook", start, len(good) + len(bad))]
    seeds = f"seeds {SEED}..{SEED + 5}"
    forwarded = sorted(r["key"] for r in returns if r["result"] == "forwarded")
    expected = sorted(gerrit_key(event) for _, event in good)
    assert forwarded == expected, f"{seeds}: {[r for r in returns if r['result'] != 'forwarded']}"
    rejected = [r["reason"] for r in returns if r["result"] == "rejected"]
    assert len(rejected) == len(bad) == len(returns) - len(good), f"{seeds}: {returns}"
    for seed, path, value, _ in bad:
        assert any(repr(value)[:40] in reason for reason in rejected), f"seed {seed}: {path}={value!r}: {rejected}"

    # every forwarded event reached on_event, signed and checked again, and the real patchset got +1
    on_event = runner_returns(master, "pipeline.on_event", start, len(good), timeout=120)
    acted = sorted(r["fun_args"][0]["event"]["key"] for r in on_event)
    assert acted == expected, seeds
    assert not [r for r in on_event if "error" in r["return"] or r["return"].get("result") in ("rejected", "ignored")
                and "no action" not in r["return"]["reason"] and "awaiting" not in r["return"]["reason"]], on_event
    reviews = gerrit_rest.wait_for_reviews(6)
    votes = {review["path"].split("/revisions/")[1].split("/")[0]: review["body"]["labels"] for review in reviews}
    assert votes[real["patchSet"]["revision"]] == {"Verified": 1}, reviews

    status = Pipeline(rt_config.load(master.config), orchestrate=None).status(limit=100)
    assert len([r for r in status["rejected"] if r["source"] == "hook"]) == len(bad)


def gerrit_key(event):
    return gerrit.normalise(event)["key"]


def test_salt_api_refuses_a_lone_surrogate_with_an_error_gerrit_sees(running):
    """salt-api cannot fire such a hook (msgpack refuses lone surrogates): it must not say 200 then."""
    master = running()
    event = recorded("patchset-created.json")
    event["change"]["subject"] = "lone \ud800 surrogate"
    reply = requests.post(f"{master.api_url}/hook/gerrit/{SECRET}", data=hook_body(event, raw_utf8=False),
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code >= 500, reply.text
