"""The README's main job, ``./run demo`` (after setup).

``--release-only`` (package, publish to test, ``release.status``) runs in the default
suite, twice, with the master configuration it writes.  The full demo (a salt-master,
the lab, ``deploy.region`` of the example manifest, then ``demo down``) is a region
test: ``./run test --region`` or ``RELEASETRAIN_REGION_TESTS=1``.
"""

import json
import os
import stat
import subprocess
import sys
import time

import pytest
import yaml

from releasetrain import demo, manifest
from releasetrain.lab import region, settings, topology

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO_ROOT, "examples", "manifest.yml")
RELEASE = manifest.load(EXAMPLE).release
BIN = os.path.dirname(sys.executable)
DEMO_TIMEOUT = 2 * 3600


def run_demo(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "releasetrain.demo", *args],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT, timeout=timeout)


def test_example_manifest_is_valid_and_pins_this_repository():
    parsed = manifest.load(EXAMPLE)
    assert {pin.fetch_url for pin in parsed.repos} == {REPO_ROOT}


def test_demo_release_only_packages_publishes_and_shows_status_twice(tmp_path):
    for _ in range(2):
        result = run_demo("--release-only", "--root", str(tmp_path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"release {RELEASE} is published to test" in result.stdout
    tree = tmp_path / "store" / "envs" / "test"
    assert (tree / "states" / "openstack" / "map.jinja").is_file()
    assert (tree / "states" / "top.sls").is_file()
    meta = yaml.safe_load((tree / ".releasetrain.yml").read_text())
    assert meta["release"] == RELEASE


def test_master_config_serves_the_lab_and_the_test_pillar_with_secrets_made_once(tmp_path):
    root = str(tmp_path)
    demo.write_master_config(root)
    config = yaml.safe_load((tmp_path / "master").read_text())
    assert config["interface"] == "0.0.0.0"
    assert config["releasetrain"]["lab"] == {
        key: value for key, value in settings.DEFAULTS.items() if value is not None}
    assert config["pillar_roots"]["test"] == [str(tmp_path / "store" / "envs" / "test" / "pillar"),
                                             str(tmp_path / "pillar")]
    assert all(path.startswith(root) for key in ("pki_dir", "cachedir", "sock_dir", "pidfile", "log_file")
               for path in [config[key]])
    top = yaml.safe_load((tmp_path / "pillar" / "top.sls").read_text())
    assert top == {"test": {"*": ["openstack.region.lab", "openstack.environment.test", "openstack.secrets.lab"]}}
    secrets_sls = tmp_path / "pillar" / "openstack" / "secrets" / "lab.sls"
    assert stat.S_IMODE(secrets_sls.stat().st_mode) == 0o600
    made = secrets_sls.read_text()
    assert yaml.safe_load(made)["openstack"]["secrets"]["admin"]
    demo.write_master_config(root)
    assert secrets_sls.read_text() == made  # kept: a deployed region keeps its passwords


def test_the_test_pillar_renders_from_the_published_kit_and_the_demo_secrets(tmp_path):
    result = run_demo("--release-only", "--root", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    shown = subprocess.run([os.path.join(BIN, "salt-run"), "-c", str(tmp_path), "--out=json",
                            "pillar.show_pillar", "ctl01"], capture_output=True, text=True, check=True)
    pillar = json.loads(shown.stdout)["openstack"]
    assert pillar["controller"]["address"] == "10.231.10.11"  # openstack.region.lab, from the kit
    assert pillar["debug"] is True  # openstack.environment.test
    assert pillar["secrets"]["admin"]


def salt(root, *args, timeout=300):
    ret = subprocess.run([os.path.join(BIN, "salt"), "-c", str(root), "--out=json", "--static", *args],
                         capture_output=True, text=True, check=False, timeout=timeout)
    return ret.returncode, ret.stdout, ret.stderr


@pytest.mark.lab
@pytest.mark.region
@pytest.mark.slow
def test_full_demo_deploys_a_region_that_answers_and_down_leaves_nothing(tmp_path, default_lab_free):
    """``./run demo`` then ``./run demo down``, as the README says (with a root of its own)."""
    root = tmp_path / "demo"
    topo = topology.load()
    lab = settings.make()
    if region.status(lab).get("lab"):
        pytest.fail(f"a lab is up in {lab.state_dir} (an earlier ./run demo?): run ./run demo down first")
    started = time.monotonic()
    try:
        up = run_demo("--root", str(root), timeout=DEMO_TIMEOUT)
        print(f"\n./run demo: {time.monotonic() - started:.0f} s\n{up.stdout[-3000:]}")
        assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
        assert f"release {RELEASE} is deployed and verified in test" in up.stdout
        assert "./run demo down" in up.stdout
        code, out, err = salt(root, "ctl01", "cmd.run", f". {demo.OPENRC} && openstack token issue -f value -c id")
        assert code == 0 and json.loads(out)["ctl01"].strip(), out + err
        code, out, err = salt(root, "*", "test.ping")
        assert json.loads(out) == {node.name: True for node in topo.nodes}, out + err
    finally:
        down = run_demo("down", "--root", str(root))
    assert down.returncode == 0, down.stdout + down.stderr
    assert demo.master_processes(str(root)) == []
    assert region.status(lab) == {"up": False, "comment": f"no lab in {lab.state_dir}"}
    assert region.leftovers(lab, topo) == []
    assert os.listdir(root / "pki" / "minions") == []
    again = run_demo("down", "--root", str(root))  # twice is fine
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason=f"region.hold's locks live in {region.OWNERS} (root)")
def test_the_demo_waits_for_a_session_that_holds_the_lab(capsys):
    name = "demo-hold-test"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom releasetrain.lab import region\n"
        f"with region.hold({name!r}):\n    print('held', flush=True)\n    time.sleep(3)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with demo.hold_lab(name, wait=60):
            waited = time.monotonic() - started
        assert 1 < waited < 30
        out = capsys.readouterr().out
        assert f"waiting for the lab {name!r}" in out and f"got the lab {name!r}" in out
    finally:
        holder.wait(timeout=30)
