import gzip
import io
import tarfile

import pytest

from releasetrain.errors import ManifestError
from releasetrain.kit import Member, _check_symlink, write_tarball
from releasetrain.manifest import RepoPin

PIN = RepoPin(name="f", url="u", sha="0" * 40, path="states/f")


def build(members, mtime=1_700_000_000):
    out = io.BytesIO()
    digest = write_tarball(out, members, mtime)
    return out.getvalue(), digest


MEMBERS = [
    Member("states/f/b.sls", tarfile.REGTYPE, data=b"b"),
    Member("states/f/a.sh", tarfile.REGTYPE, executable=True, data=b"#!/bin/sh\n"),
    Member("states/f/link", tarfile.SYMTYPE, target="a.sh"),
    Member("pillar/top.sls", tarfile.REGTYPE, data=b"base: {}\n"),
]


def test_same_members_in_any_order_give_the_same_bytes():
    first, digest = build(MEMBERS)
    second, digest2 = build(list(reversed(MEMBERS)))
    assert first == second and digest == digest2


def test_gzip_header_has_no_name_and_no_time():
    data, _ = build(MEMBERS)
    assert data[:3] == b"\x1f\x8b\x08"
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert flags & 0x08 == 0, "FNAME flag set: the header carries a file name"
    assert mtime == 0


def test_members_are_sorted_owned_by_root_with_fixed_time_and_normal_modes():
    data, _ = build(MEMBERS, mtime=1_234_567_890)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        infos = archive.getmembers()
    names = [info.name for info in infos]
    assert names == sorted(names)
    assert names == ["pillar", "pillar/top.sls", "states", "states/f", "states/f/a.sh", "states/f/b.sls", "states/f/link"]
    for info in infos:
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", 1_234_567_890)
        assert not info.pax_headers
    modes = {info.name: info.mode for info in infos}
    assert modes["states/f/a.sh"] == 0o755 and modes["states/f/b.sls"] == 0o644 and modes["states"] == 0o755


def test_no_pax_headers_even_for_long_names():
    long_name = "states/" + "x" * 150 + "/init.sls"
    data, _ = build([Member(long_name, tarfile.REGTYPE, data=b"x")])
    raw = gzip.decompress(data)
    assert b"PaxHeader" not in raw and b"mtime=" not in raw
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert long_name in archive.getnames()


@pytest.mark.parametrize("path, target", [
    ("states/f/evil", "/etc/shadow"),
    ("states/f/evil", "../../../etc"),
    ("states/f/deep/evil", "../../../../x"),
])
def test_symlinks_that_leave_the_kit_are_refused(path, target):
    with pytest.raises(ManifestError, match="points outside the kit"):
        _check_symlink(path, target, PIN)


def test_symlinks_inside_the_kit_are_fine():
    _check_symlink("states/f/link", "../../pillar/top.sls", PIN)
    _check_symlink("states/f/link", "a.sh", PIN)


def test_a_file_that_is_also_a_folder_is_refused():
    with pytest.raises(ManifestError, match="both a file and a folder"):
        build([Member("states", tarfile.REGTYPE, data=b""), Member("states/x", tarfile.REGTYPE, data=b"")])
