"""Benchmark: orchestration overhead of a no-op ``deploy.region`` upgrade over 20 minions.

Run:  .venv/bin/python bench/deploy_overhead.py [--runs 3] [--minions 20]

A salt-factories master and 20 minions (2 controllers, 2 network nodes, 16
computes; ``multiprocessing: False`` to fit 2 cores) converge the test trace
formula once (bootstrap, not measured), then the same release is applied again
as an upgrade with batch 25%: every node is already converged, so what remains
is the train's own cost.  Overhead per batch = a compute-batch step's duration
minus the ``state.sls`` call inside it (each step reports that time in its
comment).  Baselines in the same session: a ``test.ping`` round over all
minions and a plain ``state.sls`` of the formula on one batch (``LocalClient``).
Results go to ``bench/results/deploy.md``.
"""

import argparse
import http.server
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "deploy.md")
OPTIONS = {"runs": 3, "minions": 20}


def _git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


def _roles(count):
    controllers, network = 2, 2
    names = [(f"ctl{n:02d}", "controller") for n in range(1, controllers + 1)]
    names += [(f"net{n:02d}", "network") for n in range(1, network + 1)]
    names += [(f"cmp{n:02d}", "compute") for n in range(1, count - controllers - network + 1)]
    return names


class _Up(http.server.BaseHTTPRequestHandler):
    """Every API of the bench's catalog: answers 200, as a healthy region does."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _api_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Up)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _settings(trace_dir, api_port):
    line = 'echo "{who} {what} {release} - $(date +%s.%N)" >> ' + os.path.join(trace_dir, "trace.log")
    # the upgrade's API probe asks these once a second, and every step writes the run's record and report
    catalog = json.dumps([{"Service Name": name, "Interface": "public", "URL": f"http://127.0.0.1:{api_port}/{name}"}
                          for name in ("keystone", "glance", "placement", "nova", "neutron")])
    stages = ("infra", "keystone", "glance_placement", "nova_control", "neutron_server", "neutron_network", "compute",
              "cell_discovery")
    return {
        "stages": {stage: ["trace"] for stage in stages},
        "batch": "25%",
        "openrc": "",
        "commands": {
            "upgrade_checks": ["nova-status upgrade check"],
            "backup": 'mkdir -p "$(dirname {path})" && echo dump > {path}',
            "compute_disable": line.format(who="{host}", what="nova-disable", release="{release}"),
            "compute_enable": line.format(who="{host}", what="nova-enable", release="{release}"),
            "cell_discovery": line.format(who="region", what="cell_discovery", release="{release}"),
            "smoke": [line.format(who="region", what="smoke", release="{release}")],
            "catalog": "echo '" + catalog.replace("{", "{{").replace("}", "}}") + "'",
        },
        "backup_path": os.path.join(trace_dir, "backup", "mysql-{env}-{release}-{date}.sql.gz"),
        # a real gate call per batch (no probe list would skip the round trip)
        "health": {**{stage: [] for stage in (*stages, "smoke")},
                   "compute": [{"on": "batch", "checks": {"services": []}}]},
    }


def _steps(result):
    data = result.data
    data = data.get("data", data)
    (states,) = data.values()
    return sorted(states.values(), key=lambda s: s.get("__run_num__", 0))


def _timed(func):
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def test_deploy_overhead(salt_factories, tmp_path):
    import concurrent.futures

    import salt.client

    from releasetrain.loader import tree_path

    paths = {name: tmp_path / name for name in ("store", "cache", "trace", "src")}
    for path in paths.values():
        path.mkdir()
    master = salt_factories.salt_master_daemon(
        "bench-master",
        overrides={
            "releasetrain": {"store": str(paths["store"]), "cache": str(paths["cache"]),
                             "environments": ["test", "staging", "production"]},
            "file_roots": {"base": [tree_path("orchestrate")], "test": [str(paths["store"] / "envs" / "test")]},
            "worker_threads": 4,
        },
    )
    test_tree = paths["store"] / "envs" / "test"
    if test_tree.is_dir() and not any(test_tree.iterdir()):
        test_tree.rmdir()
    roles = _roles(OPTIONS["minions"])
    minions = [
        master.salt_minion_daemon(
            name,
            overrides={"grains": {"roles": [role], "trace_dir": str(paths["trace"])},
                       "multiprocessing": False, "grains_refresh_every": 0},
        )
        for name, role in roles
    ]
    run = master.salt_run_cli(timeout=900)
    formula = paths["src"] / "formula"
    subprocess.run(["cp", "-r", os.path.join(ROOT, "tests", "integration", "deploy", "files", "formula"), str(formula)], check=True)
    _git(formula, "init", "-q", "-b", "main")
    _git(formula, "add", "-A")
    _git(formula, "commit", "-q", "-m", "bench")
    manifest = paths["src"] / "r1.yml"
    manifest.write_text(json.dumps({"repos": [{"name": "trace", "url": str(formula), "sha": _git(formula, "rev-parse", "HEAD"), "path": "."}]}))
    assert run.run("release.package", f"manifest={manifest}", "release=r1").returncode == 0
    assert run.run("release.publish", "r1", "env=test").returncode == 0
    api = _api_server()
    settings = _settings(str(paths["trace"]), api.server_address[1])

    def orchestrate(mode):
        pillar = json.dumps({"release": "r1", "env": "test", "mode": mode, "deploy": settings})
        return _timed(lambda: run.run("state.orchestrate", "deploy.region", f"pillar={pillar}"))

    with master.started():
        start_time, _ = _timed(lambda: _start_all(minions))
        try:
            client = salt.client.LocalClient(c_path=master.config_file)
            ids = [name for name, _ in roles]
            bootstrap_time, result = orchestrate("bootstrap")
            assert result.returncode == 0, result.stdout[-3000:]
            ping, plain, upgrades = [], [], []
            batch = [name for name, role in roles if role == "compute"][:4]
            pillar = {"deploy": {"release": "r1", "env": "test", "stage": "compute"}}
            for _ in range(OPTIONS["runs"]):
                seconds, answers = _timed(lambda: client.cmd(ids, "test.ping", tgt_type="list", timeout=30))
                assert len(answers) == len(ids)
                ping.append(seconds)
                seconds, answers = _timed(lambda: client.cmd(batch, "state.sls", ["trace"], tgt_type="list",
                                                             kwarg={"saltenv": "test", "pillar": pillar}, timeout=60))
                assert len(answers) == len(batch)
                plain.append(seconds)
                seconds, result = orchestrate("upgrade")
                assert result.returncode == 0, result.stdout[-3000:]
                upgrades.append((seconds, _steps(result)))
            client.destroy()
        finally:
            with concurrent.futures.ThreadPoolExecutor(len(minions)) as pool:
                list(pool.map(lambda m: m.is_running() and m.terminate(), minions))
    _write(roles, start_time, bootstrap_time, ping, plain, upgrades)


def _start_all(minions):
    """Five at a time, with a long timeout: 20 minions starting at once swamp 2 busy cores."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        for future in [pool.submit(minion.start, start_timeout=300) for minion in minions]:
            future.result()


