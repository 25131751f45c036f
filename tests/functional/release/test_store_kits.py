"""Hand-made and tampered kits: publish reads the whole listing first and refuses in one line, leaving nothing."""

import gzip
import io
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from releasetrain.errors import StoreError
from releasetrain.release.store import sha256_file
from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.support.gitrepos import snapshot

SALT_RUN = os.path.join(os.path.dirname(sys.executable), "salt-run")
REPOS = [{"name": "f", "url": "file:///f", "sha": "1" * 40, "path": "f"},
         {"name": "g", "url": "file:///g", "sha": "2" * 40, "path": "g"}]


def member(name, kind=tarfile.REGTYPE, data=b"x: 1\n", target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.linkname = target
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else b"")


def folder(name):
    return member(name, tarfile.DIRTYPE)


def link(name, target):
    return member(name, tarfile.SYMTYPE, target=target)


def tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def hand_made_release(store, release, kit, repos=REPOS):
    """Put ``kit`` (the bytes of a .tar.gz) into the store as ``release``, with a release.yml that matches it."""
    os.makedirs(store.releases_dir, exist_ok=True)
    tarball = store.tarball_path(release)
    with open(tarball, "wb") as handle:
        handle.write(kit)
    metadata = {"release": release, "tarball": os.path.basename(tarball), "sha256": sha256_file(tarball), "repos": repos}
    with open(store.release_yml_path(release), "w", encoding="utf-8") as handle:
        yaml.safe_dump(metadata, handle, sort_keys=False)


HOSTILE_LISTINGS = {
    # tarfile's data filter lets this through: esc is judged before up exists, then up makes it leave the tree
    "a chain out of the kit": ([folder("a"), link("a/esc", "up/../.."), link("a/up", "..")],
                               "a/esc", "symlink -> up/../.. points outside the kit"),
    "a chain out of its repo": ([folder("f"), folder("f/a"), link("f/a/esc", "up/.."), link("f/a/up", "..")],
                                "f/a/esc", "symlink -> up/.. points outside f"),
    "into another repo": ([folder("f"), link("f/l", "../g/secret"), folder("g"), member("g/secret")],
                          "f/l", "symlink -> ../g/secret points outside f"),
    "written through a link": ([folder("f"), folder("f/sub"), link("f/l", "sub"), member("f/l/x.sls")],
                               "f/l/x.sls", "lies under the symlink f/l"),
    "absolute target": ([folder("f"), link("f/l", "/etc/passwd")], "f/l", "points outside the kit (absolute target)"),
    "a loop": ([folder("f"), link("f/a", "b"), link("f/b", "a/x")], "f/a", "(a loop)"),
    "a hard link": ([folder("f"), member("f/a"), member("f/h", tarfile.LNKTYPE, target="f/a")],
                    "f/h", "a hard link, not a file, folder or symlink"),
    "a device": ([folder("f"), member("f/null", tarfile.CHRTYPE)], "f/null", "a character device, not a file"),
    "a block device": ([member("sda", tarfile.BLKTYPE)], "sda", "a block device, not a file"),
    "a fifo": ([folder("f"), member("f/pipe", tarfile.FIFOTYPE)], "f/pipe", "a fifo, not a file"),
    "a duplicate": ([folder("f"), member("f/a"), link("f/a", "b")], "f/a", "named twice"),
    "a duplicate spelt otherwise": ([folder("f"), member("f/a"), member("./f//a")], "./f//a", "named twice"),
    "an absolute name": ([member("/tmp/evil")], "/tmp/evil", "an absolute name"),
    "a .. name": ([folder("f"), member("f/../../evil")], "f/../../evil", "'..' in its name"),
    "a file as a folder": ([folder("f"), member("f/a"), member("f/a/b")], "f/a/b", "under 'f/a', which is a file"),
    "a newline in a name": ([folder("f"), member("f/a\nb")], "f/a\nb", "control characters"),
    "a link to nothing": ([folder("f"), link("f/l", "")], "f/l", "a symlink to nothing"),
}


def assert_refused_and_untouched(store, config, rt_paths, call, expected):  # noqa: F811
    before = snapshot(rt_paths["store"])
    outside = sorted(os.listdir(rt_paths["store"].parent))
    with pytest.raises(StoreError) as error:
        call()
    assert str(error.value).startswith(expected), str(error.value)
    assert "\n" not in str(error.value)
    assert snapshot(rt_paths["store"]) == before  # no tree, no leftover, no switch, no history line
    assert sorted(os.listdir(rt_paths["store"].parent)) == outside
    assert store.current("test") == "r1"


@pytest.mark.parametrize("case", HOSTILE_LISTINGS)
def test_a_kit_whose_listing_could_write_outside_its_tree_is_refused_before_extracting(config, two_releases,  # noqa: F811
                                                                                      rt_paths, case):
    members, name, problem = HOSTILE_LISTINGS[case]
    store = two_releases
    store.publish("r1", "test", by="a")
    hand_made_release(store, "bad", gzip.compress(tar_bytes(members)))
    assert_refused_and_untouched(store, config, rt_paths, lambda: store.publish("bad", "test", by="a"),
                                 f"release 'bad' is refused: kit member {name!r}: ")
    with pytest.raises(StoreError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        store.publish("bad", "test", by="a")


def test_without_repos_the_whole_kit_is_the_root(config, two_releases):  # noqa: F811
    store = two_releases
    hand_made_release(store, "flat", gzip.compress(tar_bytes([folder("f"), member("g/x"), link("f/l", "../g/x")])),
                      repos=[])
    store.publish("flat", "test", by="a")
    with open(os.path.join(config.env_tree("test"), "f/l")) as handle:
        assert handle.read() == "x: 1\n"


def test_a_hand_made_kit_with_safe_links_and_dot_slash_names_is_published(config, two_releases):  # noqa: F811
    store = two_releases
    kit = [folder("."), folder("./f"), folder("./f/sub"), member("./f/sub/init.sls", data=b"a: 1\n"),
           link("./f/cur", "sub/init.sls"), link("./f/dir", "sub"), link("./f/up", "."), link("./f/again", "up/dir/init.sls")]
    hand_made_release(store, "made", gzip.compress(tar_bytes(kit)))
    store.publish("made", "test", by="a")
    for path in ("f/cur", "f/again"):
        with open(os.path.join(config.env_tree("test"), path)) as handle:
            assert handle.read() == "a: 1\n"


def test_salt_run_publish_of_a_chain_kit_exits_1_with_one_line(master, two_releases, rt_paths):  # noqa: F811
    members, name, problem = HOSTILE_LISTINGS["a chain out of the kit"]
    hand_made_release(two_releases, "bad", gzip.compress(tar_bytes(members)))
    result = subprocess.run([SALT_RUN, "-c", master.config_dir, "release.publish", "bad", "env=test"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        f"ERROR: release 'bad' is refused: kit member 'a/esc': {problem}; nothing was published"]
    assert not os.path.lexists(rt_paths["store"] / "envs" / "test")
    assert [name for name in os.listdir(rt_paths["store"] / "trees" / "test")] == []
