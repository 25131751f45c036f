"""Symlinks in a kit are judged with every other link of the kit, through real repos and the real packaging."""

import os
import tarfile

import pytest

from releasetrain import config as rt_config
from releasetrain.release import packaging
from releasetrain.errors import ManifestError
from tests.support.gitrepos import commit, snapshot, write_manifest


@pytest.fixture
def config(rt_paths):
    return rt_config.load({"releasetrain": {"store": str(rt_paths["store"]), "cache": str(rt_paths["cache"])}})


def package_tree(config, rt_paths, files, path="states/x", name="x", others=()):
    """Commit ``files`` (see gitrepos.commit) to a fresh repo, pin it at ``path`` and package it."""
    repo = str(rt_paths["work"] / name)
    sha = commit(repo, {"init.sls": "x: 1\n", **files}, "tree")
    repos = [{"name": name, "url": repo, "sha": sha, "path": path}, *others]
    return packaging.package(config, write_manifest(rt_paths["work"] / f"{name}.yml", repos, release=name))


def symlinks(files):
    return {path: ("symlink", target) for path, target in files.items()}


# Each link alone looks harmless as text (or its trouble is only visible through the others). A link that
# gets out of the kit altogether is said to; one that only leaves its repo's folder names that folder.
ESCAPES = {
    "chain through a later link": ({"a/up": "..", "a/esc": "up/../.."}, "a/esc", "points outside states/x"),
    "chain through an earlier link": ({"a/up": "..", "b/esc": "../a/up/../.."}, "b/esc", "points outside states/x"),
    "link to a link that climbs": ({"a/b/hop": "../..", "a/b/out": "hop/..", "top": "a/b/out"}, "a/b/out",
                                   "points outside states/x"),
    "towards the master's /etc": ({"a/b/c/up3": "../../..", "z": "a/b/c/up3/../../../../../etc/salt"}, "z",
                                  "points outside the kit"),
    "into another repo of the kit": ({"to-pillar": "../../pillar/top.sls"}, "to-pillar", "points outside states/x"),
    "loop of two": ({"loop1": "loop2", "loop2": "loop1"}, "loop1", "(a loop)"),
    "loop of one": ({"self": "self/init.sls"}, "self", "(a loop)"),
    "absolute": ({"abs": "/etc/passwd"}, "abs", "absolute target"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_link_that_leaves_its_repo_by_any_route_is_refused_and_nothing_is_stored(config, rt_paths, case):
    files, bad, problem = ESCAPES[case]
    pillar = str(rt_paths["work"] / "pillar")
    others = [{"name": "pillar", "url": pillar, "sha": commit(pillar, {"top.sls": "base: {}\n"}, "p"), "path": "pillar"}]
    before = snapshot(rt_paths["store"])
    with pytest.raises(ManifestError) as error:
        package_tree(config, rt_paths, symlinks(files), others=others)
    message = str(error.value)
    assert message.startswith("x.yml: repo 'x': ") and "\n" not in message
    assert f"symlink states/x/{bad} -> {files[bad]}" in message and problem in message
    assert snapshot(rt_paths["store"]) == before


def test_safe_links_through_links_package_and_stay_inside_once_extracted(config, rt_paths, tmp_path):
    files = symlinks({"a/up": "..", "a/ok": "up/init.sls", "a/b/hop": "../..", "a/b/also": "hop/a/ok",
                      "here": ".", "twice": "here/here/init.sls"})
    result = package_tree(config, rt_paths, files)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(result["tarball"]) as archive:
        assert archive.getmember("states/x/a/b/also").linkname == "hop/a/ok"
        archive.extractall(unpacked, filter="data")
    root = os.path.realpath(unpacked / "states/x")
    for link in ("a/ok", "a/b/also", "twice"):
        resolved = os.path.realpath(unpacked / "states/x" / link)
        assert resolved == os.path.join(root, "init.sls")
