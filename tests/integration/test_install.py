"""``pip install .`` into a fresh venv registers releasetrain with Salt (no runner_dirs)."""

import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), REPO_ROOT],
                   check=True, capture_output=True)
    (path,) = out.glob("releasetrain-*.whl")
    return path


def test_wheel_ships_loader_folders_sls_trees_and_the_entry_point(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "releasetrain/tree/_runners/release.py" in names
    assert "releasetrain/tree/_output/releasetrain.py" in names
    assert "[salt.loader]\nreleasetrain = releasetrain.loader:loader_dirs" in entry_points
    for tree in ("orchestrate", "states", "pillar", "reactor", "lab"):
        if os.path.isdir(os.path.join(REPO_ROOT, tree)) and os.listdir(os.path.join(REPO_ROOT, tree)):
            assert any(name.startswith(f"releasetrain/tree/{tree}/") for name in names), tree


@pytest.mark.slow
def test_salt_run_finds_the_runner_in_a_fresh_venv_without_runner_dirs(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    root = tmp_path / "master"
    for sub in ("cache/proc", "pki", "sock"):
        (root / sub).mkdir(parents=True)
    config = {"root_dir": str(root), "cachedir": str(root / "cache"), "pki_dir": str(root / "pki"),
              "sock_dir": str(root / "sock"), "log_file": str(root / "master.log"),
              "releasetrain": {"store": str(tmp_path / "store"), "cache": str(tmp_path / "cache")}}
    (root / "master").write_text(yaml.safe_dump(config))
    assert "runner_dirs" not in (root / "master").read_text()
    result = subprocess.run([str(venv / "bin" / "salt-run"), "-c", str(root), "--out=json", "release.status"],
                            capture_output=True, text=True, check=False, cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    status = json.loads(result.stdout)
    assert set(status["environments"]) == {"test", "staging", "production", "volatile"}
    paths = subprocess.run([str(venv / "bin" / "releasetrain", ), "paths"], capture_output=True, text=True, check=True)
    assert f"_runners: {venv}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/releasetrain/tree/_runners" in paths.stdout
