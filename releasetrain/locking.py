"""Advisory file locks (flock) with a timeout and a clear message."""

import contextlib
import fcntl
import os
import time

from releasetrain.errors import ReleaseTrainError


@contextlib.contextmanager
def file_lock(path, timeout, what, error=None, poll=0.05):
    """Hold an exclusive flock on ``path``; wait up to ``timeout`` seconds (asking every ``poll``).

    After that, raise ``error(holder, timeout)`` if given, else a ReleaseTrainError
    naming ``what`` and the holder.

    The kernel drops the lock when the holder dies (even by SIGKILL), so a
    crashed run never leaves the store locked.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another run"
                    if error:
                        raise error(holder, timeout) from None
                    raise ReleaseTrainError(
                        f"{what} is locked by {holder}; waited {timeout:g}s, try again when it finishes"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
