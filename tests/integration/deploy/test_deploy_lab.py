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
import time
from types import SimpleNamespace

import pytest
import yaml

from releasetrain import config as rt_config
from releasetrain.gerrit.pipeline import Pipeline
from releasetrain.loader import tree_path
from tests.support.deploy_lab import BOOKWORM as VERSIONS
from tests.support.deploy_lab import deploy_lab_dirs, kit, release  # noqa: F401 (fixtures)
from tests.support.deploy_lab import (
    deploy, git, manifest, master_config, openstack, pins, print_outages, run_record, status, validates,
)
from tests.support.gerrit import PROJECT, SECRET, post_hook, recorded

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab_master_overrides(deploy_lab_dirs):
    """The lab master serves each environment's published tree and runs the Gerrit train: salt-api's
    webhook, the reactors, the pipeline over the deploy-kit repo.  The chain is test then staging,
    so a merge deploys to test and waits for approval for staging."""
    config = master_config(deploy_lab_dirs)
    config["releasetrain"].update({
        "gerrit": {"secret": SECRET, "projects": {PROJECT: {"repo": "kit", "branches": ["master"]}}},
        "pipeline": {"deploy_kit": str(deploy_lab_dirs["deploy_kit"]), "settle": 0.5},
    })
    return {
        **config,
        "reactor": [{"salt/netapi/hook/gerrit*": [tree_path("reactor") + "/gerrit_hook.sls"]},
                    {"releasetrain/gerrit/*": [tree_path("reactor") + "/gerrit_event.sls"]}],
        "rest_cherrypy": {"port": deploy_lab_dirs["api_port"], "host": "127.0.0.1", "disable_ssl": True,
                          "webhook_disable_auth": True},
    }


#: A package of each source package, where it is installed.
INSTALLED = {
    "ctl01": {"keystone": "keystone", "glance": "glance-api", "nova": "nova-api", "neutron": "neutron-api"},
    "net01": {"neutron": "neutron-l3-agent"},
    "cmp01": {"nova": "nova-compute", "neutron": "neutron-linuxbridge-agent"},
    "cmp02": {"nova": "nova-compute", "neutron": "neutron-linuxbridge-agent"},
}


def _pin(which, debug=None):
    """Every OpenStack component pinned to the point release (0) or the security update (1)."""
    def edit(region, extra):
        extra["openstack"].update(pins({source: versions[which] for source, versions in VERSIONS.items()}))
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
    ret = deploy(lab_region, "r1")
    assert ret.returncode == 0, ret.stdout[-6000:]
    assert openstack(lab_region, "openstack token issue -f value -c id")
    _expect_versions(lab_region, INSTALLED, 0)
    assert status(lab_region) | {"release": "r1", "verified": True} == status(lab_region)
    # the control plane as the formula issue checks it: every agent alive, both computes hypervisors
    agents = json.loads(openstack(lab_region, "openstack network agent list -f json"))
    alive = {(a["Host"], a["Binary"]) for a in agents if a["Alive"] in (True, ":-)")}
    expected = {("net01", b) for b in ("neutron-linuxbridge-agent", "neutron-l3-agent", "neutron-dhcp-agent",
                                       "neutron-metadata-agent")}
    assert expected | {(h, "neutron-linuxbridge-agent") for h in ("cmp01", "cmp02")} == alive, agents
    hypervisors = json.loads(openstack(lab_region, "openstack hypervisor list -f json"))
    assert {h["Hypervisor Hostname"].split(".")[0] for h in hypervisors} == {"cmp01", "cmp02"}, hypervisors


