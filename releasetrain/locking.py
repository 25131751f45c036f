"""Advisory file locks (flock) with a timeout and a clear message."""

import contextlib
import fcntl
import os
import threading
import time

from releasetrain.errors import ReleaseTrainError


#: The reentrant locks this thread holds: {(pid, path): how many nested holds}.
_held = threading.local()


@contextlib.contextmanager
def file_lock(path, timeout, what, error=None, poll=0.05, reentrant=False):
    """Hold an exclusive flock on ``path``; wait up to ``timeout`` seconds (asking every ``poll``).

    After that, raise ``error(holder, timeout)`` if given, else a ReleaseTrainError
    naming ``what`` and the holder.

    With ``reentrant``, a thread that holds the lock already (taken with ``reentrant`` too)
    takes it again at once: a count, no second flock (which would wait for the thread itself).
    Another thread or process still waits, as for any lock.

    The kernel drops the lock when the holder dies (even by SIGKILL), so a
    crashed run never leaves the store locked.
    """
    key = (os.getpid(), os.path.realpath(path)) if reentrant else None
    holds = _holds() if reentrant else {}
    if key in holds:
        holds[key] += 1
        try:
            yield
        finally:
            holds[key] -= 1
        return
    with _lock_file(path) as fd:
        deadline = time.monotonic() + timeout
        while not _acquired(fd):
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another run"
                if error:
                    raise error(holder, timeout) from None
                raise ReleaseTrainError(
                    f"{what} is locked by {holder}; waited {timeout:g}s, try again when it finishes"
                ) from None
            time.sleep(poll)
        if key:
            holds[key] = 1
        try:
            yield
        finally:
            holds.pop(key, None)


def _holds():
    if not hasattr(_held, "counts"):
        _held.counts = {}
    return _held.counts


@contextlib.contextmanager
def try_lock(path):
    """Hold the flock on ``path`` if no one else does; yields whether it is held (never waits)."""
    with _lock_file(path) as fd:
        yield _acquired(fd)


@contextlib.contextmanager
def _lock_file(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquired(fd):
    """Take the lock if it is free, and write who holds it; False when another run has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    return True
