"""Deploy-kit assembly: git trees in, one byte-reproducible .tar.gz out.

Reproducible means the same manifest gives the same bytes on any machine:
members sorted by path, uid/gid 0 with empty owner names, one fixed integer
mtime (the newest commit time of the kit), modes normalised to 0644/0755,
GNU tar headers (no PAX time records), and a gzip header without name or time.
"""

import gzip
import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass

import yaml

from releasetrain.errors import ManifestError

METADATA_NAME = ".releasetrain.yml"
GZIP_LEVEL = 6  # what gzip(1) uses by default


@dataclass(frozen=True)
class Member:
    path: str
    kind: bytes  # tarfile.REGTYPE, SYMTYPE or DIRTYPE
    executable: bool = False
    data: bytes = b""
    target: str = ""


def members_from_archive(stream, pin):
    """Read a ``git archive`` tar stream into kit members placed under ``pin.path``.

    Returns the members and the folders of the archive that hold nothing.
    """
    members = []
    folders = set()
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.name == "pax_global_header" or info.type == tarfile.XGLTYPE:
                continue
            relative = info.name.rstrip("/")
            if not relative or relative == ".":
                continue
            path = relative if pin.path == "." else posixpath.join(pin.path, relative)
            if info.isdir():
                folders.add(path)  # the kit derives folders from file paths; empty ones are reported
                continue
            if info.issym():
                _check_symlink(path, info.linkname, pin)
                members.append(Member(path, tarfile.SYMTYPE, target=info.linkname))
            elif info.isfile():
                data = archive.extractfile(info).read()
                members.append(Member(path, tarfile.REGTYPE, executable=bool(info.mode & 0o100), data=data))
            else:
                raise ManifestError(f"{path} is neither a file, a folder nor a symlink", pin.name)
    parents = {posixpath.dirname(member.path) for member in members}
    filled = set()
    for parent in parents:
        while parent and parent not in filled:
            filled.add(parent)
            parent = posixpath.dirname(parent)
    return members, sorted(folders - filled)


def _check_symlink(path, target, pin):
    if target.startswith("/"):
        raise ManifestError(f"symlink {path} -> {target} points outside the kit (absolute target)", pin.name)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise ManifestError(f"symlink {path} -> {target} points outside the kit", pin.name)


def metadata_member(metadata):
    text = yaml.safe_dump(metadata, sort_keys=True, default_flow_style=False)
    return Member(METADATA_NAME, tarfile.REGTYPE, data=text.encode())


def _with_directories(members):
    paths = {member.path for member in members}
    directories = set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent not in directories:
            directories.add(parent)
            parent = posixpath.dirname(parent)
    clash = directories & paths
    if clash:
        raise ManifestError(f"{sorted(clash)[0]} is both a file and a folder in the kit")
    return [Member(path, tarfile.DIRTYPE) for path in directories] + list(members)


def write_tarball(fileobj, members, mtime):
    """Write the reproducible tarball of ``members`` to ``fileobj``; return its sha256."""
    hasher = hashlib.sha256()

    class _Hashing(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            hasher.update(data)
            fileobj.write(data)
            return len(data)

    sink = _Hashing()
    with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=GZIP_LEVEL, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w|", format=tarfile.GNU_FORMAT) as archive:
            for member in sorted(_with_directories(members), key=lambda item: item.path):
                info = tarfile.TarInfo(member.path)
                info.type = member.kind
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = int(mtime)
                if member.kind == tarfile.DIRTYPE:
                    info.mode = 0o755
                    archive.addfile(info)
                elif member.kind == tarfile.SYMTYPE:
                    info.mode = 0o777
                    info.linkname = member.target
                    archive.addfile(info)
                else:
                    info.mode = 0o755 if member.executable else 0o644
                    info.size = len(member.data)
                    archive.addfile(info, io.BytesIO(member.data))
    return hasher.hexdigest()

