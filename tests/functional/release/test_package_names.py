"""Names a publish could not create are refused when packaging, naming the repo and the path."""

import os
import tarfile

import git
import pytest

from releasetrain import config as rt_config
from releasetrain.release import packaging
from releasetrain.errors import ManifestError
from releasetrain.release.kit import NAME_MAX, PATH_MAX
from tests.support.gitrepos import commit, snapshot, write_manifest


@pytest.fixture
def config(rt_paths):
    return rt_config.load({"releasetrain": {"store": str(rt_paths["store"]), "cache": str(rt_paths["cache"])}})


def commit_entries(repo_dir, entries):
    """Commit tree entries {path: (mode, content)} with git's plumbing: no file system has to hold them."""
    commit(repo_dir, {"init.sls": "x: 1\n"}, "base")
    repo = git.Repo(repo_dir)
    for path, (mode, content) in entries.items():
        blob = repo.git.hash_object("-w", "--stdin", istream=_stdin(repo_dir, content))
        repo.git.update_index("--add", "--cacheinfo", f"{mode},{blob},{path}")
    repo.git.commit("-m", "long names")
    return repo.head.commit.hexsha


def _stdin(folder, content):
    path = os.path.join(folder, "..", "blob.tmp")
    with open(path, "wb") as handle:
        handle.write(content)
    return open(path, "rb")


def package(config, rt_paths, entries, path="states/x"):
    repo = str(rt_paths["work"] / "names")
    sha = commit_entries(repo, entries)
    manifest = write_manifest(rt_paths["work"] / "n.yml", [{"name": "names", "url": repo, "sha": sha, "path": path}],
                              release="names")
    return packaging.package(config, manifest)


DEEP = "/".join(["d" * 250] * 17) + "/f.sls"  # every name fits; the path does not (4281 bytes in the kit)

CASES = {
    "a name of 256 bytes": ({"n" * 252 + ".sls": ("100644", b"x\n")}, f"a name in it has 256 bytes, more than the {NAME_MAX}"),
    "a name of 256 bytes in UTF-8": ({"é" * 128: ("100644", b"x\n")}, "a name in it has 256 bytes"),
    "a folder name of 300 bytes": ({"d" * 300 + "/f.sls": ("100644", b"x\n")}, "a name in it has 300 bytes"),
    "a path longer than PATH_MAX": ({DEEP: ("100644", b"x\n")}, "the path has 4281 bytes, more than the"),
    "a symlink target of PATH_MAX": ({"link": ("120000", b"t/" * (PATH_MAX // 2))},
                                     f"symlink states/x/link: its target has {PATH_MAX} bytes"),
    # what publish refuses in a kit's listing is refused here first
    "a newline in a name": ({"a\nb.sls": ("100644", b"x\n")}, "control characters or bytes that are not UTF-8"),
    "an escape in a folder name": ({"d\x1b[2J/f.sls": ("100644", b"x\n")}, "control characters"),
    "DEL in a name": ({"a\x7f.sls": ("100644", b"x\n")}, "control characters"),
    "bytes that are not UTF-8": ({b"caf\xe9.sls".decode("utf-8", "surrogateescape"): ("100644", b"x\n")},
                                 "not UTF-8"),
    "a control character in a symlink target": ({"link": ("120000", b"a\tb")}, "control characters"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_names_publish_could_not_create_are_refused_in_one_line(config, rt_paths, case):
    entries, problem = CASES[case]
    before = snapshot(rt_paths["store"])
    with pytest.raises(ManifestError) as error:
        package(config, rt_paths, entries)
    message = str(error.value)
    assert message.startswith("n.yml: repo 'names': states/x/") or message.startswith("n.yml: repo 'names': symlink")
    assert problem in message and "\n" not in message and len(message) < 400
    assert snapshot(rt_paths["store"]) == before


def test_the_longest_names_that_fit_package_and_unpack(config, rt_paths, tmp_path):
    longest = "n" * NAME_MAX
    room = packaging.path_room(config, "names")
    fitting = "/".join(["d" * 200] * ((room - 300) // 201)) + "/" + longest
    result = package(config, rt_paths, {longest: ("100644", b"x\n"), fitting: ("100644", b"y\n"),
                                        "link": ("120000", b"t/" * 1000)})
    with tarfile.open(result["tarball"]) as kit:
        names = kit.getnames()
        kit.extractall(tmp_path / "out", filter="data")
    assert "states/x/" + longest in names and "states/x/" + fitting in names
    assert len(os.readlink(tmp_path / "out/states/x/link")) == 2000


def test_the_room_for_a_path_is_what_the_store_leaves(config):
    room = packaging.path_room(config, "2026.11.0")
    longest_env = max(config.all_environments, key=len)
    deepest = os.path.join(config.store, "trees", longest_env, ".tmp-2026.11.0-")
    assert room < PATH_MAX - 1 - len(deepest.encode())
    assert room > PATH_MAX - 1 - len(deepest.encode()) - 64


@pytest.mark.parametrize("path", ["states/x", "."])
def test_a_file_named_like_gits_global_header_is_packaged(config, rt_paths, path):
    """git archive's own pax global header is a record, not a file; a real file by its name is a file."""
    result = package(config, rt_paths, {"pax_global_header": ("100644", b"mine\n")}, path=path)
    name = "pax_global_header" if path == "." else f"{path}/pax_global_header"
    with tarfile.open(result["tarball"]) as kit:
        assert kit.extractfile(name).read() == b"mine\n"