STEP_TIMING = re.compile(r"; ([0-9.]+) s, of which states ([0-9.]+) s$")


def _write(roles, start_time, bootstrap_time, ping, plain, upgrades):
    med = statistics.median
    totals = [seconds for seconds, _ in upgrades]
    by_step, batch_overhead, batch_states = {}, [], []
    for _, steps in upgrades:
        for step in steps:
            by_step.setdefault(step["__id__"], []).append(step["duration"] / 1000)
            timing = STEP_TIMING.search(step["comment"])
            if "-compute-" in step["__id__"] and timing:
                batch_states.append(float(timing.group(2)))
                batch_overhead.append(step["duration"] / 1000 - float(timing.group(2)))
    batch_ids = [step for step in by_step if "-compute-" in step]
    batch_medians = [med(by_step[step]) for step in batch_ids]
    in_steps = med([sum(s["duration"] for s in steps) / 1000 for _, steps in upgrades])
    lines = [
        "# deploy.region orchestration overhead",
        "",
        f"`bench/deploy_overhead.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{len(roles)} salt-factories minions (2 controllers, 2 network, {len(roles) - 4} computes, "
        f"`multiprocessing: False`) and their master on the same host; medians of {len(upgrades)} runs. "
        f"Load average at the end: {' / '.join(f'{load:.1f}' for load in os.getloadavg())} "
        "(the host is shared with other work, e.g. a running OpenStack lab, so these numbers are noisy).",
        "",
        "No-op upgrade (everything converged; a canary of 1 compute, then batch 25% = 4 computes per batch;",
        "each batch runs one disable and one enable command on ctl01 for its computes and one health-gate",
        "call; the run starts by rendering every role's SLS on its nodes, and is recorded: the API probe",
        "asks 5 endpoints once a second, and the run's JSON record and HTML report are written after every step):",
        "",
        "| measure | median (s) | runs (s) |",
        "|---|---|---|",
        f"| `salt-run state.orchestrate deploy.region` wall time | {med(totals):.2f} | {_list(totals)} |",
        f"| sum of step durations inside the orchestration | {in_steps:.2f} | |",
        f"| salt-run start, plan (ping per role) and render = wall - steps | {med(totals) - in_steps:.2f} | |",
        f"| compute batch step (the canary: 1 node, then 4 nodes), per batch | {med(batch_medians):.2f} | {_list(batch_medians)} |",
        f"| of which `state.sls` on the batch (timed inside the step) | {med(batch_states):.2f} | {_list(batch_states)} |",
        f"| **overhead per batch** = step duration - its `state.sls` | **{med(batch_overhead):.2f}** "
        f"| {_list(batch_overhead)}; target < 2 s |",
        f"| baseline: plain `state.sls trace` on 4 computes (LocalClient, outside the orchestration) "
        f"| {med(plain):.2f} | {_list(plain)} |",
        f"| baseline: `test.ping` round over all {len(roles)} minions (LocalClient) | {med(ping):.2f} | {_list(ping)} |",
        "",
        "Per step (median s): " + ", ".join(f"{step} {med(values):.2f}" for step, values in by_step.items()),
        "",
        f"Setup, not part of the numbers: starting {len(roles)} minions {start_time:.1f} s, "
        f"first (bootstrap) run {bootstrap_time:.1f} s.",
        "",
    ]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))


def _list(values):
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=OPTIONS["runs"])
    parser.add_argument("--minions", type=int, default=OPTIONS["minions"])
    options = parser.parse_args()
    os.environ["RT_BENCH_OPTIONS"] = json.dumps(vars(options))
    os.chdir(ROOT)
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", "--show-capture=no", "-o", "addopts="]))

OPTIONS.update(json.loads(os.environ.get("RT_BENCH_OPTIONS", "{}")))
