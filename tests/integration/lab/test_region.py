"""The container lab end to end: real master, real minions in systemd-nspawn nodes."""

import os

import pytest


pytestmark = [pytest.mark.lab, pytest.mark.slow]

# A documentation-only address (TEST-NET-3): only asked about in route lookups,
# never sent a packet.
OUTSIDE = "203.0.113.7"


def test_all_minions_answer_test_ping(lab_region):
    ret = lab_region.salt("*", "test.ping")
    assert ret == {name: True for name in lab_region.minion_ids}


def test_master_accepts_exactly_the_lab_keys(lab_region):
    accepted = os.listdir(os.path.join(lab_region.master.config["pki_dir"], "minions"))
    assert sorted(accepted) == sorted(lab_region.minion_ids)


def test_roles_grains_follow_the_topology(lab_region):
    ret = lab_region.salt("*", "grains.get", "roles")
    assert ret == {node.name: list(node.roles) for node in lab_region.topology.nodes}
    computes = lab_region.salt("roles:compute", "test.ping", tgt_type="grain")
    assert sorted(computes) == ["cmp01", "cmp02"]


def test_nodes_reach_each_other_on_every_network(lab_region):
    topo = lab_region.topology
    source = topo.nodes[0]
    for network_ in topo.networks:
        for other in topo.nodes[1:]:
            if network_.name in source.addresses and network_.name in other.addresses:
                address = str(other.addresses[network_.name])
                result = lab_region.run_in(source.name, "ping", "-c1", "-W2", "-I", network_.name, address, check=False)
                assert result.returncode == 0, f"{source.name} -> {other.name} on {network_.name}: {result.stdout}"


def test_nodes_have_no_route_outside(lab_region):
    for node in lab_region.topology.nodes:
        routes = lab_region.run_in(node.name, "ip", "-4", "route", "show").stdout
        assert "default" not in routes
        lookup = lab_region.run_in(node.name, "ip", "route", "get", OUTSIDE, check=False)
        assert lookup.returncode != 0 and "unreachable" in lookup.stderr.lower()


def test_node_runs_systemd_with_salt_minion_as_a_service(lab_region):
    result = lab_region.run_in("ctl01", "systemctl", "is-active", "salt-minion")
    assert result.stdout.strip() == "active"
    assert lab_region.run_in("ctl01", "hostname").stdout.strip() == "ctl01"


def test_dpkg_on_a_lab_node_does_not_fsync_every_file(lab_region):
    result = lab_region.run_in("cmp01", "cat", "/etc/dpkg/dpkg.cfg.d/releasetrain-lab")
    assert "force-unsafe-io" in result.stdout.split()


def test_apt_goes_through_the_lab_proxy(lab_region):
    proxy = lab_region.run_in("cmp01", "apt-config", "dump", "Acquire::http::Proxy").stdout
    master = lab_region.topology.master_address
    assert f"http://{master}:{lab_region.settings.proxy_port}/" in proxy
    status = lab_region.salt_run_cli.run("lab.status").data
    assert status["apt_proxy"]["running"] is True


def test_status_reports_every_node(lab_region):
    ret = lab_region.salt_run_cli.run("lab.status")
    assert ret.returncode == 0
    assert ret.data["up"] is True
    assert set(ret.data["nodes"]) == set(lab_region.minion_ids)


def test_up_again_is_a_no_op(lab_region):
    pids = {name: info["pid"] for name, info in lab_region.up_result["nodes"].items()}
    ret = lab_region.salt_run_cli.run("lab.up", f"topology={lab_region.topology.source}")
    assert ret.returncode == 0, ret.data
    assert {name: info["pid"] for name, info in ret.data["nodes"].items()} == pids


def test_up_with_another_topology_is_refused(lab_region, tmp_path):
    other = tmp_path / "other.yml"
    other.write_text(open(lab_region.topology.source, encoding="utf-8").read().replace("region-minimal", "other"))
    ret = lab_region.salt_run_cli.run("lab.up", f"topology={other}")
    assert ret.returncode != 0
    assert "run `salt-run lab.down` first" in ret.data["error"]


