"""A kit is the tree at the SHA byte for byte, whatever the repo's .gitattributes and the machine's git config."""

import os
import shutil
import tarfile

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.release import packaging
from releasetrain.release.mirror import mirror_path
from tests.support.gitrepos import commit, write_manifest

FILES = {
    ".gitattributes": "version.txt export-subst\nci/* export-ignore\n*.bat text eol=crlf\nid.txt ident\n"
                      "*.bin filter=nosuchdriver\n",
    "version.txt": "refs: $Format:%d$ commit: $Format:%H$\n",
    "ci/job.yml": "ignored: by git archive\n",
    "run.bat": "line one\nline two\n",
    "id.txt": "$Id$\n",
    "data.bin": "raw\n",
}
SCRIPT = {"run.sh": ("exec", "#!/bin/sh\n")}


@pytest.fixture
def source(rt_paths):
    path = str(rt_paths["work"] / "attrs")
    sha = commit(path, {**FILES, **SCRIPT}, "attributes")
    manifest = write_manifest(rt_paths["work"] / "m.yml", [{"name": "attrs", "url": path, "sha": sha, "path": "a"}],
                              release="attrs")
    return path, sha, manifest


def package_in(base, manifest):
    config = rt_config.load({"releasetrain": {"store": str(base / "store"), "cache": str(base / "cache")}})
    result = packaging.package(config, manifest)
    with open(result["tarball"], "rb") as handle:
        return result, handle.read()


def test_two_caches_fetched_at_different_times_give_the_same_bytes_and_the_tree_as_committed(tmp_path, source):
    path, sha, manifest = source
    first, first_bytes = package_in(tmp_path / "one", manifest)  # the mirror knows only the branch
    repo = git.Repo(path)
    repo.create_tag("v1.0", sha)
    repo.create_head("stable", sha)
    commit(path, {"later.txt": "later\n"}, "later commit")  # the branch moves on: %d differs too
    second, second_bytes = package_in(tmp_path / "two", manifest)
    assert first_bytes == second_bytes and first["sha256"] == second["sha256"]
    with tarfile.open(second["tarball"]) as kit:
        for name, text in FILES.items():
            assert kit.extractfile(f"a/{name}").read() == text.encode(), name
        assert kit.getmember("a/run.sh").mode == 0o755


def test_a_mirror_made_before_attributes_were_pinned_still_gives_the_tree(tmp_path, source):
    path, sha, manifest = source
    first, first_bytes = package_in(tmp_path, manifest)
    mirror = mirror_path(str(tmp_path / "cache"), path)
    os.unlink(os.path.join(mirror, "info", "attributes"))
    git.Repo(path).create_tag("v2.0", sha)
    git.Repo(mirror).git.fetch(path, "+refs/tags/*:refs/tags/*")
    shutil.rmtree(tmp_path / "store")  # the same cache, a fresh store
    again, again_bytes = package_in(tmp_path, manifest)
    assert again_bytes == first_bytes


def test_the_users_git_config_does_not_change_the_kit(tmp_path, source, monkeypatch):
    _, _, manifest = source
    _, plain = package_in(tmp_path / "plain", manifest)
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".gitconfig").write_text("[core]\n\tautocrlf = true\n\teol = crlf\n[tar]\n\tumask = 0777\n")
    (home / ".config" / "git" / "attributes").write_text("* text eol=crlf\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    _, configured = package_in(tmp_path / "configured", manifest)
    assert configured == plain
