"""Benchmark: ``release.package`` cold and warm against the seed's process by hand.

Run:  .venv/bin/python bench/package.py [--repos 20 --files 300 --commits 10 --runs 5
                                         --out bench/results/package.md]

It generates ``--repos`` git repos of ``--files`` small text files (SLS, YAML,
Jinja, Markdown, a few executables, nested folders) with ``--commits`` commits
each, in a temporary folder, then measures, interleaved run by run:

* ``api cold``: ``releasetrain.release.packaging.package(config, manifest)`` (what the
  runner calls) with an empty cache and store;
* ``api warm``: the same with a fresh store and a cache holding the mirrors at
  older commits (copied from a prepared cache before each run); the manifest
  moves every SHA forward, so every repo fetches its last few commits;
* ``cli cold`` / ``cli warm``: the same two through ``salt-run release.package``
  with a throwaway master configuration; ``cli startup`` is ``salt-run
  release.list`` on an empty store, the cost of salt-run itself;
* ``baseline``: the seed's process by hand: for each repo a fresh ``git clone
  --no-local`` of the source repo (through git's transport, as from a server)
  and ``git checkout <sha>``, then one ``tar czf`` of the assembled tree
  (without the ``.git`` folders); ``baseline local`` is the same with a plain
  local clone, which hardlinks the source's objects;
* ``floor``: ``git archive <sha> | gzip`` of each repo's tree, repo after repo.

Reports medians (min, max), the ratios and whether the issue's targets hold
(warm at least 5x faster than the baseline, warm within 1.5x of the floor)
to a Markdown file and prints a summary.
"""

import argparse
import datetime
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "package.md")
EPOCH = 1_750_000_000
GIT_ID = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
KINDS = ("api cold", "api warm", "cli cold", "cli warm", "cli startup", "baseline", "baseline local", "floor")

# -- repo generation ------------------------------------------------------------

WORDS = (
    "pkg installed service running enable watch require file managed source template jinja user group "
    "mode makedirs contents cmd run unless onlyif name keystone nova neutron glance placement cinder "
    "horizon rabbitmq mysql memcached haproxy apache2 wsgi endpoint region public internal admin url "
    "password database connection transport oslo_messaging debug log_dir state_path lock_path auth_url "
    "project_domain_name user_domain_name auth_type region_name interface timeout workers threads"
).split()
SERVICES = ("keystone", "nova", "neutron", "glance", "placement", "cinder", "horizon", "heat", "octavia")


def _sls(rng, size):
    out = []
    while sum(map(len, out)) < size:
        svc, word = rng.choice(SERVICES), rng.choice(WORDS)
        out.append(
            f"{svc}-{word}-{rng.randrange(1000)}:\n"
            f"  {rng.choice(('pkg.installed', 'service.running', 'file.managed', 'cmd.run'))}:\n"
            f"    - name: {rng.choice(WORDS)}-{svc}\n"
            f"    - require:\n"
            f"      - pkg: {svc}-packages\n"
            f"    - {rng.choice(WORDS)}: {rng.choice(WORDS)}\n"
        )
    return "".join(out)


def _yaml(rng, size):
    out = [f"{rng.choice(SERVICES)}:\n"]
    while sum(map(len, out)) < size:
        out.append(f"  {rng.choice(WORDS)}_{rng.randrange(100)}: {rng.choice(WORDS)} {rng.randrange(65536)}\n")
        if rng.random() < 0.2:
            out.append(f"  {rng.choice(WORDS)}:\n" + "".join(
                f"    - {rng.choice(WORDS)}.{rng.choice(SERVICES)}.example.org\n" for _ in range(rng.randrange(1, 5))))
    return "".join(out)


