"""Candidate regions: every patchset's candidate on a region of its own, at most ``max_regions``
at once, the others waiting in order (``releasetrain:pipeline:candidate:region``).

A *slot* is one volatile environment (``releasetrain:volatile_environments``, in order) with the
lab region that goes with it: slot 1 deploys to the first volatile environment on region
``cand1``, a copy of the candidate topology whose ranges are moved past the original's
(:func:`releasetrain.lab.topology.derive`) and whose minions are ``cand1-ctl01``, ... .  So
``max_regions`` is at most the number of volatile environments.

``regions.json`` (under the pipeline's ``regions`` lock) holds the waiting tickets, oldest first,
and the slots held.  A ticket names its change, patchset, run and owner (the process, by pid and
start time).  Rules:

* first come, first served: only the oldest waiting ticket takes a free slot;
* a new patchset supersedes its change's older ones: a waiting one leaves the queue, a running
  one is marked and its region removed at once (its deployment then fails, and it votes nothing);
  the new one waits until that region is gone;
* an event older than a patchset already known of its change is superseded at once;
* a ticket or slot whose owner process is gone (a crash, a master restart) is stale: its region
  is removed by the next run that looks, and then the slot is free.
"""

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from releasetrain.config import MAX_SECONDS
from releasetrain.errors import ReleaseTrainError
from releasetrain.journal import now
from releasetrain.lab import copies
from releasetrain.statefile import StateFile

log = logging.getLogger(__name__)

DEFAULTS = {"topology": None, "max_regions": 1, "wait": 3600, "layers": True}


class Superseded(ReleaseTrainError):
    """A newer patchset of the same change took over."""


class NoRegion(ReleaseTrainError):
    """No slot came free in time."""


@dataclass(frozen=True)
class RegionSettings:
    topology: str  # the lab topology every candidate region copies
    max_regions: int
    wait: float  # seconds a candidate waits for a slot
    layers: bool  # nodes mount the role layers of the candidate's package states (releasetrain.lab.layers); default on


def settings(section, volatile_environments):
    """``candidate:region`` checked: None when candidates have no region of their own."""
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ReleaseTrainError("releasetrain:pipeline:candidate:region must be a mapping, e.g. {max_regions: 1}")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise ReleaseTrainError(f"releasetrain:pipeline:candidate:region: unknown key {unknown[0]!r} "
                                f"(known: {', '.join(DEFAULTS)})")
    values = {**DEFAULTS, **section}
    count, wait, path = values["max_regions"], values["wait"], values["topology"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ReleaseTrainError("releasetrain:pipeline:candidate:region:max_regions must be a whole number >= 1")
    if count > len(volatile_environments):
        raise ReleaseTrainError(
            f"releasetrain:pipeline:candidate:region:max_regions is {count}, but there are "
            f"{len(volatile_environments)} volatile_environments: each region needs one of its own")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_SECONDS:
        raise ReleaseTrainError("releasetrain:pipeline:candidate:region:wait must be a number of seconds")
    if path is not None and (not isinstance(path, str) or not path or "\0" in path):
        raise ReleaseTrainError("releasetrain:pipeline:candidate:region:topology must be a file path")
    if not isinstance(values["layers"], bool):
        raise ReleaseTrainError("releasetrain:pipeline:candidate:region:layers must be true or false")
    return RegionSettings(path, count, float(wait), values["layers"])


@dataclass(frozen=True)
class Slot:
    number: int  # 1, 2, ...
    env: str

    @property
    def name(self):
        return copies.NAME.format(self.number)

    @property
    def prefix(self):
        return copies.minion_prefix(self.number)


def owner():
    """This process: its pid and when it started (a reused pid is another process)."""
    pid = os.getpid()
    return {"pid": pid, "ticks": _start_ticks(pid)}


def alive(who):
    try:
        return _start_ticks(int(who["pid"])) == who["ticks"]
    except (OSError, KeyError, TypeError, ValueError, IndexError):
        return False


def _start_ticks(pid):
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat``, field 22).
    Not a wall-clock time: psutil's ``create_time`` adds the boot time the kernel derives from the
    clock, which moved by 37 s within half an hour on a lab host, so a live run looked dead and its
    slot was taken from it.  A process's ticks never change; a reused pid has others."""
    with open(f"/proc/{int(pid)}/stat", "rb") as handle:
        return int(handle.read().rsplit(b")", 1)[1].split()[19])


def empty():
    return {"next": 1, "waiting": [], "held": {}, "superseded": {}}


def state_file(folder, lock=None):
    """``regions.json`` in ``folder``: ``{"next", "waiting", "held", "superseded"}`` (empty when
    missing or unreadable); ``lock()`` guards its changes."""
    return StateFile(os.path.join(folder, "regions.json"), lock, empty)


def read(folder):
    return state_file(folder).read()


