"""Deploy-kit assembly: git trees in, one byte-reproducible .tar.gz out.

Reproducible means the same manifest gives the same bytes on any machine:
members sorted by path, uid/gid 0 with empty owner names, one fixed integer
mtime (the newest commit time of the kit), modes normalised to 0644/0755,
GNU tar headers (no PAX time records), and a gzip header without name or time.

The headers are written here rather than by :mod:`tarfile` (the bytes are the
ones ``tarfile`` writes in GNU format, checked by the tests), in a fraction of
the Python time and no longer tied to a Python version's tarfile; the gzip is
:mod:`releasetrain.release.deflate`'s, whose bytes do not depend on the number of cores.
"""

import hashlib
import io
import os
import posixpath
import tarfile
from dataclasses import dataclass

import yaml

from releasetrain.release import deflate
from releasetrain.release import links
from releasetrain.errors import ManifestError

METADATA_NAME = ".releasetrain.yml"
GZIP_LEVEL = 6  # what gzip(1) uses by default
NAME_MAX = 255  # bytes in one file name, on Linux's file systems
PATH_MAX = 4096  # bytes in a path or a symlink target the kernel takes, its final NUL included

BLOCK = 512
RECORD = 20 * BLOCK  # tar pads the archive to a multiple of this
PIECE = deflate.BLOCK  # the most content handed to the gzip writer at once
_ENCODING, _ERRORS = "utf-8", "surrogateescape"  # what tarfile uses for names
_GNU_MAGIC = b"ustar  \0"
_NUL_BLOCK = bytes(BLOCK)
# uid, gid: 0; after the type and linkname: magic, empty uname and gname, no device numbers, no prefix
_OWNER = b"0000000\0" * 2
_TAIL = _GNU_MAGIC + bytes(32 + 32 + 8 + 8 + 155 + 12)


@dataclass(frozen=True)
class Member:
    path: str
    kind: bytes  # tarfile.REGTYPE, SYMTYPE or DIRTYPE
    executable: bool = False
    data: bytes = b""  # or a memoryview into the archive it was read from, or a FileSlice of it
    target: str = ""


class FileSlice:
    """``size`` bytes at ``offset`` in an open file: a member's content, left on disk until it is written."""

    __slots__ = ("file", "offset", "size")

    def __init__(self, file, offset, size):
        self.file, self.offset, self.size = file, offset, size

    def __len__(self):
        return self.size

    def __bytes__(self):
        return b"".join(self.pieces(self.size or 1))

    def pieces(self, most):
        """The content in reads of at most ``most`` bytes."""
        fd, position, end = self.file.fileno(), self.offset, self.offset + self.size
        while position < end:
            piece = os.pread(fd, min(most, end - position), position)
            if not piece:
                raise OSError(f"{self.file.name}: {end - position} bytes short of a member's end")
            position += len(piece)
            yield piece


# -- reading git archive ----------------------------------------------------------------


def members_from_tar(data, pin):
    """Read the tar bytes ``git archive`` wrote into kit members placed under ``pin.path``.

    Returns the members and the folders of the archive that hold nothing; raises
    ``tarfile.ReadError`` when ``data`` holds no archive at all. File contents are
    memoryviews into ``data`` (no copies). Headers beyond what git writes for an
    ordinary tree (pax records other than the commit id, GNU long names, base-256
    numbers, other member types) are left to :func:`members_from_archive`.
    """
    view = memoryview(data)
    entries = _scan_git_tar(lambda offset, size: data[offset : offset + size], len(data))
    if entries is None:
        return members_from_archive(io.BytesIO(data), pin)
    return _members(entries, lambda start, size: view[start : start + size], pin)