def _jinja(rng, size):
    out = [f"# Managed by Salt: {{{{ grains['id'] }}}}\n[DEFAULT]\n"]
    while sum(map(len, out)) < size:
        word, svc = rng.choice(WORDS), rng.choice(SERVICES)
        if rng.random() < 0.15:
            out.append(f"\n[{word}]\n")
        elif rng.random() < 0.2:
            out.append(f"{{% if pillar.get('{svc}', {{}}).get('{word}') %}}\n"
                       f"{word} = {{{{ pillar['{svc}']['{word}'] }}}}\n{{% endif %}}\n")
        else:
            out.append(f"{word}_{rng.randrange(50)} = {{{{ {svc}.{word} | default('{rng.choice(WORDS)}') }}}}\n")
    return "".join(out)


def _script(rng, size):
    out = ["#!/bin/sh\nset -eu\n"]
    while sum(map(len, out)) < size:
        out.append(f"{rng.choice(SERVICES)}-manage {rng.choice(WORDS)} --{rng.choice(WORDS)} "
                   f"\"${{{rng.choice(WORDS).upper()}:-{rng.randrange(100)}}}\" || exit {rng.randrange(1, 9)}\n")
    return "".join(out)


def _markdown(rng, size):
    out = [f"# {rng.choice(SERVICES)}\n\n"]
    while sum(map(len, out)) < size:
        out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 20))).capitalize() + ".\n")
        if rng.random() < 0.2:
            out.append(f"\n## {rng.choice(WORDS)}\n\n")
    return "".join(out)


def _file_path(rng, index):
    svc = rng.choice(SERVICES)
    roll = rng.random()
    if roll < 0.03:
        return f"scripts/{svc}-{index}.sh", _script, True
    if roll < 0.40:
        return f"{svc}/{rng.choice(('', 'server/', 'agent/'))}state{index}.sls", _sls, False
    if roll < 0.70:
        return f"{svc}/files/{rng.choice(('etc', 'etc/conf.d', 'templates'))}/conf{index}.conf.j2", _jinja, False
    if roll < 0.92:
        return f"pillar/{rng.choice(('', 'defaults/', 'regions/one/'))}{svc}{index}.yml", _yaml, False
    return f"docs/{svc}{index}.md", _markdown, False


def _git(cwd, *args, env=None, stdout=subprocess.PIPE):
    return subprocess.run(["git", *args], cwd=cwd, check=True, stdout=stdout, stderr=subprocess.PIPE,
                          env=env, text=stdout is subprocess.PIPE).stdout


def _write(root, path, text, executable):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(full, 0o755 if executable else 0o644)