def test_apt_reaches_debian_only_through_the_proxy(lab_region):
    """apt-get update in a node works although the node has no route but to the lab's networks."""
    result = lab_region.run_in("net01", "apt-get", "update", "-q", check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bookworm" in result.stdout
    policy = lab_region.run_in("net01", "apt-cache", "policy", "iputils-ping").stdout
    assert "bookworm" in policy


def test_a_package_not_in_the_proxy_cache_is_fetched_from_the_hosts_mirror(lab_region):
    """The proxy must send archive downloads to the host's own mirror, not to a default it cannot resolve."""
    import shutil

    cached = os.path.join(lab_region.settings.cache_dir, "apt-cacher-ng", "debrep", "pool", "main", "h", "hello")
    shutil.rmtree(cached, ignore_errors=True)
    lab_region.run_in("cmp02", "apt-get", "update", "-q", check=False, timeout=300)
    result = lab_region.run_in("cmp02", "bash", "-c", "cd /tmp && apt-get download -q hello && ls hello_*.deb",
                               check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.path.isdir(cached), "the download did not go through the lab's proxy cache"


def test_nodes_see_both_versions_of_the_openstack_packages(lab_region):
    """bookworm-security comes through the proxy too, so a release can pin the point
    release or the security update of a package (keystone has both)."""
    lab_region.run_in("cmp01", "apt-get", "update", "-q", check=False, timeout=300)
    madison = lab_region.run_in("cmp01", "apt-cache", "madison", "keystone").stdout
    suites = {line.split("|")[2].split()[1] for line in madison.splitlines() if line.count("|") >= 2}
    assert {"bookworm/main", "bookworm-security/main"} <= suites, madison


def test_nodes_may_manage_their_own_network_namespace(lab_region):
    """Neutron's agents create bridges and VXLAN links inside the node (CAP_NET_ADMIN), so the
    node's own services may (asked through the minion: nsenter from the host would keep the host's
    capabilities)."""
    script = ("ip link add rt-test type bridge && ip link add rt-vx type vxlan id 42 dstport 4789 dev tenant"
              " && ip link del rt-vx && ip link del rt-test")
    result = lab_region.salt("net01", "cmd.run_all", script, "python_shell=True")  # one minion: its data
    assert result["retcode"] == 0, result


def test_nodes_see_their_own_links_in_sysfs_and_may_tune_them(lab_region):
    """Neutron's linuxbridge agent finds a bridge's ports in /sys/class/net/<bridge>/brif,
    and os-vif writes a new bridge's /proc/sys/net/ipv6/conf/<bridge>/disable_ipv6: both
    must be the node's own namespace, and /proc/sys/net writable (the rest of /proc/sys
    stays read-only)."""
    script = (
        "ip link add rt-br type bridge && ip link add rt-tap type veth peer name rt-peer && ip link set rt-tap master rt-br"
        " && ls /sys/class/net && ls /sys/class/net/rt-br/brif"
        " && echo 1 > /proc/sys/net/ipv6/conf/rt-br/disable_ipv6 && cat /proc/sys/net/ipv6/conf/rt-br/disable_ipv6;"
        " rc=$?; ip link del rt-tap; ip link del rt-br; exit $rc"
    )
    result = lab_region.salt("cmp01", "cmd.run_all", script, "python_shell=True")
    assert result["retcode"] == 0, result
    *links, members, disabled = result["stdout"].split()
    own = set(lab_region.topology.node("cmp01").addresses) | {"lo", "rt-br", "rt-tap", "rt-peer"}
    assert set(links) == own, result
    assert (members, disabled) == ("rt-tap", "1"), result
    readonly = lab_region.salt("cmp01", "cmd.run_all", "echo 1 > /proc/sys/kernel/sysrq", "python_shell=True")
    assert readonly["retcode"] != 0, readonly