def members_from_spool(spool, pin):
    """:func:`members_from_tar` for an archive in a file (``git archive``'s output, spooled to disk).

    Only the headers are read; each file's content is a :class:`FileSlice` of ``spool``, which
    must stay open until the kit is written.
    """
    fd = spool.fileno()
    entries = _scan_git_tar(lambda offset, size: os.pread(fd, size, offset), os.fstat(fd).st_size)
    if entries is None:
        spool.seek(0)
        return members_from_archive(spool, pin)
    return _members(entries, lambda start, size: FileSlice(spool, start, size), pin)


def _members(entries, content, pin):
    """Kit members from :func:`_scan_git_tar`'s entries; ``content(start, size)`` gives a file's data."""
    members = []
    folders = set()
    join = posixpath.join
    for name, kind, mode, start, size, link in entries:
        relative = name.rstrip("/")
        if not relative or relative == ".":
            continue
        path = relative if pin.path == "." else join(pin.path, relative)
        if kind == tarfile.DIRTYPE:
            folders.add(path)
        elif kind == tarfile.SYMTYPE:
            members.append(Member(path, tarfile.SYMTYPE, target=link))
        else:
            members.append(Member(path, tarfile.REGTYPE, executable=bool(mode & 0o100), data=content(start, size)))
    return members, _empty_folders(members, folders)


