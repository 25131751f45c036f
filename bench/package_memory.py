"""Benchmark: peak memory of ``release.package`` for a repo holding one large file.

Run:  .venv/bin/python bench/package_memory.py [--size-mb 200 --runs 3 --out bench/results/package_memory.md]

It commits one incompressible file of ``--size-mb`` MB (bytes from a seeded PRNG) and a
few small ones to a git repo, then, ``--runs`` times each, packages it in a fresh child
process (empty cache and store) and reads the child's own peak RSS (``ru_maxrss`` of
``getrusage(RUSAGE_SELF)``: the Python process alone, not git, which holds a blob under
``core.bigFileThreshold`` in memory whatever its reader does). The same child packaging a
repo without the large file gives the constant part (interpreter, Salt-free imports,
buffers). Reports medians and the ratio (peak - constant) / largest file, and
peak / largest file, to a Markdown file.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "package_memory.md")
GIT_ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "Bench",
           "GIT_COMMITTER_EMAIL": "bench@example.invalid", "GIT_AUTHOR_DATE": "1750000000 +0000",
           "GIT_COMMITTER_DATE": "1750000000 +0000"}

# The child: package the manifest, print its own peak RSS (bytes) and the kit's sha256 as JSON.
CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[4])
from releasetrain import config
from releasetrain.release import packaging
result = packaging.package(config.load({"releasetrain": {"store": sys.argv[2], "cache": sys.argv[3]}}), sys.argv[1])
print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "sha256": result["sha256"]}))
"""


def write_random_file(path, size, seed=2026):
    """``size`` bytes that no compressor shrinks, the same for the same seed."""
    rng = random.Random(seed)
    with open(path, "wb") as handle:
        left = size
        while left:
            chunk = min(left, 1 << 20)
            handle.write(rng.randbytes(chunk))
            left -= chunk


def make_repo(path, large_size):
    """A repo with a few small files and, if ``large_size``, one file of that many random bytes; returns its SHA."""
    os.makedirs(os.path.join(path, "files"))
    for index in range(20):
        with open(os.path.join(path, f"state{index}.sls"), "w", encoding="utf-8") as handle:
            handle.write(f"state-{index}:\n  test.nop: []\n" * 20)
    if large_size:
        write_random_file(os.path.join(path, "files", "large.bin"), large_size)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                          text=True).stdout.strip()


def write_manifest(path, repo, sha):
    import yaml

    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"release": "memory", "repos": [{"name": "big", "url": repo, "sha": sha, "path": "states/big"}]},
                       handle)
    return path


def measure(manifest, scratch):
    """Package ``manifest`` in a fresh child process with an empty cache and store: (peak RSS, sha256, seconds)."""
    store, cache = os.path.join(scratch, "store"), os.path.join(scratch, "cache")
    shutil.rmtree(store, ignore_errors=True), shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", CHILD, manifest, store, cache, ROOT], capture_output=True,
                             text=True)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"packaging failed: {process.stderr.strip().splitlines()[-1:]}")
    data = json.loads(process.stdout.strip().splitlines()[-1])
    return data["peak"], data["sha256"], seconds


def run(args):
    base = tempfile.mkdtemp(prefix="rt-bench-memory-")
    try:
        size = int(args.size_mb * (1 << 20))
        repos = {}
        for kind, large in (("small", 0), ("large", size)):
            repo = os.path.join(base, kind)
            repos[kind] = write_manifest(os.path.join(base, f"{kind}.yml"), repo, make_repo(repo, large))
        peaks = {"small": [], "large": []}
        seconds, digests = [], set()
        for number in range(args.runs):
            print(f"run {number + 1}/{args.runs}", file=sys.stderr, flush=True)
            for kind in ("small", "large"):
                peak, digest, took = measure(repos[kind], os.path.join(base, "scratch"))
                peaks[kind].append(peak)
                if kind == "large":
                    seconds.append(took)
                    digests.add(digest)
        return report(args, size, peaks, seconds, digests)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(args, size, peaks, seconds, digests):
    mb = 1 << 20
    small, large = statistics.median(peaks["small"]), statistics.median(peaks["large"])
    rows = [
        ("peak RSS, repo with the large file", large),
        ("peak RSS, the same repo without it (the constant)", small),
        ("peak RSS the large file adds", large - small),
    ]
    lines = [
        "# Benchmark: peak memory of `release.package`",
        "",
        f"Generated by `bench/package_memory.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine and parameters",
        "",
        f"- {platform.platform()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}",
        f"- one repo: 20 small SLS files and one incompressible file of {size / mb:.0f} MB (seeded PRNG), "
        f"pinned at `states/big`; {args.runs} runs, each in a fresh child process with an empty cache and store",
        "- peak RSS is the child's own `ru_maxrss` (the Python process that packages; git's processes are not in it)",
        f"- every run gave the same kit: {'yes' if len(digests) == 1 else 'NO'} (sha256 `{sorted(digests)[0][:16]}...`)",
        "",
        "## Peak RSS (medians)",
        "",
        "| measurement | MB | min | max |",
        "|---|---:|---:|---:|",
    ]
    spans = {rows[0][0]: peaks["large"], rows[1][0]: peaks["small"]}
    for name, value in rows:
        runs = spans.get(name)
        low, high = (f"{min(runs) / mb:.1f}", f"{max(runs) / mb:.1f}") if runs else ("", "")
        lines.append(f"| {name} | {value / mb:.1f} | {low} | {high} |")
    lines += [
        "",
        "## Ratios (of medians)",
        "",
        "| ratio | value |",
        "|---|---:|",
        f"| peak / largest file | {large / size:.2f} |",
        f"| (peak - constant) / largest file | {(large - small) / size:.3f} |",
        "",
        f"Packaging took {statistics.median(seconds):.2f} s (median wall time of the child, imports included).",
        "",
        "## Target",
        "",
        f"- peak under 1.5x the largest file plus the constant: **{'met' if large < 1.5 * size + small else 'NOT met'}**",
        "",
    ]
    text = "\n".join(lines)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    print(text)
    return large, small, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200, help="size of the large file in MB (default 200)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=DEFAULT_OUT, help="results file ('' to only print)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
