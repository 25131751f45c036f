import gzip
import io
import posixpath
import tarfile

import pytest

from releasetrain.errors import ManifestError
from releasetrain.release.kit import Member, check_links, members_from_archive, members_from_tar, tree_table, write_tarball
from releasetrain.release.manifest import RepoPin

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


def check_one(symlinks, pins=(PIN,), files=("states/f/a.sh",)):
    members = [Member(path, tarfile.SYMTYPE, target=target) for path, target in symlinks.items()]
    members += [Member(path, tarfile.REGTYPE) for path in files]
    check_links([(pin, *tree_table([m for m in members if m.path.startswith(pin.path + "/")])) for pin in pins])


@pytest.mark.parametrize("symlinks, problem", [
    ({"states/f/evil": "/etc/shadow"}, "symlink states/f/evil -> /etc/shadow points outside the kit (absolute target)"),
    ({"states/f/evil": "../../../etc"}, "symlink states/f/evil -> ../../../etc points outside the kit"),
    ({"states/f/deep/evil": "../../../../x"}, "symlink states/f/deep/evil -> ../../../../x points outside the kit"),
    ({"states/f/link": "../../pillar/top.sls"}, "symlink states/f/link -> ../../pillar/top.sls points outside states/f"),
    ({"states/f/a/up": "..", "states/f/a/esc": "up/../.."}, "symlink states/f/a/esc -> up/../.. points outside"),
    ({"states/f/l1": "l2", "states/f/l2": "l1"}, "symlink states/f/l1 -> l2 goes through more than 40 symlinks"),
])
def test_symlinks_that_leave_their_repo_are_refused_naming_the_repo(symlinks, problem):
    with pytest.raises(ManifestError) as error:
        check_one(symlinks)
    assert str(error.value).startswith(f"manifest: repo 'f': {problem}")


def test_symlinks_inside_their_repo_are_fine():
    check_one({"states/f/link": "a.sh", "states/f/d/up": "..", "states/f/d/ok": "up/a.sh"})


def test_the_repo_named_is_the_one_holding_the_bad_link():
    other = RepoPin(name="g", url="u", sha="0" * 40, path="states/g")
    with pytest.raises(ManifestError, match="repo 'g': symlink states/g/x -> ../f/a.sh points outside states/g"):
        check_one({"states/f/ok": "a.sh", "states/g/x": "../f/a.sh"}, pins=(PIN, other))


def test_a_file_that_is_also_a_folder_is_refused():
    with pytest.raises(ManifestError, match="both a file and a folder"):
        build([Member("states", tarfile.REGTYPE, data=b""), Member("states/x", tarfile.REGTYPE, data=b"")])


# -- the hand-written tar writer gives tarfile's bytes ------------------------------------------


def reference_tar(members, mtime):
    """What the kit writer produced with tarfile: the tar bytes it must keep."""
    import posixpath
    out = io.BytesIO()
    paths = {member.path for member in members}
    folders = {posixpath.dirname(path) for path in paths}
    for folder in list(folders):
        while folder:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    folders.discard("")
    entries = [Member(path, tarfile.DIRTYPE) for path in folders] + list(members)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as archive:
        for member in sorted(entries, key=lambda item: item.path):
            info = tarfile.TarInfo(member.path)
            info.type, info.uid, info.gid, info.uname, info.gname, info.mtime = member.kind, 0, 0, "", "", mtime
            if member.kind == tarfile.DIRTYPE:
                info.mode = 0o755
                archive.addfile(info)
            elif member.kind == tarfile.SYMTYPE:
                info.mode, info.linkname = 0o777, member.target
                archive.addfile(info)
            else:
                info.mode, info.size = (0o755 if member.executable else 0o644), len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
    return out.getvalue()


def random_members(rng, count):
    names = ["a", "a-b", "a.b", "b", "é ü", "x" * 60, "y" * 130, "bad\udcff", "init.sls"]
    members = {}
    for index in range(count):
        path = "states/" + "/".join(rng.choice(names) for _ in range(rng.randrange(1, 4))) + f"{index}"
        if rng.random() < 0.15:
            members[path] = Member(path, tarfile.SYMTYPE, target=rng.choice(["a", "../" + "z" * rng.randrange(1, 140)]))
        else:
            size = rng.choice([0, 1, 511, 512, 513, 3000, (1 << 20) + 7]) if rng.random() < 0.3 else rng.randrange(4000)
            members[path] = Member(path, tarfile.REGTYPE, executable=rng.random() < 0.1,
                                   data=bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1))
    return list(members.values())


