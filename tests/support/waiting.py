"""Waiting in tests for something another thread or process does."""

import time


def wait_until(what, check, timeout=20, poll=0.02):
    """Return once ``check()`` is true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(poll)
