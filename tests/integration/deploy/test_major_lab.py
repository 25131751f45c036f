"""``deploy.region`` mode major end to end in the lab: Debian 12 / OpenStack Zed to Debian 13 /
OpenStack 2025.1 Epoxy on ctl01, net01, cmp01 and cmp02, with the real formula
(states/openstack/UPGRADE.md).

r1 pins bookworm's point-release OpenStack and is bootstrapped; a project, a user, an image, a
network with its subnet and a server booted on QEMU are made on it.  r2 runs on trixie
(``openstack:distribution``) with Epoxy's versions pinned, but its pillar pins cmp02's nova to a
version trixie does not have: the major run halts in the compute stage naming cmp02, and the
automatic rollback it asks for is refused (the schemas moved on).  r3 fixes the pillar and the
same major run resumes and completes: every node runs trixie and Epoxy, every region check passes
(agents on Open vSwitch, the retired Linux bridge agents gone, both hypervisors, no FFU workaround
left), the resources are all there, the server runs on Epoxy after a stop and start, and a token
issued after the upgrade works.  Wall times and API outages are printed for bench/results.
By default every node moves to trixie in one step (``deploy:major:together``);
``RELEASETRAIN_MAJOR_ROLE_BY_ROLE=1`` runs r2 and r3 with ``together: false`` (each role's nodes just
before their stages).
"""

import json
import os

import pytest

from releasetrain.lab import guest
from tests.support.deploy_lab import BOOKWORM, TRIXIE
from tests.support.deploy_lab import deploy_lab_dirs, kit, lab_master_overrides, release  # noqa: F401 (fixtures)
from tests.support.deploy_lab import deploy, openstack, pins, print_outages, run_record, status, validates

pytestmark = [pytest.mark.lab, pytest.mark.region, pytest.mark.slow]

PROJECT = "survivor"
USER = "survivor"
PASSWORD = "-survives the upgrade: {ok} & 'quoted'"
#: A package of each source package, where it is installed on trixie.
INSTALLED = {
    "ctl01": {"keystone": "keystone", "glance": "glance-api", "nova": "nova-api", "neutron": "neutron-api"},
    "net01": {"neutron": "neutron-l3-agent"},
    "cmp01": {"nova": "nova-compute", "neutron": "neutron-openvswitch-agent"},
    "cmp02": {"nova": "nova-compute", "neutron": "neutron-openvswitch-agent"},
}
NETWORK_AGENTS = ("neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent")
MADE = {}  # what r1's test made, for the later ones
MAJOR = {"major": {"together": False}} if os.environ.get("RELEASETRAIN_MAJOR_ROLE_BY_ROLE") == "1" else {}


def _on_trixie(distribution="trixie"):
    def edit(region, extra):
        extra["openstack"].update(pins(TRIXIE))
        extra["openstack"]["distribution"] = distribution
    return edit


def _cloud(lab_region):
    return guest.Controller(lambda script, timeout: lab_region.run_in(
        "ctl01", "bash", "-c", script, check=False, timeout=timeout))


def _server_is(cloud, server, wanted):
    shown = cloud.openstack("server", "show", server)
    assert shown["status"] != "ERROR", shown.get("fault")
    return shown["status"] == wanted


def _quoted(text):
    return "'" + text.replace("'", "'\\''") + "'"


def test_bootstrap_r1_on_bookworm_and_make_what_must_survive(lab_region, release):
    release("r1", lambda region, extra: extra["openstack"].update(
        pins({source: versions[0] for source, versions in BOOKWORM.items()})))
    ret = deploy(lab_region, "r1")
    assert ret.returncode == 0, ret.stdout[-6000:]
    openstack(lab_region, f"openstack project create {PROJECT} -f value -c id")
    openstack(lab_region, f"openstack user create --project {PROJECT} --password={_quoted(PASSWORD)} {USER} -f value -c id")
    openstack(lab_region, f"openstack role add --project {PROJECT} --user {USER} member")
    booted = guest.boot(_cloud(lab_region).run)
    MADE.update(booted, image=guest.image_name(guest.GUEST_SAYS))
    print(f"\nmade on r1: project {PROJECT}, user {USER}, image {MADE['image']}, network {guest.NETWORK}, "
          f"server {booted['server']} on {booted['host']}")


def test_a_failing_node_halts_the_major_upgrade_naming_it_and_no_rollback_is_tried(lab_region, release):
    assert MADE, "r1's resources were not made"
    broken = {"cmp02": {"openstack": {"nova_compute": {"version": "2:31.0.0-6+deb13u99"}}}}
    release("r2", _on_trixie(), node_pillar=broken)
    plan = lab_region.salt_run_cli.run("deploy.plan", "release=r2", "env=test")
    assert "mode=major" in plan.stdout, plan.stdout  # upgrade mode refuses a new distribution
    ret = deploy(lab_region, "r2", mode="major", on_failure="rollback", **MAJOR)
    assert ret.returncode != 0
    assert "HALTED: stage compute failed on cmp02" in ret.stdout, ret.stdout[-6000:]
    assert "automatic rollback refused: mode major" in ret.stdout, ret.stdout[-6000:]
    failed = status(lab_region)["last_deploy"]
    assert (failed["release"], failed["mode"], failed["outcome"], failed["halted"]["node"]) == (
        "r2", "major", "halted", "cmp02"), failed
    record = run_record(failed)
    print("\nAPI outages, r2's halted major upgrade:")
    print_outages("r2 major", record)


