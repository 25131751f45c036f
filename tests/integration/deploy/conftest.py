"""A salt-factories region for ``deploy.region``: a master and minions with role grains.

The minions run the small ``trace`` formula (``files/formula``) for every stage,
published through the real release store, so the tests see what ran where and
when in ``<trace_dir>/trace.log``.
"""

import concurrent.futures
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest
from saltfactories.utils import random_string

from releasetrain.loader import tree_path

HERE = os.path.dirname(os.path.abspath(__file__))
FORMULA = os.path.join(HERE, "files", "formula")
STAGES = (
    "infra",
    "keystone",
    "glance_placement",
    "nova_control",
    "neutron_server",
    "neutron_network",
    "compute",
    "cell_discovery",
)
NODES = {
    "ctl01": ["controller"],
    "ctl02": ["controller"],
    "net01": ["network"],
    "cmp01": ["compute"],
    "cmp02": ["compute"],
    "cmp03": ["compute"],
}


class SickList(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /<minion>``: 503 for minions in ``server.sick``, 200 otherwise."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        status = 503 if self.path.strip("/") in self.server.sick else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"sick\n" if status == 503 else b"ok\n")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def health_endpoint():
    """A real HTTP endpoint the compute health gate asks; add a minion id to ``.sick`` to fail it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SickList)
    server.sick = set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def region_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("region")
    paths = {name: root / name for name in ("store", "cache", "trace", "backup", "src", "pillar")}
    for path in paths.values():
        path.mkdir()
    return paths


def git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


#: What the Gerrit pipeline does, in a reactor: start deploy.region with the event's pillar.
REACTOR_DEPLOY = """\
deploy-region-from-the-reactor:
  runner.state.orchestrate:
    - args:
      - mods: deploy.region
      - pillar: {{ data.pillar | json }}
"""
REACTOR_TAG = "releasetrain/test/deploy"


@pytest.fixture(scope="module")
def region(salt_factories, region_paths):
    """Master (file_roots: base = orchestrate/, test = the store's test tree; a reactor on
    ``REACTOR_TAG`` that starts deploy.region) and 6 minions."""
    reactor = region_paths["src"] / "deploy-reactor.sls"
    reactor.write_text(REACTOR_DEPLOY)
    master = salt_factories.salt_master_daemon(
        random_string("deploy-master-"),
        overrides={
            "releasetrain": {
                "store": str(region_paths["store"]),
                "cache": str(region_paths["cache"]),
                "environments": ["test", "staging", "production"],
            },
            "file_roots": {
                "base": [tree_path("orchestrate")],
                # as `releasetrain master-config` lays it out: the release, then orchestrate/
                # (whose _modules/ gives the minions openstack_health through sync_modules)
                "test": [str(region_paths["store"] / "envs" / "test"), tree_path("orchestrate")],
            },
            "pillar_roots": {"test": [str(region_paths["pillar"])]},  # what a test writes there
            "reactor": [{REACTOR_TAG: [str(reactor)]}],
            "log_level_logfile": "info",
        },
    )
    minions = [
        master.salt_minion_daemon(
            name,
            overrides={"grains": {"roles": roles, "trace_dir": str(region_paths["trace"])}},
        )
        for name, roles in NODES.items()
    ]
    # salt-factories makes every file_roots folder; the store wants envs/test to be its symlink
    test_tree = region_paths["store"] / "envs" / "test"
    if test_tree.is_dir() and not test_tree.is_symlink() and not any(test_tree.iterdir()):
        test_tree.rmdir()
    with master.started():
        with concurrent.futures.ThreadPoolExecutor(len(minions)) as pool:
            starts = [pool.submit(minion.start) for minion in minions]
        try:
            for start in starts:
                start.result()
            yield {"master": master, "minions": minions, "run": master.salt_run_cli(timeout=240)}
        finally:
            with concurrent.futures.ThreadPoolExecutor(len(minions)) as pool:
                pool.map(lambda minion: minion.is_running() and minion.terminate(), minions)


@pytest.fixture(scope="module")
def publish(region, region_paths):
    """``publish(release, note)``: commit the trace formula (plus ``note``), package and publish it to test."""
    repo = region_paths["src"] / "formula"

    def _publish(release, note):
        if not repo.exists():
            shutil.copytree(FORMULA, repo)
            git(repo, "init", "-q", "-b", "main")
        (repo / "NOTE").write_text(note + "\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", note)
        sha = git(repo, "rev-parse", "HEAD")
        manifest = region_paths["src"] / f"{release}.yml"
        manifest.write_text(
            json.dumps({"repos": [{"name": "trace", "url": str(repo), "sha": sha, "path": "."}]})
        )
        run = region["run"]
        packaged = run.run("release.package", f"manifest={manifest}", f"release={release}")
        assert packaged.returncode == 0, packaged.stdout + packaged.stderr
        published = run.run("release.publish", release, "env=test")
        assert published.returncode == 0, published.stdout + published.stderr

    return _publish


@pytest.fixture(scope="module")
def deploy_settings(region_paths, health_endpoint):
    """The ``deploy`` pillar pointing every stage at the trace formula and every command at trace files."""
    trace = region_paths["trace"] / "trace.log"
    line = 'echo "{who} {what} {release} - $(date +%s.%N)" >> ' + str(trace)
    port = health_endpoint.server_address[1]
    no_probes = {stage: [] for stage in (*STAGES, "smoke")}
    return {
        "stages": {stage: ["trace"] for stage in STAGES},
        "batch": "25%",
        "openrc": "",
        "gate_wait": 4,  # the sick-node test waits this long before the gate fails
        "gate_interval": 1,
        "commands": {
            "upgrade_checks": ["nova-status upgrade check"],  # not installed here: skipped
            "backup": 'mkdir -p "$(dirname {path})" && echo dump of {release} > {path}',
            "compute_disable": line.format(who="{host}", what="nova-disable", release="{release}"),
            "compute_enable": line.format(who="{host}", what="nova-enable", release="{release}"),
            "smoke": [line.format(who="region", what="smoke", release="{release}")],
            # the API probe's catalog: three services on the health endpoint (GET /api-<service>);
            # commands are templates ({host}, {release}...): the JSON's braces are doubled
            "catalog": "echo '" + json.dumps([
                {"Service Name": service, "Interface": "public", "Enabled": True,
                 "URL": f"http://127.0.0.1:{port}/api-{service}"}
                for service in ("keystone", "nova", "neutron")
            ]).replace("{", "{{").replace("}", "}}") + "'",
        },
        "probe": {"services": ["keystone", "glance", "placement", "nova", "neutron"], "interval": 0.2, "timeout": 1},
        "backup_path": str(region_paths["backup"] / "mysql-{env}-{release}-{date}.sql.gz"),
        "health": {
            **no_probes,
            "compute": [{"on": "batch", "checks": {"endpoints": {"trace": f"http://127.0.0.1:{port}/{{id}}"}}}],
        },
    }
