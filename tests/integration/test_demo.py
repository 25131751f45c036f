"""The README's main job (``./run demo`` after setup) works, and again on a second run."""

import os
import subprocess
import sys

import yaml

from releasetrain import manifest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO_ROOT, "examples", "manifest.yml")


def test_example_manifest_is_valid_and_pins_this_repository():
    parsed = manifest.load(EXAMPLE)
    assert {pin.fetch_url for pin in parsed.repos} == {REPO_ROOT}


def test_demo_packages_publishes_and_shows_status_twice(tmp_path):
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "releasetrain.demo", "--root", str(tmp_path)],
                                capture_output=True, text=True, check=False, cwd=REPO_ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "release example-2026.11.0 is published to test" in result.stdout
    tree = tmp_path / "store" / "envs" / "test"
    assert (tree / "states" / "openstack" / "map.jinja").is_file()
    assert (tree / "states" / "top.sls").is_file()
    meta = yaml.safe_load((tree / ".releasetrain.yml").read_text())
    assert meta["release"] == "example-2026.11.0"
