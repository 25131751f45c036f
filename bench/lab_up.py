"""Benchmark: ``salt-run lab.up`` of the default 4-node region, warm and cold.

Warm: the base image is cached; timed from ``salt-run lab.up`` until every
minion answers ``test.ping`` (lab.up waits for that), repeated ``--runs``
times with ``lab.down`` in between; the median is reported.  Cold: a fresh,
empty cache dir, so debootstrap, the Salt wheels and the base image are made
first (pip's own download cache on the host may still be warm).

Runs a real salt-master from this venv on free ports.  Needs root.

    .venv/bin/python bench/lab_up.py --runs 3 --cold
"""

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from releasetrain.lab import host, region, topology  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Master:
    """A salt-master in a temp root, listening on all addresses."""

    def __init__(self, base, lab):
        self.conf_dir = os.path.join(base, "conf")
        os.makedirs(self.conf_dir)
        self.config = {
            "id": "bench-master",
            "root_dir": base,
            "pki_dir": os.path.join(base, "pki"),
            "cachedir": os.path.join(base, "cache"),
            "sock_dir": os.path.join(base, "sock"),
            "pidfile": os.path.join(base, "master.pid"),
            "log_file": os.path.join(base, "master.log"),
            "log_level_logfile": "info",
            "interface": "0.0.0.0",
            "publish_port": free_port(),
            "ret_port": free_port(),
            "user": "root",
            "releasetrain": {"lab": lab},
        }
        with open(os.path.join(self.conf_dir, "master"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(self.config, handle)
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(BIN, "salt-master"), "-c", self.conf_dir, "-l", "quiet"],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(self.config["pki_dir"], "master.pub")):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("salt-master did not start; see " + self.config["log_file"])
            time.sleep(0.2)
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def salt_run(self, *args, timeout=900):
        argv = [os.path.join(BIN, "salt-run"), "-c", self.conf_dir, "--out=json", *args]
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"salt-run {' '.join(args)} failed: {proc.stdout} {proc.stderr}")
        return json.loads(proc.stdout), seconds

    def ping_all(self):
        argv = [os.path.join(BIN, "salt"), "-c", self.conf_dir, "--out=json", "--static", "*", "test.ping"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        return json.loads(proc.stdout or "{}")


def one_up(master, topology_path, expected):
    try:
        data, seconds = master.salt_run("lab.up", f"topology={topology_path}")
        assert sorted(data.get("answering", [])) == expected, data
        pinged = master.ping_all()
        assert sorted(pinged) == expected and all(pinged.values()), pinged
    except BaseException:
        master.salt_run("lab.down")  # never leave a lab (or mounts in a temp dir) behind
        raise
    _, down_seconds = master.salt_run("lab.down")
    return seconds, down_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs (median reported)")
    parser.add_argument("--cold", action="store_true", help="also time one cold run (fresh cache dir)")
    parser.add_argument("--cache-dir", default="/var/cache/releasetrain/lab", help="the warm cache dir")
    parser.add_argument("--topology", default=topology.default_path())
    parser.add_argument("--out", default=os.path.join(HERE, "results", "lab.md"))
    args = parser.parse_args()
    problem = host.missing()
    if problem:
        raise SystemExit(problem)
    topo = topology.load(args.topology)
    expected = sorted(node.name for node in topo.nodes)
    results = {}
    with region.hold(topo.name), tempfile.TemporaryDirectory(prefix="rt-bench-", dir="/var/tmp") as base:
        if args.cold:
            cold_cache = os.path.join(base, "cold-cache")
            with Master(os.path.join(base, "cold-master"), {"state_dir": os.path.join(base, "cold-state"), "cache_dir": cold_cache}) as master:
                up, down = one_up(master, args.topology, expected)
                results["cold"] = {"up": [up], "down": [down]}
                print(f"cold: lab.up {up:.1f}s, lab.down {down:.1f}s", flush=True)
            shutil.rmtree(cold_cache, ignore_errors=True)
        lab = {"state_dir": os.path.join(base, "warm-state"), "cache_dir": args.cache_dir}
        with Master(os.path.join(base, "warm-master"), lab) as master:
            one_up(master, args.topology, expected)  # make sure the image is cached
            ups, downs = [], []
            for run in range(args.runs):
                up, down = one_up(master, args.topology, expected)
                ups.append(up)
                downs.append(down)
                print(f"warm run {run + 1}: lab.up {up:.1f}s, lab.down {down:.1f}s", flush=True)
            results["warm"] = {"up": ups, "down": downs}
    write_report(args.out, topo, results)


def write_report(path, topo, results):
    def fmt(values):
        return f"{statistics.median(values):.1f} s" + (
            f" (runs: {', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else ""
        )

    lines = [
        "# lab.up benchmark",
        "",
        f"`bench/lab_up.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other work on the host counts).",
        f"Topology `{os.path.relpath(topo.source, ROOT)}`: {len(topo.nodes)} nodes, {len(topo.networks)} networks. "
        "Time of `salt-run lab.up` until every minion answers `test.ping` (lab.up waits for that); "
        "afterwards `salt '*' test.ping` is checked again and `lab.down` timed.",
        "",
        "| case | target | lab.up (median) | lab.down (median) |",
        "| --- | --- | --- | --- |",
    ]
    targets = {"warm": "< 60 s", "cold": "< 5 min"}
    for case in ("warm", "cold"):
        if case in results:
            lines.append(f"| {case} | {targets[case]} | {fmt(results[case]['up'])} | {fmt(results[case]['down'])} |")
    lines += [
        "",
        "Warm: base image in the cache dir. Cold: an empty cache dir, so debootstrap (minbase + systemd, "
        "python3-venv), `pip wheel salt==3008.4` and the venv install run first; the host's pip cache "
        "and the Debian mirror's speed count here.",
        "",
    ]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
