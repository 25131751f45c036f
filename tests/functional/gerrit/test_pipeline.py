"""The pipeline package against real git repos and a real store; the orchestration is the injected callable."""

import json
import os
import pathlib
import threading

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import pipeline as pipeline_mod
from releasetrain.gerrit.pipeline import Pipeline
from releasetrain.release.store import Store
from tests.support.gerrit import GerritStandIn
from tests.support.gitrepos import commit, formula_entry, make_deploy_kit

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
SECRET = "functional-secret"


@pytest.fixture
def world(formula_repos, rt_paths):
    kit = make_deploy_kit(rt_paths["work"] / "deploy-kit", [formula_entry(formula_repos)], "manifest")
    server = GerritStandIn()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    calls, outcome = [], {"ok": True}

    def orchestrate(sls, saltenv, pillar):
        calls.append((sls, saltenv, dict(pillar)))
        if outcome.get("recorded"):  # as deploy.region does: the run's summary in the store's history
            report = f"/runs/{pillar['env']}-{pillar['release']}.html"
            if outcome.get("record") is not None:  # and its JSON record beside its report
                runs = rt_paths["work"] / "runs"
                runs.mkdir(exist_ok=True)
                report = str(runs / f"{pillar['env']}-{pillar['release']}.html")
                pathlib.Path(report).with_suffix(".json").write_text(json.dumps(outcome["record"]))
            Store(config).record_deploy({"release": pillar["release"], "env": pillar["env"], "outcome": "halted",
                                         "run": "r", "report": report})
        return outcome["ok"], "orchestration says " + ("ok" if outcome["ok"] else "no")

    config = rt_config.load({"releasetrain": {
        "store": str(rt_paths["store"]), "cache": str(rt_paths["cache"]),
        "gerrit": {"secret": SECRET, "projects": {"salt/openstack-formula": {"repo": "openstack-formula"}},
                   "rest": {"url": server.url, "user": "u", "password": "p"}},
        "pipeline": {"deploy_kit": str(kit), "settle": 0}}})
    yield {"pipeline": Pipeline(config, orchestrate), "calls": calls, "outcome": outcome, "gerrit": server,
           "settings": gerrit.settings(config), "formula": formula_repos["formula"]}
    server.shutdown()
    server.server_close()


def signed(world, name, **changes):
    data = json.loads((FIXTURES / name).read_text())
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split(".")
        for key in parents:
            target = target[key]
        target[leaf] = value
    event, why = gerrit.accept(data, world["settings"])
    assert why is None, why
    return event


def test_unsigned_or_tampered_events_never_run(world):
    event = signed(world, "patchset-created.json")
    tampered = dict(event, revision="0" * 40)
    unsigned = {k: v for k, v in event.items() if k != "signature"}
    for bad in (tampered, unsigned):
        assert world["pipeline"].on_event(bad)["result"] == "rejected"
    assert world["calls"] == [] and world["gerrit"].reviews == []
    status = world["pipeline"].status()
    assert status["runs"] == []
    assert [(r["source"], r["result"], r["reason"], r["type"]) for r in status["rejected"]] == [
        ("event", "rejected", "missing or invalid signature", "patchset-created")] * 2


def test_the_rejected_record_keeps_the_newest_and_stays_small(world):
    pipeline = world["pipeline"]
    for number in range(pipeline_mod.REJECTED_KEEP * 4):
        pipeline.write_rejected("hook", "rejected", f"number {number} " + "\x85\ud800" * 200)
    largest_record = 6 * pipeline_mod.REASON_CHARS + 200  # every character escaped to \uXXXX
    most = max(pipeline_mod.REJECTED_TRIM_BYTES, pipeline_mod.REJECTED_KEEP * largest_record) + largest_record
    assert os.path.getsize(pipeline.rejected_path) <= most
    assert pipeline.rejected(limit=1)[0]["reason"].startswith(f"number {pipeline_mod.REJECTED_KEEP * 4 - 1} \x85\ud800")
    assert len(pipeline.rejected(limit=10_000)) <= pipeline_mod.REJECTED_KEEP * 2


def test_a_revision_gerrit_cannot_serve_gets_verified_minus_one(world):
    missing = "1" * 40
    result = world["pipeline"].on_event(signed(world, "patchset-created.json", **{"patchSet.revision": missing}))
    assert result["result"] == "failure"
    review = world["gerrit"].reviews[0]
    assert review["body"]["labels"] == {"Verified": -1} and "FAILED" in review["body"]["message"]
    assert world["calls"] == []


def _patchset(world):
    """A patchset-created event for a new commit of the formula, served at the change's ref."""
    sha = commit(world["formula"], {"openstack/nova.sls": "# candidate\n"}, "candidate", timestamp=1_700_000_200)
    git.Repo(world["formula"]).git.update_ref("refs/changes/45/12345/3", sha)
    return signed(world, "patchset-created.json", **{"patchSet.revision": sha})


HALTED_RECORD = {
    "outcome": "halted",
    "halted": {"stage": "compute", "node": "cmp02", "reason": "nova-conf: Unable to manage file; ...",
               "states": [{"id": "openstack-nova-compute-config-file-managed-nova.conf",
                           "comment": "Unable to manage file: Jinja variable 'x' is undefined\n" + "trace " * 400}]},
    "steps": [{"id": "01-infra", "targets": ["ctl01"], "seconds": 61.2, "result": True},
              {"id": "02-compute-batch1of1", "targets": ["cmp01", "cmp02"], "seconds": 30.04, "result": False}],
}


