"""The cache keeps only mirrors that hold something: a failed first fetch leaves nothing behind."""

import os
import shutil

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.release import packaging
from releasetrain.errors import ManifestError
from releasetrain.release.mirror import mirror_path
from tests.support.gitrepos import commit, snapshot, write_manifest


@pytest.fixture
def config(rt_paths):
    return rt_config.load({"releasetrain": {"store": str(rt_paths["store"]), "cache": str(rt_paths["cache"])}})


def mirrors(config):
    folder = os.path.join(config.cache, "mirrors")
    return sorted(name for name in os.listdir(folder) if name.endswith(".git")) if os.path.isdir(folder) else []


def kept_files(cache):
    """The cache's files and sizes, but FETCH_HEAD (git empties it at the start of any fetch, even a failed one)."""
    return {path: size for path, size in snapshot(cache).items() if os.path.basename(path) != "FETCH_HEAD"}


def package(config, rt_paths, repos, name="m"):
    return packaging.package(config, write_manifest(rt_paths["work"] / f"{name}.yml", repos, release=name))


def test_unreachable_urls_leave_no_mirror(config, rt_paths):
    repos = [{"name": f"r{index}", "url": f"file:///nonexistent/releasetrain/r{index}.git", "sha": "1" * 40,
              "path": f"r{index}"} for index in range(12)]
    with pytest.raises(ManifestError, match="repo 'r0': cannot fetch"):
        package(config, rt_paths, repos)
    assert mirrors(config) == []


def test_an_empty_repo_and_an_empty_mirror_left_by_an_older_run_are_removed(config, rt_paths):
    empty = str(rt_paths["work"] / "empty")
    git.Repo.init(empty)
    gone = "file:///nonexistent/releasetrain/gone.git"
    git.Repo.init(mirror_path(config.cache, gone), bare=True, mkdir=True)  # what a failed fetch used to leave
    repos = [{"name": "empty", "url": empty, "sha": "1" * 40, "path": "e"},
             {"name": "gone", "url": gone, "sha": "2" * 40, "path": "g"}]
    with pytest.raises(ManifestError, match="repo 'empty': sha 1111"):
        package(config, rt_paths, repos)
    assert mirrors(config) == []


def test_a_mirror_that_holds_objects_stays_when_its_url_goes_away(config, rt_paths):
    source = str(rt_paths["work"] / "source")
    first = commit(source, {"a.sls": "a: 1\n"}, "first")
    package(config, rt_paths, [{"name": "s", "url": source, "sha": first, "path": "s"}], name="ok")
    kept = kept_files(config.cache)
    second = commit(source, {"a.sls": "a: 2\n"}, "second", timestamp=1_700_000_100)
    shutil.move(source, str(rt_paths["work"] / "moved"))
    with pytest.raises(ManifestError, match="repo 's': cannot fetch"):
        package(config, rt_paths, [{"name": "s", "url": source, "sha": second, "path": "s"}], name="later")
    assert kept_files(config.cache) == kept
    again = package(config, rt_paths, [{"name": "s", "url": source, "sha": first, "path": "s"}], name="again")
    assert again["created"]  # the mirror still serves what it had
