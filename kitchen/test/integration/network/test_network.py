"""Verifier of a converged network node: the L2 agent (linuxbridge, or Open vSwitch where
the distribution's Neutron has no linuxbridge), L3, DHCP and metadata agents.  Packages,
services and files come from the formula's map for the node's distribution (conftest.py).
Runs under pytest-testinfra against Test Kitchen's instance or a lab node.
"""

import configparser

COMPONENT = "neutron_network"


def _ini(host, path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(host.file(path).content_string)
    return parser


def test_packages_installed(host, openstack):
    component = openstack[COMPONENT]
    for name in component["pkgs"] + (component.get("deps") or []):
        assert host.package(name).is_installed, name


def test_agents_enabled_and_running(host, openstack):
    for name in openstack[COMPONENT]["services"]:
        service = host.service(name)
        assert service.is_enabled, f"{name} is not enabled"
        assert service.is_running, f"{name} is not running"


def test_the_l2_agent_tunnels_vxlan_from_the_overlay_address(host, openstack):
    """linuxbridge_agent.ini or openvswitch_agent.ini, whichever the map writes: VXLAN on, a local_ip."""
    config = openstack[COMPONENT]["config"]
    if config.get("/etc/neutron/plugins/ml2/openvswitch_agent.ini"):
        agent = _ini(host, "/etc/neutron/plugins/ml2/openvswitch_agent.ini")
        assert agent["agent"]["tunnel_types"] == "vxlan"
        assert agent["ovs"]["local_ip"]
        assert not host.file("/etc/neutron/plugins/ml2/linuxbridge_agent.ini").exists
    else:
        agent = _ini(host, "/etc/neutron/plugins/ml2/linuxbridge_agent.ini")
        assert agent["vxlan"]["enable_vxlan"] == "true"
        assert agent["vxlan"]["local_ip"]


def test_ovs_bridges_exist_with_their_datapath(host, openstack):
    """The bridges of the map's ovs_bridges (br-provider on Debian 13), on the datapath of the
    agent's own bridges (openvswitch_agent.ini, from the pillar); none with linuxbridge."""
    for bridge, spec in (openstack[COMPONENT].get("ovs_bridges") or {}).items():
        assert host.run("ovs-vsctl --timeout=10 br-exists %s", bridge).rc == 0, bridge
        if spec.get("datapath_type"):
            agent = _ini(host, "/etc/neutron/plugins/ml2/openvswitch_agent.ini")["ovs"]["datapath_type"]
            datapath = host.check_output("ovs-vsctl --timeout=10 get bridge %s datapath_type", bridge)
            assert datapath.strip('"') == agent, bridge
            assert host.check_output("ovs-vsctl --timeout=10 get bridge br-int datapath_type").strip('"') == agent
        assert host.check_output("ovs-vsctl --timeout=10 list-ports %s", bridge).split(), bridge


def test_metadata_agent_points_at_the_controller(host):
    assert host.file("/etc/neutron/metadata_agent.ini").contains("^nova_metadata_host = ")
