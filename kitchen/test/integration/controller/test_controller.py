"""Verifier of a converged controller: infrastructure, keystone, glance,
placement, nova control services and the neutron server.

Runs under pytest-testinfra against Test Kitchen's instance or a lab node.
"""

import json

import pytest

# The components whose services run on a controller; their names come from the
# formula's map for the node's distribution (conftest.py).
COMPONENTS = ["mariadb", "rabbitmq", "memcached", "keystone", "glance", "placement",
              "nova_controller", "neutron_server"]
PACKAGES = [
    "mariadb-server", "rabbitmq-server", "memcached", "keystone", "glance-api",
    "placement-api", "nova-api", "nova-conductor", "nova-scheduler",
    "python3-openstackclient",
]
# port -> (path, HTTP statuses an unauthenticated version request gets)
APIS = {
    5000: ("/v3", {200}),
    9292: ("/", {300}),
    8778: ("/", {200}),
    8774: ("/", {200}),
    9696: ("/", {200}),
}
OTHER_PORTS = [3306, 5672, 11211, 8775, 6080]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_installed(host, name):
    assert host.package(name).is_installed


def test_services_enabled_and_running(host, openstack):
    names = dict.fromkeys(name for component in COMPONENTS for name in openstack[component]["services"])
    for name in names:
        service = host.service(name)
        assert service.is_enabled, f"{name} is not enabled"
        assert service.is_running, f"{name} is not running"


@pytest.mark.parametrize("port", sorted(APIS) + OTHER_PORTS)
def test_port_listening(host, port):
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert listening, f"nothing listens on port {port}"


@pytest.mark.parametrize("port", sorted(APIS))
def test_api_answers(host, port):
    """Each API answers its unauthenticated version request with JSON."""
    path, statuses = APIS[port]
    probe = (
        "import json,sys,urllib.request,urllib.error\n"
        "try:\n"
        "    r = urllib.request.urlopen(sys.argv[1], timeout=10); code, body = r.status, r.read()\n"
        "except urllib.error.HTTPError as e:\n"
        "    code, body = e.code, e.read()\n"
        "print(json.dumps({'code': code, 'body': json.loads(body)}))\n"
    )
    result = host.run("python3 -c %s %s", probe, f"http://127.0.0.1:{port}{path}")
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)["code"] in statuses
