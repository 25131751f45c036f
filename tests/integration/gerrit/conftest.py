"""A real salt-master and salt-api wired for Gerrit, a deploy-kit repo, and a Gerrit REST stand-in on loopback."""

import base64
import datetime
import http.server
import json
import pathlib
import threading
import time

import git
import pytest
import requests
import salt.loader
from pytestshellutils.utils import ports

from tests.support.gitrepos import commit, formula_entry, make_deploy_kit

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "gerrit"
REACTOR = pathlib.Path(__file__).parents[3] / "reactor"
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


@pytest.fixture
def gerrit_rest():
    server = GerritStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def deploy_kit(formula_repos, rt_paths):
    """A git repo holding the manifest (the deploy-kit repo), pinning both formula repos."""
    return make_deploy_kit(rt_paths["work"] / "deploy-kit", [
        formula_entry(formula_repos),
        {"name": "site-pillar", "url": formula_repos["pillar"], "sha": formula_repos["shas"]["pillar"][-1],
         "path": "pillar"},
    ])


@pytest.fixture
def record_dir(rt_paths):
    path = rt_paths["work"] / "deployed"
    path.mkdir()
    return path


@pytest.fixture
def gerrit_master(make_master, rt_paths, deploy_kit, gerrit_rest, record_dir):
    """A salt-master with the reactors, salt-api's webhook and the pipeline pointed at the stand-ins."""
    orch = rt_paths["work"] / "orch"
    (orch / "deploy").mkdir(parents=True)
    (orch / "deploy" / "fake.sls").write_text(FAKE_DEPLOY)
    roots = [str(orch)]

    def _make(auto_production=False, settle=0.5, secret_header=None):
        api_port = ports.get_unused_localhost_port()
        master = make_master(
            releasetrain={
                "gerrit": {"secret": SECRET,
                           "projects": {PROJECT: {"repo": "openstack-formula", "branches": ["master"]}},
                           "rest": {"url": gerrit_rest.url, "user": "releasetrain", "password": "http-pw"},
                           "approval": {"label": "Release-Approval", "value": 1},
                           **({"secret_header": secret_header} if secret_header else {})},
                "pipeline": {"deploy_kit": str(deploy_kit), "manifest": "manifest.yml",
                             "deploy": {"orchestrate": "deploy.fake", "pillar": {"record_dir": str(record_dir)}},
                             "candidate": {"orchestrate": "deploy.fake", "saltenv": "base",
                                           "pillar": {"record_dir": str(record_dir)}},
                             "auto_production": auto_production, "settle": settle},
            },
            reactor=[{"salt/netapi/hook/gerrit*": [str(REACTOR / "gerrit_hook.sls")]},
                     {"releasetrain/gerrit/*": [str(REACTOR / "gerrit_event.sls")]}],
            rest_cherrypy={"port": api_port, "host": "127.0.0.1", "disable_ssl": True, "webhook_disable_auth": True},
            file_roots={env: roots for env in ("base", "test", "staging", "production")},
        )
        master.api_url = f"http://127.0.0.1:{api_port}"
        return master

    return _make


@pytest.fixture
def running(gerrit_master):
    """Start a master and its salt-api; yields the master (``master.api_url`` is the hook base)."""
    stack = []

    def _start(**kwargs):
        master = gerrit_master(**kwargs)
        started = master.started()
        started.__enter__()
        stack.append(started)
        api = master.salt_api_daemon()
        api_started = api.started()
        api_started.__enter__()
        stack.append(api_started)
        return master

    yield _start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


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
