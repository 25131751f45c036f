"""``deploy.region`` end to end in the lab (ctl01, net01, cmp01, cmp02) with the real formula.

Release r1 (formula + lab pillar) pins the OpenStack packages to bookworm's
point-release versions and is bootstrapped through the release store.  r2
moves the pins to the bookworm-security versions and changes one option
(``openstack:debug``), but its pillar pins cmp02's nova to a version that does
not exist: the upgrade halts in the compute stage naming cmp02, with the
controllers, the network node and cmp01 already upgraded and healthy.  r3 fixes
the pillar; the re-run completes, every node runs the security versions and the
new option, a token issued before the re-run and one issued after both work,
and r3 is promoted to staging because it is verified in test.
"""

import json
import shutil
import subprocess
import time

import pytest
import yaml

from releasetrain.loader import tree_path

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

OPENRC = "/root/admin-openrc"


@pytest.fixture(scope="session")
def deploy_lab_store(tmp_path_factory):
    return tmp_path_factory.mktemp("deploy-lab") / "store"


@pytest.fixture(scope="session")
def lab_master_overrides(deploy_lab_store):
    """The lab master serves each environment's published tree, as ``releasetrain master-config`` says."""
    envs = deploy_lab_store / "envs"
    return {
        "releasetrain": {"store": str(deploy_lab_store)},
        "file_roots": {
            "base": [tree_path("orchestrate")],
            **{env: [str(envs / env / "states"), tree_path("orchestrate")] for env in ("test", "staging")},
        },
        "pillar_roots": {"test": [str(envs / "test" / "pillar")]},
    }


def _git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def release(lab_region, deploy_lab_store, tmp_path_factory):
    """``release(name, pillar_edit)``: package the formula and lab pillar (edited) and publish it to test."""
    from tests.functional.formula.conftest import make_secrets

    for env in ("test", "staging"):  # the master made these folders; the store wants its symlinks there
        tree = deploy_lab_store / "envs" / env
        if tree.is_dir() and not tree.is_symlink() and not any(p.is_file() for p in tree.rglob("*")):
            shutil.rmtree(tree)
    src = tmp_path_factory.mktemp("deploy-lab-kit")
    secrets = make_secrets()
    run = lab_region.salt_run_cli

    def _release(name, edit=None, node_pillar=None):
        kit = src / "kit"
        shutil.rmtree(kit / "states", ignore_errors=True)
        shutil.rmtree(kit / "pillar", ignore_errors=True)
        shutil.copytree(tree_path("states"), kit / "states", ignore=shutil.ignore_patterns("__pycache__"))
        pillar = kit / "pillar"
        shutil.copytree(tree_path("pillar") + "/openstack", pillar / "openstack")
        region = yaml.safe_load((pillar / "openstack" / "region" / "lab.sls").read_text())
        extra = {"openstack": {"secrets": secrets}}
        if edit:
            edit(region, extra)
        (pillar / "openstack" / "region" / "lab.sls").write_text(yaml.safe_dump(region))
        (pillar / "openstack" / "run.sls").write_text(yaml.safe_dump(extra))
        top = "test:\n  '*':\n    - openstack.region.lab\n    - openstack.environment.test\n    - openstack.run\n"
        for node, data in (node_pillar or {}).items():  # after '*', so it wins
            (pillar / "openstack" / f"node_{node}.sls").write_text(yaml.safe_dump(data))
            top += f"  '{node}':\n    - openstack.node_{node}\n"
        (pillar / "top.sls").write_text(top)
        if not (kit / ".git").exists():
            _git(kit, "init", "-q", "-b", "main")
        _git(kit, "add", "-A")
        _git(kit, "commit", "-q", "--allow-empty", "-m", name)
        manifest = src / f"{name}.yml"
        manifest.write_text(json.dumps({"repos": [{"name": "kit", "url": str(kit), "sha": _git(kit, "rev-parse", "HEAD"), "path": "."}]}))
        for args in (("release.package", f"manifest={manifest}", f"release={name}"), ("release.publish", name, "env=test")):
            ret = run.run(*args)
            assert ret.returncode == 0, ret.stdout + ret.stderr

    return _release


def _deploy(lab_region, name):
    started = time.monotonic()
    pillar = json.dumps({"release": name, "env": "test"})
    ret = lab_region.salt_run_cli.run("state.orchestrate", "deploy.region", f"pillar={pillar}", _timeout=3600)
    print(f"\ndeploy.region {name}: {time.monotonic() - started:.0f} s")
    return ret


def _openstack(lab_region, command):
    result = lab_region.run_in("ctl01", "bash", "-c", f". {OPENRC} && {command}", check=False, timeout=300)
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    return result.stdout.strip()


def _status(lab_region, env="test"):
    return lab_region.salt_run_cli.run("release.status").data["environments"][env]


