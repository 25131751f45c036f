"""The pipeline's records: ``runs.jsonl`` (every run, append-only) and ``rejected.jsonl`` (events
dropped before a run), both journals (:mod:`releasetrain.journal`), and :class:`Run`, one run's record.

A run is written when it is queued or starts and again when it ends: the newest record of an
id is the run's state.
"""

import contextlib
import os
import time
import uuid

from releasetrain import journal

REJECTED_KEEP = 200  # rejected.jsonl keeps this many records: anyone who reaches salt-api can add one
REJECTED_TRIM_BYTES = 256 * 1024
REASON_CHARS = 300


class RunLog:
    """``runs.jsonl`` and ``rejected.jsonl`` in ``folder``; ``lock()`` is held by every writer of either."""

    def __init__(self, folder, lock):
        self.runs_path = os.path.join(folder, "runs.jsonl")
        self.rejected_path = os.path.join(folder, "rejected.jsonl")
        self.lock = lock

    def _append(self, path, record, keep=None):
        """Append one record to a journal (ASCII JSON: any character an event holds is escaped); with
        ``keep``, a journal grown past REJECTED_TRIM_BYTES is cut to its last ``keep`` lines."""
        with self.lock():
            journal.append(path, record)
            if keep:
                journal.trim(path, keep, REJECTED_TRIM_BYTES)

    def write_run(self, record):
        self._append(self.runs_path, record)

    def write_rejected(self, source, result, reason, event=None):
        """Record an event dropped before any run (wrong secret, malformed, unconfigured, failed):
        why, and its type and key when known (never the secret)."""
        known = {key: event[key] for key in ("type", "key") if isinstance(event, dict) and event.get(key)}
        self._append(self.rejected_path, {"source": source, "result": result, "reason": str(reason)[:REASON_CHARS],
                                          **known}, keep=REJECTED_KEEP)

    def runs(self):
        """Each run's newest record, in the order the runs were last written."""
        latest = {}
        for record in journal.read(self.runs_path):
            latest.pop(record.get("id"), None)
            latest[record.get("id")] = record
        return list(latest.values())

    def run(self, run_id):
        """The newest record of run ``run_id``, or None."""
        return next((record for record in self.runs() if record.get("id") == run_id), None)

    def rejected(self, limit=20):
        return journal.read(self.rejected_path)[-int(limit):]


class Run:
    """One pipeline run: what triggered it and how long each step took; ``finish`` writes it
    to the run log and fires ``run/<result>`` through ``emit``."""

    def __init__(self, runlog, emit, event, kind):
        self.runlog = runlog
        self.emit = emit
        self.record = {
            "id": uuid.uuid4().hex[:12], "kind": kind, "event": event.get("type"),
            "project": event.get("project"), "change": event.get("change"), "patchset": event.get("patchset"),
            "revision": event.get("new_rev") or event.get("revision"), "repo": event.get("repo"),
            "who": event.get("who"), "release": None, "envs": [], "steps": [], "result": "running",
        }
        self._started = time.monotonic()

    @contextlib.contextmanager
    def step(self, name, env=None):
        """Record a step: its name, env, duration and whether it passed (an exception fails it, and goes on)."""
        began = time.monotonic()
        entry = {"step": name, **({"env": env} if env else {})}
        try:
            yield entry
            entry.setdefault("ok", True)
        except Exception as err:
            entry.update(ok=False, error=str(err)[:500])
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - began, 3)
            self.record["steps"].append(entry)

    def finish(self, result, **extra):
        self.record.update(result=result, seconds=round(time.monotonic() - self._started, 3), **extra)
        self.runlog.write_run(self.record)
        self.emit(f"run/{result}", self.record)
        return self.record
