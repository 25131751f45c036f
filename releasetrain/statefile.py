"""A JSON state file that runs change under a lock: the pipeline's ``queue.json`` and ``regions.json``.

Read whole, changed, written back whole in one step (a temporary file renamed over it), so a
reader never sees half a file; a missing or unreadable file reads as ``empty()``, and a key the
file lacks as ``empty()``'s.
"""

import contextlib
import json
import os


class StateFile:
    def __init__(self, path, lock, empty):
        """``lock()``: the context manager every writer holds; ``empty()``: the state of no file."""
        self.path = path
        self.lock = lock
        self.empty = empty

    def read(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                state = json.load(handle)
        except (OSError, ValueError):
            return self.empty()
        return {**self.empty(), **state} if isinstance(state, dict) else self.empty()

    def write(self, state):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, sort_keys=True, indent=1)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def changing(self):
        """Hold the lock and yield the state; it is written back when the block ends without an error."""
        with self.lock():
            state = self.read()
            yield state
            self.write(state)
