"""Candidate region slots: order, max_regions, superseding, stale owners and the wait limit, with
real file locks, threads and processes."""

import os
import subprocess
import sys
import threading
import time

import pytest
from salt.utils.immutabletypes import freeze

from releasetrain.errors import ReleaseTrainError
from releasetrain.gerrit import regions
from releasetrain.locking import file_lock
from tests.support.waiting import wait_until

ENVS = ("volatile", "volatile-2", "volatile-3")


def event(change, patchset, project="formula"):
    return {"change": change, "patchset": patchset, "project": project}


@pytest.fixture
def make_pool(tmp_path):
    removed = []

    def make(max_regions=1, wait=30.0, remove=None, **kwargs):
        conf = regions.settings({"max_regions": max_regions, "wait": wait}, ENVS)
        return regions.RegionPool(str(tmp_path), lambda: file_lock(str(tmp_path / "regions.lock"), 10, "regions"),
                                  ENVS, conf, remove or removed.append, poll=0.05, **kwargs)

    make.removed = removed
    return make


def holding(pool, ev, taken, release, errors, name):
    """A run: take a slot, note it, hold it until ``release`` is set."""
    try:
        with pool.take(ev, name) as (slot, _ticket):
            taken.append((name, slot.env))
            release.wait(20)
    except ReleaseTrainError as err:
        errors.append((name, type(err).__name__, str(err)))


def start(pool, ev, taken, errors, name):
    release = threading.Event()
    thread = threading.Thread(target=holding, args=(pool, ev, taken, release, errors, name))
    thread.start()
    return thread, release




def waiting(pool):
    return [t["run"] for t in pool.read()["waiting"]]


@pytest.mark.parametrize("section, message", [
    ({"max_regions": 4}, "max_regions is 4, but there are 3 volatile_environments"),
    ({"max_regions": 0}, "max_regions must be a whole number >= 1"),
    ({"max_regions": True}, "max_regions must be a whole number >= 1"),
    ({"wait": "soon"}, "wait must be a number of seconds"),
    ({"wait": float("nan")}, "wait must be a number of seconds"),
    ({"topology": ""}, "topology must be a file path"),
    ({"size": 2}, "unknown key 'size'"),
    ({"layers": "yes"}, "layers must be true or false"),
    ({"layers": 1}, "layers must be true or false"),
    ("yes", "must be a mapping"),
])
def test_bad_region_settings_are_one_line(section, message):
    with pytest.raises(ReleaseTrainError, match=message) as err:
        regions.settings(section, ENVS)
    assert "\n" not in str(err.value)


def test_no_region_section_means_no_regions_and_defaults_otherwise():
    assert regions.settings(None, ENVS) is None
    assert regions.settings({}, ENVS) == regions.RegionSettings(None, 1, 3600.0, True)
    assert regions.settings({"layers": False}, ENVS).layers is False
    # the master's configuration as Salt hands it over (salt-factories, the loader): frozen mappings
    assert regions.settings(freeze({"max_regions": 2, "layers": True}), ENVS) == regions.RegionSettings(
        None, 2, 3600.0, True)


def test_with_one_region_candidates_run_one_after_the_other_in_order(make_pool):
    pool, taken, errors = make_pool(), [], []
    first, release_first = start(pool, event(1, 1), taken, errors, "a")
    wait_until("a took the slot", lambda: taken)
    later = []
    for name, change in (("b", 2), ("c", 3), ("d", 4)):
        later.append(start(pool, event(change, 1), taken, errors, name))
        wait_until(f"{name} queued", lambda name=name: name in waiting(pool))
    assert taken == [("a", "volatile")] and waiting(pool) == ["b", "c", "d"]
    release_first.set()
    for thread, release in later:
        wait_until("the next one took the slot", lambda n=len(taken): len(taken) > n or len(taken) == 4)
        release.set()
        thread.join(10)
    first.join(10)
    assert [name for name, _ in taken] == ["a", "b", "c", "d"] and not errors
    assert pool.read()["held"] == {} and waiting(pool) == []


