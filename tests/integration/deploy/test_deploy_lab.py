"""``deploy.region`` end to end in the lab (ctl01, net01, cmp01, cmp02) with the real formula.

Release r1 (formula + lab pillar) pins the OpenStack packages to bookworm's
point-release versions and is bootstrapped through the release store.  r2
moves the pins to the bookworm-security versions and changes one option
(``openstack:debug``), but its pillar pins cmp02's nova to a version that does
not exist: the upgrade halts in the compute stage naming cmp02, with the
controllers, the network node and cmp01 already upgraded and healthy.  r3 fixes
the pillar; the re-run completes, every node runs the security versions and the
new option, a token issued before the re-run and one issued after both work,
and r3 is promoted to staging because it is verified in test.  Last, a change-merged
event at salt-api's webhook takes a new kit commit through the pipeline to a release
deployed and verified in test.
"""

import json
import pathlib
import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest
import yaml
from pytestshellutils.utils import ports

from releasetrain import config as rt_config
from releasetrain.loader import tree_path
from releasetrain.gerrit.pipeline import Pipeline
from releasetrain.secrets import make_secrets
from tests.support.gerrit import PROJECT, SECRET, post_hook, recorded

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

OPENRC = "/root/admin-openrc"


@pytest.fixture(scope="session")
def deploy_lab_dirs(tmp_path_factory):
    """Where this module keeps its release store, its formula+pillar kit repo and the deploy-kit repo."""
    base = tmp_path_factory.mktemp("deploy-lab")
    return {"store": base / "store", "kit": base / "kit", "deploy_kit": base / "deploy-kit", "api_port": ports.get_unused_localhost_port()}


@pytest.fixture(scope="module")
def lab_master_overrides(deploy_lab_dirs):
    """The lab master serves each environment's published tree, as ``releasetrain master-config`` says,
    and runs the Gerrit train: salt-api's webhook, the reactors, the pipeline over the deploy-kit repo.
    The chain is test then staging, so a merge deploys to test and waits for approval for staging."""
    store = deploy_lab_dirs["store"]
    envs = store / "envs"
    return {
        "releasetrain": {
            "store": str(store),
            "environments": ["test", "staging"],
            "gerrit": {"secret": SECRET, "projects": {PROJECT: {"repo": "kit", "branches": ["master"]}}},
            "pipeline": {"deploy_kit": str(deploy_lab_dirs["deploy_kit"]), "settle": 0.5},
        },
        "file_roots": {
            "base": [tree_path("orchestrate")],
            **{env: [str(envs / env / "states"), tree_path("orchestrate")] for env in ("test", "staging")},
        },
        "pillar_roots": {"test": [str(envs / "test" / "pillar")]},
        "reactor": [{"salt/netapi/hook/gerrit*": [tree_path("reactor") + "/gerrit_hook.sls"]},
                    {"releasetrain/gerrit/*": [tree_path("reactor") + "/gerrit_event.sls"]}],
        "rest_cherrypy": {"port": deploy_lab_dirs["api_port"], "host": "127.0.0.1", "disable_ssl": True,
                          "webhook_disable_auth": True},
    }


def _git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def kit(lab_region, deploy_lab_dirs):
    """``kit(name, pillar_edit, node_pillar)``: commit the formula and the lab pillar (edited) to the
    kit repo; returns the commit."""
    store = deploy_lab_dirs["store"]
    for env in ("test", "staging"):  # the master made these folders; the store wants its symlinks there
        tree = store / "envs" / env
        if tree.is_dir() and not tree.is_symlink() and not any(p.is_file() for p in tree.rglob("*")):
            shutil.rmtree(tree)
    secrets = make_secrets()
    repo = deploy_lab_dirs["kit"]

    def _commit(name, edit=None, node_pillar=None):
        shutil.rmtree(repo / "states", ignore_errors=True)
        shutil.rmtree(repo / "pillar", ignore_errors=True)
        shutil.copytree(tree_path("states"), repo / "states", ignore=shutil.ignore_patterns("__pycache__"))
        pillar = repo / "pillar"
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
        if not (repo / ".git").exists():
            _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", name)
        return _git(repo, "rev-parse", "HEAD")

    return _commit


def _manifest(deploy_lab_dirs, sha):
    return {"repos": [{"name": "kit", "url": str(deploy_lab_dirs["kit"]), "sha": sha, "path": "."}]}


