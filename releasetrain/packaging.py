"""``release.package``: manifest -> mirrors -> reproducible deploy-kit in the store."""

import concurrent.futures
import hashlib
import json
import logging
import os
import tarfile

import git

from releasetrain import manifest as manifest_mod
from releasetrain.errors import ManifestError
from releasetrain.kit import METADATA_NAME, members_from_archive, metadata_member, write_tarball
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
        exported = _export_all(config, manifest, release, emit)
        result = _write(config, manifest, release, exported, by)
    except ManifestError as err:
        err.source = err.source or manifest.source
        emit("package/failed", {"release": release, "error": str(err)})
        raise
    except Exception as err:
        emit("package/failed", {"release": release, "error": str(err)})
        raise
    emit("package/done", {key: result[key] for key in ("release", "sha256", "tarball", "created")})
    return result


def _export_all(config, manifest, release, emit):
    mirrors = {}
    for pin in manifest.repos:
        mirrors.setdefault(pin.url, Mirror(config.cache, pin.fetch_url or pin.url, config.lock_timeout))
    workers = max(1, min(PARALLEL_REPOS, len(manifest.repos)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_export, mirrors[pin.url], pin) for pin in manifest.repos]
        exported = []
        for pin, job in zip(manifest.repos, jobs):
            members, info, fetched = job.result()
            log.info("release %s: repo %s at %s (%s)%s", release, pin.name, pin.sha[:12], info["subject"],
                     ", fetched" if fetched else "")
            emit("package/repo", {"release": release, "repo": pin.name, "sha": pin.sha, "fetched": fetched,
                                  "files": len(members)})
            exported.append((pin, members, info))
    return exported


def _export(mirror, pin):
    fetched = mirror.ensure(pin)
    info = mirror.commit_info(pin.sha)
    process = mirror.archive(pin.sha, pin.subdir)
    try:
        members, empty_dirs = members_from_archive(process.stdout, pin)
    except tarfile.ReadError:
        members, empty_dirs = None, []  # git wrote nothing: the tree-ish is not a folder
    finally:
        # tarfile stops at the first end-of-archive block; closing the pipe before git has written
        # the rest of its padding kills it with SIGPIPE (exit -13), a failure that comes and goes with load
        process.stdout.read()
        process.stdout.close()
        try:
            process.wait()
            failed = None
        except git.GitCommandError as err:
            failed = err
    if failed is not None or members is None:
        if pin.subdir:
            raise ManifestError(f"subdir {pin.subdir!r} is not a folder at {pin.sha[:12]}", pin.name)
        raise ManifestError(f"git archive of {pin.sha[:12]} failed: {failed}", pin.name)
    if empty_dirs:
        # git stores no empty folders, so an empty one in the archive is a submodule (or a hand-made empty tree)
        links = mirror.gitlinks(pin.sha, pin.subdir)
        if links:
            raise ManifestError(
                f"holds a submodule at {links[0]}; list that repo in the manifest with its own SHA instead", pin.name
            )
    if any(member.path == METADATA_NAME for member in members):
        raise ManifestError(f"its tree has a {METADATA_NAME}, which the kit reserves for its own metadata", pin.name)
    return members, info, fetched


def _write(config, manifest, release, exported, by):
    store = Store(config)
    repos = [{**pin.describe(), "subject": info["subject"], "date": info["date"]} for pin, _, info in exported]
    mtime = max(info["time"] for _, _, info in exported)
    members = [member for _, repo_members, _ in exported for member in repo_members]
    members.append(metadata_member({"release": release, "repos": repos}))
    tmp = store.tmp_tarball_path(release)
    try:
        with open(tmp, "wb") as handle:
            sha256 = write_tarball(handle, members, mtime)
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
        created = store.add_release(release, tmp, sha256, metadata)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"release": release, "tarball": tarball, "sha256": sha256, "created": created,
            "release_yml": store.release_yml_path(release), "repos": repos}
