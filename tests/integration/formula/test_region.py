"""The openstack formula on the lab's default region (ctl01, net01, cmp01, cmp02), once on each
Debian release it supports: bookworm (OpenStack Zed) and trixie (OpenStack 2025.1 Epoxy); select
one with ``-k bookworm`` or ``-k trixie``.

Every stage of ``states/openstack/stages.yaml`` is applied in order on the
nodes of its role (``salt-call --local`` inside each node, with the formula,
the committed lab region pillar and secrets made for this run copied in);
then the real OpenStack client on the controller proves the region works, and
a second apply of every stage changes nothing.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from releasetrain.lab import guest, nodes, topology
from releasetrain.loader import tree_path
from releasetrain.secrets import make_secrets

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.region]

NODE_SALT_CALL = "/opt/salt/bin/salt-call"
NODE_FORMULA = "/srv/releasetrain-formula"
APPLY_TIMEOUT = 1800
OPENRC = "/root/admin-openrc"


@pytest.fixture(scope="module", params=list(topology.KNOWN_DISTRIBUTIONS))
def lab_topology_path(request, tmp_path_factory):
    """The default topology with every node on one distribution."""
    data = yaml.safe_load(open(topology.default_path(), encoding="utf-8"))
    data["distribution"] = request.param
    path = tmp_path_factory.mktemp(request.param) / "region.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _stages():
    with open(os.path.join(tree_path("states"), "openstack", "stages.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["stages"]


def _install_formula(lab_region, node_name, secrets):
    """The formula and the region pillar (with this run's secrets) inside one node."""
    root = nodes.NodeDirs(lab_region.settings.state_dir, lab_region.topology.node(node_name)).root
    target = root + NODE_FORMULA
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(tree_path("states"), os.path.join(target, "states"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    pillar = os.path.join(target, "pillar")
    shutil.copytree(os.path.join(tree_path("pillar"), "openstack"), os.path.join(pillar, "openstack"))
    with open(os.path.join(pillar, "openstack", "run_secrets.sls"), "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        yaml.safe_dump({"openstack": {"secrets": secrets}}, handle)
    with open(os.path.join(pillar, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("base:\n  '*':\n    - openstack.region.lab\n    - openstack.environment.test\n"
                     "    - openstack.run_secrets\n")


def _apply(lab_region, node_name, sls):
    """``state.apply SLS`` inside the node: the state results by ID."""
    result = lab_region.run_in(
        node_name, NODE_SALT_CALL, "--local", "--out=json", "--log-level=quiet",
        f"--file-root={NODE_FORMULA}/states", f"--pillar-root={NODE_FORMULA}/pillar",
        "state.apply", sls, check=False, timeout=APPLY_TIMEOUT,
    )
    try:
        data = json.loads(result.stdout)["local"]
    except (ValueError, KeyError):
        raise AssertionError(f"{node_name} {sls}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    assert isinstance(data, dict), f"{node_name} {sls} did not render: {data}"
    return data


def _apply_all_stages(lab_region):
    """Every stage in order, the nodes of a role in parallel: {(stage, node): results}."""
    results = {}
    for stage in _stages():
        targets = [node.name for node in lab_region.topology.nodes if stage["role"] in node.roles]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
            futures = {name: pool.submit(_apply, lab_region, name, stage["sls"]) for name in targets}
        for name, future in futures.items():
            results[(stage["name"], name)] = future.result()
            failed = {sid: r for sid, r in results[(stage["name"], name)].items() if not r["result"]}
            comments = {sid: r["comment"] for sid, r in failed.items()}
            assert not failed, (
                f"stage {stage['name']} on {name} failed: {json.dumps(comments, indent=1)[:4000]}"
                f"{_service_diagnostics(lab_region, name, failed)}"
            )
    return results


def _service_diagnostics(lab_region, node_name, failed):
    """The journal and log tail of every service whose state failed."""
    report = []
    for state_id, result in failed.items():
        if state_id.startswith("service_|-"):
            service = result.get("name") or state_id.split("_|-")[2]
            project = service.split("-")[0]
            journal = lab_region.run_in(node_name, "journalctl", "--no-pager", "-n", "25", "-u", service, check=False)
            log = lab_region.run_in(node_name, "sh", "-c", f"tail -n 25 /var/log/{project}/{service}.log", check=False)
            report.append(f"\n--- {service} journal:\n{journal.stdout}\n--- {service} log:\n{log.stdout}")
    return "".join(report)[-6000:]


@pytest.fixture(scope="module")
def converged_region(lab_region):
    # Every password starts with '-', as a generated one may (one in 64): each command
    # the formula hands a secret to must take it as a value, not an option.
    secrets = {name: f"-{value}" if isinstance(value, str) else value for name, value in make_secrets().items()}
    for node in lab_region.topology.nodes:
        _install_formula(lab_region, node.name, secrets)
    started = time.monotonic()
    first = _apply_all_stages(lab_region)
    seconds = time.monotonic() - started
    print(f"\nfull region apply: {seconds:.0f} s")
    return {"lab": lab_region, "first": first, "seconds": seconds}


def _openstack(lab_region, *args, timeout=300, parse=True):
    """The real OpenStack client on the controller, as admin; parsed JSON output (or the text)."""
    command = " ".join(["openstack", *args, *(["-f", "json"] if parse else [])])
    result = lab_region.run_in("ctl01", "bash", "-c", f". {OPENRC} && {command}", check=False, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
    return json.loads(result.stdout) if parse else result.stdout


def _eventually(check, timeout=300, interval=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def _assert_active(lab, image_id, size=None):
    image = _openstack(lab, "image", "show", image_id)
    assert image["status"] == "active" and size in (None, image["size"]), image


def test_token_issue(converged_region):
    token = _openstack(converged_region["lab"], "token", "issue")
    assert token["id"] and token["project_id"]


def test_image_create_from_a_small_file(converged_region):
    lab = converged_region["lab"]
    lab.run_in("ctl01", "sh", "-c", "head -c 1048576 /dev/zero > /root/tiny.img")
    created = _openstack(lab, "image", "create", "--file", "/root/tiny.img", "--disk-format", "raw",
                         "--container-format", "bare", "--public", "releasetrain-tiny")

    # the client returns the image as created, before its upload settles
    _eventually(lambda: _assert_active(lab, created["id"], size=1048576), timeout=120, interval=5)


def test_compute_service_list_shows_both_computes_up(converged_region):
    lab = converged_region["lab"]

    def both_up():
        services = _openstack(lab, "compute", "service", "list", "--service", "nova-compute")
        up = {s["Host"] for s in services if s["State"] == "up" and s["Status"] == "enabled"}
        assert up == {"cmp01", "cmp02"}, services

    _eventually(both_up)


# The L2 agent of each distribution (binary, agent type): Epoxy (trixie) has no linuxbridge.
L2_AGENT = {
    "bookworm": ("neutron-linuxbridge-agent", "Linux bridge agent"),
    "trixie": ("neutron-openvswitch-agent", "Open vSwitch agent"),
}


def test_every_network_agent_is_alive(converged_region):
    lab = converged_region["lab"]
    (distribution,) = {node.distribution for node in lab.topology.nodes}
    binary, agent_type = L2_AGENT[distribution]

    def all_alive():
        agents = _openstack(lab, "network", "agent", "list")
        by_host = {(a["Host"], a["Binary"]) for a in agents if a["Alive"] in (True, ":-)")}
        expected = {("net01", b) for b in (binary, "neutron-l3-agent", "neutron-dhcp-agent",
                                           "neutron-metadata-agent")}
        expected |= {(h, binary) for h in ("cmp01", "cmp02")}
        assert expected <= by_host and len(by_host) == len(agents), agents
        l2_types = {a["Agent Type"] for a in agents if a["Binary"] == binary}
        assert l2_types == {agent_type}, agents

    _eventually(all_alive)


def test_hypervisor_list_lists_the_computes(converged_region):
    lab = converged_region["lab"]

    def listed():
        apply = _apply(lab, "ctl01", "openstack.nova.discover")
        assert all(r["result"] for r in apply.values()), apply
        hypervisors = _openstack(lab, "hypervisor", "list")
        names = {h["Hypervisor Hostname"].split(".")[0] for h in hypervisors}
        assert {"cmp01", "cmp02"} <= names, hypervisors

    _eventually(listed)


def _compute_logs(lab):
    logs = []
    for node in ("cmp01", "cmp02"):
        tail = lab.run_in(node, "sh", "-c", "tail -n 30 /var/log/nova/nova-compute.log", check=False).stdout
        logs.append(f"--- {node} nova-compute.log:\n{tail}")
    return "\n".join(logs)[-6000:]


def test_a_server_boots_on_qemu_and_runs_the_guest(converged_region):
    """Nova schedules a server on a compute, Neutron plugs its port into a VXLAN network, libvirt
    starts QEMU (TCG: no KVM in a lab node), and the guest's own output reaches its console log."""
    lab = converged_region["lab"]

    def on_controller(script, timeout):
        return lab.run_in("ctl01", "bash", "-c", script, check=False, timeout=timeout)

    try:
        booted = guest.boot(on_controller)
    except guest.GuestBootError as err:
        pytest.fail(f"{err}\n{_compute_logs(lab)}")
    assert booted["host"] in ("cmp01", "cmp02"), booted
    assert guest.GUEST_SAYS.decode() in booted["line"], booted


def test_verifier_files_pass_on_each_role(converged_region):
    """kitchen/test/integration/<role> (testinfra) against one node of each role,
    through the lab master (testinfra's salt:// backend)."""
    lab = converged_region["lab"]
    kitchen = os.path.join(os.path.dirname(tree_path("states")), "kitchen", "test", "integration")
    env = {**os.environ, "SALT_MASTER_CONFIG": lab.master.config_file}
    for role, node_name in (("controller", "ctl01"), ("network", "net01"), ("compute", "cmp01")):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
             "--rootdir", kitchen, os.path.join(kitchen, role), f"--hosts=salt://{node_name}"],
            capture_output=True, text=True, check=False, timeout=600, env=env,
        )
        assert result.returncode == 0, f"{role} verifier on {node_name}:\n{result.stdout[-4000:]}"


def test_second_apply_changes_nothing(converged_region):
    second = _apply_all_stages(converged_region["lab"])
    changed = {
        f"{stage}@{node}: {state_id}": result["comment"][:200]
        for (stage, node), results in second.items()
        for state_id, result in results.items()
        if result["changes"]
    }
    assert not changed, json.dumps(changed, indent=1)
