"""``release.package``: manifest -> mirrors -> reproducible deploy-kit in the store."""

import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile

from releasetrain.release import manifest as manifest_mod
from releasetrain.errors import ManifestError
from releasetrain.release.kit import (METADATA_NAME, PATH_MAX, check_links, check_names, members_from_spool, metadata_member,
                            tree_table, write_tarball)
from releasetrain.release.mirror import Mirror
from releasetrain.journal import now
from releasetrain.release.store import Store

log = logging.getLogger(__name__)
PARALLEL_REPOS = 4
#: Archives spooled ahead of the repo being written, at most (each holds an open file and its tree on disk).
ARCHIVES_AHEAD = 2 * PARALLEL_REPOS
#: The compressed kit stays in memory up to this size, then goes to an unnamed file in the cache.
KIT_IN_MEMORY = 4 << 20
COPY_BUFFER = 1 << 20


def _no_events(tag, data):
    return None


def derive_release_id(pins):
    """A name from the content: the same repos at the same SHAs give the same name."""
    canonical = json.dumps([pin.describe() for pin in pins], sort_keys=True)
    return "kit-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def package(config, manifest_path, release=None, by=None, emit=_no_events):
    return build(config, manifest_mod.load(manifest_path), release=release, by=by, emit=emit)


def build(config, manifest, release=None, by=None, emit=_no_events):
    release = manifest_mod.release_name(release, manifest.source) or manifest.release or derive_release_id(manifest.repos)
    emit("package/start", {"release": release, "repos": [pin.name for pin in manifest.repos]})
    exports = None
    try:
        workers = max(1, min(PARALLEL_REPOS, len(manifest.repos)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            exports = _Exports(pool, config, manifest, release, emit)
            fetched = _fetch_all(exports)
            result = _write(config, release, exports, fetched, by)
    except ManifestError as err:
        err.source = err.source or manifest.source
        emit("package/failed", {"release": release, "error": str(err)})
        raise
    except Exception as err:
        emit("package/failed", {"release": release, "error": str(err)})
        raise
    finally:
        if exports is not None:
            exports.close()  # once the pool is done: no archive is still being written
    emit("package/done", {key: result[key] for key in ("release", "sha256", "tarball", "created")})
    return result


class _Export:
    """One repo's exported tree: its members, whose contents are slices of ``spool`` (its git archive, on disk)."""

    def __init__(self, members, spool):
        self.members, self.spool, self.files = members, spool, len(members)

    def close(self):
        """Let the tree go (the spool is an unnamed file: closing it frees its disk space)."""
        self.members = ()
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class _Exports:
    """Per repo, two jobs on one thread pool: fetch (the mirror has the SHA; its commit is read),
    then ``git archive`` spooled to an unnamed file in the cache and its headers read into members.
    Every fetch job is queued before any archive job, so the archives of the first repos run while
    the last ones fetch, and go on while the kit is compressed (which needs every commit's time
    first: the kit's mtime is the newest). Archives are queued in the order the kit is written, at
    most ARCHIVES_AHEAD beyond the repo being written: each holds an open file and its tree on disk
    until the writer is done with it."""

    def __init__(self, pool, config, manifest, release, emit):
        self.pins = list(manifest.repos)
        self.pool, self.release, self.emit = pool, release, emit
        self.spool_dir = spool_dir(config)
        self.room = path_room(config, release)
        self.mirrors = {}
        for pin in self.pins:
            self.mirrors.setdefault(pin.url, Mirror(config.cache, pin.fetch_url or pin.url, config.lock_timeout))
        self.fetches = [pool.submit(_fetch, self.mirrors[pin.url], pin) for pin in self.pins]
        self.order = sorted(range(len(self.pins)), key=lambda i: self.pins[i].path + "/")  # the order they are written
        self.position = {index: position for position, index in enumerate(self.order)}
        self.archives = [None] * len(self.pins)
        self.queued = 0  # archives queued so far, in written order
        self.draining = False  # a repo failed: the archives left only tell which failed first
        self.reported = 0  # repos whose package/repo event went out (in manifest order)
        self.tables = [None] * len(self.pins)  # per repo, its symlinks and other paths (see kit.tree_table)
        self._queue(ARCHIVES_AHEAD)

    def _queue(self, up_to):
        """Queue the archives of the repos before position ``up_to`` of the written order."""
        while self.queued < min(up_to, len(self.order)):
            index = self.order[self.queued]
            self.archives[index] = self.pool.submit(self._archive, index)
            self.queued += 1

    def _archive(self, index):
        pin = self.pins[index]
        self.fetches[index].result()  # raises the fetch's error: this repo failed there
        export = _export(self.mirrors[pin.url], pin, self.room, self.spool_dir)
        if self.draining:
            export.close()
        return export

    def members(self, index):
        """The members of one repo; on any failure, the first failing repo's error, as a serial run gives."""
        self._queue(self.position[index] + 1 + ARCHIVES_AHEAD)
        if self.archives[index].exception() is not None:
            self.fail()
        self.report()
        members = self.archives[index].result().members
        self.tables[index] = tree_table(members)
        return members

    def written(self, index):
        """The writer is done with this repo's members: let them and their spool go."""
        self.archives[index].result().close()

    def check_links(self):
        """Every symlink of the kit, resolved with all the others (once every repo's members are known)."""
        check_links([(pin, *table) for pin, table in zip(self.pins, self.tables)], other_paths=[METADATA_NAME])

    def report(self, wait=False):
        """Send package/repo for the repos done so far, in manifest order."""
        while self.reported < len(self.pins):
            index = self.reported
            job = self.archives[index]
            if job is None or not (wait or job.done()) or job.exception() is not None:
                return
            pin, files = self.pins[index], job.result().files
            fetched, info = self.fetches[index].result()
            log.info("release %s: repo %s at %s (%s)%s", self.release, pin.name, pin.sha[:12], info["subject"],
                     ", fetched" if fetched else "")
            self.emit("package/repo", {"release": self.release, "repo": pin.name, "sha": pin.sha, "fetched": fetched,
                                       "files": files})
            self.reported += 1

    def fail(self):
        self.draining = True
        self._queue(len(self.order))
        concurrent.futures.wait(self.archives)
        self.close()
        self.report(wait=True)  # the repos before the failing one
        raise self.archives[self.reported].exception()

    def close(self):
        """Close every spool still open (after a failure, or once the kit is written)."""
        for job in self.archives:
            if job is not None and job.done() and job.exception() is None:
                job.result().close()


def _fetch_all(exports):
    """Wait for every fetch; returns (fetched, info) per repo in manifest order."""
    concurrent.futures.wait(exports.fetches)
    if any(job.exception() is not None for job in exports.fetches):
        exports.fail()
    return [job.result() for job in exports.fetches]


def _fetch(mirror, pin):
    fetched = mirror.ensure(pin)
    return fetched, mirror.commit_info(pin.sha)


def spool_dir(config):
    """Where archives and large kits wait, as unnamed files: the cache, which holds the mirrors already."""
    folder = os.path.join(config.cache, "tmp")
    os.makedirs(folder, exist_ok=True)
    return folder


def path_room(config, release):
    """The bytes a path in the kit may have: PATH_MAX, less its final NUL and the deepest folder
    a publish unpacks the kit in (``<store>/trees/<env>/.tmp-<release>-<pid>/``, with room to spare
    for the temporary suffix), for the longest environment name."""
    env = max(config.all_environments, key=len, default="")
    deepest = os.path.join(os.path.abspath(config.store), "trees", env, f".tmp-{release}-{'0' * 32}", "")
    return PATH_MAX - 1 - len(os.fsencode(deepest))


def _export(mirror, pin, room, spools):
    """``git archive`` of the pinned tree into an unnamed file in ``spools``, its headers read into kit members."""
    spool = tempfile.TemporaryFile(dir=spools, prefix="archive-")
    try:
        return _Export(_read_export(mirror, pin, room, spool), spool)
    except BaseException:
        spool.close()
        raise


def _read_export(mirror, pin, room, spool):
    status, stderr = mirror.archive(pin.sha, pin.subdir, spool)
    members, empty_dirs = None, []
    if status == 0:
        try:
            members, empty_dirs = members_from_spool(spool, pin)
        except tarfile.ReadError:
            pass  # git wrote nothing: the tree-ish is not a folder
    if members is None:
        if pin.subdir:
            raise ManifestError(f"subdir {pin.subdir!r} is not a folder at {pin.sha[:12]}", pin.name)
        raise ManifestError(f"git archive of {pin.sha[:12]} failed: {_last_line(stderr, status)}", pin.name)
    if empty_dirs:
        # git stores no empty folders, so an empty one in the archive is a submodule (or a hand-made empty tree)
        links = mirror.gitlinks(pin.sha, pin.subdir)
        if links:
            raise ManifestError(
                f"holds a submodule at {links[0]}; list that repo in the manifest with its own SHA instead", pin.name
            )
    check_names(members, pin, room)
    if any(member.path == METADATA_NAME for member in members):
        raise ManifestError(f"its tree has a {METADATA_NAME}, which the kit reserves for its own metadata", pin.name)
    return members


def _last_line(stderr, status):
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else f"git exited {status}"


def _write(config, release, exports, fetched, by):
    store = Store(config)
    pins = exports.pins
    repos = [{**pin.describe(), "subject": info["subject"], "date": info["date"]} for pin, (_, info) in zip(pins, fetched)]
    mtime = max(info["time"] for _, info in fetched)
    metadata_file = metadata_member({"release": release, "repos": repos})
    if _apart(pins):
        # each repo is one run of the sorted kit: write it as soon as it is there, then let it go
        members = [metadata_file]
        blocks = [(pin.path, functools.partial(exports.members, index), functools.partial(exports.written, index))
                  for index, pin in enumerate(pins)]
    else:
        members = [member for index in range(len(pins)) for member in exports.members(index)] + [metadata_file]
        blocks = []
    with tempfile.SpooledTemporaryFile(KIT_IN_MEMORY, dir=exports.spool_dir, prefix="kit-") as kit:
        sha256 = write_tarball(kit, members, mtime, blocks)
        exports.report(wait=True)
        exports.check_links()  # before any byte of the kit is in the store
        # the store sees nothing until the kit is complete: written once under a temporary name, then renamed
        tmp = store.tmp_tarball_path(release)
        try:
            with open(tmp, "wb") as handle:
                kit.seek(0)
                shutil.copyfileobj(kit, handle, COPY_BUFFER)
                handle.flush()
                os.fsync(handle.fileno())
            tarball = store.tarball_path(release)
            metadata = {
                "release": release,
                "tarball": os.path.basename(tarball),
                "sha256": sha256,
                "packaged_at": now(),
                "packaged_by": by,
                "repos": repos,
            }
            stored, created = store.add_release(release, tmp, metadata)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return {"release": release, "tarball": tarball, "sha256": stored["sha256"], "created": created,
            "release_yml": store.release_yml_path(release), "repos": stored["repos"]}


def _apart(pins):
    """True if no repo's path is the kit's root or inside another's (the manifest refuses both)."""
    paths = [pin.path for pin in pins]
    return "." not in paths and len(set(paths)) == len(paths) and not any(
        path.startswith(other + "/") for path in paths for other in paths)