def test_the_fixed_release_resumes_the_major_upgrade_and_everything_survives(lab_region, release):
    assert MADE, "r1's resources were not made"
    release("r3", _on_trixie())
    ret = deploy(lab_region, "r3", mode="major", **MAJOR)
    assert ret.returncode == 0, ret.stdout[-6000:]
    done = status(lab_region)
    assert (done["release"], done["verified"], done["last_deploy"]["outcome"]) == ("r3", True, "deployed"), done
    record = run_record(done["last_deploy"])
    assert set(record["outages"]) == {"keystone", "glance", "placement", "nova", "neutron"}, record["outages"]
    print("\nAPI outages, r3's major upgrade (resumed):")
    print_outages("r3 major", record)

    for node, packages in INSTALLED.items():
        assert "VERSION_CODENAME=trixie" in lab_region.run_in(node, "cat", "/etc/os-release").stdout, node
        out = lab_region.run_in(node, "dpkg-query", "-W", "-f=${Package} ${Version}\n", *packages.values()).stdout
        installed = dict(line.split() for line in out.splitlines())
        assert {source: installed[package] for source, package in packages.items()} == {
            source: TRIXIE[source] for source in packages}, node
    for node in ("ctl01", "cmp01", "cmp02"):
        nova_conf = lab_region.run_in(node, "cat", "/etc/nova/nova.conf").stdout
        assert "disable_compute_service_check_for_ffu" not in nova_conf, node

    # every region check on Epoxy: agents on Open vSwitch (no Linux bridge agent left), computes up
    agents = json.loads(openstack(lab_region, "openstack network agent list -f json"))
    alive = {(a["Host"], a["Binary"]) for a in agents if a["Alive"] in (True, ":-)")}
    expected = {("net01", b) for b in NETWORK_AGENTS} | {(h, "neutron-openvswitch-agent") for h in ("cmp01", "cmp02")}
    assert expected == alive and len(agents) == len(expected), agents
    services = json.loads(openstack(lab_region, "openstack compute service list --service nova-compute -f json"))
    assert {(s["Host"], s["State"], s["Status"]) for s in services} == {
        ("cmp01", "up", "enabled"), ("cmp02", "up", "enabled")}, services
    hypervisors = json.loads(openstack(lab_region, "openstack hypervisor list -f json"))
    assert {h["Hypervisor Hostname"].split(".")[0] for h in hypervisors} == {"cmp01", "cmp02"}, hypervisors

    # what r1 made is still there
    assert openstack(lab_region, f"openstack project show {PROJECT} -f value -c name") == PROJECT
    image = json.loads(openstack(lab_region, f"openstack image show {MADE['image']} -f json"))
    assert (image["status"], image["size"]) == ("active", guest.IMAGE_SIZE), image
    network = json.loads(openstack(lab_region, f"openstack network show {guest.NETWORK} -f json"))
    subnet = json.loads(openstack(lab_region, f"openstack subnet show {guest.SUBNET} -f json"))
    assert subnet["network_id"] == network["id"] and subnet["cidr"] == guest.SUBNET_RANGE, subnet

    # the server runs on Epoxy: stopped and started by the new Nova, its guest boots again
    cloud = _cloud(lab_region)
    server = MADE["server"]
    if _server_is(cloud, server, "ACTIVE"):
        cloud.openstack("server", "stop", server, parse=False)
        guest.wait_for("the server did not stop", lambda: _server_is(cloud, server, "SHUTOFF"), guest.SERVER_ACTIVE_TIMEOUT)
    cloud.openstack("server", "start", server, parse=False)
    guest.wait_for("the server did not start on Epoxy", lambda: _server_is(cloud, server, "ACTIVE"),
                   guest.SERVER_ACTIVE_TIMEOUT)
    assert guest.read_guest_line(cloud, server, guest.GUEST_SAYS, print)
    shown = cloud.openstack("server", "show", server)
    domain, where = shown["OS-EXT-SRV-ATTR:instance_name"], shown["OS-EXT-SRV-ATTR:host"]
    assert lab_region.run_in(where, "virsh", "domstate", domain).stdout.strip() == "running", (where, domain)

    # a token issued after the upgrade, for the user made before it, works
    token = openstack(lab_region, (
        f"OS_PROJECT_NAME={PROJECT} OS_USERNAME={USER} OS_PASSWORD={_quoted(PASSWORD)} "
        "openstack token issue -f value -c id"))
    admin = openstack(lab_region, "openstack token issue -f value -c id")
    assert validates(lab_region, admin, token) == "200"