def test_max_regions_run_side_by_side_on_their_own_environments(make_pool):
    pool, taken, errors = make_pool(max_regions=2), [], []
    runs = [start(pool, event(n, 1), taken, errors, name) for n, name in ((1, "a"), (2, "b"))]
    wait_until("both took a slot", lambda: len(taken) == 2)
    third = start(pool, event(3, 1), taken, errors, "c")
    wait_until("c queued", lambda: waiting(pool) == ["c"])
    assert sorted(env for _, env in taken) == ["volatile", "volatile-2"]
    second = dict(taken)["b"]
    runs[1][1].set()
    wait_until("c took b's slot", lambda: len(taken) == 3)
    assert taken[2] == ("c", second)
    for thread, release in [*runs, third]:
        release.set()
        thread.join(10)
    assert not errors


def test_a_new_patchset_supersedes_a_waiting_one(make_pool):
    pool, taken, errors = make_pool(), [], []
    other, release_other = start(pool, event(9, 1), taken, errors, "other")
    wait_until("other holds the slot", lambda: taken)
    old, _ = start(pool, event(1, 1), taken, errors, "ps1")
    wait_until("ps1 queued", lambda: waiting(pool) == ["ps1"])
    new, release_new = start(pool, event(1, 2), taken, errors, "ps2")
    old.join(10)
    assert errors == [("ps1", "Superseded", "patchset 1 of change 1 was superseded by patchset 2 "
                                            "while it waited for a region")]
    assert waiting(pool) == ["ps2"] and make_pool.removed == []
    release_other.set()
    wait_until("ps2 took the slot", lambda: len(taken) == 2)
    release_new.set()
    for thread in (other, new):
        thread.join(10)
    assert [name for name, _ in taken] == ["other", "ps2"]


def test_a_new_patchset_stops_a_running_one_and_waits_for_its_region_to_go(make_pool):
    pool = make_pool(max_regions=2)
    taken, errors = [], []
    running, release_running = start(pool, event(1, 1), taken, errors, "ps1")
    wait_until("ps1 runs", lambda: taken)
    ticket = pool.read()["held"]["volatile"]
    new, release_new = start(pool, event(1, 2), taken, errors, "ps2")
    wait_until("ps1's region removed", lambda: make_pool.removed)
    assert make_pool.removed == [regions.Slot(1, "volatile")]
    assert pool.superseded_by(ticket) == 2
    time.sleep(0.3)
    assert len(taken) == 1, "ps2 must wait until ps1's region is removed and its slot freed, a slot being free"
    release_running.set()
    running.join(10)
    wait_until("ps2 took a slot", lambda: len(taken) == 2)
    release_new.set()
    new.join(10)
    assert not errors and taken[1][0] == "ps2"


def test_an_event_older_than_a_known_patchset_is_superseded_at_once(make_pool):
    pool, taken, errors = make_pool(max_regions=2), [], []
    newer, release = start(pool, event(1, 3), taken, errors, "ps3")
    wait_until("ps3 runs", lambda: taken)
    with pytest.raises(regions.Superseded, match="patchset 2 of change 1 is superseded by patchset 3"):
        with pool.take(event(1, 2), "ps2"):
            pass
    with pool.take(event(1, 2, project="other-project"), "other") as (slot, _):  # another project's change 1
        assert slot.env == "volatile-2"
    release.set()
    newer.join(10)


def _dead_process():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ticks = regions._start_ticks(proc.pid)  # a zombie until waited for: its /proc entry is there
    proc.wait()
    return {"pid": proc.pid, "ticks": ticks}


def test_a_slot_held_by_a_crashed_run_is_removed_and_taken_by_the_next(make_pool):
    dead = _dead_process()
    crashed = make_pool(who=lambda: dead)
    with crashed.changing() as state:  # what a run killed while it held the slot leaves
        state["held"]["volatile"] = {"id": 7, "change": 5, "project": "formula", "patchset": 1, "owner": dead}
        state["waiting"].append({"id": 8, "change": 6, "project": "formula", "patchset": 1, "owner": dead,
                                 "run": "gone"})
        state["next"] = 9
    pool = make_pool()
    with pool.take(event(1, 1), "next") as (slot, ticket):
        assert slot == regions.Slot(1, "volatile") and ticket["id"] == 9
        assert make_pool.removed == [slot]
        assert waiting(pool) == []
    assert pool.read()["held"] == {}


