"""The API probe: outage windows of real HTTP endpoints that go down and come back, and the limit check."""

import http.server
import threading
import time

import pytest

from releasetrain.deploy import probe
from releasetrain.errors import ReleaseTrainError


class Endpoint:
    """A real HTTP server on loopback whose answer can be switched: a status, or no server at all."""

    def __init__(self):
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = Endpoint()
    yield server
    server.close()


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the probe did not see it in time"
        time.sleep(0.02)


@pytest.mark.parametrize("status, up", [(200, True), (300, True), (401, True), (404, True), (500, False), (503, False)])
def test_an_answer_below_500_is_up(endpoint, status, up):
    endpoint.status = status
    assert probe.http_up(endpoint.url, timeout=2) is up


def test_a_refused_connection_is_down(endpoint):
    url = endpoint.url
    endpoint.close()
    assert probe.http_up(url, timeout=2) is False


def test_windows_of_a_service_that_goes_down_and_comes_back(endpoint):
    other = Endpoint()
    try:
        with probe.ApiProbe({"keystone": endpoint.url, "nova": other.url}, interval=0.05) as watching:
            wait_for(lambda: watching.report()["keystone"]["asked"] >= 3)
            endpoint.status = 503
            wait_for(lambda: watching.report()["keystone"]["windows"])
            opened = watching.report()["keystone"]["windows"][0]
            assert opened["end"] is None  # still down: an open window
            time.sleep(0.3)
            endpoint.status = 200
            wait_for(lambda: watching.report()["keystone"]["windows"][0]["end"] is not None)
            asked = watching.report()["keystone"]["asked"]
            wait_for(lambda: watching.report()["keystone"]["asked"] > asked + 2)  # up again, still asked
        report = watching.report()
    finally:
        other.close()
    window = report["keystone"]["windows"]
    assert len(window) == 1 and window[0]["start"] == opened["start"] and window[0]["end"] > window[0]["start"]
    assert window[0]["seconds"] >= 0.2
    assert report["keystone"]["longest"] == report["keystone"]["down_seconds"] == window[0]["seconds"]
    assert report["nova"]["windows"] == [] and report["nova"]["longest"] == 0.0 and report["nova"]["asked"] > 5


def test_a_hanging_service_does_not_slow_the_others(endpoint):
    hangs = threading.Event()

    def up(url, timeout):
        if url == "http://hangs":
            hangs.wait(timeout)
            return False
        return probe.http_up(url, timeout)

    with probe.ApiProbe({"glance": "http://hangs", "nova": endpoint.url}, interval=0.05, timeout=5, up=up) as watching:
        wait_for(lambda: watching.report()["nova"]["asked"] >= 20)
        assert watching.report()["glance"]["asked"] <= 1
        hangs.set()


def test_a_service_still_down_at_the_end_keeps_an_open_window():
    with probe.ApiProbe({"neutron": "http://127.0.0.1:9/"}, interval=0.05, timeout=0.5) as watching:
        wait_for(lambda: watching.report()["neutron"]["asked"] >= 2)
    (window,) = watching.report()["neutron"]["windows"]
    assert window["end"] is None and window["seconds"] > 0


def test_the_limit_is_checked_per_service():
    report = {"nova": {"longest": 12.0}, "keystone": {"longest": 3.0}, "glance": {"longest": 0.0}}
    assert probe.over_limit(report, probe.check_limit(10)) == [("nova", 12.0, 10.0)]
    assert probe.over_limit(report, probe.check_limit({"nova": 15, "*": 2})) == [("keystone", 3.0, 2.0)]
    assert probe.over_limit(report, probe.check_limit(None)) == []


@pytest.mark.parametrize("value, message", [
    (-1, "max_api_outage must be a number of seconds, 0 or more, not -1"),
    ("ten", "max_api_outage must be a number of seconds, 0 or more, not 'ten'"),
    (True, "max_api_outage must be a number of seconds, 0 or more, not True"),
    (float("nan"), "max_api_outage must be a number of seconds, 0 or more, not nan"),
    ({"nova": -0.5}, "max_api_outage:nova must be a number of seconds, 0 or more, not -0.5"),
    ({"nova": None}, "max_api_outage:nova must be a number of seconds, 0 or more, not None"),
])
def test_a_bad_limit_is_one_line_naming_the_key(value, message):
    with pytest.raises(ReleaseTrainError) as info:
        probe.check_limit(value)
    assert str(info.value) == message


def test_no_endpoint_is_refused():
    with pytest.raises(ReleaseTrainError, match="at least one endpoint"):
        probe.ApiProbe({})
