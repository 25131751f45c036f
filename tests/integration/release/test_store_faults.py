"""The store under SIGKILL and concurrent runs, through real salt-run processes."""

import os
import random
import signal
import subprocess
import sys
import tarfile
import time

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.release import packaging
from tests.support.gitrepos import commit, write_manifest

SALT_RUN = os.path.join(os.path.dirname(sys.executable), "salt-run")
FILES = 3000


@pytest.fixture
def master(make_master):
    """Keeps one tree per environment: every publish that switches also collects the tree before it."""
    return make_master(releasetrain={"keep_trees": 1})


def big_repo(repo, files):
    """Commit ``files`` in one ``git add`` (one git process per file takes most of a minute)."""
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(repo, path)), exist_ok=True)
        with open(os.path.join(repo, path), "w", encoding="utf-8") as handle:
            handle.write(text)
    git.Repo.init(repo).git.add("--all")
    return commit(repo, {}, "big r1")


def expected_content(release, index):
    return "changed: {}\n" if (release, index) == ("r2", 0) else f"id-{index}:\n  test.nop: []\n"


@pytest.fixture
def big_releases(master, rt_paths):
    """Two releases of a repo with thousands of files, so unpacking takes a while."""
    repo = str(rt_paths["work"] / "big")
    first = big_repo(repo, {f"states/mod{i // 100:02d}/file{i:04d}.sls": expected_content("r1", i) for i in range(FILES)})
    second = commit(repo, {"states/mod00/file0000.sls": expected_content("r2", 0)}, "big r2")
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


def assert_serves_whole(config, release, env="test"):
    """Every file of ``release``'s tree is there with its content, and nothing else."""
    tree = config.env_tree(env)
    found = sorted(os.path.relpath(os.path.join(root, name), tree) for root, _, files in os.walk(tree) for name in files)
    assert len(found) == FILES + 1, f"{env} serves {len(found)} files, not {FILES + 1}"
    for index in range(FILES):
        with open(os.path.join(tree, f"states/mod{index // 100:02d}/file{index:04d}.sls"), encoding="utf-8") as handle:
            assert handle.read() == expected_content(release, index), f"file{index:04d} is not {release}'s"


def wait_for_collection(store, pid, timeout=60):
    """The tree the publisher with ``pid`` is collecting, once it is out of its name; None if it finished first."""
    trees = os.path.join(store, "trees", "test")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        aside = [name for name in os.listdir(trees) if name.startswith(".trash-") and name.endswith(f"-{pid}")]
        if aside:
            return os.path.join(trees, aside[0])
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return None
        time.sleep(0.001)
    raise AssertionError("the publish never started collecting")


def kill_while_collecting(master, store, release, delay=0.0):
    """Publish ``release`` and SIGKILL it while it deletes the tree it replaced; True if the kill landed there."""
    process = salt_run_process(master, "release.publish", release, "env=test")
    aside = wait_for_collection(store, process.pid)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return aside is not None and os.path.isdir(aside)


def salt_run_ok(master, *args):
    done = subprocess.run([SALT_RUN, "-c", master.config_dir, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    return done


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
    from releasetrain.release.store import Store
    assert Store(config).status()["environments"]["test"]["release"] == "r2"
    assert_serves_whole(config, "r2")

    # Killed at random moments while deleting the tree it replaced (keep_trees is 1); then that
    # release is published again or rolled back to: what is served is always the whole tree.
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    landed = 0
    served = "r2"
    for _ in range(3):
        target, collected = ("r1", "r2") if served == "r2" else ("r2", "r1")
        landed += kill_while_collecting(master, str(rt_paths["store"]), target, delay=rng.uniform(0, 0.02))
        assert_serves_whole(config, target)  # the switch comes before the collection
        back = rng.choice([("release.publish", collected, "env=test"), ("release.rollback", "env=test")])
        salt_run_ok(master, *back)
        assert_serves_whole(config, collected)
        served = collected
    assert landed, f"no kill landed while a tree was being deleted (seed {seed})"


def test_a_publish_killed_while_collecting_leaves_no_tree_to_reuse(master, big_releases, rt_paths):
    """Trees are deleted in place no more: a kill there once left a partial tree that the next publish served."""
    config = big_releases
    salt_run_ok(master, "release.publish", "r1", "env=test")
    for _ in range(3):
        if kill_while_collecting(master, str(rt_paths["store"]), "r2"):
            break
        salt_run_ok(master, "release.publish", "r1", "env=test")  # the collection finished first: again
    else:
        pytest.fail("no kill landed while r1's tree was being deleted")
    assert_serves_whole(config, "r2")
    assert not os.path.exists(rt_paths["store"] / "trees" / "test" / "r1")
    salt_run_ok(master, "release.publish", "r1", "env=test")
    assert_serves_whole(config, "r1")
    assert [name for name in os.listdir(rt_paths["store"] / "trees" / "test") if name.startswith(".")] == []


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
    from releasetrain.release.store import Store, sha256_file
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
    from releasetrain.release.store import Store
    publishes = [r for r in Store(config).history("test") if r["action"] == "publish"]
    assert sorted(r["release"] for r in publishes) == ["r1", "r2"]
    assert publishes[-1]["release"] == release
