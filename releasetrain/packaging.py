"""``release.package``: manifest -> mirrors -> reproducible deploy-kit in the store."""

import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import tarfile

from releasetrain import manifest as manifest_mod
from releasetrain.errors import ManifestError
from releasetrain.kit import (METADATA_NAME, PATH_MAX, check_links, check_names, members_from_tar, metadata_member,
                            tree_table, write_tarball)
from releasetrain.mirror import Mirror
from releasetrain.store import Store, now

log = logging.getLogger(__name__)
PARALLEL_REPOS = 4


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
    emit("package/done", {key: result[key] for key in ("release", "sha256", "tarball", "created")})
    return result


class _Exports:
    """Per repo, two jobs on one thread pool: fetch (the mirror has the SHA; its commit is read),
    then ``git archive`` read into members. Every fetch job is queued before any archive job, so
    the archives of the first repos run while the last ones fetch, and go on while the kit is
    compressed (which needs every commit's time first: the kit's mtime is the newest)."""

    def __init__(self, pool, config, manifest, release, emit):
        self.pins = list(manifest.repos)
        self.release, self.emit = release, emit
        mirrors = {}
        for pin in self.pins:
            mirrors.setdefault(pin.url, Mirror(config.cache, pin.fetch_url or pin.url, config.lock_timeout))
        self.fetches = [pool.submit(_fetch, mirrors[pin.url], pin) for pin in self.pins]
        self.archives = [None] * len(self.pins)
        room = path_room(config, release)
        for index in sorted(range(len(self.pins)), key=lambda i: self.pins[i].path + "/"):  # the order they are written
            pin = self.pins[index]
            self.archives[index] = pool.submit(_archive, mirrors[pin.url], pin, self.fetches[index], room)
        self.reported = 0  # repos whose package/repo event went out (in manifest order)
        self.tables = [None] * len(self.pins)  # per repo, its symlinks and other paths (see kit.tree_table)

    def members(self, index):
        """The members of one repo; on any failure, the first failing repo's error, as a serial run gives."""
        if self.archives[index].exception() is not None:
            self.fail()
        self.report()
        members = self.archives[index].result()
        self.tables[index] = tree_table(members)
        return members

    def check_links(self):
        """Every symlink of the kit, resolved with all the others (once every repo's members are known)."""
        check_links([(pin, *table) for pin, table in zip(self.pins, self.tables)], other_paths=[METADATA_NAME])

    def report(self, wait=False):
        """Send package/repo for the repos done so far, in manifest order."""
        while self.reported < len(self.pins):
            index = self.reported
            job = self.archives[index]
            if not (wait or job.done()) or job.exception() is not None:
                return
            pin, members = self.pins[index], job.result()
            fetched, info = self.fetches[index].result()
            log.info("release %s: repo %s at %s (%s)%s", self.release, pin.name, pin.sha[:12], info["subject"],
                     ", fetched" if fetched else "")
            self.emit("package/repo", {"release": self.release, "repo": pin.name, "sha": pin.sha, "fetched": fetched,
                                       "files": len(members)})
            self.reported += 1

    def fail(self):
        concurrent.futures.wait(self.archives)
        self.report(wait=True)  # the repos before the failing one
        raise self.archives[self.reported].exception()


def _fetch_all(exports):
    """Wait for every fetch; returns (fetched, info) per repo in manifest order."""
    concurrent.futures.wait(exports.fetches)
    if any(job.exception() is not None for job in exports.fetches):
        exports.fail()
    return [job.result() for job in exports.fetches]


def _fetch(mirror, pin):
    fetched = mirror.ensure(pin)
    return fetched, mirror.commit_info(pin.sha)


def path_room(config, release):
    """The bytes a path in the kit may have: PATH_MAX, less its final NUL and the deepest folder
    a publish unpacks the kit in (``<store>/trees/<env>/.tmp-<release>-<pid>/``, with room to spare
    for the temporary suffix), for the longest environment name."""
    env = max(config.all_environments, key=len, default="")
    deepest = os.path.join(os.path.abspath(config.store), "trees", env, f".tmp-{release}-{'0' * 32}", "")
    return PATH_MAX - 1 - len(os.fsencode(deepest))


def _archive(mirror, pin, fetch, room):
    fetch.result()  # raises the fetch's error: this repo failed there
    return _export(mirror, pin, room)


def _export(mirror, pin, room):
    """``git archive`` of the pinned tree, read into kit members."""
    status, data, stderr = mirror.archive(pin.sha, pin.subdir)
    members, empty_dirs = None, []
    if status == 0:
        try:
            members, empty_dirs = members_from_tar(data, pin)
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
        # each repo is one run of the sorted kit: write it as soon as it is there
        members = [metadata_file]
        blocks = [(pin.path, functools.partial(exports.members, index)) for index, pin in enumerate(pins)]
    else:
        members = [member for index in range(len(pins)) for member in exports.members(index)] + [metadata_file]
        blocks = []
    chunks = _Chunks()
    sha256 = write_tarball(chunks, members, mtime, blocks)
    exports.report(wait=True)
    exports.check_links()  # before any byte of the kit is in the store
    # the store sees nothing until the kit is complete: written once under a temporary name, then renamed
    tmp = store.tmp_tarball_path(release)
    try:
        with open(tmp, "wb") as handle:
            handle.writelines(chunks.parts)
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


class _Chunks:
    """The compressed kit in memory (a few MB; the trees it holds are in memory already)."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(bytes(data))
