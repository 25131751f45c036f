"""Verifier of a converged compute node: nova-compute on libvirt/QEMU and the
linuxbridge agent.  Runs under pytest-testinfra against Test Kitchen's
instance or a lab node.
"""

import pytest

SERVICES = ["libvirtd", "nova-compute", "neutron-linuxbridge-agent"]


@pytest.mark.parametrize(
    "name", ["nova-compute", "nova-compute-qemu", "libvirt-daemon-system", "neutron-linuxbridge-agent"]
)
def test_package_installed(host, name):
    assert host.package(name).is_installed


@pytest.mark.parametrize("name", SERVICES)
def test_service_enabled_and_running(host, name):
    service = host.service(name)
    assert service.is_enabled
    assert service.is_running


def test_libvirt_answers(host):
    """The hypervisor API nova-compute talks to answers."""
    assert host.run("virsh -c qemu:///system version").rc == 0


def test_nova_uses_qemu(host):
    assert host.file("/etc/nova/nova-compute.conf").contains("^virt_type = qemu$")
