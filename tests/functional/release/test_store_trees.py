"""A tree is reused only when it is complete; one a killed run left behind is never served."""

import os
import subprocess
import tarfile

import pytest

from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)


def kit_files(store, release):
    """{path: bytes} of every regular file in a release's kit."""
    with tarfile.open(store.tarball_path(release)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isreg()}


def tree_files(folder):
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, folder)] = handle.read()
    return found


def assert_serves_whole(store, config, release):  # noqa: F811
    assert store.current("test") == release
    assert tree_files(config.env_tree("test")) == kit_files(store, release)


def half_delete(tree):
    """What an in-place rmtree killed half-way leaves: some files gone, the folder still named."""
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(tree) for name in names)
    for path in files[: len(files) // 2]:
        os.unlink(path)


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def store(two_releases):  # noqa: F811
    """r1 then r2 published to test: both trees are there and complete."""
    two_releases.publish("r1", "test", by="a")
    two_releases.publish("r2", "test", by="a")
    return two_releases


@pytest.mark.parametrize("again", ["publish", "rollback"])
def test_a_half_deleted_tree_without_its_marker_is_unpacked_again(config, store, rt_paths, again):  # noqa: F811
    tree = rt_paths["store"] / "trees" / "test" / "r1"
    half_delete(tree)
    os.unlink(rt_paths["store"] / "complete" / "test" / "r1")
    store.publish("r1", "test", by="a") if again == "publish" else store.rollback("test", by="a")
    assert_serves_whole(store, config, "r1")


def test_a_marker_for_other_kit_bytes_is_not_trusted(config, store, rt_paths):  # noqa: F811
    half_delete(rt_paths["store"] / "trees" / "test" / "r1")
    with open(rt_paths["store"] / "complete" / "test" / "r1", "w") as handle:
        handle.write(store.show("r2")["sha256"][:40])  # another kit's, or a marker cut short by a kill
    store.publish("r1", "test", by="a")
    assert_serves_whole(store, config, "r1")


def test_the_served_tree_when_incomplete_is_replaced_in_place(config, store, rt_paths):  # noqa: F811
    """A tree from before completion markers may be the served one: publishing it again completes it."""
    served = rt_paths["store"] / "trees" / "test" / "r2"
    half_delete(served)
    os.unlink(rt_paths["store"] / "complete" / "test" / "r2")
    store.publish("r2", "test", by="a")
    assert_serves_whole(store, config, "r2")
    assert [n for n in os.listdir(served.parent) if n.startswith(".")] == []


def test_a_complete_tree_is_reused_as_it_is(config, store, rt_paths):  # noqa: F811
    tree = rt_paths["store"] / "trees" / "test" / "r1"
    inode = os.stat(tree).st_ino
    store.publish("r1", "test", by="a")
    assert os.stat(tree).st_ino == inode
    assert_serves_whole(store, config, "r1")


def test_a_collected_tree_is_renamed_aside_first_and_leftovers_are_never_served(config, store, rt_paths):  # noqa: F811
    trees = rt_paths["store"] / "trees" / "test"
    leftover = trees / f".trash-r1-{dead_pid()}"  # what a kill during collection leaves
    os.rename(trees / "r1", leftover)
    half_delete(leftover)
    store.publish("r1", "test", by="a")
    assert_serves_whole(store, config, "r1")
    assert not leftover.exists()


def test_collection_unmarks_and_removes_a_tree(config, two_releases, rt_paths):  # noqa: F811
    import dataclasses
    store = two_releases
    store.config = dataclasses.replace(config, keep_trees=1)
    store.publish("r1", "test", by="a")
    store.publish("r2", "test", by="a")
    assert sorted(os.listdir(rt_paths["store"] / "trees" / "test")) == ["r2"]
    assert sorted(os.listdir(rt_paths["store"] / "complete" / "test")) == ["r2"]
    assert store.rollback("test", by="a")["release"] == "r1"
    assert_serves_whole(store, config, "r1")
