"""Gerrit as the tests see it: recorded events, a REST stand-in on loopback, salt-api hooks and the job cache.

Shared by the functional and integration layers and the benchmarks; the fixtures that start a
master and salt-api stay in tests/integration/gerrit/conftest.py.
"""

import base64
import datetime
import http.server
import json
import pathlib
import time

import git
import requests
import salt.loader

from tests.support.gitrepos import commit

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "gerrit"
REACTOR = pathlib.Path(__file__).parents[2] / "reactor"
SECRET = "hook-secret-0123456789abcdef"
PROJECT = "salt/openstack-formula"

FAKE_DEPLOY = """\
{#- A stand-in for deploy.region: records what it was given; fails when <record_dir>/fail exists. #}
{%- set record = pillar['record_dir'] %}
fake-deploy-record:
  file.serialize:
    - name: {{ record }}/{{ pillar['env'] }}--{{ pillar['release'] }}--{{ salt['test.random_hash']() }}.json
    - dataset: {{ {'release': pillar['release'], 'env': pillar['env'], 'mode': pillar.get('mode')} | json }}
    - serializer: json
    - makedirs: True
{%- if salt['file.file_exists'](record ~ '/fail') %}
fake-deploy-fails:
  test.fail_without_changes:
    - name: the test asked this deploy to fail
{%- endif %}
"""


class GerritStandIn(http.server.ThreadingHTTPServer):
    """Gerrit's review endpoint, recording each call (path, Authorization header, JSON body)."""

    def __init__(self):
        self.reviews = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805
                length = int(handler.headers.get("Content-Length") or 0)
                body = handler.rfile.read(length)
                self.reviews.append({"path": handler.path, "auth": handler.headers.get("Authorization"),
                                     "body": json.loads(body or b"null")})
                reply = b")]}'\n" + json.dumps({"labels": (json.loads(body or b"{}") or {}).get("labels")}).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(reply)))
                handler.end_headers()
                handler.wfile.write(reply)

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for_reviews(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.reviews) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.reviews


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


def candidate_event(formula, change=12345, patchset=3):
    """patchset-created for a real commit kept only under refs/changes (as Gerrit does)."""
    repo = git.Repo(formula)
    head = repo.head.commit.hexsha
    sha = commit(formula, {"openstack/nova.sls": f"# change {change}/{patchset}\n"}, "nova: cpu_allocation_ratio",
                 timestamp=1_700_000_200)
    ref = f"refs/changes/{change % 100:02d}/{change}/{patchset}"
    repo.git.update_ref(ref, sha)
    repo.git.reset("--hard", head)
    event = recorded("patchset-created.json")
    event["change"]["number"], event["patchSet"]["number"] = change, patchset
    event["patchSet"].update(revision=sha, ref=ref)
    return event


def post_hook(master, body, path=f"gerrit/{SECRET}", headers=None):
    """POST to salt-api's /hook; salt-api must have put the event on the bus (it answers 200 either way)."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    reply = requests.post(f"{master.api_url}/hook/{path}", data=data, timeout=10,
                          headers={"Content-Type": "application/json", **(headers or {})})
    assert reply.status_code == 200 and reply.json() == {"success": True}, f"salt-api did not fire the hook: {reply.text}"
    return reply


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def runner_returns(master, fun, after, count, timeout=60):
    """Wait for ``count`` returns of runner ``fun`` started on ``master`` after ``after`` (a ``time.time()``).

    They are read from the master's job cache, where the runner stores its return before it
    fires the return event: on a busy machine that event may reach the master's bus and still
    not the test's event listener."""
    cache = salt.loader.returners(master.config, {})
    first = datetime.datetime.fromtimestamp(after, tz=datetime.timezone.utc).strftime("%Y%m%d%H%M%S%f")
    deadline = time.monotonic() + timeout
    while True:
        jobs = (cache["local_cache.get_jid"](jid) for jid in sorted(cache["local_cache.get_jids"]()) if jid >= first)
        found = [ret["return"] for job in jobs for ret in job.values()
                 if isinstance(ret.get("return"), dict) and ret["return"].get("fun") == f"runner.{fun}"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
