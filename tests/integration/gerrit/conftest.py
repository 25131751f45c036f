"""A real salt-master and salt-api wired for Gerrit, a deploy-kit repo, and a Gerrit REST stand-in on loopback."""

import threading
import time

import pytest
import requests
from pytestshellutils.utils import ports

from tests.support.gerrit import FAKE_DEPLOY, PROJECT, REACTOR, SECRET, GerritStandIn
from tests.support.gitrepos import formula_entry, make_deploy_kit


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


def _answering_api(master, attempts=3, wait=30):
    """salt-api started and answering ``GET /`` (a started process whose CherryPy failed its 'start'
    listener under load never answers: that one is stopped and started again); the entered context."""
    for attempt in range(1, attempts + 1):
        started = master.salt_api_daemon().started()
        started.__enter__()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                if requests.get(master.api_url, timeout=5).status_code == 200:
                    return started
            except requests.RequestException:
                pass
            time.sleep(0.5)
        started.__exit__(None, None, None)
    pytest.fail(f"salt-api did not answer on {master.api_url} after {attempts} starts")


@pytest.fixture
def running(gerrit_master):
    """Start a master and its salt-api; yields the master (``master.api_url`` is the hook base)."""
    stack = []

    def _start(**kwargs):
        master = gerrit_master(**kwargs)
        started = master.started()
        started.__enter__()
        stack.append(started)
        stack.append(_answering_api(master))
        return master

    yield _start
    for ctx in reversed(stack):
        ctx.__exit__(None, None, None)


