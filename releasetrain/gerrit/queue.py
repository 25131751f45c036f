"""``queue.json``: merges waiting for the train and releases waiting for the production approval.

Shape: ``{"pending": [merge...], "awaiting": [release...], "last_created": {repo: eventCreatedOn}}``.
Every change holds ``lock()`` (the pipeline's ``deploy-kit`` lock) from reading to writing.

Superseding: merge events can arrive out of order; one created before the last merge seen of
its repo is dropped (:func:`superseded`). The train deploys only the newest pending merge
(:func:`newest`): the deploy-kit commit of a merge holds every earlier one.
"""

import os

from releasetrain.journal import now
from releasetrain.statefile import StateFile


def empty():
    return {"pending": [], "awaiting": [], "last_created": {}}


class TrainQueue:
    def __init__(self, folder, lock):
        self.path = os.path.join(folder, "queue.json")
        self._file = StateFile(self.path, lock, empty)

    def read(self):
        return self._file.read()

    def changing(self):
        """Hold the lock and yield the queue; it is written back when the block ends without an error."""
        return self._file.changing()

    def take_pending(self):
        """The merges waiting for the train, oldest first; the queue keeps none of them."""
        with self.changing() as queue:
            pending, queue["pending"] = queue.get("pending", []), []
        return pending

    def has_pending(self):
        return bool(self.read().get("pending"))

    def await_approval(self, entry):
        """Add ``entry`` (release, env, change, project, run) as waiting for approval, in place of
        any earlier entry of the same release."""
        with self.changing() as queue:
            queue["awaiting"] = [a for a in queue.get("awaiting", []) if a.get("release") != entry["release"]]
            queue["awaiting"].append(entry)

    def take_awaiting(self, change, project):
        """The newest release of ``change`` in ``project`` waiting for approval, taken off the queue; or None."""
        with self.changing() as queue:
            waiting = [a for a in queue.get("awaiting", []) if a.get("change") == change and a.get("project") == project]
            if not waiting:
                return None
            entry = waiting[-1]
            queue["awaiting"] = [a for a in queue["awaiting"] if a is not entry]
        return entry


def superseded(queue, repo, created):
    """True when a merge of ``repo`` created after ``created`` was queued already (``created`` 0: unknown, never)."""
    return bool(created) and created < queue.get("last_created", {}).get(repo, 0)


def add_merge(queue, event, run_id, commit):
    """Queue the deploy-kit ``commit`` of merge ``event`` (run ``run_id``) for the train."""
    last = queue.setdefault("last_created", {})
    last[event["repo"]] = max(last.get(event["repo"], 0), event["created"])
    queue.setdefault("pending", []).append({"run": run_id, "commit": commit, "queued_at": now(),
                                            "change": event["change"], "project": event["project"]})


def newest(pending):
    """``(the entry to deploy, the older entries it supersedes)`` of a non-empty list of pending merges."""
    return pending[-1], pending[:-1]
