"""Verifier of a converged compute node: nova-compute on libvirt/QEMU and the Neutron L2
agent (linuxbridge, or Open vSwitch where the distribution's Neutron has no linuxbridge).
Packages and services come from the formula's map for the node's distribution
(conftest.py).  Runs under pytest-testinfra against Test Kitchen's instance or a lab node.
"""

COMPONENTS = ["nova_compute", "neutron_compute"]


def test_packages_installed(host, openstack):
    for component in COMPONENTS:
        for name in openstack[component]["pkgs"] + (openstack[component].get("deps") or []):
            assert host.package(name).is_installed, name


def test_services_enabled_and_running(host, openstack):
    for component in COMPONENTS:
        for name in openstack[component]["services"]:
            service = host.service(name)
            assert service.is_enabled, f"{name} is not enabled"
            assert service.is_running, f"{name} is not running"


def test_ovs_bridges_exist(host, openstack):
    """The bridges of the map's ovs_bridges (br-provider on Debian 13); none with linuxbridge."""
    for bridge in openstack["neutron_compute"].get("ovs_bridges") or {}:
        assert host.run("ovs-vsctl --timeout=10 br-exists %s", bridge).rc == 0, bridge


def test_libvirt_answers(host):
    """The hypervisor API nova-compute talks to answers."""
    assert host.run("virsh -c qemu:///system version").rc == 0


def test_nova_uses_qemu(host):
    assert host.file("/etc/nova/nova-compute.conf").contains("^virt_type = qemu$")
