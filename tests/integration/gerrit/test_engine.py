"""The gerrit_stream engine in a real salt-master, against a loopback SSH stand-in that drops once."""

import json
import pathlib
import time

import pytest

from releasetrain import config as rt_config
from releasetrain.gerrit.pipeline import Pipeline

from tests.functional.gerrit.gerrit_ssh import GerritSSH

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
pytestmark = pytest.mark.slow


def line(name):
    return json.dumps(json.loads((FIXTURES / name).read_text()))


def test_engine_fires_each_stream_event_once_on_the_master_bus(make_master, event_listener, tmp_path):
    server = GerritSSH([[line("patchset-created.json"), line("hostile/sha-short.json")],
                        [line("patchset-created.json"), line("change-merged.json")]], tmp_path)
    master = make_master(releasetrain={"gerrit": {
        "secret": "s", "stream": server.settings(),
        "projects": {"salt/openstack-formula": {"repo": "openstack-formula"}}}},
        engines=[{"gerrit_stream": {}}])
    server.gate.clear()  # hold the events until the test's event listener is connected
    start = time.time()
    try:
        with master.started():
            server.gate.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                events = event_listener.get_events([(master.id, "releasetrain/gerrit/*")], after_time=start)
                if len(events) >= 2:
                    break
                time.sleep(0.2)
            time.sleep(1)
            events = sorted(event_listener.get_events([(master.id, "releasetrain/gerrit/*")], after_time=start),
                            key=lambda event: event.stamp)
    finally:
        server.close()
    assert [e.tag for e in events] == ["releasetrain/gerrit/patchset-created", "releasetrain/gerrit/change-merged"]
    assert events[1].data["new_rev"] == "863b64002f2a9922deba69407804a44703c996e0"
    assert len(server.commands) >= 2
    rejected = Pipeline(rt_config.load(master.config), orchestrate=None).rejected()
    assert [(r["source"], r["type"]) for r in rejected] == [("stream", "patchset-created")]
    assert "is not a 40-hex commit SHA" in rejected[0]["reason"]