@pytest.mark.parametrize("seed", range(20))
def test_the_writer_gives_the_tar_bytes_tarfile_gives(seed):
    import random
    members = random_members(random.Random(seed), 30)
    mtime = [1_700_000_000, 0, 8 ** 11 + 5][seed % 3]  # the last needs GNU base-256
    assert gzip.decompress(build(members, mtime)[0]) == reference_tar(members, mtime)


def test_a_small_kit_is_exactly_gzipfile_of_that_tar():
    """Below one compression block the gzip is one plain zlib stream: GzipFile(mtime=0)'s bytes."""
    import random
    members = random_members(random.Random(1), 8)
    members = [m for m in members if len(m.data) < 4096]
    data, _ = build(members)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as zipped:
        zipped.write(reference_tar(members, 1_700_000_000))
    assert data == out.getvalue()


def test_the_kit_bytes_do_not_depend_on_the_cores(monkeypatch):
    """A kit of several compression blocks is the same with one gzip thread and with four."""
    import random
    from releasetrain.release import deflate
    members = random_members(random.Random(3), 60)
    assert sum(len(member.data) for member in members) > 2 * deflate.BLOCK
    kits = []
    for workers in (1, 4):
        monkeypatch.setattr(deflate, "MAX_WORKERS", workers)
        monkeypatch.setattr(deflate.os, "cpu_count", lambda: workers)
        kits.append(build(members))
    assert kits[0] == kits[1]


def test_repos_written_as_blocks_give_the_same_bytes_as_one_list():
    """Each repo is one run of the sorted kit, even next to names that sort between (a, a-b, a.b, a/...)."""
    import random
    rng = random.Random(7)
    metadata = Member(".releasetrain.yml", tarfile.REGTYPE, data=b"release: x\n")
    for _ in range(200):
        prefixes = {"/".join(rng.choice(["a", "a-b", "a.b", "b", "states", "z"]) for _ in range(rng.randrange(1, 4)))
                    for _ in range(rng.randrange(1, 6))}
        prefixes = [p for p in prefixes if not any(q != p and q.startswith(p + "/") for q in prefixes)]
        blocks, everything = [], [metadata]
        for prefix in prefixes:
            inside = [Member(f"{prefix}/{rng.choice(['a', 'a-b', 'b/c'])}{i}", tarfile.REGTYPE, data=b"x" * i)
                      for i in range(rng.choice([0, 1, 3]))]  # a repo can export nothing
            blocks.append((prefix, lambda inside=inside: inside))
            everything += inside
        streamed = io.BytesIO()
        digest = write_tarball(streamed, [metadata], 1_700_000_000, blocks)
        assert (streamed.getvalue(), digest) == build(everything)


def test_a_block_under_a_file_of_the_kit_is_refused_like_a_list():
    blocks = [(".releasetrain.yml", lambda: [Member(".releasetrain.yml/x", tarfile.REGTYPE, data=b"")])]
    with pytest.raises(ManifestError, match="both a file and a folder"):
        write_tarball(io.BytesIO(), [Member(".releasetrain.yml", tarfile.REGTYPE, data=b"")], 0, blocks)


# -- reading git archive's tar without tarfile, and falling back to it --------------------------


