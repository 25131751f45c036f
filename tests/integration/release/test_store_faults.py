"""The store under SIGKILL and concurrent runs, through real salt-run processes."""

import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest

from releasetrain import config as rt_config, packaging
from tests.support.gitrepos import commit, write_manifest

SALT_RUN = os.path.join(os.path.dirname(sys.executable), "salt-run")
FILES = 3000


@pytest.fixture
def big_releases(master, rt_paths):
    """Two releases of a repo with thousands of files, so unpacking takes a while."""
    repo = str(rt_paths["work"] / "big")
    files = {f"states/mod{i // 100:02d}/file{i:04d}.sls": f"id-{i}:\n  test.nop: []\n" for i in range(FILES)}
    first = commit(repo, files, "big r1")
    second = commit(repo, {"states/mod00/file0000.sls": "changed: {}\n"}, "big r2")
    config = rt_config.load(master.config)
    for release, sha in (("r1", first), ("r2", second)):
        packaging.package(config, write_manifest(rt_paths["work"] / f"{release}.yml",
                                                 [{"name": "big", "url": repo, "sha": sha, "path": "."}], release=release))
    return config


def salt_run_process(master, *args):
    return subprocess.Popen([SALT_RUN, "-c", master.config_dir, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def serving(config, env="test"):
    """(release, number of files) the environment's tree serves, checking the tree is whole."""
    tree = config.env_tree(env)
    count = sum(len(files) for _, _, files in os.walk(tree))
    with open(os.path.join(tree, "states/mod00/file0000.sls")) as handle:
        release = "r2" if "changed" in handle.read() else "r1"
    return release, count


def wait_for_unpacking(store, pid, timeout=60):
    """Wait until the publisher with ``pid`` has unpacked part of its tree."""
    deadline = time.monotonic() + timeout
    tmp = os.path.join(store, "trees", "test", f".tmp-r2-{pid}")
    while time.monotonic() < deadline:
        if os.path.isdir(tmp) and sum(len(f) for _, _, f in os.walk(tmp)) > 100:
            return tmp
        time.sleep(0.01)
    raise AssertionError("the publish never started unpacking")


def test_sigkill_during_publish_leaves_the_previous_release_served(master, big_releases, rt_paths):
    config = big_releases
    assert subprocess.run([SALT_RUN, "-c", master.config_dir, "release.publish", "r1", "env=test"],
                          capture_output=True, check=False).returncode == 0
    assert serving(config) == ("r1", FILES + 1)

    # Killed in the middle of unpacking: a partial tree exists, yet test serves r1 whole.
    process = salt_run_process(master, "release.publish", "r2", "env=test")
    partial = wait_for_unpacking(str(rt_paths["store"]), process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert os.path.isdir(partial), "the kill did not land mid-publish"
    assert serving(config) == ("r1", FILES + 1)

    # Killed at a spread of moments: whatever is served is a whole tree.
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        process = salt_run_process(master, "release.publish", "r2", "env=test")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        release, count = serving(config)
        assert count == FILES + 1, f"{release} tree has {count} files after a kill at {delay}s"

    # A later publish completes, cleans the leftovers, and the history is consistent.
    done = subprocess.run([SALT_RUN, "-c", master.config_dir, "--out=json", "release.publish", "r2", "env=test"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert serving(config) == ("r2", FILES + 1)
    leftovers = [name for name in os.listdir(rt_paths["store"] / "trees" / "test") if name.startswith(".tmp-")]
    assert leftovers == []
    from releasetrain.store import Store
    assert Store(config).status()["environments"]["test"]["release"] == "r2"


def test_concurrent_packaging_never_corrupts_the_store(master, formula_repos, rt_paths):
    shas = formula_repos["shas"]["formula"]
    manifests = [write_manifest(rt_paths["work"] / f"c{i}.yml",
                                [{"name": "f", "url": formula_repos["formula"], "sha": shas[i % 2], "path": "f"}],
                                release=f"c{i}") for i in range(3)]
    same = write_manifest(rt_paths["work"] / "c0-again.yml",
                          [{"name": "f", "url": formula_repos["formula"], "sha": shas[0], "path": "f"}], release="c0")
    processes = [salt_run_process(master, "--out=json", "release.package", f"manifest={m}") for m in manifests + [same]]
    results = [(p.wait(timeout=180), p.stdout.read()) for p in processes]
    assert all(code == 0 for code, _ in results), results
    config = rt_config.load(master.config)
    from releasetrain.store import Store, sha256_file
    store = Store(config)
    assert sorted(store.list_ids()) == ["c0", "c1", "c2"]
    for release in store.list_ids():
        meta = store.show(release)
        assert sha256_file(store.tarball_path(release)) == meta["sha256"]
        with tarfile.open(store.tarball_path(release)) as archive:
            assert "f/openstack/keystone.sls" in archive.getnames()
    assert [n for n in os.listdir(rt_paths["store"] / "releases") if n.startswith(".tmp-")] == []


def test_two_publishes_to_one_environment_are_serialised(master, big_releases, rt_paths):
    config = big_releases
    processes = [salt_run_process(master, "release.publish", release, "env=test") for release in ("r1", "r2")]
    assert [p.wait(timeout=180) for p in processes] == [0, 0]
    release, count = serving(config)
    assert count == FILES + 1
    from releasetrain.store import Store
    publishes = [r for r in Store(config).history("test") if r["action"] == "publish"]
    assert sorted(r["release"] for r in publishes) == ["r1", "r2"]
    assert publishes[-1]["release"] == release
