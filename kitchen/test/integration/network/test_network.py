"""Verifier of a converged network node: linuxbridge, L3, DHCP and metadata
agents.  Runs under pytest-testinfra against Test Kitchen's instance or a lab node.
"""

import pytest

AGENTS = [
    "neutron-linuxbridge-agent",
    "neutron-l3-agent",
    "neutron-dhcp-agent",
    "neutron-metadata-agent",
]


@pytest.mark.parametrize("name", AGENTS + ["bridge-utils"])
def test_package_installed(host, name):
    assert host.package(name).is_installed


@pytest.mark.parametrize("name", AGENTS)
def test_agent_enabled_and_running(host, name):
    service = host.service(name)
    assert service.is_enabled
    assert service.is_running


def test_linuxbridge_agent_uses_vxlan(host):
    config = host.file("/etc/neutron/plugins/ml2/linuxbridge_agent.ini")
    assert config.contains("^enable_vxlan = true$")
    assert config.contains("^local_ip = ")


def test_metadata_agent_points_at_the_controller(host):
    assert host.file("/etc/neutron/metadata_agent.ini").contains("^nova_metadata_host = ")
