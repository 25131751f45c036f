"""The lab's locks go through releasetrain.locking: a second lab.up waits, then fails in one line."""

import pytest

from releasetrain.lab import image, region
from releasetrain.lab.errors import LabError


def test_a_busy_state_dir_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(region, "STATE_LOCK_WAIT", 0)
    with region._locked(str(tmp_path / "state")):
        with pytest.raises(LabError, match=r"^another lab.up or lab.down \(pid \d+\) has held .*/state for 0s"):
            with region._locked(str(tmp_path / "state")):
                pass
    with region._locked(str(tmp_path / "state")):
        pass  # released


def test_a_base_image_being_built_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(image, "LOCK_WAIT", 0)
    with image._locked(str(tmp_path)):
        with pytest.raises(LabError, match=r"^the lab's base image is being built by pid \d+"):
            with image._locked(str(tmp_path)):
                pass
