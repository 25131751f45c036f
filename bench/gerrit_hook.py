"""Gerrit hook latency: POST to salt-api's /hook -> reactor -> pipeline runner -> orchestration started.

Starts a real salt-master and salt-api (throwaway config under a temporary
folder, loopback only), a Gerrit REST stand-in on 127.0.0.1, a formula repo and
a deploy-kit repo, then POSTs ``--events`` patchset-created events one after
another (each waits for its run to finish) and measures, from the moment the
POST is sent, when the master bus shows (a) the normalised
``releasetrain/gerrit/patchset-created`` event and (b)
``releasetrain/pipeline/orchestrate/start`` for that change.

    .venv/bin/python bench/gerrit_hook.py [--events 100] [--out bench/results/gerrit.md]
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from releasetrain.gerrit.pipeline import DEFAULTS  # noqa: E402
from tests.support.gerrit import FAKE_DEPLOY, GerritStandIn  # noqa: E402
from tests.support.gitrepos import commit, write_manifest  # noqa: E402

SECRET = "bench-secret-0123456789"
CANDIDATE_ENV = DEFAULTS["candidate"]["env"]  # where the pipeline deploys every candidate (one event at a time here)
BIN = pathlib.Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def setup(tmp, gerrit_url):
    formula, kit, orch, record = (tmp / n for n in ("openstack-formula", "deploy-kit", "orch", "deployed"))
    base = commit(str(formula), {"openstack/init.sls": "# formula\n"}, "formula")
    candidate = commit(str(formula), {"openstack/nova.sls": "# candidate\n"}, "candidate", timestamp=1_700_000_100)
    import git

    repo = git.Repo(str(formula))
    repo.git.update_ref("refs/changes/00/20000/1", candidate)
    repo.git.reset("--hard", base)
    kit.mkdir()
    write_manifest(kit / "manifest.yml", [{"name": "openstack-formula", "url": f"file://{formula}", "sha": base,
                                          "path": "states/openstack", "subdir": "openstack"}])
    commit(str(kit), {"manifest.yml": (kit / "manifest.yml").read_text()}, "manifest")
    (orch / "deploy").mkdir(parents=True)
    (orch / "deploy" / "fake.sls").write_text(FAKE_DEPLOY)
    record.mkdir()
    api_port = free_port()
    conf = tmp / "conf"
    conf.mkdir()
    master = {
        "root_dir": str(tmp / "root"), "user": "root", "interface": "127.0.0.1",
        "publish_port": free_port(), "ret_port": free_port(), "log_level": "warning",
        "log_level_logfile": "info", "log_file": str(tmp / "master.log"), "api_logfile": str(tmp / "api.log"),
        "pidfile": str(tmp / "master.pid"), "api_pidfile": str(tmp / "api.pid"), "sock_dir": str(tmp / "sock"),
        "pki_dir": str(tmp / "pki"), "cachedir": str(tmp / "cache"), "file_roots": {e: [str(orch)] for e in ("base", "test")},
        "reactor": [{"salt/netapi/hook/gerrit*": [str(ROOT / "reactor" / "gerrit_hook.sls")]},
                    {"releasetrain/gerrit/*": [str(ROOT / "reactor" / "gerrit_event.sls")]}],
        "rest_cherrypy": {"port": api_port, "host": "127.0.0.1", "disable_ssl": True, "webhook_disable_auth": True},
        "releasetrain": {
            "store": str(tmp / "store"), "cache": str(tmp / "rtcache"),
            "gerrit": {"secret": SECRET, "projects": {"salt/openstack-formula": {"repo": "openstack-formula"}},
                       "rest": {"url": gerrit_url, "user": "bench", "password": "pw"}},
            "pipeline": {"deploy_kit": str(kit), "candidate": {"orchestrate": "deploy.fake", "saltenv": "base",
                                                                "pillar": {"record_dir": str(record)}}},
        },
    }
    (conf / "master").write_text(yaml.safe_dump(master))
    return conf, api_port, candidate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gerrit.md"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--shared", default="", help="what else ran on the machine, for the results file")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rt-bench-gerrit-"))
    gerrit = GerritStandIn()
    threading.Thread(target=gerrit.serve_forever, daemon=True).start()
    conf, api_port, revision = setup(tmp, gerrit.url)
    daemons = [subprocess.Popen([str(BIN / "salt-master"), "-c", str(conf)]),
               subprocess.Popen([str(BIN / "salt-api"), "-c", str(conf)])]
    try:
        import salt.config
        import salt.utils.event

        opts = salt.config.master_config(str(conf / "master"))
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{api_port}/", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("salt-api did not start")
                time.sleep(0.5)
        bus = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True)
        template = json.loads((ROOT / "tests" / "fixtures" / "gerrit" / "patchset-created.json").read_text())
        forwarded, started, total = [], [], []
        for index in range(args.events + 1):  # the first one warms caches and is not counted
            change = 20000 + index
            event = json.loads(json.dumps(template))
            event["change"]["number"] = change
            event["patchSet"].update(number=1, revision=revision, ref=f"refs/changes/{change % 100:02d}/{change}/1")
            body = json.dumps(event)
            def post():
                requests.post(f"http://127.0.0.1:{api_port}/hook/gerrit/{SECRET}", data=body, timeout=10,
                              headers={"Content-Type": "application/json"})
                return time.time()

            sent = post()
            seen = {}
            limit = time.monotonic() + 120
            while "done" not in seen and time.monotonic() < limit:
                if not index and "forwarded" not in seen and time.time() - sent > 5:
                    sent = post()  # the reactor may still be loading when salt-api answers; warm-up only
                got = bus.get_event(wait=1, tag="releasetrain/", full=True)
                if not got:
                    continue
                tag, data = got["tag"], got["data"]
                if tag == "releasetrain/gerrit/patchset-created" and data.get("change") == change:
                    seen.setdefault("forwarded", time.time())
                elif tag == "releasetrain/pipeline/orchestrate/start" and data.get("env") == CANDIDATE_ENV:
                    seen.setdefault("started", time.time())
                elif tag.startswith("releasetrain/pipeline/run/") and data.get("change") == change:
                    seen["done"] = time.time()
            if "started" not in seen:
                raise SystemExit(f"event {index}: no orchestration start within 120 s (see {tmp}/master.log)")
            if index:
                forwarded.append(seen["forwarded"] - sent)
                started.append(seen["started"] - sent)
                total.append(seen["done"] - sent)
            print(f"{index:3d} forwarded {seen['forwarded'] - sent:.3f}s started {seen['started'] - sent:.3f}s "
                  f"run done {seen.get('done', 0) - sent:.3f}s", flush=True)
        write(args, forwarded, started, total, len(gerrit.reviews))
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
        gerrit.shutdown()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def write(args, forwarded, started, total, reviews):
    def row(name, values):
        return (f"| {name} | {statistics.median(values):.3f} | {percentile(values, 95):.3f} | "
                f"{min(values):.3f} | {max(values):.3f} |")

    load = os.getloadavg()
    text = f"""# Gerrit hook latency

`.venv/bin/python bench/gerrit_hook.py --events {args.events}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC;
{os.cpu_count()} cores{f", shared with {args.shared}" if args.shared else ""} (load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}).
Real salt-master + salt-api (rest_cherrypy) + reactor + `pipeline` runner; one patchset-created
event at a time (each waits for its run: candidate kit, a trivial orchestration, the vote to the
loopback Gerrit stand-in); the first event warms caches and is not counted. Seconds from the POST
being sent to the event showing on the master bus.

| measure (s) | median | p95 | min | max |
|---|---|---|---|---|
{row("hook -> `releasetrain/gerrit/patchset-created` (secret checked, normalised)", forwarded)}
{row("hook -> `releasetrain/pipeline/orchestrate/start` (**target: median < 1 s**)", started)}
{row("hook -> run finished (kit built, orchestration done, vote posted)", total)}

Votes received by the stand-in: {reviews}. Target median < 1 s: {"met" if statistics.median(started) < 1 else "NOT met"}.
"""
    pathlib.Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
