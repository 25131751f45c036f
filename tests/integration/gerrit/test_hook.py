"""Gerrit's webhooks plugin -> salt-api /hook -> reactor -> pipeline runner, all real but Gerrit."""

import json
import os
import time

import git
import pytest
import yaml

from releasetrain import config as rt_config
from releasetrain.gerrit.pipeline import Pipeline

from tests.support.gerrit import (PROJECT, SECRET, basic, candidate_event, post_hook, recorded,
                                               runner_returns)
from tests.support.gitrepos import commit

pytestmark = pytest.mark.slow


def merged_event(formula, change, created):
    sha = commit(formula, {"openstack/nova.sls": f"# merged {change}\n"}, f"change {change}", timestamp=created)
    event = recorded("change-merged.json")
    event["change"]["number"] = change
    event["patchSet"].update(ref=f"refs/changes/{change % 100:02d}/{change}/3", revision=sha)
    event.update(newRev=sha, eventCreatedOn=created)
    return event


def test_forged_secretless_unknown_and_malformed_hooks_never_reach_the_pipeline(
        running, event_listener, gerrit_rest, rt_paths):
    master = running()
    start = time.time()
    good = recorded("patchset-created.json")
    # salt-api takes each of them (post_hook checks its 200 and success); the runner drops them
    for path in ("gerrit/not-the-secret", "gerrit", f"gerrit/{SECRET}x", f"gerrit/{SECRET[:-1]}"):
        post_hook(master, good, path=path)
    post_hook(master, recorded("patchset-created-unknown-project.json"))
    for hostile in ("project-shell", "sha-short", "ref-traversal", "jinja-yaml-injection"):
        post_hook(master, recorded(f"../gerrit/hostile/{hostile}.json"))
    post_hook(master, "[1, 2, 3]")
    returns = runner_returns(master, "pipeline.handle_hook", start, 10)
    results = sorted(r["return"]["result"] for r in returns)
    assert results == ["ignored"] + ["rejected"] * 9, returns
    assert not os.path.exists("/tmp/releasetrain-pwned")
    assert all(r["return"]["reason"] == "wrong or missing secret"
               for r in returns if r["return"]["result"] == "rejected" and "secret" in r["return"]["reason"])
    assert sum("secret" in r["return"]["reason"] for r in returns) == 4
    time.sleep(1)
    assert not event_listener.get_events([(master.id, "releasetrain/gerrit/*")], after_time=start)
    assert not runner_returns(master, "pipeline.on_event", start, 1, timeout=0)
    assert gerrit_rest.reviews == []
    assert not (rt_paths["store"] / "pipeline" / "runs.jsonl").exists()
    shown = master.salt_run_cli().run("pipeline.status")
    assert sorted((r["source"], r["result"]) for r in shown.data["rejected"]) == sorted(
        ("hook", r["return"]["result"]) for r in returns), shown.stdout
    assert sum(r["reason"] == "wrong or missing secret" for r in shown.data["rejected"]) == 4
    assert SECRET[:8] not in shown.stdout and SECRET[:8] not in (rt_paths["store"] / "pipeline" / "rejected.jsonl").read_text()


def test_with_secret_header_set_only_the_header_carries_the_secret(running, gerrit_rest, formula_repos):
    """Then the hook's URL holds no secret (none in salt-api's access log or the event tag), and a
    secret in the path no longer counts."""
    master = running(secret_header="X-Releasetrain-Secret")
    start = time.time()
    event = candidate_event(formula_repos["formula"])
    post_hook(master, event, path="gerrit")
    post_hook(master, event, path=f"gerrit/{SECRET}")
    post_hook(master, event, path="gerrit", headers={"X-Releasetrain-Secret": SECRET[:-1]})
    returns = runner_returns(master, "pipeline.handle_hook", start, 3)
    assert [(r["return"]["result"], r["return"]["reason"]) for r in returns] == [
        ("rejected", "wrong or missing secret")] * 3, returns
    assert gerrit_rest.reviews == []
    post_hook(master, event, path="gerrit", headers={"x-releasetrain-secret": SECRET})
    reviews = gerrit_rest.wait_for_reviews(1)
    assert [review["body"]["labels"] for review in reviews] == [{"Verified": 1}]