def _scan_git_tar(read, end):
    """The entries of a plain ustar archive as git writes it, or None to let tarfile read it.

    ``read(offset, size)`` gives the archive's bytes there; ``end`` is its length. Only the
    headers (and git's global record) are read, never a file's content.
    """
    if not end:
        raise tarfile.ReadError("empty file")
    entries = []
    offset = 0
    while offset + BLOCK <= end:
        header = read(offset, BLOCK)
        if header == _NUL_BLOCK:
            break
        if header[257:265] != b"ustar\x0000" or header[124] & 0x80:
            return None  # not git's ustar, or a base-256 size
        try:
            size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            mode = int(header[100:108].split(b"\0", 1)[0].strip() or b"0", 8)
        except ValueError:
            return None
        kind = header[156:157]
        start = offset + BLOCK
        offset = start + -(-size // BLOCK) * BLOCK
        if kind == tarfile.XGLTYPE:
            if not _only_comment(read(start, size)):
                return None  # a global record tarfile would apply to the members
            continue
        name = header[0:100].split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
        if kind == tarfile.AREGTYPE and name.endswith("/"):
            kind = tarfile.DIRTYPE
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/")
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix.decode(_ENCODING, _ERRORS) + "/" + name
        if kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
            if start + size > end:
                return None
            entries.append((name, tarfile.REGTYPE, mode, start, size, ""))
        elif kind == tarfile.SYMTYPE:
            link = header[157:257].split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
            entries.append((name, kind, mode, start, 0, link))
        elif kind == tarfile.DIRTYPE:
            entries.append((name, kind, mode, start, 0, ""))
        else:
            return None
    return entries


def _only_comment(payload):
    """True if a pax global header holds only ``comment`` records (git's commit id)."""
    position = 0
    while position < len(payload) and payload[position:position + 1] != b"\0":
        length_text, space, _ = payload[position:position + 24].partition(b" ")
        if not space or not length_text.isdigit() or int(length_text) <= 0:
            return False
        record = payload[position + len(length_text) + 1 : position + int(length_text)]
        if not record.startswith(b"comment="):
            return False
        position += int(length_text)
    return True


def members_from_archive(stream, pin):
    """Read a ``git archive`` tar in a seekable ``stream`` into kit members placed under ``pin.path``, with tarfile.

    Returns the members and the folders of the archive that hold nothing. File contents are
    left where they are: slices of a BytesIO's buffer, or :class:`FileSlice` of a real file.
    """
    content = _content_of(stream)
    members = []
    folders = set()
    with tarfile.open(fileobj=stream, mode="r:") as archive:
        for info in archive:
            relative = info.name.rstrip("/")
            if not relative or relative == ".":
                continue
            path = relative if pin.path == "." else posixpath.join(pin.path, relative)
            if info.isdir():
                folders.add(path)  # the kit derives folders from file paths; empty ones are reported
                continue
            if info.issym():
                members.append(Member(path, tarfile.SYMTYPE, target=info.linkname))
            elif info.isfile():
                members.append(Member(path, tarfile.REGTYPE, executable=bool(info.mode & 0o100),
                                      data=content(info.offset_data, info.size)))
            else:
                raise ManifestError(f"{path} is neither a file, a folder nor a symlink", pin.name)
    return members, _empty_folders(members, folders)


def _content_of(stream):
    """``content(start, size)`` for a stream: a view of a BytesIO's buffer, else a FileSlice of the file."""
    if isinstance(stream, io.BytesIO):
        view = stream.getbuffer()
        return lambda start, size: view[start : start + size]
    return lambda start, size: FileSlice(stream, start, size)


def _empty_folders(members, folders):
    parents = {posixpath.dirname(member.path) for member in members}
    filled = set()
    for parent in parents:
        while parent and parent not in filled:
            filled.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(folders - filled)


def unprintable(text):
    """True if ``text`` holds a control character, DEL, or bytes that are not UTF-8 (read as surrogate
    escapes): no name or symlink target in a kit may, on package as on publish."""
    return any(ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF for char in text)


def check_names(members, pin, room=PATH_MAX - 1):
    """Refuse a member that publishing could not create or would refuse: a name or symlink target
    with control characters or bytes that are not UTF-8, a file name over NAME_MAX bytes, a path
    over ``room`` bytes (what PATH_MAX leaves under the folder the kit is unpacked in), a symlink
    target of PATH_MAX bytes or more. Raises a ManifestError naming the repo and the path."""
    for member in members:
        if unprintable(member.path) or unprintable(member.target):
            raise ManifestError(f"{_shown(ascii(member.path)[1:-1])}: control characters or bytes that are not UTF-8 in "
                                "its name or symlink target", pin.name)
        name = member.path.encode(_ENCODING, _ERRORS)
        too_long = next((part for part in name.split(b"/") if len(part) > NAME_MAX), None)
        if too_long is not None:
            raise ManifestError(f"{_shown(member.path)}: a name in it has {len(too_long)} bytes, more than the "
                                f"{NAME_MAX} a file name may have", pin.name)
        if len(name) > room:
            raise ManifestError(f"{_shown(member.path)}: the path has {len(name)} bytes, more than the {room} "
                                f"left for it under the store once published", pin.name)
        target = member.target.encode(_ENCODING, _ERRORS)
        if len(target) >= PATH_MAX:
            raise ManifestError(f"symlink {_shown(member.path)}: its target has {len(target)} bytes, more than the "
                                f"{PATH_MAX - 1} a symlink may hold", pin.name)


def _shown(path, limit=160):
    """``path`` as an error message shows it: whole if short, else its start and end."""
    return path if len(path) <= limit else f"{path[:limit // 2]}...{path[-limit // 4:]}"


def tree_table(members):
    """What :func:`check_links` needs of one repo's members: its symlinks {path: target} and its other paths."""
    symlinks = {member.path: member.target for member in members if member.kind == tarfile.SYMTYPE}
    return symlinks, [member.path for member in members if member.kind != tarfile.SYMTYPE]


def check_links(trees, other_paths=()):
    """Refuse the kit if a symlink in it leaves its repo's folder, by any route.

    ``trees`` holds ``(pin, symlinks, paths)`` per repo (see :func:`tree_table`); every link
    is resolved with all the kit's links at once (chains, links to links, loops), each held
    to its repo's ``path``. Raises a ManifestError naming the repo that holds the bad entry; when
    a link gets out of the kit altogether, that one is named ("points outside the kit").
    """
    every_link, every_path = {}, list(other_paths)
    for _, symlinks, paths in trees:
        every_link.update(symlinks)
        every_path.extend(paths)
    try:
        links.check(every_link, every_path, roots=[pin.path for pin, _, _ in trees])
    except links.UnsafeLink as err:
        worst = _leaving_the_kit(every_link, every_path) or err
        raise ManifestError(_link_problem(worst, every_link), _owner(worst.path, [pin for pin, _, _ in trees])) from None


def _leaving_the_kit(every_link, every_path):
    """The first problem with the whole kit as the only root (a link that gets out of it), or None."""
    try:
        links.check(every_link, every_path)
    except links.UnsafeLink as err:
        return err
    return None


def _link_problem(err, symlinks):
    """``symlink <path> -> <target> <problem>`` for a bad link; ``<path>: <problem>`` otherwise."""
    shown = f"symlink -> {symlinks.get(err.path)}"
    if err.path in symlinks and err.problem.startswith(shown):
        return f"symlink {err.path} -> {symlinks[err.path]}{err.problem[len(shown):]}"
    return str(err)


def _owner(path, pins):
    """The name of the repo whose folder holds ``path`` (the innermost), or None."""
    holders = [pin for pin in pins if pin.path == "." or path.startswith(pin.path + "/")]
    return max(holders, key=lambda pin: len(pin.path), default=None).name if holders else None


def metadata_member(metadata):
    text = yaml.safe_dump(metadata, sort_keys=True, default_flow_style=False)
    return Member(METADATA_NAME, tarfile.REGTYPE, data=text.encode())


# -- writing the kit ------------------------------------------------------------------------


def _with_directories(members, stop=""):
    """The members and the folders their paths imply (below ``stop``, if given)."""
    paths = {member.path for member in members}
    directories = {stop} if stop else set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent not in directories:
            directories.add(parent)
            parent = posixpath.dirname(parent)
    directories.discard(stop)
    clash = directories & paths
    if clash:
        raise ManifestError(f"{sorted(clash)[0]} is both a file and a folder in the kit")
    return [Member(path, tarfile.DIRTYPE) for path in directories] + list(members)


def _number(value, digits):
    """A tar number field: octal, or GNU base-256 when it does not fit (as tarfile writes it)."""
    if 0 <= value < 8 ** (digits - 1):
        return b"%0*o\0" % (digits - 1, value)
    return tarfile.itn(value, digits, tarfile.GNU_FORMAT)


def _header(name, mode, size, mtime, kind, linkname=b"", owner=_OWNER):
    """One 512-byte GNU header block; ``name`` and ``linkname`` are bytes, cut to 100."""
    block = b"".join((
        name[:100].ljust(100, b"\0"), _number(mode, 8), owner, _number(size, 12), mtime, b"        ", kind,
        linkname[:100].ljust(100, b"\0"), _TAIL,
    ))
    return block[:148] + b"%06o\0" % sum(block) + block[155:]


def _long_name(name, kind):
    """GNU ``././@LongLink`` blocks carrying a name longer than the header's 100 bytes."""
    payload = name + b"\0"
    padding = -len(payload) % BLOCK
    return _header(b"././@LongLink", 0, len(payload), b"00000000000\0", kind) + payload + bytes(padding)


def tar_blocks(members, mtime, blocks=()):
    """The uncompressed tar of the kit (sorted, normalised), as a sequence of byte strings.

    ``members`` are known up front; each of ``blocks`` is a ``(prefix, get_members)`` pair
    for one repo whose members all lie under ``prefix + "/"``, so they come out as one run
    of the sorted order: ``get_members()`` is called (and may wait) only when the writer
    gets there, which lets the caller export repos while the first ones are compressed.
    A third item, ``done()``, is called once the block's last byte has been taken.
    The prefixes must not nest, and no known member may lie under one. The bytes are the
    same as for ``tar_blocks(members + every block's members, mtime)``.
    """
    mtime_field = _number(int(mtime), 12)
    known = _with_directories(members)
    known_paths = {member.path: member for member in known}
    prefixes = [block[0] for block in blocks]
    for prefix in prefixes:
        if any(path.startswith(prefix + "/") for path in known_paths) or any(
                other.startswith(prefix + "/") for other in prefixes) or prefixes.count(prefix) > 1:
            raise ValueError(f"block {prefix!r} overlaps another part of the kit")
    # folders above the blocks exist only if a block under them has members: decided lazily
    above = {}
    for index, prefix in enumerate(prefixes):
        folder = prefix
        while folder:
            above.setdefault(folder, []).append(index)
            folder = posixpath.dirname(folder)
    items = [(member.path, 0, member) for member in known]
    items += [(folder, 1, folder) for folder in above if known_paths.get(folder, Member("", b"")).kind != tarfile.DIRTYPE]
    items += [(prefix + "/", 2, index) for index, prefix in enumerate(prefixes)]
    items.sort(key=lambda item: item[0])
    resolved = {}

    def block_members(index):
        if index not in resolved:
            resolved[index] = list(blocks[index][1]())
        return resolved[index]

    for _, what, item in items:
        if what == 0:
            yield from _member_blocks(item, mtime_field)
        elif what == 1:
            # a folder sorts before every block under it, so none of those is written yet
            if any(block_members(index) for index in sorted(above[item], key=prefixes.__getitem__)):
                if item in known_paths:
                    raise ManifestError(f"{item} is both a file and a folder in the kit")
                yield from _member_blocks(Member(item, tarfile.DIRTYPE), mtime_field)
        else:
            inside = _with_directories(block_members(item), stop=prefixes[item])
            resolved[item] = ()  # let its data go once written
            for member in sorted(inside, key=lambda entry: entry.path):
                yield from _member_blocks(member, mtime_field)
            if len(blocks[item]) > 2:
                blocks[item][2]()


def _member_blocks(member, mtime_field):
    name = member.path
    kind = member.kind
    if kind == tarfile.DIRTYPE:
        name += "/"
        mode, size, link = 0o755, 0, b""
    elif kind == tarfile.SYMTYPE:
        mode, size, link = 0o777, 0, member.target.encode(_ENCODING, _ERRORS)
    else:
        mode, size, link = (0o755 if member.executable else 0o644), len(member.data), b""
    name = name.encode(_ENCODING, _ERRORS)
    if len(link) > 100:
        yield _long_name(link, tarfile.GNUTYPE_LONGLINK)
    if len(name) > 100:
        yield _long_name(name, tarfile.GNUTYPE_LONGNAME)
    yield _header(name, mode, size, mtime_field, kind, link)
    if size:
        yield from _pieces(member.data)
        if size % BLOCK:
            yield bytes(BLOCK - size % BLOCK)


def _pieces(data):
    """A member's content in pieces of at most PIECE bytes: the gzip writer never holds a whole large file."""
    if isinstance(data, FileSlice):
        yield from data.pieces(PIECE)
    elif len(data) <= PIECE:
        yield data
    else:
        view = memoryview(data)
        for start in range(0, len(view), PIECE):
            yield view[start : start + PIECE]


def write_tarball(fileobj, members, mtime, blocks=()):
    """Write the reproducible tarball of ``members`` (and ``blocks``, see :func:`tar_blocks`)
    to ``fileobj``; return its sha256.

    The tar bytes are those of ``tarfile`` (GNU format); :mod:`releasetrain.release.deflate`
    compresses them at level 6 on every core while this thread builds the headers.
    """
    hasher = hashlib.sha256()

    def out(data):
        hasher.update(data)
        fileobj.write(data)

    with deflate.GzipWriter(out, GZIP_LEVEL) as zipped:
        for piece in _with_end(tar_blocks(members, mtime, blocks)):
            zipped.write(piece)
    return hasher.hexdigest()


def _with_end(blocks):
    """Two zero blocks, then zeros up to a whole record: how tarfile ends an archive."""
    written = 0
    for block in blocks:
        written += len(block)
        yield block
    written += 2 * BLOCK
    yield bytes(2 * BLOCK + -written % RECORD)