def test_upgrade_failing_on_cmp02_halts_naming_it_and_rolls_back_to_r1(lab_region, release):
    broken = {"cmp02": {"openstack": {"nova_compute": {"version": "2:26.2.2-1~deb12u99"}}}}
    release("r2", _pin(1, debug=False), node_pillar=broken)
    ret = deploy(lab_region, "r2", on_failure="rollback")
    assert ret.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in ret.stdout, ret.stdout[-6000:]
    assert "rolled back to r1" in ret.stdout, ret.stdout[-6000:]
    # the canary (cmp01) took r2, cmp02 failed; the rollback put r1's versions back on every node
    _expect_versions(lab_region, INSTALLED, 0)
    for node in ("ctl01", "cmp01"):
        assert "debug = False" not in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
    assert openstack(lab_region, "openstack token issue -f value -c id")
    services = json.loads(openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {(s["Host"], s["State"], s["Status"]) for s in services} == {
        ("cmp01", "up", "enabled"), ("cmp02", "up", "enabled")}, services
    served = status(lab_region)
    assert (served["release"], served["verified"]) == ("r1", True)  # r1 served
    failed = served["last_deploy"]  # r2 failed, with its reason, and was rolled back
    assert (failed["release"], failed["outcome"], failed["halted"]["node"]) == ("r2", "rolled back", "cmp02"), failed
    assert failed["rollback"]["outcome"] == "deployed" and failed["rollback"]["to"] == "r1"
    record = run_record(failed)
    results = {step["id"]: step["result"] for step in record["steps"]}
    assert results == {"01-precheck": True, "02-controller-ctl01": True, "03-neutron_network-batch1of1": True,
                       "04-compute-canary": True, "05-compute-batch1of1": False}, results
    assert set(record["outages"]) == {"keystone", "glance", "placement", "nova", "neutron"}, record["outages"]
    assert all(entry["asked"] > 60 for entry in record["outages"].values()), record["outages"]
    assert record["versions"]["cmp01"]["after"]["nova-compute"] == VERSIONS["nova"][1]
    back = lab_region.salt_run_cli.run("release.show", "r1").data["deployments"][-1]
    assert (back["mode"], back["outcome"], back["rollback_of"]["release"]) == ("downgrade", "deployed", "r2"), back
    downgrade = run_record(back)
    for node, seen in downgrade["versions"].items():
        for package, version in seen["after"].items():
            if package in ("nova-compute", "nova-api", "keystone", "glance-api", "neutron-l3-agent"):
                assert version == VERSIONS[{"nova-compute": "nova", "nova-api": "nova", "glance-api": "glance",
                                            "neutron-l3-agent": "neutron"}.get(package, package)][0], (node, package)
    print("\nAPI outages, r2's halted upgrade and its rollback:")
    print_outages("r2 upgrade", record)
    print_outages("r1 downgrade", downgrade)


def test_fixed_release_upgrades_keeps_old_tokens_and_promotes(lab_region, release):
    old_token = openstack(lab_region, "openstack token issue -f value -c id")
    release("r3", _pin(1, debug=False))
    ret = deploy(lab_region, "r3")
    assert ret.returncode == 0, ret.stdout[-6000:]
    _expect_versions(lab_region, INSTALLED, 1)
    for node in ("ctl01", "cmp01", "cmp02"):
        assert "debug = False" in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
    services = json.loads(openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {(s["Host"], s["State"], s["Status"]) for s in services} == {
        ("cmp01", "up", "enabled"), ("cmp02", "up", "enabled")}, services
    new_token = openstack(lab_region, "openstack token issue -f value -c id")
    assert validates(lab_region, new_token, old_token) == "200"
    assert status(lab_region) | {"release": "r3", "verified": True} == status(lab_region)
    promoted = lab_region.salt_run_cli.run("release.promote", "r3", "to=staging")
    assert promoted.returncode == 0, promoted.stdout


def test_a_merged_change_goes_through_gerrit_to_the_lab_region(lab_region, kit, deploy_lab_dirs):
    """change-merged at salt-api's webhook -> reactor -> pipeline: the deploy-kit repo pins the merged
    commit, the release is packaged, published and deployed to test by deploy.region, verified there,
    and waits for approval before staging (the last environment of this chain)."""
    deploy_kit = deploy_lab_dirs["deploy_kit"]
    deploy_kit.mkdir()
    (deploy_kit / "manifest.yml").write_text(yaml.safe_dump(manifest(deploy_lab_dirs, git(deploy_lab_dirs["kit"], "rev-parse", "HEAD"))))
    git(deploy_kit, "init", "-q", "-b", "main")
    git(deploy_kit, "add", "-A")
    git(deploy_kit, "commit", "-q", "-m", "Deploy-kit: r3")
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
    assert sha in git(deploy_kit, "show", "HEAD:manifest.yml")
    assert status(lab_region) | {"release": run["release"], "verified": True} == status(lab_region)
    for node in ("ctl01", "cmp02"):
        assert "debug = True" in lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout, node