@pytest.fixture(scope="module")
def release(lab_region, kit, deploy_lab_dirs):
    """``release(name, pillar_edit, node_pillar)``: package that kit commit and publish it to test."""

    def _release(name, edit=None, node_pillar=None):
        manifest = deploy_lab_dirs["kit"].parent / f"{name}.yml"
        manifest.write_text(json.dumps(_manifest(deploy_lab_dirs, kit(name, edit, node_pillar))))
        for args in (("release.package", f"manifest={manifest}", f"release={name}"), ("release.publish", name, "env=test")):
            ret = lab_region.salt_run_cli.run(*args)
            assert ret.returncode == 0, ret.stdout + ret.stderr

    return _release


def _deploy(lab_region, name, **settings):
    started = time.monotonic()
    pillar = json.dumps({"release": name, "env": "test", "deploy": settings})
    ret = lab_region.salt_run_cli.run("state.orchestrate", "deploy.region", f"pillar={pillar}", _timeout=3600)
    total = time.monotonic() - started
    print(f"\ndeploy.region {name}: {total:.0f} s")
    _print_step_times(ret.data, total)
    return ret


def _state_results(data):
    """The orchestration's state results (by state key) wherever salt-run's JSON nests them."""
    if isinstance(data, dict):
        if data and all(isinstance(v, dict) and "__run_num__" in v for v in data.values()):
            return data
        for value in data.values():
            found = _state_results(value)
            if found:
                return found
    return {}


def _print_step_times(data, total):
    """Each step's wall time and share of the run (for bench/results/lab.md)."""
    for state in sorted(_state_results(data).values(), key=lambda s: s["__run_num__"]):
        seconds = float(state.get("duration") or 0) / 1000
        print(f"  {state.get('__id__', '?'):<48} {seconds:8.1f} s {100 * seconds / total:5.1f} %")


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
    # the control plane as the formula issue checks it: every agent alive, both computes hypervisors
    agents = json.loads(_openstack(lab_region, "openstack network agent list -f json"))
    alive = {(a["Host"], a["Binary"]) for a in agents if a["Alive"] in (True, ":-)")}
    expected = {("net01", b) for b in ("neutron-linuxbridge-agent", "neutron-l3-agent", "neutron-dhcp-agent",
                                       "neutron-metadata-agent")}
    assert expected | {(h, "neutron-linuxbridge-agent") for h in ("cmp01", "cmp02")} == alive, agents
    hypervisors = json.loads(_openstack(lab_region, "openstack hypervisor list -f json"))
    assert {h["Hypervisor Hostname"].split(".")[0] for h in hypervisors} == {"cmp01", "cmp02"}, hypervisors


def _run_record(summary):
    """The run's JSON record beside its HTML report; both paths printed for the bench results."""
    report = pathlib.Path(summary["report"])
    print(f"\nrun {summary['run']}: {summary['outcome']} in {summary['seconds']} s; report {report}")
    assert report.is_file() and "<svg" in report.read_text()
    return json.loads(report.with_suffix(".json").read_text())


