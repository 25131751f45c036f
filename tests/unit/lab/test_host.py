"""Without root the lab says so in one line, and the rest of the suite still runs."""

import os
import shutil
import subprocess
import sys

import pytest

from releasetrain.lab import host
from releasetrain.loader import tree_root

CHECK = "from releasetrain.lab import host; print(host.missing())"


def test_missing_is_none_or_one_line():
    problem = host.missing()
    assert problem is None or ("\n" not in problem and problem.startswith("the lab needs"))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to another user")
def test_as_a_plain_user_the_lab_asks_for_root():
    """A real unprivileged process (uid 65534) gets the one-line reason."""
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        cwd=tree_root(),
        env={**os.environ, "PYTHONPATH": tree_root(), "HOME": "/tmp"},
        check=False,
        timeout=60,
    )
    if result.returncode != 0 and "Permission denied" in result.stderr:
        pytest.skip("the venv is not readable by an unprivileged user here")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the lab needs root (network namespaces, bridges, mounts, containers)"
