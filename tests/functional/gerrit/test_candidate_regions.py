"""Candidates on regions of their own: the candidate leg against real git repos, a real store and
the Gerrit stand-in; the orchestration and the lab are injected callables that keep a timeline
(the real lab and deploy.region are the region tests')."""

import json
import pathlib
import threading
import time

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit.pipeline import Pipeline
from releasetrain.lab import copies
from tests.support.gerrit import GerritStandIn
from tests.support.gitrepos import commit, formula_entry, make_deploy_kit
from tests.support.waiting import wait_until

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
SECRET = "functional-secret"


class Lab:
    """Which region is up, and when each went up and down; ``hold`` keeps a deploy running until set."""

    def __init__(self):
        self.up_now, self.timeline, self.fail_up, self.slow_up = set(), [], None, False
        self.lock = threading.Lock()

    def up(self, number, layers=None):
        name = copies.NAME.format(number)
        if self.fail_up:
            raise gerrit.ReleaseTrainError(self.fail_up)
        with self.lock:
            self.up_now.add(name)
            self.timeline.append(("up", name))
        if self.slow_up:  # as lab.up waiting for its minions, which a lab.down meanwhile removes
            self.slow_up = False
            wait_until("the region removed", lambda: name not in self.up_now)
            raise gerrit.ReleaseTrainError(f"minions {name}-ctl01 did not answer test.ping within 180s")
        return {"nodes": {f"{name}-ctl01": {}, f"{name}-cmp01": {}}}

    def down(self, number):
        name = copies.NAME.format(number)
        with self.lock:
            if name in self.up_now:
                self.up_now.discard(name)
                self.timeline.append(("down", name))


@pytest.fixture
def make_world(formula_repos, rt_paths):
    servers = []

    def make(max_regions=1, wait=60):
        kit = make_deploy_kit(rt_paths["work"] / "deploy-kit", [formula_entry(formula_repos)], "manifest")
        server = GerritStandIn()
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        lab, calls, holds = Lab(), [], {}

        def orchestrate(sls, saltenv, pillar):
            calls.append((sls, saltenv, json.loads(json.dumps(pillar))))
            hold = holds.get(pillar["patchset"])
            if hold is not None:  # a long deployment: it lasts until released or its region goes
                deadline = time.monotonic() + 30
                while not hold.is_set() and pillar["deploy"]["targets"]["controller"]["tgt"].split("-")[0] in (
                        lab.up_now) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not hold.is_set():
                    return False, "state.orchestrate deploy.region: minions did not answer"
            return True, "state.orchestrate deploy.region: 12 states, 0 failed"

        config = rt_config.load({"releasetrain": {
            "store": str(rt_paths["store"]), "cache": str(rt_paths["cache"]),
            "volatile_environments": ["volatile", "volatile-2"],
            "gerrit": {"secret": SECRET, "projects": {"salt/openstack-formula": {"repo": "openstack-formula"}},
                       "rest": {"url": server.url, "user": "u", "password": "p"}},
            "pipeline": {"deploy_kit": str(kit), "settle": 0,
                         "candidate": {"region": {"max_regions": max_regions, "wait": wait}}}}})
        pipeline = Pipeline(config, orchestrate, lab=lambda topology: lab)
        pipeline.regions.poll = 0.05
        return {"pipeline": pipeline, "calls": calls, "gerrit": server, "lab": lab, "holds": holds,
                "settings": gerrit.settings(config), "formula": formula_repos["formula"]}

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def patchset(world, change=12345, number=1, revision=None):
    """A signed patchset-created event of a new formula commit, served at the change's ref (or of
    ``revision``, which nothing serves)."""
    ref = f"refs/changes/{change % 100:02d}/{change}/{number}"
    if revision is None:
        revision = commit(world["formula"], {"openstack/nova.sls": f"# {change}/{number}\n"}, f"{change}/{number}",
                          timestamp=1_700_000_000 + 10 * number + change % 1000)
        git.Repo(world["formula"]).git.update_ref(ref, revision)
    data = json.loads((FIXTURES / "patchset-created.json").read_text())
    data["patchSet"].update(number=number, revision=revision, ref=ref)
    data["change"]["number"] = change
    event, why = gerrit.accept(data, world["settings"])
    assert why is None, why
    return event


def in_thread(world, event, results):
    thread = threading.Thread(target=lambda: results.append(world["pipeline"].on_event(event)))
    thread.start()
    return thread




def test_a_candidate_deploys_on_a_region_of_its_own_votes_and_removes_it(make_world):
    world = make_world()
    run = world["pipeline"].on_event(patchset(world))
    assert run["result"] == "success" and run["region"] == "cand1" and run["envs"] == ["volatile"]
    assert [step["step"] for step in run["steps"]] == [
        "package", "queue", "publish", "region", "deploy", "remove region", "vote"]
    assert world["lab"].timeline == [("up", "cand1"), ("down", "cand1")] and not world["lab"].up_now
    ((sls, saltenv, pillar),) = world["calls"]
    assert (sls, saltenv, pillar["env"], pillar["mode"]) == ("deploy.region", "volatile", "volatile", "bootstrap")
    assert pillar["deploy"]["targets"] == {
        role: {"tgt": f"cand1-* and G@roles:{role}", "tgt_type": "compound"}
        for role in ("controller", "network", "compute")}
    (review,) = world["gerrit"].reviews
    assert review["body"]["labels"] == {"Verified": 1} and " in volatile: PASSED" in review["body"]["message"]
    assert world["pipeline"].status()["candidate_regions"] == {"held": {}, "waiting": []}


