"""releasetrain.locking: the one flock helper behind the store's, the pipeline's and the lab's locks."""

import os
import threading

import pytest

from releasetrain.errors import ReleaseTrainError
from releasetrain.locking import file_lock, try_lock


def test_try_lock_holds_a_free_lock_and_never_waits_for_a_held_one(tmp_path):
    path = str(tmp_path / "sub" / "train.lock")
    with try_lock(path) as first:
        assert first
        assert open(path, encoding="ascii").read() == f"pid {os.getpid()}"
        with try_lock(path) as second:
            assert not second
    with try_lock(path) as again:
        assert again  # released when the first one's block ended


def test_file_lock_waits_then_names_the_holder(tmp_path):
    path = str(tmp_path / "store.lock")
    with file_lock(path, 1, "the store"):
        with pytest.raises(ReleaseTrainError, match=rf"^the store is locked by pid {os.getpid()}; waited 0.1s"):
            with file_lock(path, 0.1, "the store"):
                pass

        class Busy(Exception):
            pass

        with pytest.raises(Busy):
            with file_lock(path, 0, "x", error=lambda holder, timeout: Busy(holder)):
                pass
    with file_lock(path, 0, "the store"):
        pass


def _taken_in_another_thread(path, **kwargs):
    """Whether another thread of this process gets the lock at once."""
    outcome = []

    def take():
        try:
            with file_lock(path, 0, "the env", **kwargs):
                outcome.append(True)
        except ReleaseTrainError:
            outcome.append(False)

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return outcome[0]


def test_a_reentrant_lock_nests_in_its_thread_and_no_other_thread_gets_it(tmp_path):
    path = str(tmp_path / "env-test.lock")
    with file_lock(path, 0, "the env", reentrant=True):
        with file_lock(path, 0, "the env", reentrant=True):  # no wait: a count, not a second flock
            with file_lock(str(tmp_path / "sub" / ".." / "env-test.lock"), 0, "the env", reentrant=True):
                assert not _taken_in_another_thread(path, reentrant=True)
        assert not _taken_in_another_thread(path, reentrant=True)  # the inner ends left the outer hold
        with pytest.raises(ReleaseTrainError, match="^the env is locked by pid"):
            with file_lock(path, 0, "the env"):  # a lock taken without reentrant never nests
                pass
    assert _taken_in_another_thread(path, reentrant=True)
    with file_lock(path, 0, "the env", reentrant=True):  # free again in this thread too
        pass


def test_a_reentrant_hold_ends_with_an_error_in_its_block(tmp_path):
    path = str(tmp_path / "env-test.lock")
    with pytest.raises(RuntimeError):
        with file_lock(path, 0, "the env", reentrant=True):
            with file_lock(path, 0, "the env", reentrant=True):
                raise RuntimeError("deploy failed")
    assert _taken_in_another_thread(path)
