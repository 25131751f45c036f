"""A real salt-master and salt-api wired for Gerrit, a deploy-kit repo, and a Gerrit REST stand-in on loopback."""

import threading

import pytest
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


