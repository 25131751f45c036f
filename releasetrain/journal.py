"""Append-only JSON Lines journals: the store's history and the pipeline's run and rejected logs.

One writer and one reader for all of them: a record is one line of ASCII JSON with its time,
flushed to disk before the call returns, and never glued to a line a crash cut short; a line
that holds no record (cut short, not UTF-8, JSON that is not an object) is skipped on reading,
since it names nothing to go by and refusing the whole file would block every later run.
"""

import datetime
import json
import os


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def append(path, record):
    """Append ``record`` (with ``time`` first) to the journal at ``path``; return what was written."""
    record = {"time": now(), **record}
    line = (json.dumps(record, sort_keys=True) + "\n").encode("ascii")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end and os.pread(handle.fileno(), 1, end - 1) != b"\n":
            line = b"\n" + line  # after a line a crash cut short, not glued to it
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return record


def read(path):
    """The journal's records, oldest first (none when it does not exist)."""
    records = []
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return records
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def trim(path, keep, max_bytes):
    """Once the journal passes ``max_bytes``, cut it to its last ``keep`` lines (replaced in one step).

    For journals anyone can add to (events dropped before a run); the caller holds the lock its writers share.
    """
    if os.path.getsize(path) <= max_bytes:
        return
    with open(path, "rb") as handle:
        lines = handle.readlines()[-keep:]
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