# Bookworm's two versions of each OpenStack source package: (point release, security update).
VERSIONS = {
    "keystone": ("2:22.0.2-0+deb12u3", "2:22.0.2-0+deb12u6"),
    "glance": ("2:25.1.0-2+deb12u3", "2:25.1.0-2+deb12u5"),
    "nova": ("2:26.2.2-1~deb12u4", "2:26.2.2-1~deb12u5"),
    "neutron": ("2:21.0.0-7", "2:21.0.0-7+deb12u1"),
}
COMPONENTS = {
    "keystone": "keystone", "glance": "glance", "nova_controller": "nova", "nova_compute": "nova",
    "neutron_server": "neutron", "neutron_network": "neutron", "neutron_compute": "neutron",
}
#: A package of each source package, where it is installed.
INSTALLED = {
    "ctl01": {"keystone": "keystone", "glance": "glance-api", "nova": "nova-api", "neutron": "neutron-api"},
    "net01": {"neutron": "neutron-l3-agent"},
    "cmp01": {"nova": "nova-compute", "neutron": "neutron-linuxbridge-agent"},
    "cmp02": {"nova": "nova-compute", "neutron": "neutron-linuxbridge-agent"},
}


def pins(which):
    """Pillar pinning every OpenStack component to the point release (0) or the security update (1)."""
    return {component: {"version": VERSIONS[source][which]} for component, source in COMPONENTS.items()}


def _pin(which, debug=None):
    def edit(region, extra):
        extra["openstack"].update(pins(which))
        if debug is not None:
            extra["openstack"]["debug"] = debug
    return edit


def _versions(lab_region, node):
    packages = INSTALLED[node]
    out = lab_region.run_in(node, "dpkg-query", "-W", "-f=${Package} ${Version}\n", *packages.values()).stdout
    installed = dict(line.split() for line in out.splitlines())
    return {source: installed[package] for source, package in packages.items()}


def _expect_versions(lab_region, nodes, which):
    for node in nodes:
        expected = {source: VERSIONS[source][which] for source in INSTALLED[node]}
        assert _versions(lab_region, node) == expected, node


def test_bootstrap_release_1_on_the_point_release(lab_region, release):
    release("r1", _pin(0))
    ret = _deploy(lab_region, "r1")
    assert ret.returncode == 0, ret.stdout[-6000:]
    assert _openstack(lab_region, "openstack token issue -f value -c id")
    _expect_versions(lab_region, INSTALLED, 0)
    assert _status(lab_region) | {"release": "r1", "verified": True} == _status(lab_region)


def test_upgrade_failing_on_cmp02_halts_naming_it(lab_region, release):
    broken = {"cmp02": {"openstack": {"nova_compute": {"version": "2:26.2.2-1~deb12u99"}}}}
    release("r2", _pin(1, debug=False), node_pillar=broken)
    ret = _deploy(lab_region, "r2")
    assert ret.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in ret.stdout, ret.stdout[-6000:]
    # everything before cmp02 was upgraded and is healthy; cmp02 was not
    _expect_versions(lab_region, ("ctl01", "net01", "cmp01"), 1)
    assert _versions(lab_region, "cmp02")["nova"] == VERSIONS["nova"][0]
    for node in ("ctl01", "cmp01"):
        assert "debug = False" in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
    services = json.loads(_openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {s["Host"]: s["State"] for s in services}.get("cmp01") == "up", services
    assert _status(lab_region)["release"] != "r2"


def test_fixed_release_upgrades_keeps_old_tokens_and_promotes(lab_region, release):
    old_token = _openstack(lab_region, "openstack token issue -f value -c id")
    release("r3", _pin(1, debug=False))
    ret = _deploy(lab_region, "r3")
    assert ret.returncode == 0, ret.stdout[-6000:]
    _expect_versions(lab_region, INSTALLED, 1)
    for node in ("ctl01", "cmp01", "cmp02"):
        assert "debug = False" in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
    services = json.loads(_openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {(s["Host"], s["State"], s["Status"]) for s in services} == {
        ("cmp01", "up", "enabled"), ("cmp02", "up", "enabled")}, services
    new_token = _openstack(lab_region, "openstack token issue -f value -c id")
    check = (
        f"curl -fsS -o /dev/null -w '%{{http_code}}' -H 'X-Auth-Token: {new_token}' "
        f"-H 'X-Subject-Token: {old_token}' http://127.0.0.1:5000/v3/auth/tokens"
    )
    assert _openstack(lab_region, check) == "200"
    assert _status(lab_region) | {"release": "r3", "verified": True} == _status(lab_region)
    promoted = lab_region.salt_run_cli.run("release.promote", "r3", "to=staging")
    assert promoted.returncode == 0, promoted.stdout
