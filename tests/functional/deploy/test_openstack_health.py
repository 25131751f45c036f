"""``openstack_health.check`` through the real Salt loader (no daemons) against a real HTTP server."""

import http.server
import threading

import pytest

UBUNTU = {"os": "Ubuntu", "os_family": "Debian", "osfinger": "Ubuntu-24.04"}


class Statuses(http.server.BaseHTTPRequestHandler):
    """``GET /<code>`` answers with HTTP status ``code``."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(int(self.path.strip("/").split("/")[0]))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Statuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def check(minion_functions):
    return minion_functions(UBUNTU)["openstack_health.check"]


def test_no_checks_is_healthy(check):
    assert check() == {"healthy": True, "checks": []}


def test_endpoints_that_answer_below_500_are_healthy(check, api):
    result = check(endpoints={"keystone": f"{api}/200", "nova": f"{api}/401"})
    assert result == {
        "healthy": True,
        "checks": [
            {"name": "endpoint:keystone", "ok": True, "detail": f"{api}/200 answered HTTP 200"},
            {"name": "endpoint:nova", "ok": True, "detail": f"{api}/401 answered HTTP 401"},
        ],
    }


def test_a_503_or_a_closed_port_makes_the_node_unhealthy(check, api):
    result = check(endpoints={"glance": f"{api}/503", "placement": "http://127.0.0.1:1/"}, timeout=2)
    assert result["healthy"] is False
    glance, placement = result["checks"]
    assert glance == {"name": "endpoint:glance", "ok": False, "detail": f"{api}/503 answered HTTP 503"}
    assert placement["ok"] is False and "does not answer" in placement["detail"]


def test_the_minion_id_can_be_part_of_the_url(check, api):
    result = check(endpoints={"self": api + "/200/{id}/{fqdn}"})
    assert result["checks"][0]["detail"] == f"{api}/200/cmp01/cmp01.example.org answered HTTP 200"


def test_a_service_that_is_not_running_is_named(check):
    result = check(services=["releasetrain-no-such-service"])
    assert result == {
        "healthy": False,
        "checks": [{"name": "service:releasetrain-no-such-service", "ok": False, "detail": "not running"}],
    }


def test_agents_without_the_openstack_cli_fail_with_the_reason(check, tmp_path):
    result = check(agents={"hosts": ["cmp01"]}, openrc=str(tmp_path / "missing-openrc"))
    assert result["healthy"] is False
    assert [c["name"] for c in result["checks"]] == ["agents:nova", "agents:neutron"]
    assert all("exited 127" in c["detail"] for c in result["checks"])


def test_components_are_checked_by_the_services_of_this_nodes_map(check):
    """Ubuntu's map runs keystone and placement under apache2: one check for both."""
    result = check(components=["keystone", "placement", "neutron_server"], services=["apache2", "memcached"],
                   saltenv="test")
    assert [c["name"] for c in result["checks"]] == ["service:apache2", "service:neutron-server", "service:memcached"]


def test_the_same_components_name_debians_services(minion_functions):
    debian = minion_functions({"os": "Debian", "os_family": "Debian", "osfinger": "Debian-12"})
    result = debian["openstack_health.check"](components=["keystone", "neutron_server"], saltenv="test")
    assert [c["name"] for c in result["checks"]] == ["service:keystone", "service:neutron-api", "service:neutron-rpc-server"]


def test_a_component_the_map_does_not_know_fails_named(check):
    result = check(components=["nova_compute", "nova_discover", "glance-api"], saltenv="test")
    assert result["healthy"] is False
    assert result["checks"][:2] == [
        {"name": "component:nova_discover", "ok": False,
         "detail": "the openstack formula map in saltenv test lists no services for it"},
        {"name": "component:glance-api", "ok": False,
         "detail": "the openstack formula map in saltenv test lists no services for it"},
    ]
    assert [c["name"] for c in result["checks"][2:]] == ["service:libvirtd", "service:nova-compute"]


def test_a_saltenv_without_the_formula_fails_in_one_check(check):
    result = check(components=["keystone"], saltenv="base")
    assert result["healthy"] is False
    (failed,) = result["checks"]
    assert failed["name"] == "components"
    assert failed["detail"].startswith("cannot read openstack/map.jinja from saltenv base: ")
    assert "\n" not in failed["detail"]
