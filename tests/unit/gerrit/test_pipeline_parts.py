"""The parts Pipeline coordinates: the run log, the train queue, the manifest pin."""

import contextlib

import pytest
import yaml

from releasetrain.gerrit import queue as train_queue
from releasetrain.gerrit.deploykit import PinError, pin_sha
from releasetrain.gerrit.queue import TrainQueue
from releasetrain.gerrit.runlog import REASON_CHARS, Run, RunLog

OLD, NEW, OTHER = "a" * 40, "b" * 40, "c" * 40


def no_lock():
    return contextlib.nullcontext()


# -- the run log -----------------------------------------------------------------------------------

def test_a_run_records_its_steps_and_is_written_and_fired_when_it_finishes(tmp_path):
    runlog, fired = RunLog(str(tmp_path), no_lock), []
    run = Run(runlog, lambda tag, data: fired.append(tag), {"type": "change-merged", "new_rev": NEW, "revision": OLD,
                                                          "change": 5, "repo": "f"}, "merge")
    with run.step("publish", "test"):
        pass
    with pytest.raises(RuntimeError):
        with run.step("deploy", "test") as step:
            step["detail"] = "x"
            raise RuntimeError("boom")
    record = run.finish("failure", error="boom")
    assert record["revision"] == NEW and record["kind"] == "merge" and record["result"] == "failure"
    assert [(s["step"], s["env"], s["ok"]) for s in record["steps"]] == [("publish", "test", True), ("deploy", "test", False)]
    assert record["steps"][1]["error"] == "boom" and record["steps"][1]["detail"] == "x"
    assert fired == ["run/failure"]
    assert runlog.runs() == [{**record, "time": runlog.runs()[0]["time"]}]


def test_the_newest_record_of_a_run_is_its_state(tmp_path):
    runlog = RunLog(str(tmp_path), no_lock)
    for record in ({"id": "a", "result": "queued"}, {"id": "b", "result": "queued"}, {"id": "a", "result": "success"}):
        runlog.write_run(record)
    assert [(r["id"], r["result"]) for r in runlog.runs()] == [("b", "queued"), ("a", "success")]
    assert runlog.run("a")["result"] == "success" and runlog.run("nope") is None


def test_a_rejected_record_keeps_type_and_key_and_a_short_reason_only(tmp_path):
    runlog = RunLog(str(tmp_path), no_lock)
    runlog.write_rejected("hook", "rejected", "x" * 1000, {"type": "patchset-created", "key": "k", "secret": "s"})
    runlog.write_rejected("hook", "failed", "no event", "not a dict")
    first, second = runlog.rejected()
    assert {k: v for k, v in first.items() if k != "time"} == {
        "source": "hook", "result": "rejected", "reason": "x" * REASON_CHARS, "type": "patchset-created", "key": "k"}
    assert "type" not in second and runlog.rejected(limit=1) == [second]


def test_the_run_log_takes_its_lock_for_every_write(tmp_path):
    taken = []

    @contextlib.contextmanager
    def lock():
        taken.append(True)
        yield

    runlog = RunLog(str(tmp_path), lock)
    runlog.write_run({"id": "a"})
    runlog.write_rejected("event", "rejected", "why")
    assert len(taken) == 2


# -- the train queue -----------------------------------------------------------------------------------

def merge(created, repo="f", change=1):
    return {"repo": repo, "created": created, "change": change, "project": "salt/f"}


def test_a_merge_created_before_the_last_one_queued_for_its_repo_is_superseded():
    queue = train_queue.empty()
    assert not train_queue.superseded(queue, "f", 100)
    train_queue.add_merge(queue, merge(100), "run1", "c1")
    assert train_queue.superseded(queue, "f", 99)
    assert not train_queue.superseded(queue, "f", 100) and not train_queue.superseded(queue, "f", 101)
    assert not train_queue.superseded(queue, "f", 0)  # unknown creation time: never superseded
    assert not train_queue.superseded(queue, "g", 1)  # another repo
    train_queue.add_merge(queue, merge(50), "run2", "c2")
    assert queue["last_created"] == {"f": 100}
    assert [(e["run"], e["commit"], e["change"]) for e in queue["pending"]] == [("run1", "c1", 1), ("run2", "c2", 1)]


def test_the_train_takes_all_pending_merges_and_deploys_the_newest(tmp_path):
    queue = TrainQueue(str(tmp_path / "pipeline"), no_lock)
    assert queue.read() == train_queue.empty() and not queue.has_pending()
    for number in range(3):
        with queue.changing() as state:
            train_queue.add_merge(state, merge(number), f"run{number}", f"c{number}")
    assert queue.has_pending()
    pending = queue.take_pending()
    assert not queue.has_pending() and queue.read()["last_created"] == {"f": 2}
    newest, older = train_queue.newest(pending)
    assert newest["run"] == "run2" and [e["run"] for e in older] == ["run0", "run1"]