class SourceRepo:
    """One generated repo; commits are added in two phases (old ones, then the newer ones)."""

    def __init__(self, root, index, files):
        self.path = os.path.join(root, f"repo-{index:02d}")
        self.rng = random.Random(index)
        self.index = index
        self.files = {}  # path -> (generator, executable)
        self.shas = []
        os.makedirs(self.path)
        _git(self.path, "init", "-q", "-b", "main")
        for number in range(files):
            path, generator, executable = _file_path(self.rng, number)
            self.files[path] = (generator, executable)
        self.next_number = files

    def commit(self, count):
        for _ in range(count):
            if not self.shas:
                changed = list(self.files)
            else:  # a realistic change: a few files edited, one added
                changed = self.rng.sample(sorted(self.files), max(1, len(self.files) // 30))
                path, generator, executable = _file_path(self.rng, self.next_number)
                self.next_number += 1
                self.files[path] = (generator, executable)
                changed.append(path)
            for path in changed:
                generator, executable = self.files[path]
                _write(self.path, path, generator(self.rng, self.rng.randrange(1024, 4096)), executable)
            stamp = f"{EPOCH + 3600 * len(self.shas) + self.index} +0000"
            env = {**os.environ, **GIT_ID, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
            _git(self.path, "add", "-A", env=env)
            _git(self.path, "commit", "-q", "-m", f"change {len(self.shas) + 1} of repo {self.index}", env=env)
            self.shas.append(_git(self.path, "rev-parse", "HEAD").strip())


def _manifest(path, repos, shas):
    import yaml

    data = {"repos": [{"name": os.path.basename(repo.path), "url": repo.path, "sha": sha,
                       "path": f"states/{os.path.basename(repo.path)}"} for repo, sha in zip(repos, shas)]}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


# -- the measured processes -------------------------------------------------------

_LAST_CPU = [0.0]


def _cpu():
    """CPU seconds (user + sys) of this process and of every child it waited for, so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(func):
    cpu, start = _cpu(), time.perf_counter()
    value = func()
    seconds = time.perf_counter() - start
    _LAST_CPU[0] = _cpu() - cpu
    return seconds, value


def _fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _api(package, config, manifest, repos):
    fetched = []

    def emit(tag, data):
        if tag == "package/repo" and data["fetched"]:
            fetched.append(data["repo"])

    sha256 = package(config, manifest, emit=emit)["sha256"]
    if len(fetched) != repos:  # cold and warm runs both must fetch in every repo
        raise RuntimeError(f"only {len(fetched)} of {repos} repos fetched: the cache was not reset")
    return sha256


def _salt_run(conf_dir, *args):
    process = subprocess.run([os.path.join(os.path.dirname(sys.executable), "salt-run"), "-c", conf_dir,
                              "--out=json", "--log-level=quiet", *args], capture_output=True, text=True)
    if process.returncode != 0:
        raise RuntimeError(f"salt-run {' '.join(args)} exited {process.returncode}: "
                           f"{process.stderr.strip() or process.stdout.strip()}")
    return json.loads(process.stdout)


def _master_config(base, store, cache):
    import yaml

    conf_dir = _fresh(os.path.join(base, "etc"))
    root = _fresh(os.path.join(base, "root"))
    for sub in ("cache/proc", "run", "pki", "log"):
        os.makedirs(os.path.join(root, sub))
    config = {
        "root_dir": root, "cachedir": os.path.join(root, "cache"), "sock_dir": os.path.join(root, "run"),
        "pki_dir": os.path.join(root, "pki"), "log_file": os.path.join(root, "log", "master"),
        "user": _user(), "releasetrain": {"store": store, "cache": cache},
    }
    with open(os.path.join(conf_dir, "master"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return conf_dir


def _user():
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _baseline(work, repos, shas, out, local=False):
    """The seed by hand: a fresh clone per repo, checkout of the SHA, one tar czf of the whole tree.

    By default the clone goes through git's transport (``--no-local``), as a clone from a server
    does and as the mirrors' fetches do; ``local`` lets git hardlink the source's objects instead.
    """
    tree = work  # emptied by the caller, outside the timing
    for repo, sha in zip(repos, shas):
        dest = os.path.join(tree, "states", os.path.basename(repo.path))
        subprocess.run(["git", "clone", "-q", *([] if local else ["--no-local"]), repo.path, dest], check=True,
                       capture_output=True)
        subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", sha], cwd=dest, check=True,
                       capture_output=True)
    subprocess.run(["tar", "czf", out, "--exclude=.git", "-C", tree, "."], check=True, capture_output=True)
    return os.path.getsize(out)


def _floor(repos, shas, out_dir):
    """``git archive <sha> | gzip`` per repo: the least work that turns the trees into a tar.gz."""
    total = 0
    for repo, sha in zip(repos, shas):
        out = os.path.join(out_dir, os.path.basename(repo.path) + ".tar.gz")
        with open(out, "wb") as handle:
            archive = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=repo.path,
                                       stdout=subprocess.PIPE)
            subprocess.run(["gzip", "-6", "-n"], stdin=archive.stdout, stdout=handle, check=True)
            archive.stdout.close()
            if archive.wait() != 0:
                raise RuntimeError(f"git archive failed in {repo.path}")
        total += os.path.getsize(out)
    return total


# -- the run --------------------------------------------------------------------------

def _phase_timer(module, times):
    """Time packaging's two phases on every API run: fetch (every repo's fetch and commit; the first
    archives start meanwhile) and write (the archives left, overlapped with tar + gzip; the store)."""
    for phase, name in (("fetch", "_fetch_all"), ("write", "_write")):
        original = getattr(module, name)

        def timed(*args, _original=original, _phase=phase, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times.setdefault(_phase, []).append(time.perf_counter() - start)

        setattr(module, name, timed)


def run(args):
    from releasetrain import config as rt_config
    from releasetrain.release import packaging
    from releasetrain.release.packaging import package

    base = tempfile.mkdtemp(prefix="rt-bench-package-")
    try:
        return _run(args, base, rt_config, package, packaging)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def _run(args, base, rt_config, package, packaging):
    newer = max(1, min(2, args.commits - 1))  # commits the warm cache does not have yet
    started = time.perf_counter()
    src_root = os.path.join(base, "src")
    repos = [SourceRepo(src_root, index, args.files) for index in range(args.repos)]
    for repo in repos:
        repo.commit(args.commits - newer)
    old_manifest = _manifest(os.path.join(base, "old.yml"), repos, [repo.shas[-1] for repo in repos])
    prepared_cache = os.path.join(base, "cache-prepared")
    prepare_store = _fresh(os.path.join(base, "store-prepare"))
    package(rt_config.load({"releasetrain": {"store": prepare_store, "cache": prepared_cache}}), old_manifest)
    for repo in repos:
        repo.commit(newer)
        _git(repo.path, "repack", "-a", "-d", "-q")  # as a git server keeps its repos
    manifest = _manifest(os.path.join(base, "manifest.yml"), repos, [repo.shas[-1] for repo in repos])
    shas = [repo.shas[-1] for repo in repos]
    generated = time.perf_counter() - started
    source_bytes = sum(os.path.getsize(os.path.join(dirpath, name))
                       for repo in repos for dirpath, dirs, names in os.walk(repo.path)
                       if ".git" not in dirpath.split(os.sep) for name in names)

    store, cache = os.path.join(base, "store"), os.path.join(base, "cache")
    config = rt_config.load({"releasetrain": {"store": store, "cache": cache}})
    conf_dir = _master_config(os.path.join(base, "master"), store, cache)
    scratch = _fresh(os.path.join(base, "scratch"))
    times = {kind: [] for kind in KINDS}
    cpu = {kind: [] for kind in KINDS}
    originals = packaging._fetch_all, packaging._write
    digests, sizes = set(), {}

    def cold():
        _fresh(store), shutil.rmtree(cache, ignore_errors=True)

    def warm():
        _fresh(store), shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(prepared_cache, cache, symlinks=True)

    def record(kind, seconds, digest=None):
        times[kind].append(seconds)
        cpu[kind].append(_LAST_CPU[0])
        if digest:
            digests.add(digest)

    phases, loads = {}, []
    for number in range(args.runs):
        print(f"run {number + 1}/{args.runs}", file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
        out, tree, floor_dir = (os.path.join(scratch, name) for name in ("baseline.tar.gz", "tree", "floor"))
        _fresh(tree), _fresh(floor_dir)
        seconds, sizes["baseline"] = _timed(lambda: _baseline(tree, repos, shas, out))
        record("baseline", seconds)
        _fresh(tree)
        record("baseline local", _timed(lambda: _baseline(tree, repos, shas, out, local=True))[0])
        seconds, sizes["floor"] = _timed(lambda: _floor(repos, shas, floor_dir))
        record("floor", seconds)
        cold()
        record("api cold", *_timed(lambda: _api(package, config, manifest, len(repos))))
        warm()
        _phase_timer(packaging, phases)
        try:
            record("api warm", *_timed(lambda: _api(package, config, manifest, len(repos))))
        finally:
            packaging._fetch_all, packaging._write = originals
        sizes["kit"] = sum(os.path.getsize(os.path.join(store, "releases", name))
                           for name in os.listdir(os.path.join(store, "releases")) if name.endswith(".tar.gz"))
        if not args.no_cli:
            cold()
            record("cli startup", _timed(lambda: _salt_run(conf_dir, "release.list"))[0])
            cold()
            seconds, result = _timed(lambda: _salt_run(conf_dir, "release.package", f"manifest={manifest}"))
            record("cli cold", seconds, result["sha256"])
            warm()
            seconds, result = _timed(lambda: _salt_run(conf_dir, "release.package", f"manifest={manifest}"))
            record("cli warm", seconds, result["sha256"])
    if len(digests) != 1:
        raise RuntimeError(f"the runs gave different tarballs: {sorted(digests)}")
    return {
        "times": {kind: values for kind, values in times.items() if values},
        "cpu": {kind: values for kind, values in cpu.items() if values},
        "sizes": sizes, "sha256": digests.pop(), "generated": generated, "source_bytes": source_bytes,
        "newer": newer, "phases": phases, "loads": loads,
    }


# -- the report ---------------------------------------------------------------------

def _workers():
    from releasetrain.release import packaging

    return packaging.PARALLEL_REPOS


def _loads(loads):
    return f"{min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})"


def _git_version():
    return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()


def summarise(args, result):
    med = {kind: statistics.median(values) for kind, values in result["times"].items()}
    ratios = {
        "baseline / api warm": med["baseline"] / med["api warm"],
        "api warm / floor": med["api warm"] / med["floor"],
        "baseline / api cold": med["baseline"] / med["api cold"],
        "api cold / floor": med["api cold"] / med["floor"],
    }
    if "cli warm" in med:
        ratios["baseline / cli warm"] = med["baseline"] / med["cli warm"]
        ratios["cli warm / floor"] = med["cli warm"] / med["floor"]
    targets = {
        "warm at least 5x faster than the baseline": ratios["baseline / api warm"] >= 5,
        "warm within 1.5x of the floor": ratios["api warm / floor"] <= 1.5,
    }
    return med, ratios, targets


def report(args, result):
    med, ratios, targets = summarise(args, result)
    times = result["times"]
    lines = [
        "# Benchmark: `release.package`",
        "",
        f"Generated by `bench/package.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine and parameters",
        "",
        f"- {platform.platform()}, nproc {os.cpu_count()}, Python {platform.python_version()}, {_git_version()}",
        f"- the machine was **shared**: {args.shared}; 1-minute load average at the start of each run "
        f"{_loads(result['loads'])}, so single timings are noisy and every number is slower than on a quiet "
        "machine; compare medians and the ratios, which come from the same interleaved runs",
        f"- {args.repos} repos x {args.files} files (1-4 KB SLS/YAML/Jinja/Markdown text, ~3% executables, "
        f"nested folders), {args.commits} commits each; each later commit edits ~3% of the files and adds one",
        f"- source trees: {result['source_bytes'] / 1e6:.1f} MB; warm cache is {result['newer']} commit(s) "
        f"behind in every repo; {args.runs} runs, interleaved; repo generation took {result['generated']:.1f} s",
        "- repos are local paths, so no network time is in any number: the mirrors fetch through git's "
        "transport over a local pipe, and so does the baseline's `git clone --no-local` (what a clone from a "
        "server does); `baseline local` shows the plain local clone, which skips the transfer by hardlinking "
        "the source's objects, a shortcut no remote clone has; the floor reads the "
        "source repos, which hold every commit, and fetches nothing",
        f"- all kits built (API and CLI, cold and warm) have the same sha256 `{result['sha256'][:16]}...`",
        f"- sizes: kit {result['sizes']['kit'] / 1e6:.2f} MB, baseline tar.gz "
        f"{result['sizes']['baseline'] / 1e6:.2f} MB, floor (sum of per-repo tar.gz) "
        f"{result['sizes']['floor'] / 1e6:.2f} MB",
        "",
        "## Timings (seconds)",
        "",
        "| measurement | median | min | max | CPU | what |",
        "|---|---:|---:|---:|---:|---|",
    ]
    what = {
        "api cold": "`packaging.package(config, manifest)`, empty cache and store",
        "api warm": "`packaging.package`, fresh store, cache at older commits (each repo fetches)",
        "cli cold": "`salt-run release.package`, empty cache and store",
        "cli warm": "`salt-run release.package`, cache at older commits",
        "cli startup": "`salt-run release.list` on an empty store (salt-run's own cost)",
        "baseline": "seed by hand: `git clone --no-local` + `git checkout <sha>` per repo, one `tar czf` of the tree",
        "baseline local": "the same with a plain local `git clone` (hardlinks the source's objects: no transfer)",
        "floor": "`git archive <sha> \\| gzip` per repo",
    }
    for kind in KINDS:
        if kind in times:
            values = times[kind]
            cpu = statistics.median(result["cpu"][kind])
            lines.append(f"| {kind} | {med[kind]:.3f} | {min(values):.3f} | {max(values):.3f} | {cpu:.3f} | {what[kind]} |")
    lines += ["", "CPU: median CPU seconds (user + sys) of the measured process and every process it "
                  "started (git, gzip, tar, salt-run), whatever the wall time; on 2 cores a run cannot take less "
                  "wall time than half its CPU time.", ""]
    lines += ["## Ratios (of medians)", "", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in ratios.items()]
    if "cli warm" in med:
        lines += ["", f"salt-run's own cost (cli warm - api warm): {med['cli warm'] - med['api warm']:.2f} s; "
                      f"`salt-run release.list` alone: {med['cli startup']:.2f} s."]
    phases = {name: statistics.median(values) for name, values in result["phases"].items()}
    if phases:
        lines += ["", f"Where `api warm` spends its time (medians): fetch phase ({_workers()} threads: every "
                      f"repo's mirror fetch and commit read, which the kit's mtime needs; the first `git archive` "
                      f"runs start meanwhile) {phases['fetch']:.3f} s; write phase (the `git archive` runs left, "
                      f"overlapped with writing the tar, which gzip level 6 compresses in 256 KiB blocks on every core; "
                      f"then the file, fsync, store) "
                      f"{phases['write']:.3f} s."]
    cpu = {kind: statistics.median(values) for kind, values in result["cpu"].items()}
    if "api warm" in cpu and "floor" in cpu:
        best = cpu["api warm"] / (os.cpu_count() or 1)
        lines += ["", f"CPU against wall time: `api warm` used {cpu['api warm']:.3f} CPU seconds, the floor "
                      f"{cpu['floor']:.3f} ({cpu['api warm'] / cpu['floor']:.2f}x; the floor fetches nothing). With "
                      f"the machine's {os.cpu_count()} cores to itself, `api warm` could at best take {best:.3f} s "
                      f"({best / med['floor']:.2f}x the floor's median); it took {med['api warm']:.3f} s."]
    lines += ["", "## Targets (issue 2, on the API medians)", ""]
    lines += [f"- {name}: **{'met' if ok else 'NOT met'}**" for name, ok in targets.items()]
    lines.append("")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    summary = [f"{kind:12s} median {med[kind]:7.3f} s" for kind in KINDS if kind in med]
    summary += [f"{name}: {value:.2f}" for name, value in ratios.items()]
    summary += [f"{name}: {'met' if ok else 'NOT met'}" for name, ok in targets.items()]
    summary.append(f"results: {args.out}")
    print("\n".join(summary))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--commits", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--no-cli", action="store_true", help="skip the salt-run measurements")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--shared", default="other work ran on the same cores during the run",
                        help="what else ran on the machine, for the results file")
    args = parser.parse_args(argv)
    if args.commits < 2 or args.repos < 1 or args.files < 1 or args.runs < 1:
        parser.error("needs --commits >= 2 and --repos, --files, --runs >= 1")
    report(args, run(args))


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