def test_upgrade_failing_on_cmp02_halts_naming_it_and_rolls_back_to_r1(lab_region, release):
    broken = {"cmp02": {"openstack": {"nova_compute": {"version": "2:26.2.2-1~deb12u99"}}}}
    release("r2", _pin(1, debug=False), node_pillar=broken)
    ret = _deploy(lab_region, "r2", on_failure="rollback")
    assert ret.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in ret.stdout, ret.stdout[-6000:]
    assert "rolled back to r1" in ret.stdout, ret.stdout[-6000:]
    # the canary (cmp01) took r2, cmp02 failed; the rollback put r1's versions back on every node
    _expect_versions(lab_region, INSTALLED, 0)
    for node in ("ctl01", "cmp01"):
        assert "debug = False" not in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
    assert _openstack(lab_region, "openstack token issue -f value -c id")
    services = json.loads(_openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {(s["Host"], s["State"], s["Status"]) for s in services} == {
        ("cmp01", "up", "enabled"), ("cmp02", "up", "enabled")}, services
    status = _status(lab_region)
    assert (status["release"], status["verified"]) == ("r1", True)  # r1 served
    failed = status["last_deploy"]  # r2 failed, with its reason, and was rolled back
    assert (failed["release"], failed["outcome"], failed["halted"]["node"]) == ("r2", "rolled back", "cmp02"), failed
    assert failed["rollback"]["outcome"] == "deployed" and failed["rollback"]["to"] == "r1"
    record = _run_record(failed)
    results = {step["id"]: step["result"] for step in record["steps"]}
    assert results == {"01-precheck": True, "02-controller-ctl01": True, "03-neutron_network-batch1of1": True,
                       "04-compute-canary": True, "05-compute-batch1of1": False}, results
    assert set(record["outages"]) == {"keystone", "glance", "placement", "nova", "neutron"}, record["outages"]
    assert all(entry["asked"] > 60 for entry in record["outages"].values()), record["outages"]
    assert record["versions"]["cmp01"]["after"]["nova-compute"] == VERSIONS["nova"][1]
    back = lab_region.salt_run_cli.run("release.show", "r1").data["deployments"][-1]
    assert (back["mode"], back["outcome"], back["rollback_of"]["release"]) == ("downgrade", "deployed", "r2"), back
    downgrade = _run_record(back)
    for node, seen in downgrade["versions"].items():
        for package, version in seen["after"].items():
            if package in ("nova-compute", "nova-api", "keystone", "glance-api", "neutron-l3-agent"):
                assert version == VERSIONS[{"nova-compute": "nova", "nova-api": "nova", "glance-api": "glance",
                                            "neutron-l3-agent": "neutron"}.get(package, package)][0], (node, package)
    print("\nAPI outages, r2's halted upgrade and its rollback:")
    for name, data in (("r2 upgrade", record), ("r1 downgrade", downgrade)):
        for service, entry in sorted(data["outages"].items()):
            print(f"  {name:14} {service:10} down {entry['down_seconds']:6.1f} s in {len(entry['windows'])} windows, "
                  f"longest {entry['longest']:.1f} s")


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
    check = (  # Keystone validates the old token (the nodes have no curl; python3 is there)
        "python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('http://127.0.0.1:5000/v3/auth/tokens', "
        f"headers={{'X-Auth-Token': '{new_token}', 'X-Subject-Token': '{old_token}'}})).status)\""
    )
    assert _openstack(lab_region, check) == "200"
    assert _status(lab_region) | {"release": "r3", "verified": True} == _status(lab_region)
    promoted = lab_region.salt_run_cli.run("release.promote", "r3", "to=staging")
    assert promoted.returncode == 0, promoted.stdout


def test_a_merged_change_goes_through_gerrit_to_the_lab_region(lab_region, kit, deploy_lab_dirs):
    """change-merged at salt-api's webhook -> reactor -> pipeline: the deploy-kit repo pins the merged
    commit, the release is packaged, published and deployed to test by deploy.region, verified there,
    and waits for approval before staging (the last environment of this chain)."""
    deploy_kit = deploy_lab_dirs["deploy_kit"]
    deploy_kit.mkdir()
    (deploy_kit / "manifest.yml").write_text(yaml.safe_dump(_manifest(deploy_lab_dirs, _git(deploy_lab_dirs["kit"], "rev-parse", "HEAD"))))
    _git(deploy_kit, "init", "-q", "-b", "main")
    _git(deploy_kit, "add", "-A")
    _git(deploy_kit, "commit", "-q", "-m", "Deploy-kit: r3")
    sha = kit("change 12399: services log at debug level again", _pin(1, debug=True))
    event = recorded("change-merged.json")
    event["change"]["number"] = 12399
    event["patchSet"].update(ref=f"refs/changes/99/12399/{event['patchSet']['number']}", revision=sha)
    event.update(newRev=sha, eventCreatedOn=int(time.time()))

    pipeline = Pipeline(rt_config.load(lab_region.master.config), orchestrate=None)
    with lab_region.master.salt_api_daemon().started(start_timeout=120):
        started = time.monotonic()
        reply = post_hook(SimpleNamespace(api_url=f"http://127.0.0.1:{deploy_lab_dirs['api_port']}"), event)
        assert reply.status_code == 200, reply.text
        deadline = started + 3600
        while True:
            runs = [r for r in pipeline.status(limit=10)["runs"] if r.get("change") == 12399]
            if runs and runs[-1]["result"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(5)
    print(f"\nchange-merged to verified in test: {time.monotonic() - started:.0f} s")
    assert runs and runs[-1]["result"] == "awaiting-approval", runs
    run = runs[-1]
    assert run["envs"] == ["test"]
    assert sha in _git(deploy_kit, "show", "HEAD:manifest.yml")
    assert _status(lab_region) | {"release": run["release"], "verified": True} == _status(lab_region)
    for node in ("ctl01", "cmp02"):
        assert "debug = True" in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
