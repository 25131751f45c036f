"""Without root the lab says so in one line, and the rest of the suite still runs."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from releasetrain.lab import host
from releasetrain.loader import tree_root

CHECK = "from releasetrain.lab import host; print(host.missing())"


def test_missing_is_none_or_one_line():
    problem = host.missing()
    assert problem is None or ("\n" not in problem and problem.startswith("the lab needs"))


@pytest.fixture
def readable_copy():
    """The package copied into a new folder under /tmp that every user can read."""
    folder = tempfile.mkdtemp(prefix="releasetrain-as-nobody-")
    try:
        os.chmod(folder, 0o755)
        shutil.copytree(os.path.join(tree_root(), "releasetrain"), os.path.join(folder, "releasetrain"))
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to another user")
def test_as_a_plain_user_the_lab_asks_for_root(readable_copy):
    """A real unprivileged process (uid 65534) gets the one-line reason.

    It imports a copy of the package (host.py needs only the standard library) from a
    folder it can read: a checkout in a 0700 folder is not readable by that user."""
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {readable_copy!r}); {CHECK}"],
        capture_output=True,
        text=True,
        cwd=readable_copy,
        env={**os.environ, "HOME": "/tmp"},
        check=False,
        timeout=60,
    )
    if result.returncode != 0 and "Permission denied" in result.stderr:
        pytest.skip("the venv is not readable by an unprivileged user here")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the lab needs root (network namespaces, bridges, mounts, containers)"
