"""releasetrain.locking: the one flock helper behind the store's, the pipeline's and the lab's locks."""

import os

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