class RegionPool:
    """The slots, the queue and the rules above; ``remove(slot)`` removes a slot's region."""

    def __init__(self, folder, lock, envs, region_settings, remove, poll=2.0, who=owner, is_alive=alive):
        self._file = state_file(folder, lock)
        self.slots = [Slot(number, env) for number, env in enumerate(envs[:region_settings.max_regions], 1)]
        self.settings = region_settings
        self.remove = remove
        self.poll = poll
        self.who = who
        self.is_alive = is_alive

    # -- the file ---------------------------------------------------------------------
    def read(self):
        return self._file.read()

    def changing(self):
        """Hold the lock and yield the state; written back when the block ends without an error."""
        return self._file.changing()

    # -- a run's way through ------------------------------------------------------------
    @contextlib.contextmanager
    def take(self, event, run_id, on_wait=lambda ticket, ahead: None):
        """Queue for a slot, wait for it in order, yield it; it is freed when the block ends.
        Raises :class:`Superseded` or :class:`NoRegion` (the ticket is gone then)."""
        ticket, removals = self._queue(event, run_id)
        self._remove_all(removals)
        slot = self._wait(ticket, on_wait)
        try:
            yield slot, ticket
        finally:
            with self.changing() as state:
                if state["held"].get(slot.env, {}).get("id") == ticket["id"]:
                    del state["held"][slot.env]
                state["superseded"].pop(str(ticket["id"]), None)

    def superseded_by(self, ticket):
        """The patchset that superseded ``ticket`` (waiting or running), or None."""
        state = self.read()
        marked = state["superseded"].get(str(ticket["id"]))
        if marked is not None:
            return marked
        for held in state["held"].values():
            if held.get("id") == ticket["id"]:
                return held.get("superseded_by")
        return None

    def _queue(self, event, run_id):
        ticket = {"change": event["change"], "project": event["project"], "patchset": event["patchset"],
                  "run": run_id, "owner": self.who(), "since": now()}
        removals, newer = [], []
        with self.changing() as state:
            removals += self._drop_stale(state)
            newer = [t["patchset"] for t in [*state["waiting"], *state["held"].values()]
                     if _same_change(t, ticket) and t["patchset"] > ticket["patchset"] and not t.get("superseded_by")]
            if newer:
                ticket = None
            else:
                for old in [t for t in state["waiting"] if _same_change(t, ticket)]:
                    state["waiting"].remove(old)
                    state["superseded"][str(old["id"])] = ticket["patchset"]
                for env, held in state["held"].items():
                    if _same_change(held, ticket) and not held.get("superseded_by"):
                        held["superseded_by"] = ticket["patchset"]
                        removals.append((self._slot(env), False))
                ticket["id"] = state["next"]
                state["next"] += 1
                state["waiting"].append(ticket)
        if newer:
            self._remove_all(removals)
            raise Superseded(f"patchset {event['patchset']} of change {event['change']} is superseded "
                             f"by patchset {max(newer)}")
        return ticket, removals

    def _drop_stale(self, state):
        """Forget waiting tickets of dead owners; return the slots held by dead owners (to remove)."""
        state["waiting"] = [t for t in state["waiting"] if self.is_alive(t.get("owner"))]
        stale = []
        for env, held in list(state["held"].items()):
            slot = self._slot(env)
            if slot is None:
                del state["held"][env]  # a slot the configuration no longer has
            elif not held.get("stale") and not self.is_alive(held.get("owner")):
                held["stale"] = True  # removed below, by this run, then freed
                stale.append((slot, True))
        return stale

    def _remove_all(self, removals):
        for slot, free in removals:
            try:
                self.remove(slot)
            except Exception as err:  # pylint: disable=broad-except  (the next run tries again)
                log.warning("releasetrain: could not remove candidate region %s: %s", slot.name, err)
                if free:
                    with self.changing() as state:
                        state["held"].get(slot.env, {}).pop("stale", None)
                continue
            if free:
                with self.changing() as state:
                    if state["held"].get(slot.env, {}).get("stale"):
                        del state["held"][slot.env]

    def _wait(self, ticket, on_wait):
        deadline = time.monotonic() + self.settings.wait
        told = None
        while True:
            taken, error, stale = None, None, []
            with self.changing() as state:
                taken, error, ahead = self._try(state, ticket, time.monotonic() >= deadline)
                if taken is None and error is None:
                    stale = self._drop_stale(state)
            if error is not None:
                raise error
            if taken is not None:
                return taken
            if stale:
                self._remove_all(stale)
                continue
            if told != ahead:
                on_wait(ticket, ahead)
                told = ahead
            time.sleep(self.poll)

    def _try(self, state, ticket, late):
        """One look at the queue: ``(slot taken, error, tickets ahead)``."""
        superseded = state["superseded"].pop(str(ticket["id"]), None)
        if superseded is not None:
            return None, Superseded(f"patchset {ticket['patchset']} of change {ticket['change']} was superseded "
                                    f"by patchset {superseded} while it waited for a region"), 0
        if ticket["id"] not in [t["id"] for t in state["waiting"]]:
            state["waiting"].append(ticket)  # dropped as stale by a run that misjudged: this process lives
        ahead = [t["id"] for t in state["waiting"]].index(ticket["id"])
        free = [slot for slot in self.slots if slot.env not in state["held"]]
        removing = any(_same_change(held, ticket) for held in state["held"].values())
        if ahead == 0 and free and not removing:
            state["waiting"] = [t for t in state["waiting"] if t["id"] != ticket["id"]]
            state["held"][free[0].env] = {**ticket, "region": free[0].name, "taken": now()}
            return free[0], None, 0
        if late:
            state["waiting"] = [t for t in state["waiting"] if t["id"] != ticket["id"]]
            return None, NoRegion(
                f"no candidate region came free in {self.settings.wait:g}s ({len(state['held'])} of "
                f"max_regions {self.settings.max_regions} in use, {ahead} candidate(s) ahead)"), ahead
        return None, None, ahead

    def _slot(self, env):
        return next((slot for slot in self.slots if slot.env == env), None)


def _same_change(one, other):
    return one.get("change") == other["change"] and one.get("project") == other["project"]
