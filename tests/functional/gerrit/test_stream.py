"""The stream-events reader against a loopback SSH server that drops the connection once."""

import json
import pathlib
import threading
import time

import pytest

from releasetrain import config as rt_config
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import stream as gerrit_stream
from tests.functional.gerrit.gerrit_ssh import GerritSSH

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"


def line(name):
    return json.dumps(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def configured(tmp_path):
    def _configure(server, **stream):
        config = rt_config.load({"releasetrain": {"gerrit": {
            "secret": "s", "stream": server.settings(**stream),
            "projects": {"salt/openstack-formula": {"repo": "openstack-formula"}}}}})
        return gerrit_stream.stream_settings(config), gerrit.settings(config)
    return _configure


def test_events_fire_once_across_a_dropped_connection(tmp_path, configured):
    first = [line("patchset-created.json"), "not json at all", line("hostile/project-shell.json"),
             line("patchset-created-unknown-project.json")]
    # after the reconnect Gerrit repeats the first event; the reader must skip it
    second = [line("patchset-created.json"), line("change-merged.json"), line("comment-added.json")]
    server = GerritSSH([first, second], tmp_path)
    fired, sleeps, dropped = [], [], []
    stop = threading.Event()
    stream = gerrit_stream.EventStream(*configured(server), fire=lambda kind, event: fired.append((kind, event)),
                                       stop=stop, sleep=lambda s: (sleeps.append(s), time.sleep(s)),
                                       dropped=lambda why, known: dropped.append((why.split(":")[0], known)))
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(fired) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        server.close()
        thread.join(10)
    assert [kind for kind, _ in fired] == ["patchset-created", "change-merged", "comment-added"]
    assert all(gerrit.signature_valid(event, "s") and event["repo"] == "openstack-formula" for _, event in fired)
    assert stream.connections == 2 and sleeps[0] == 0.2
    assert server.commands[:2] == [b"gerrit stream-events"] * 2
    unknown = gerrit.normalise(json.loads(line("patchset-created-unknown-project.json")))["key"]
    assert dropped == [("rejected", {}), ("rejected", {"type": "patchset-created"}),
                       ("ignored", {"type": "patchset-created", "key": unknown})]


def test_backoff_doubles_up_to_the_limit_while_the_server_is_down(tmp_path, configured):
    server = GerritSSH([[]], tmp_path)
    settings, gerrit_settings = configured(server)
    server.close()
    sleeps = []
    stop = threading.Event()

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) >= 5:
            stop.set()

    gerrit_stream.EventStream(settings, gerrit_settings, fire=None, stop=stop, sleep=sleep).run()
    assert sleeps == [0.2, 0.4, 0.8, 1, 1]


def test_an_unknown_host_key_is_refused(tmp_path, configured):
    server = GerritSSH([[line("patchset-created.json")]], tmp_path)
    (tmp_path / "known_hosts").write_text("")
    settings, gerrit_settings = configured(server)
    stop = threading.Event()
    fired = []
    stream = gerrit_stream.EventStream(settings, gerrit_settings, fire=lambda *a: fired.append(a), stop=stop,
                                       sleep=lambda s: stop.set())
    try:
        stream.run()
    finally:
        server.close()
    assert fired == [] and stream.connections == 0


def test_missing_stream_settings_are_one_line():
    with pytest.raises(gerrit_stream.ReleaseTrainError, match="needs host, user, key, known_hosts"):
        gerrit_stream.stream_settings(rt_config.load({"releasetrain": {"gerrit": {}}}))