def test_a_stale_region_that_cannot_be_removed_keeps_its_slot(make_pool):
    def refuse(slot):
        raise ReleaseTrainError(f"lab.down failed on {slot.name}")

    pool = make_pool(wait=0.3, remove=refuse)
    with pool.changing() as state:
        state["held"]["volatile"] = {"id": 1, "change": 5, "project": "formula", "patchset": 1,
                                     "owner": _dead_process()}
    with pytest.raises(regions.NoRegion):
        with pool.take(event(1, 1), "next"):
            pass
    assert pool.read()["held"]["volatile"]["change"] == 5 and not pool.read()["held"]["volatile"].get("stale")


def test_a_candidate_waits_no_longer_than_configured(make_pool):
    pool, taken, errors = make_pool(wait=0.5), [], []
    holder, release = start(pool, event(1, 1), taken, errors, "holder")
    wait_until("holder runs", lambda: taken)
    began = time.monotonic()
    with pytest.raises(regions.NoRegion) as err:
        with pool.take(event(2, 1), "late"):
            pass
    assert time.monotonic() - began >= 0.5
    assert str(err.value) == "no candidate region came free in 0.5s (1 of max_regions 1 in use, 0 candidate(s) ahead)"
    assert waiting(pool) == []
    release.set()
    holder.join(10)


def test_this_process_is_alive_and_a_reused_pid_is_not():
    me = regions.owner()
    assert me["pid"] == os.getpid() and regions.alive(me)
    assert not regions.alive({**me, "ticks": me["ticks"] - 100})
    assert not regions.alive(_dead_process()) and not regions.alive(None) and not regions.alive({"pid": "x"})
    assert not regions.alive({"pid": os.getpid(), "started": 1796319109.03})  # a record of the old form


def test_a_process_stays_alive_when_the_wall_clock_moves(monkeypatch):
    """The boot time psutil adds to a process's start moves with the clock (37 s on a lab host within
    half an hour): a live run looked dead, its slot was taken and its patchset got a wrong vote."""
    me = regions.owner()
    pslinux = pytest.importorskip("psutil._pslinux")
    # the boot time psutil and the kernel derive from the clock, moved: a wall-clock start moves too
    monkeypatch.setattr(pslinux, "BOOT_TIME", 12345.0, raising=False)
    monkeypatch.setattr(pslinux, "boot_time", lambda: 12345.0)
    assert regions.alive(me)


def test_a_removal_that_takes_minutes_keeps_the_queue_order(make_pool):
    """The lab run found this: patchset 2's removal of patchset 1's region waits for patchset 1's
    lab.up (the lab's lock); another change queued behind patchset 2 must still come after it, and
    patchset 1 must learn it was superseded."""
    removing = threading.Event()

    def slow_remove(slot):
        removing.wait(20)

    pool = make_pool(max_regions=1, remove=slow_remove)
    taken, errors = [], []
    running, release_running = start(pool, event(1, 1), taken, errors, "ps1")
    wait_until("ps1 runs", lambda: taken)
    ticket = pool.read()["held"]["volatile"]
    new, release_new = start(pool, event(1, 2), taken, errors, "ps2")
    wait_until("ps2 queued", lambda: waiting(pool) == ["ps2"])
    other, release_other = start(pool, event(2, 1), taken, errors, "other")
    wait_until("the other change queued", lambda: waiting(pool) == ["ps2", "other"])
    time.sleep(0.3)
    removing.set()  # ps1's region is gone
    time.sleep(0.3)
    assert pool.superseded_by(ticket) == 2
    release_running.set()
    running.join(10)
    wait_until("the next took the slot", lambda: len(taken) == 2)
    assert taken[1][0] == "ps2", taken
    release_new.set()
    new.join(10)
    wait_until("the other change took the slot", lambda: len(taken) == 3)
    release_other.set()
    other.join(10)
    assert not errors, errors