def test_a_kit_that_does_not_package_gets_minus_one_and_no_region(make_world):
    world = make_world()
    run = world["pipeline"].on_event(patchset(world, revision="1" * 40))
    assert run["result"] == "failure" and world["lab"].timeline == [] and world["calls"] == []
    (review,) = world["gerrit"].reviews
    assert review["body"]["labels"] == {"Verified": -1}
    assert len(review["body"]["message"].split("\n\n", 1)[1].splitlines()) == 1


def test_a_region_that_does_not_come_up_gets_minus_one_naming_it_and_is_removed(make_world):
    world = make_world()
    world["lab"].fail_up = "minions cand1-cmp02 did not answer test.ping within 180s"
    world["lab"].up_now.add("cand1")  # as a half-made region is
    run = world["pipeline"].on_event(patchset(world))
    assert run["result"] == "failure" and world["calls"] == [] and not world["lab"].up_now
    (review,) = world["gerrit"].reviews
    assert review["body"]["labels"] == {"Verified": -1}
    assert review["body"]["message"].endswith("minions cand1-cmp02 did not answer test.ping within 180s")
    assert world["pipeline"].regions.read()["held"] == {}


def test_two_changes_with_one_region_run_one_after_the_other(make_world):
    world, results = make_world(max_regions=1), []
    first, second = patchset(world, change=12345), patchset(world, change=12346)
    world["holds"][1] = hold = threading.Event()
    threads = [in_thread(world, first, results)]
    wait_until("the first deploys", lambda: world["calls"])
    threads.append(in_thread(world, second, results))
    wait_until("the second waits", lambda: world["pipeline"].regions.read()["waiting"])
    assert world["lab"].timeline == [("up", "cand1")]
    hold.set()
    for thread in threads:
        thread.join(30)
    assert world["lab"].timeline == [("up", "cand1"), ("down", "cand1")] * 2
    assert [(r["change"], r["result"]) for r in results] == [(12345, "success"), (12346, "success")]
    assert [step["step"] for step in results[1]["steps"]][:2] == ["package", "queue"]


def test_two_regions_run_side_by_side(make_world):
    world, results = make_world(max_regions=2), []
    world["holds"][1] = hold = threading.Event()
    threads = [in_thread(world, patchset(world, change=change), results) for change in (12345, 12346)]
    wait_until("both deploy", lambda: len(world["calls"]) == 2)
    assert world["lab"].up_now == {"cand1", "cand2"}
    assert sorted(call[1] for call in world["calls"]) == ["volatile", "volatile-2"]
    hold.set()
    for thread in threads:
        thread.join(30)
    assert sorted(r["result"] for r in results) == ["success", "success"] and not world["lab"].up_now


def test_a_new_patchset_stops_the_running_one_which_gets_no_vote(make_world):
    world, results = make_world(max_regions=1), []
    world["holds"][1] = threading.Event()  # never set: patchset 1 deploys until its region goes
    old = in_thread(world, patchset(world, number=1), results)
    wait_until("patchset 1 deploys", lambda: world["calls"])
    new = in_thread(world, patchset(world, number=2), results)
    old.join(30)
    new.join(30)
    by_patchset = {r["patchset"]: r for r in results}
    assert by_patchset[1]["result"] == "superseded" and "superseded by patchset 2" in by_patchset[1]["reason"]
    assert by_patchset[2]["result"] == "success"
    assert world["lab"].timeline == [("up", "cand1"), ("down", "cand1")] * 2
    votes = {r["body"]["message"]: r["body"]["labels"] for r in world["gerrit"].reviews}
    assert sorted(votes.values(), key=len) == [{}, {"Verified": 1}]
    (message,) = [m for m, labels in votes.items() if not labels]
    assert message.startswith("releasetrain: not verified: patchset 1 of change 12345 was superseded by patchset 2")


def test_an_older_patchset_arriving_late_gets_no_region(make_world):
    world, results = make_world(), []
    world["holds"][3] = hold = threading.Event()
    newer = in_thread(world, patchset(world, number=3), results)
    wait_until("patchset 3 deploys", lambda: world["calls"])
    late = world["pipeline"].on_event(patchset(world, number=2))
    assert late["result"] == "superseded" and world["lab"].timeline == [("up", "cand1")]
    hold.set()
    newer.join(30)
    assert results[0]["result"] == "success"


def test_a_candidate_waiting_too_long_gets_minus_one_saying_so(make_world):
    world, results = make_world(wait=0.5), []
    world["holds"][1] = hold = threading.Event()
    first = in_thread(world, patchset(world, change=12345), results)
    wait_until("the first deploys", lambda: world["calls"])
    late = world["pipeline"].on_event(patchset(world, change=12346))
    assert late["result"] == "failure"
    message = [r["body"] for r in world["gerrit"].reviews if r["body"]["labels"] == {"Verified": -1}][0]["message"]
    assert message.endswith("no candidate region came free in 0.5s (1 of max_regions 1 in use, 0 candidate(s) ahead)")
    hold.set()
    first.join(30)


def test_a_patchset_superseded_while_its_region_comes_up_gets_no_vote(make_world):
    world, results = make_world(max_regions=1), []
    world["lab"].slow_up = True
    old = in_thread(world, patchset(world, number=1), results)
    wait_until("patchset 1's region is coming up", lambda: world["lab"].up_now)
    new = in_thread(world, patchset(world, number=2), results)
    old.join(30)
    new.join(30)
    by_patchset = {r["patchset"]: r for r in results}
    assert by_patchset[1]["result"] == "superseded", by_patchset[1]
    assert by_patchset[2]["result"] == "success"
    assert [r["body"]["labels"] for r in world["gerrit"].reviews] == [{}, {"Verified": 1}]