def git_like_tar(entries, long_names=False):
    """A ustar archive the way git archive writes one: a pax global header with the commit id first."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT if long_names else tarfile.USTAR_FORMAT,
                      pax_headers={"comment": "0" * 40}) as archive:
        for name, kind, mode, payload in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uname, info.gname = kind, mode, "root", "root"
            if kind == tarfile.SYMTYPE:
                info.linkname = payload
                archive.addfile(info)
            elif kind == tarfile.DIRTYPE:
                archive.addfile(info)
            else:
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    if long_names:
        return out.getvalue()  # tarfile wrote the global header itself
    return tarfile.TarInfo().create_pax_global_header({"comment": "0" * 40}) + out.getvalue()


ENTRIES = [
    ("openstack", tarfile.DIRTYPE, 0o775, None),
    ("openstack/keystone.sls", tarfile.REGTYPE, 0o664, b"keystone: {}\n"),
    ("openstack/run.sh", tarfile.REGTYPE, 0o775, b"#!/bin/sh\n"),
    ("openstack/empty", tarfile.REGTYPE, 0o664, b""),
    ("openstack/link", tarfile.SYMTYPE, 0o777, "keystone.sls"),
    ("p" * 90 + "/" + "q" * 90 + "/deep.sls", tarfile.REGTYPE, 0o664, b"deep\n"),  # ustar prefix field
    ("é ü.sls", tarfile.REGTYPE, 0o664, b"u\n"),
    ("vendor/lib", tarfile.DIRTYPE, 0o775, None),  # how git archive shows a submodule
    ("pax_global_header", tarfile.REGTYPE, 0o664, b"a file by that name\n"),
]


def summary(result):
    members, empty = result
    return [(m.path, m.kind, m.executable, bytes(m.data), m.target) for m in members], empty


@pytest.mark.parametrize("path", ["states/f", "."])
def test_reading_git_archive_gives_what_tarfile_reads(path, monkeypatch):
    from releasetrain.release import kit
    pin = RepoPin(name="f", url="u", sha="0" * 40, path=path)
    data = git_like_tar(ENTRIES)
    assert data[156:157] == tarfile.XGLTYPE  # the commit id comes first, as from git
    expected = summary(members_from_archive(io.BytesIO(data), pin))
    monkeypatch.setattr(kit, "members_from_archive", None)  # this archive needs no tarfile
    assert summary(members_from_tar(data, pin)) == expected
    assert summary(members_from_tar(data, pin))[1] == [posixpath.join(path, "vendor/lib").lstrip("./")]
    header_file = "pax_global_header" if path == "." else f"{path}/pax_global_header"
    assert (header_file, tarfile.REGTYPE, False, b"a file by that name\n", "") in expected[0]  # a file, kept


def test_names_git_writes_as_pax_records_go_through_tarfile(monkeypatch):
    from releasetrain.release import kit
    long_name = "d" * 120 + "/" + "f" * 150 + ".sls"  # too long for ustar: git writes a pax path record
    data = git_like_tar(ENTRIES + [(long_name, tarfile.REGTYPE, 0o664, b"long\n")], long_names=True)
    used = []
    monkeypatch.setattr(kit, "members_from_archive", lambda *args: used.append(1) or members_from_archive(*args))
    members, _ = members_from_tar(data, PIN)
    assert used and "states/f/" + long_name in [member.path for member in members]


def test_an_empty_archive_is_a_read_error():
    with pytest.raises(tarfile.ReadError):
        members_from_tar(b"", PIN)


def test_reading_keeps_symlinks_for_the_kit_wide_check():
    data = git_like_tar([("evil", tarfile.SYMTYPE, 0o777, "../../../etc/passwd")])
    members, _ = members_from_tar(data, PIN)
    assert tree_table(members) == ({"states/f/evil": "../../../etc/passwd"}, [])
    with pytest.raises(ManifestError, match="points outside the kit"):
        check_links([(PIN, *tree_table(members))])


# -- reading git archive from a spool file: headers only, contents left on disk ------------------


@pytest.mark.parametrize("long_names", [False, True])
def test_reading_a_spooled_archive_gives_the_same_members_and_kit_bytes(tmp_path, long_names):
    from releasetrain.release.kit import FileSlice, members_from_spool
    entries = ENTRIES + [("big.bin", tarfile.REGTYPE, 0o664, bytes(range(256)) * 5000)]
    if long_names:
        entries.append(("d" * 120 + "/" + "f" * 150 + ".sls", tarfile.REGTYPE, 0o664, b"long\n"))
    data = git_like_tar(entries, long_names=long_names)
    with open(tmp_path / "spool.tar", "w+b") as spool:
        spool.write(data)
        spool.flush()
        members, empty = members_from_spool(spool, PIN)
        assert all(isinstance(m.data, FileSlice) for m in members if m.kind == tarfile.REGTYPE)
        assert summary((members, empty)) == summary(members_from_tar(data, PIN))
        done = []
        streamed = io.BytesIO()
        write_tarball(streamed, [], 1_700_000_000, [("states/f", lambda: members, lambda: done.append(1))])
        assert done == [1]
    assert streamed.getvalue() == build(members_from_tar(data, PIN)[0])[0]