def test_a_candidate_vote_says_where_its_deploy_halted_and_each_steps_time(world):
    world["outcome"].update(ok=False, recorded=True, record=HALTED_RECORD)
    result = world["pipeline"].on_event(_patchset(world))
    assert result["result"] == "failure"
    (review,) = world["gerrit"].reviews
    message = review["body"]["message"]
    assert review["body"]["labels"] == {"Verified": -1} and message.splitlines()[0].endswith("FAILED")
    lines = message.splitlines()
    at = lines.index("halted at stage compute on cmp02:")
    comment = lines[at + 1]
    assert comment.startswith("  openstack-nova-compute-config-file-managed-nova.conf: Unable to manage file: Jinja")
    assert "trace" not in comment and len(comment) < 300  # the first line of the comment, cut
    assert lines[at + 2:at + 5] == ["steps:", "  ok      01-infra (ctl01) 61.2 s",
                                    "  FAILED  02-compute-batch1of1 (cmp01, cmp02) 30.0 s"]
    report = world["pipeline"].status()["runs"][-1]["steps"][-2]["report"]
    assert f"report: {report}" in lines and "orchestration says no" in lines


def test_a_candidate_that_passed_gets_plus_one_with_its_steps(world):
    record = {"outcome": "deployed", "halted": None,
              "steps": [{"id": "01-infra", "targets": ["ctl01"], "seconds": 61.2, "result": True}]}
    world["outcome"].update(ok=True, recorded=True, record=record)
    world["pipeline"].on_event(_patchset(world))
    (review,) = world["gerrit"].reviews
    assert review["body"]["labels"] == {"Verified": 1}
    assert "  ok      01-infra (ctl01) 61.2 s" in review["body"]["message"].splitlines()
    assert "halted" not in review["body"]["message"]


def test_a_failed_test_deploy_stops_the_train(world):
    sha = commit(world["formula"], {"openstack/nova.sls": "# merged\n"}, "merged", timestamp=1_700_000_300)
    world["outcome"]["ok"] = False
    result = world["pipeline"].on_event(signed(world, "change-merged.json", newRev=sha))
    run = result["ran"][0]
    assert run["result"] == "failure" and run["envs"] == ["test"] and "deploying" in run["error"]
    assert [call[2]["env"] for call in world["calls"]] == ["test"]
    assert world["pipeline"].store.current("staging") is None


def test_each_deploy_step_links_the_report_of_its_deploy_region_run(world):
    sha = commit(world["formula"], {"openstack/nova.sls": "# merged\n"}, "merged", timestamp=1_700_000_300)
    world["outcome"].update(ok=False, recorded=True)
    run = world["pipeline"].on_event(signed(world, "change-merged.json", newRev=sha))["ran"][0]
    (deploy,) = [step for step in run["steps"] if step["step"] == "deploy"]
    assert deploy["report"] == f"/runs/test-{run['release']}.html"
    listed = world["pipeline"].status()
    assert listed["runs"][-1]["steps"] == run["steps"]
    assert listed["store"]["test"]["last_deploy"]["report"] == deploy["report"]


def test_an_older_merge_arriving_late_is_superseded(world):
    new = commit(world["formula"], {"openstack/nova.sls": "# new\n"}, "new", timestamp=1_700_000_400)
    world["pipeline"].on_event(signed(world, "change-merged.json", newRev=new, eventCreatedOn=1_764_003_700))
    late = world["pipeline"].on_event(signed(world, "change-merged.json", newRev="2" * 40, eventCreatedOn=1_764_003_600))
    assert late["result"] == "superseded" and "later" in late["reason"]


def test_comments_without_the_approval_vote_do_nothing(world):
    no_vote = signed(world, "comment-added.json", approvals=[{"type": "Code-Review", "value": "2"}])
    assert world["pipeline"].on_event(no_vote)["result"] == "ignored"
    nothing_waiting = signed(world, "comment-added.json")
    assert "no release awaiting approval" in world["pipeline"].on_event(nothing_waiting)["reason"]


@pytest.mark.parametrize("section", [["deploy_kit"], "text", {"deploy": ["deploy.region"]}, {"candidate": "volatile"}])
def test_a_pipeline_section_of_the_wrong_shape_is_one_line(tmp_path, section):
    config = rt_config.load({"releasetrain": {"store": str(tmp_path), "pipeline": section}})
    with pytest.raises(pipeline_mod.ReleaseTrainError, match=r"^releasetrain:pipeline(:\w+)? must be a mapping"):
        pipeline_mod.pipeline_settings(config)


def test_a_merge_commits_the_manifest_with_only_its_repos_sha_changed(world):
    import git

    sha = commit(world["formula"], {"openstack/nova.sls": "# merged\n"}, "merged", timestamp=1_700_000_500)
    kit = git.Repo(world["pipeline"].kit.path)
    before = kit.head.commit.hexsha
    result = world["pipeline"].on_event(signed(world, "change-merged.json", newRev=sha))
    assert result["commit"] == kit.head.commit.hexsha != before
    diff = kit.git.diff(before, result["commit"], "--unified=0").splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2 and changed[0].startswith("-") and changed[1] == changed[0].replace("-", "+", 1).replace(
        changed[0].split()[-1], sha)
    assert "Change: 12345" in kit.head.commit.message


def test_a_deploy_kit_manifest_naming_the_repo_twice_is_refused_in_one_line(world):
    import yaml

    pipeline = world["pipeline"]
    path = os.path.join(pipeline.kit.path, pipeline.kit.manifest)
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    data["repos"].append(dict(data["repos"][0]))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)
    sha = commit(world["formula"], {"openstack/nova.sls": "# merged\n"}, "merged", timestamp=1_700_000_600)
    with pytest.raises(pipeline_mod.ReleaseTrainError, match=r"^manifest.yml: no single repo named 'openstack-formula'"):
        pipeline.on_event(signed(world, "change-merged.json", newRev=sha))
    assert pipeline.status()["runs"] == [] and pipeline.status()["queued"] == []