def test_patchset_created_leads_to_a_vote(running, gerrit_rest, formula_repos, record_dir, rt_paths):
    master = running()
    event = candidate_event(formula_repos["formula"])
    post_hook(master, event)
    reviews = gerrit_rest.wait_for_reviews(1)
    assert len(reviews) == 1
    revision = event["patchSet"]["revision"]
    assert reviews[0]["path"] == f"/a/changes/salt%2Fopenstack-formula~12345/revisions/{revision}/review"
    assert reviews[0]["auth"] == basic("releasetrain", "http-pw")
    assert reviews[0]["body"]["labels"] == {"Verified": 1}
    assert "PASSED" in reviews[0]["body"]["message"] and revision[:12] in reviews[0]["body"]["message"]
    deployed = [json.loads(p.read_text()) for p in record_dir.glob("volatile--*.json")]
    assert [d["mode"] for d in deployed] == ["bootstrap"]
    served = yaml.safe_load((rt_paths["store"] / "envs" / "volatile" / ".releasetrain.yml").read_text())
    assert served["release"] == deployed[0]["release"]
    candidate_pin = next(r for r in served["repos"] if r["name"] == "openstack-formula")
    assert candidate_pin["sha"] == revision and candidate_pin["ref"] == event["patchSet"]["ref"]

    (record_dir / "fail").write_text("")
    failing = candidate_event(formula_repos["formula"], change=12346, patchset=1)
    post_hook(master, failing)
    reviews = gerrit_rest.wait_for_reviews(2)
    assert reviews[1]["body"]["labels"] == {"Verified": -1}
    assert "FAILED" in reviews[1]["body"]["message"] and "fake-deploy-fails" in reviews[1]["body"]["message"]
    status = master.salt_run_cli().run("pipeline.status")
    assert [r["result"] for r in status.data["runs"]] == ["success", "failure"], status.stdout


def wait_runs(master, done, timeout=120):
    """Poll the pipeline's records directly (a salt-run per poll costs seconds on a small machine)."""
    pipeline = Pipeline(rt_config.load(master.config), orchestrate=None)
    deadline = time.monotonic() + timeout
    while True:
        data = pipeline.status(limit=50)
        if done(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.3)


def test_change_merged_goes_to_test_then_staging_then_waits_for_approval(
        running, formula_repos, record_dir, deploy_kit):
    master = running()
    event = merged_event(formula_repos["formula"], 12345, 1_764_003_600)
    post_hook(master, event)
    status = wait_runs(master, lambda d: any(r["result"] not in ("queued", "running") for r in d["runs"]))
    run = status["runs"][-1]
    assert run["result"] == "awaiting-approval", run
    assert run["envs"] == ["test", "staging"]
    assert [s["step"] for s in run["steps"]] == ["package", "publish", "deploy", "verify", "promote", "deploy", "verify"]
    assert status["store"]["test"]["release"] == status["store"]["staging"]["release"] == run["release"]
    assert status["store"]["staging"]["verified"] and status["store"]["production"]["release"] is None
    assert status["awaiting_approval"][0]["release"] == run["release"]
    pinned = git.Repo(str(deploy_kit)).git.show("HEAD:manifest.yml")
    assert event["newRev"] in pinned
    assert "change 12345 merged" in git.Repo(str(deploy_kit)).head.commit.message

    approval = recorded("comment-added.json")
    approval["patchSet"] = event["patchSet"]
    post_hook(master, approval)
    status = wait_runs(master, lambda d: d["runs"][-1]["kind"] == "approval")
    assert status["store"]["production"]["release"] == run["release"]
    assert status["runs"][-1]["kind"] == "approval" and status["runs"][-1]["result"] == "success"
    assert status["awaiting_approval"] == []


def test_three_quick_merges_deploy_only_the_newest(running, formula_repos, record_dir):
    master = running(settle=4)
    events = [merged_event(formula_repos["formula"], 12345 + n, 1_764_003_600 + n) for n in range(3)]
    for event in events:
        post_hook(master, event)
    status = wait_runs(master, lambda d: len(d["runs"]) == 3 and all(
        r["result"] not in ("queued", "running") for r in d["runs"]))
    by_change = {r["change"]: r for r in status["runs"]}
    assert [by_change[12345 + n]["result"] for n in range(3)] == ["superseded", "superseded", "awaiting-approval"]
    newest = by_change[12347]
    for older in (by_change[12345], by_change[12346]):
        # superseded by the train, or (when the reactor's threads ran them out of order) by a later event
        assert older.get("superseded_by") == newest["id"] or "created later" in older.get("reason", ""), older
    assert len(list(record_dir.glob("test--*.json"))) == 1
    assert len(list(record_dir.glob("staging--*.json"))) == 1
    assert status["store"]["staging"]["release"] == newest["release"]
    shown = master.salt_run_cli().run("pipeline.status")
    assert shown.returncode == 0 and shown.data["runs"][-1]["id"] == newest["id"]