def test_a_change_of_the_queue_that_fails_is_not_written(tmp_path):
    queue = TrainQueue(str(tmp_path), no_lock)
    with pytest.raises(RuntimeError):
        with queue.changing() as state:
            train_queue.add_merge(state, merge(1), "run1", "c1")
            raise RuntimeError("the deploy-kit commit failed")
    assert not queue.has_pending()


def test_an_unreadable_queue_reads_as_empty(tmp_path):
    (tmp_path / "queue.json").write_text("{not json")
    assert TrainQueue(str(tmp_path), no_lock).read() == train_queue.empty()


def test_releases_awaiting_approval_are_taken_by_change_and_project(tmp_path):
    queue = TrainQueue(str(tmp_path), no_lock)
    queue.await_approval({"release": "r1", "env": "production", "change": 1, "project": "p", "run": "a"})
    queue.await_approval({"release": "r2", "env": "production", "change": 1, "project": "p", "run": "b"})
    queue.await_approval({"release": "r1", "env": "production", "change": 2, "project": "p", "run": "c"})  # r1 again
    assert [(a["release"], a["run"]) for a in queue.read()["awaiting"]] == [("r2", "b"), ("r1", "c")]
    assert queue.take_awaiting(1, "other") is None
    assert queue.take_awaiting(1, "p")["release"] == "r2"
    assert queue.take_awaiting(1, "p") is None
    assert [a["run"] for a in queue.read()["awaiting"]] == ["c"]


# -- the manifest pin ------------------------------------------------------------------------------------

MANIFEST = f"""\
# the deploy-kit: reviewed by hand
release: ""
repos:
  - name: f            # the formula
    url: https://git.example.org/f.git
    sha: {OLD}   # pinned by the train
    path: states/f
  - name: g
    url: https://git.example.org/g.git
    sha: {OLD}
    path: states/g
"""


def test_the_pin_changes_exactly_the_sha_of_the_one_repo_and_keeps_the_rest_of_the_text():
    pinned = pin_sha(MANIFEST, "f", NEW)
    assert pinned == MANIFEST.replace(f"sha: {OLD}   # pinned", f"sha: {NEW}   # pinned")
    assert yaml.safe_load(pinned)["repos"][1]["sha"] == OLD  # the same SHA elsewhere stays
    assert pin_sha(MANIFEST, "g", NEW) == MANIFEST.replace(f"sha: {OLD}\n    path: states/g", f"sha: {NEW}\n    path: states/g")


def test_the_pin_of_the_sha_already_pinned_changes_nothing():
    assert pin_sha(MANIFEST, "f", OLD) == MANIFEST


@pytest.mark.parametrize("written", [f"'{OLD}'", f'"{OLD}"'])
def test_a_quoted_sha_stays_quoted(written):
    text = f"repos:\n  - {{name: f, url: u, sha: {written}, path: p}}\n"
    assert pin_sha(text, "f", NEW) == text.replace(OLD, NEW)


def test_a_sha_that_would_read_as_a_number_is_quoted():
    digits = "1234567890" * 4
    pinned = pin_sha(MANIFEST, "f", digits)
    assert yaml.safe_load(pinned)["repos"][0]["sha"] == digits and f"'{digits}'" in pinned


@pytest.mark.parametrize("text,problem", [
    (MANIFEST.replace("name: g", "name: f"), "no single repo named 'f' in the deploy-kit manifest"),
    (MANIFEST.replace("name: f ", "name: h "), "no single repo named 'f' in the deploy-kit manifest"),
    ("books:\n  - {book: f, path: p, git: u, branch: " + OLD + "}\n", "cannot pin 'f': it has no single 'repos' list"),
    ("- a\n", "cannot pin 'f': it has no single 'repos' list"),
    ("repos: []\nrepos: []\n", "cannot pin 'f': it has no single 'repos' list"),
    ("repos: [\n", "cannot pin 'f': it is not one YAML document (line 2)"),
    ("repos: []\n---\nrepos: []\n", "cannot pin 'f': it is not one YAML document"),
    ("repos:\n  - {name: f, url: u, path: p}\n", "cannot pin 'f': its entry has no single plain or quoted 'sha'"),
    (f"repos:\n  - {{name: f, sha: {OLD}, sha: {OLD}}}\n", "cannot pin 'f': its entry has no single plain or quoted 'sha'"),
    ("repos:\n  - name: f\n    sha: [" + OLD + "]\n", "cannot pin 'f': its entry has no single plain or quoted 'sha'"),
    ("repos:\n  - name: f\n    sha: |\n      " + OLD + "\n", "cannot pin 'f': its entry has no single plain or quoted 'sha'"),
])
def test_a_manifest_where_the_sha_to_pin_is_not_plain_is_refused_in_one_line(text, problem):
    with pytest.raises(PinError) as refused:
        pin_sha(text, "f", NEW, source="manifest.yml")
    assert str(refused.value).startswith(f"manifest.yml: {problem}")
    assert "\n" not in str(refused.value)
