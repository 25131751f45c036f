"""The README's main job, ``./run demo`` (after setup).

``--release-only`` (package the example manifest re-pinned to this checkout's HEAD,
publish to test, ``release.status``) runs in the default suite, twice, with the master
configuration it writes.  The full demo (a salt-master, the lab, ``deploy.region`` of
that release, a server booted on QEMU, then ``demo down``) is a region test:
``./run test --region`` or ``RELEASETRAIN_REGION_TESTS=1`` (``--keep-lab`` skips the
``demo down`` after a failure, to look inside the region).
"""

import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import git
import pytest
import yaml

from releasetrain.lab import demo
from releasetrain.release import manifest
from releasetrain.lab import guest, region, settings, topology

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO_ROOT, "examples", "manifest.yml")
EXAMPLE_RELEASE = manifest.load(EXAMPLE).release
BIN = os.path.dirname(sys.executable)
DEMO_TIMEOUT = 2 * 3600


def run_demo(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "releasetrain.lab.demo", *args],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT, timeout=timeout)


def test_example_manifest_is_valid_and_pins_this_repository():
    parsed = manifest.load(EXAMPLE)
    assert {pin.fetch_url for pin in parsed.repos} == {REPO_ROOT}


def head():
    return git.Repo(REPO_ROOT).head.commit


def assert_pinned_to_head(output, head_before):
    """The demo's release is the example's name plus a commit of this checkout taken during the
    run (others may commit meanwhile): HEAD then, or one after it. Returns the release and the SHA."""
    shown = re.search(r"^release (\S+) is (?:published to|deployed and verified in) test", output, re.M)
    assert shown, output[-3000:]
    release = shown[1]
    named = re.fullmatch(re.escape(EXAMPLE_RELEASE) + r"-([0-9a-f]{10})", release)
    assert named, f"release {release!r} is not {EXAMPLE_RELEASE}-<HEAD's short SHA>"
    checkout = git.Repo(REPO_ROOT)
    sha = checkout.commit(named[1]).hexsha
    assert checkout.is_ancestor(head_before.hexsha, sha) and checkout.is_ancestor(sha, head().hexsha), (
        f"{release} does not pin the checkout's HEAD ({head_before.hexsha[:10]} when the demo started)")
    return release, sha


def test_demo_release_only_packages_the_checkout_head_publishes_and_shows_status_twice(tmp_path):
    for _ in range(2):
        before = head()
        result = run_demo("--release-only", "--root", str(tmp_path))
        assert result.returncode == 0, result.stdout + result.stderr
        release, sha = assert_pinned_to_head(result.stdout, before)
    tree = tmp_path / "store" / "envs" / "test"
    assert (tree / "states" / "openstack" / "map.jinja").is_file()
    assert (tree / "states" / "top.sls").is_file()
    meta = yaml.safe_load((tree / ".releasetrain.yml").read_text())
    assert meta["release"] == release
    assert {repo["sha"] for repo in meta["repos"]} == {sha}
    stages = git.Repo(REPO_ROOT).commit(sha).tree / "states" / "openstack" / "stages.yaml"
    assert (tree / "states" / "openstack" / "stages.yaml").read_bytes() == stages.data_stream.read()


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
def test_full_demo_deploys_a_region_that_boots_a_server_and_down_leaves_nothing(request, default_lab_free):
    """``./run demo`` then ``./run demo down``, as the README says (with a root of its own).

    The root is not in pytest's basetemp: other pytest sessions of the same user remove all but
    their 3 newest basetemps, and with them a running demo's master keys (its minions vanish).
    It is removed when the test passes, and kept for a look inside when it fails."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="releasetrain-demo-region-", dir="/var/tmp"))
    topo = topology.load()
    lab = settings.make()
    if region.status(lab).get("lab"):
        pytest.fail(f"a lab is up in {lab.state_dir} (an earlier ./run demo?): run ./run demo down first")
    started = time.monotonic()
    before = head()
    try:
        up = run_demo("--root", str(root), timeout=DEMO_TIMEOUT)
        print(f"\n./run demo: {time.monotonic() - started:.0f} s\n{up.stdout[-4000:]}")
        assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
        assert_pinned_to_head(up.stdout, before)
        assert "./run demo down" in up.stdout
        booted = re.search(r"^its server \S+ booted on QEMU; the guest wrote to its console: (.*)$", up.stdout, re.M)
        assert booted and guest.GUEST_SAYS.decode() in booted[1], up.stdout[-3000:]
        code, out, err = salt(root, "ctl01", "cmd.run", f". {demo.OPENRC} && openstack token issue -f value -c id")
        assert code == 0 and json.loads(out)["ctl01"].strip(), out + err
        code, out, err = salt(root, "*", "test.ping")
        assert json.loads(out) == {node.name: True for node in topo.nodes}, out + err
        # the demo's boot step again on the same region (a second ./run demo): the image, flavor
        # and network are reused, the server left by the first is replaced by a new one that boots
        first = re.search(rf"^  server {guest.SERVER} \((\S+)\): ACTIVE on", up.stdout, re.M)
        said = []
        again = guest.boot(demo.salt_cmd(str(root), "ctl01"), say=said.append)
        print("the boot again:\n  " + "\n  ".join(said))
        assert first and again["server"] != first[1], said
        assert f"server {guest.SERVER}: deleted the one an earlier run left" in said
        assert f"image {guest.image_name(guest.GUEST_SAYS)}: reused" in said
        assert guest.GUEST_SAYS.decode() in again["line"], again
    except BaseException:
        if request.config.getoption("--keep-lab"):
            print(f"\n--keep-lab: the demo's region and salt-master are left up (./run demo down --root {root})")
        else:
            run_demo("down", "--root", str(root))
        raise
    down = run_demo("down", "--root", str(root))
    assert down.returncode == 0, down.stdout + down.stderr
    assert demo.master_processes(str(root)) == []
    assert region.status(lab) == {"up": False, "comment": f"no lab in {lab.state_dir}"}
    assert region.leftovers(lab, topo) == []
    assert os.listdir(root / "pki" / "minions") == []
    again = run_demo("down", "--root", str(root))  # twice is fine
    assert again.returncode == 0, again.stdout + again.stderr
    shutil.rmtree(root)


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
