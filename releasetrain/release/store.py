"""The release store: kits, per-environment trees, and an append-only history.

Layout under ``store``::

    releases/<id>.tar.gz           the deploy-kit
    releases/<id>.tar.gz.sha256    its checksum, sha256sum(1) format
    releases/<id>.yml              release.yml: resolved manifest, subjects, dates, sha256
    trees/<env>/<id>/              unpacked kits (named once complete; removed by renaming them aside first)
    complete/<env>/<id>            the kit's sha256, written last: a tree is reused only when it matches
    envs/<env> -> ../trees/<env>/<id>   what saltenv <env>'s file_roots lists
    history.jsonl                  one JSON record per action, append-only
    .lock                          flock held by every change to the store
    pipeline/env-<env>.lock        flock held while <env> is switched (publish, promote, rollback) or deployed

An environment is switched by renaming a new symlink over ``envs/<env>``, an
atomic step: a reader (the salt-master's fileserver) sees the old tree or the
new one, never a half-written one, even when a publish is killed mid-way.
"""

import ctypes
import contextlib
import errno
import hashlib
import os
import posixpath
import shutil
import tarfile
import threading
import time
import zlib

import yaml

from releasetrain import journal
from releasetrain.release import links
from releasetrain.errors import StoreError
from releasetrain.release.kit import METADATA_NAME, unprintable
from releasetrain.locking import file_lock
from releasetrain.release.manifest import RELEASE_RE

SWITCHING_ACTIONS = ("publish", "promote", "rollback", "recover")

#: Tar member types a kit may hold besides files, folders and symlinks, as an operator would name them.
_SPECIAL_MEMBERS = {
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
}
#: What reading or unpacking a kit that is not one (truncated, tampered, not a tar) raises.
_UNREADABLE_KIT = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def check_release_id(release):
    """Refuse anything but a release id before it names a file: a path, a newline, a number."""
    if not isinstance(release, str):
        raise StoreError(
            f"not a valid release id: {release!r} is a {type(release).__name__}, not a string "
            "(salt-run reads 2026.10 as the number 2026.1: quote it, e.g. '\"2026.10\"')"
        )
    if not RELEASE_RE.fullmatch(release):
        raise StoreError(
            f"not a valid release id: {release!r} (letters, digits, '.', '_', '+' or '-', at most 100, "
            "starting with a letter or digit)"
        )
    return release


def env_lock(config, env, timeout=None):
    """Held while ``env``'s tree is switched (publish, promote and rollback take it) and while the
    pipeline deploys there, so that no one switches an environment under a running deployment.

    Reentrant: the pipeline holds it over a whole deployment and publishes inside it."""
    return file_lock(os.path.join(config.store, "pipeline", f"env-{env}.lock"),
                     config.lock_timeout if timeout is None else timeout, f"pipeline env-{env}", reentrant=True)


def _names_a_release(record):
    release = record.get("release")
    return isinstance(release, str) and RELEASE_RE.fullmatch(release) is not None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pins(metadata):
    """What makes a release's content: each repo's name, URL, SHA, path, subdir and ref."""
    keys = ("name", "url", "sha", "path", "subdir", "ref")
    return [{key: repo.get(key) for key in keys} for repo in metadata.get("repos") or []]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _syncfs(path):
    """Flush the store's filesystem before a switch, so a crash cannot expose an empty tree."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = _libc()
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(one, other):
    """Swap two paths in one step (renameat2's RENAME_EXCHANGE); False where the C library or filesystem cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(one), _AT_FDCWD, os.fsencode(other), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), other)


def _aside(path):
    """A name beside ``path`` that is never served and that collection removes once this run is gone."""
    return os.path.join(os.path.dirname(path), f".trash-{os.path.basename(path)}-{os.getpid()}")


def _install(unpacked, tree):
    """Give the complete ``unpacked`` folder the name ``tree``; return where a tree that held the name went.

    An incomplete tree under that name (a killed run's, or one from before completion markers) may
    be the one served: it is swapped out in one step, so the environment's link never dangles
    (two renames where the filesystem cannot swap).
    """
    if not os.path.lexists(tree):
        os.rename(unpacked, tree)
        return None
    if _exchange(unpacked, tree):
        return unpacked
    aside = _aside(tree)
    _remove(aside)
    os.rename(tree, aside)
    os.rename(unpacked, tree)
    return aside


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _read_release_yml(release, path):
    """A release.yml's content, if it has the shape the store relies on; else one line saying what is wrong."""
    try:
        with open(path, "rb") as handle:
            metadata = yaml.safe_load(handle.read().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise _damaged_release_yml(release, path, f"is not UTF-8 text (byte {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise _damaged_release_yml(release, path, f"is not valid YAML{f' (line {mark.line + 1})' if mark else ''}") from None
    except OSError as err:
        raise _damaged_release_yml(release, path, f"cannot be read ({err.strerror})") from None
    if not isinstance(metadata, dict):
        raise _damaged_release_yml(release, path, "is not a mapping")
    repos = metadata.get("repos")
    if not isinstance(repos, list) or not all(isinstance(repo, dict) for repo in repos):
        raise _damaged_release_yml(release, path, "has no list of repos")
    for index, repo in enumerate(repos):
        for key in ("name", "url", "sha", "path"):
            if not isinstance(repo.get(key), str):
                raise _damaged_release_yml(release, path, f"gives repos[{index}] no {key!r}")
    return metadata


def _damaged_release_yml(release, path, problem):
    return StoreError(f"release {release!r}: {path} {problem}; restore it, or package the release under a new name")


def _link_roots(metadata):
    """The folders a kit's symlinks must stay in: each repo's path (release.yml's ``repos``), else the whole kit."""
    return [repo["path"] for repo in metadata["repos"]] or [""]


def _check_listing(release, members, roots):
    """Refuse a kit whose listing would write anything but files, folders and links that stay in their repo's path.

    Runs before anything is extracted: tarfile's ``data`` filter judges one member at a time and
    lets through a chain (``a/up -> ..``, then ``a/esc -> up/../..`` before ``up`` exists) or a
    member written through an earlier link.
    """
    seen, symlinks, others, files = set(), {}, [], set()
    for member in members:
        path, problem = _member_path(member)
        if problem is None and path in seen:
            problem = "named twice"
        if problem is None:
            problem = _under_a_file(path, files)
        if problem is not None:
            raise _refused(release, member.name, problem)
        seen.add(path)
        if member.issym():
            symlinks[path] = member.linkname
        else:
            others.append(path)
            if member.isreg():
                files.add(path)
    try:
        links.check(symlinks, others, roots)
    except links.UnsafeLink as err:
        raise _refused(release, err.path, err.problem) from None


def _member_path(member):
    """``(path in the tree, None)``, or ``(None, why the member may not be in a kit)``."""
    if not (member.isreg() or member.isdir() or member.issym()):
        kind = _SPECIAL_MEMBERS.get(member.type, f"of tar type {member.type!r}")
        return None, f"{kind}, not a file, folder or symlink"
    name = member.name
    if unprintable(name) or (member.issym() and unprintable(member.linkname)):
        return None, "control characters or bytes that are not UTF-8 in its name or target"
    if not name:
        return None, "no name"
    if name.startswith("/"):
        return None, "an absolute name"
    if ".." in name.split("/"):
        return None, "'..' in its name"
    if member.issym() and not member.linkname:
        return None, "a symlink to nothing"
    path = posixpath.normpath(name)
    if path == "." and not member.isdir():
        return None, "the kit's own folder, yet not a folder"
    return path, None


def _under_a_file(path, files):
    parent = posixpath.dirname(path)
    while parent:
        if parent in files:
            return f"under {parent!r}, which is a file"
        parent = posixpath.dirname(parent)
    return None


def _refused(release, name, problem):
    return StoreError(f"release {release!r} is refused: kit member {name!r}: {problem}; nothing was published")


def _one_line(err):
    return " ".join(str(err).split()) or type(err).__name__


def _extract(release, tarball, roots, folder):
    """Unpack a kit into the new ``folder``, once its whole listing is known to be safe; one line if it is not."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = archive.getmembers()
            _read_to_the_end(archive.fileobj)
            _check_listing(release, members, roots)
            os.mkdir(folder)
            archive.extractall(folder, members=members, filter="data")  # the filter stays as a second line
    except _UNREADABLE_KIT as err:
        raise StoreError(f"release {release!r}: its kit cannot be unpacked ({_one_line(err)}); nothing was published") from None


def _read_to_the_end(stream):
    """Read past the tar's last member to the gzip trailer, whose CRC catches data tarfile never looks at."""
    while stream.read(1 << 20):
        pass


def _owner_is_gone(tmp_name):
    """Temporary names end in the writer's pid; only a dead writer's leftovers are removed."""
    stem = tmp_name.split(".tar.gz")[0]
    try:
        pid = int(stem.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False  # alive, this process included: another thread may be writing it


def _holds_no_files(folder):
    return all(not files for _, _, files in os.walk(folder))


def _stamp_tree(tree):
    """Give every file of a newly unpacked tree this moment as its mtime.

    Kits carry one fixed mtime (for reproducibility), so two releases can share
    it; Salt's roots fileserver caches a file's hash by path and mtime, and would
    keep serving the old hash after a switch. A fresh mtime per tree avoids that.
    """
    stamp = time.time_ns()
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            os.utime(os.path.join(root, name), ns=(stamp, stamp), follow_symlinks=False)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    def __init__(self, config):
        self.config = config
        self.root = config.store
        self.releases_dir = os.path.join(self.root, "releases")
        self.history_path = os.path.join(self.root, "history.jsonl")

    # -- paths -----------------------------------------------------------
    def tarball_path(self, release):
        return os.path.join(self.releases_dir, f"{check_release_id(release)}.tar.gz")

    def release_yml_path(self, release):
        return os.path.join(self.releases_dir, f"{check_release_id(release)}.yml")

    def lock(self):
        return file_lock(os.path.join(self.root, ".lock"), self.config.lock_timeout, f"the release store {self.root}")

    def env_lock(self, env, timeout=None):
        """See :func:`env_lock`: taken before the store's lock, never inside it."""
        return env_lock(self.config, env, timeout)

    # -- releases --------------------------------------------------------
    def exists(self, release):
        return os.path.isfile(self.release_yml_path(release))

    def show(self, release):
        path = self.release_yml_path(release)
        if not os.path.isfile(path):
            known = self.list_ids()
            hint = f"; known: {', '.join(known[-5:])}" if known else "; the store has no releases yet"
            raise StoreError(f"unknown release {release!r}{hint}")
        return _read_release_yml(release, path)

    def list_ids(self):
        """The releases in the store, oldest first (files whose name is no release id are not releases)."""
        if not os.path.isdir(self.releases_dir):
            return []
        entries = [name[: -len(".yml")] for name in os.listdir(self.releases_dir) if name.endswith(".yml")]
        return sorted(
            (rid for rid in entries if RELEASE_RE.fullmatch(rid)),
            key=lambda rid: os.path.getmtime(self.release_yml_path(rid)),
        )

    def add_release(self, release, tmp_tarball, metadata):
        """Move a freshly written tarball into the store; release.yml, written last, marks it complete.

        Returns the release.yml that stands and whether this call created it. A release that
        exists already stands as it is when its repos are the same (its kit is what was tested,
        even if this version of releasetrain compresses it to other bytes); a damaged kit is
        replaced by the new one when that has the recorded sha256."""
        os.makedirs(self.releases_dir, exist_ok=True)
        with self.lock():
            if self.exists(release):
                return self._package_again(release, tmp_tarball, metadata), False
            tarball = self.tarball_path(release)
            os.replace(tmp_tarball, tarball)
            self._write_sha256(tarball, metadata["sha256"])
            self._write_atomic(
                self.release_yml_path(release), yaml.safe_dump(metadata, sort_keys=False, default_flow_style=False)
            )
            self._append_history({"action": "package", "release": release, "sha256": metadata["sha256"]})
            return metadata, True

    def _package_again(self, release, tmp_tarball, metadata):
        existing = self.show(release)
        recorded = existing.get("sha256", "?")
        if _pins(existing) != _pins(metadata):
            raise StoreError(
                f"release {release!r} already exists with different content "
                f"(sha256 {recorded[:12]}...); name the new one differently"
            )
        tarball = self.tarball_path(release)
        if os.path.isfile(tarball) and sha256_file(tarball) == recorded:
            return existing
        if metadata["sha256"] != recorded:
            raise StoreError(
                f"release {release!r} is damaged (its tarball does not match sha256 {recorded[:12]}...) and this "
                "releasetrain builds it with other bytes; package the manifest under a new name"
            )
        os.replace(tmp_tarball, tarball)
        self._write_sha256(tarball, recorded)
        self._append_history({"action": "repair", "release": release, "sha256": recorded})
        return existing

    def _write_sha256(self, tarball, sha256):
        self._write_atomic(tarball + ".sha256", f"{sha256}  {os.path.basename(tarball)}\n")

    def tmp_tarball_path(self, release):
        os.makedirs(self.releases_dir, exist_ok=True)
        # reactor-started runners share one process: the thread tells them apart, the pid comes last
        return os.path.join(self.releases_dir, f".tmp-{release}-t{threading.get_ident()}-{os.getpid()}.tar.gz")

    def _write_atomic(self, path, text):
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    # -- history ---------------------------------------------------------
    def _append_history(self, record):
        return journal.append(self.history_path, record)

    def history(self, env=None, limit=None):
        """The records, oldest first (a line that holds no record is skipped: see releasetrain.journal)."""
        records = [record for record in journal.read(self.history_path) if env is None or record.get("env") == env]
        return records[-limit:] if limit else records

    @property
    def runs_dir(self):
        """Where ``deploy.region`` keeps each run's record (JSON) and report (HTML)."""
        return os.path.join(self.root, "runs")

    def record_deploy(self, summary):
        """A ``deploy.region`` run's summary (action ``deploy``) into the history; it switches nothing."""
        with self.lock():
            return self._append_history({**summary, "action": "deploy"})

    def deployments(self, release=None, env=None, limit=None):
        """The ``deploy.region`` runs recorded, oldest first, of ``release`` and/or in ``env``."""
        runs = [record for record in self.history(env) if record.get("action") == "deploy"
                and (release is None or record.get("release") == release)]
        return runs[-limit:] if limit else runs

    def previous(self, env):
        """The release ``env`` served before its current one (what a rollback goes back to), or None."""
        stack = self._stack(env)
        return stack[-2] if len(stack) > 1 else None

    def _stack(self, env):
        """The different releases an environment went through, oldest first; rollback pops the top."""
        stack = []
        for record in self.history(env):
            action = record.get("action")
            if not _names_a_release(record):
                continue  # hand-edited or damaged: nothing it names could be published again
            if action == "rollback" and stack:
                stack.pop()
            if action in SWITCHING_ACTIONS and (not stack or stack[-1] != record["release"]):
                stack.append(record["release"])  # the same release again is no new step to go back from
        return stack

    # -- environments ----------------------------------------------------
    def current(self, env):
        """The release ``env`` serves now, read from the tree itself (None if none)."""
        link = self.config.env_tree(env)
        if not os.path.islink(link):
            return None
        try:
            with open(os.path.join(link, METADATA_NAME), encoding="utf-8") as handle:
                release = yaml.safe_load(handle).get("release")
            if _names_a_release({"release": release}):
                return release
        except (OSError, ValueError, yaml.YAMLError, AttributeError):
            pass  # ValueError: not UTF-8
        return os.path.basename(os.readlink(link))

    def is_verified(self, release, env):
        return any(
            record.get("action") == "verify" and record.get("release") == release
            for record in self.history(env)
        )

    def publish(self, release, env, by):
        check_release_id(release)
        self.config.check_env(env)
        self.show(release)  # an unknown or damaged release is refused before any lock is waited for (or made)
        with self.env_lock(env), self.lock():
            self._reconcile(env, by)
            return self._publish_locked(release, env, by, "publish")

    def promote(self, release, to, by, force=False):
        check_release_id(release)
        self.config.check_chain_env(to)
        chain = list(self.config.environments)
        position = chain.index(to)
        before = chain[position - 1] if position else None
        self.show(release)  # as publish: refused before any lock
        with self.env_lock(to), self.lock():
            self._reconcile(to, by)
            self.show(release)
            if before and not force and not self.is_verified(release, before):
                raise StoreError(
                    f"release {release!r} is not verified in {before!r}, the environment before {to!r}; "
                    f"deploy and verify it there first, or pass force=True"
                )
            return self._publish_locked(release, to, by, "promote", force=bool(force), verified_in=before)

    def verify(self, release, env, by):
        check_release_id(release)
        self.config.check_env(env)
        self.show(release)
        with self.lock():
            current = self.current(env)
            if current != release:
                raise StoreError(
                    f"release {release!r} is not what {env!r} serves (it serves {current!r}); "
                    f"only the deployed release can be verified"
                )
            record = self._append_history({"action": "verify", "release": release, "env": env, "by": by})
        return {"release": release, "env": env, "verified": True, "time": record["time"]}

    def rollback(self, env, by):
        """Back to the release ``env`` served before the current one: a different release, or one line saying there is none."""
        self.config.check_env(env)
        with self.env_lock(env), self.lock():  # held from reading the history to the switch: no publish can slip in between
            self._reconcile(env, by)
            stack = self._stack(env)
            if len(stack) < 2:
                since = f"it has served only {stack[-1]!r}" if stack else "nothing was published there"
                raise StoreError(f"{env!r} has no earlier release to roll back to ({since})")
            return self._publish_locked(stack[-2], env, by, "rollback", rolled_back=stack[-1])

    def status(self, limit=20):
        environments = {}
        for env in self.config.all_environments:
            current = self.current(env)
            last = next(
                (r for r in reversed(self.history(env)) if r.get("action") in SWITCHING_ACTIONS),
                None,
            )
            environments[env] = {
                "release": current,
                "published_at": last.get("time") if last else None,
                "by": last.get("by") if last else None,
                "action": last.get("action") if last else None,
                "verified": bool(current) and self.is_verified(current, env),
                "last_deploy": next(iter(self.deployments(env=env, limit=1)), None),
                "tree": self.config.env_tree(env),
            }
        return {"environments": environments, "history": self.history(limit=limit)}

    # -- internals ---------------------------------------------------------
    def _publish_locked(self, release, env, by, action, **extra):
        """Unpack ``release`` and switch ``env`` to it; the caller holds the store's lock."""
        metadata = self.show(release)
        tarball = self.tarball_path(release)
        try:
            actual = sha256_file(tarball)
        except OSError as err:
            raise StoreError(f"release {release!r}: its kit cannot be read ({err.strerror}); package it again") from None
        if actual != metadata.get("sha256"):
            raise StoreError(
                f"release {release!r} is damaged: its tarball's sha256 is {actual[:12]}..., "
                f"release.yml says {str(metadata.get('sha256'))[:12]}...; package it again"
            )
        previous = self.current(env)
        tree = self._unpack(release, env, tarball, metadata)
        self._switch(env, tree)
        record = self._append_history(
            {"action": action, "release": release, "env": env, "by": by, "previous": previous, **extra}
        )
        self._collect_garbage(env)
        return {"release": release, "env": env, "tree": self.config.env_tree(env), "previous": previous, "time": record["time"]}

    def _reconcile(self, env, by):
        """Record a switch that a killed run made but did not get to write down."""
        current = self.current(env)
        stack = self._stack(env)
        if current and (not stack or stack[-1] != current):
            self._append_history({"action": "recover", "release": current, "env": env, "by": by})

    def _trees(self, env):
        return os.path.join(self.root, "trees", env)

    def _marker(self, env, release):
        """Written last, once ``trees/<env>/<release>`` is complete and on disk: the kit's sha256."""
        return os.path.join(self.root, "complete", env, release)

    def _is_complete(self, env, release, sha256):
        tree = os.path.join(self._trees(env), release)
        if not os.path.isdir(tree) or os.path.islink(tree):
            return False
        try:
            with open(self._marker(env, release), encoding="ascii") as handle:
                return handle.read().strip() == sha256
        except (OSError, ValueError):
            return False

    def _mark_complete(self, env, release, sha256):
        marker = self._marker(env, release)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w", encoding="ascii") as handle:  # cut short by a kill, it matches no sha256
            handle.write(sha256 + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(os.path.dirname(marker))

    def _unmark(self, env, release):
        marker = self._marker(env, release)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)
            _fsync_dir(os.path.dirname(marker))

    def _unpack(self, release, env, tarball, metadata):
        """The complete tree of ``release`` in ``env``: reused only when its marker holds this kit's sha256."""
        trees = self._trees(env)
        tree = os.path.join(trees, release)
        if self._is_complete(env, release, metadata["sha256"]):
            return tree
        self._unmark(env, release)
        os.makedirs(trees, exist_ok=True)
        tmp = os.path.join(trees, f".tmp-{release}-{os.getpid()}")
        _remove(tmp)
        try:
            _extract(release, tarball, _link_roots(metadata), tmp)
            _stamp_tree(tmp)
            _syncfs(tmp)
            replaced = _install(tmp, tree)
        except BaseException:
            _remove(tmp)
            raise
        _fsync_dir(trees)
        self._mark_complete(env, release, metadata["sha256"])
        if replaced:
            _remove(replaced)
        return tree

    def _switch(self, env, tree):
        envs = os.path.join(self.root, "envs")
        os.makedirs(envs, exist_ok=True)
        link = os.path.join(envs, env)
        if os.path.isdir(link) and not os.path.islink(link):
            if not _holds_no_files(link):
                raise StoreError(f"{link} is a folder with files, not a tree releasetrain published; move it away")
            shutil.rmtree(link)  # empty placeholders, e.g. file_roots folders a master created at start
        elif os.path.exists(link) and not os.path.islink(link):
            raise StoreError(f"{link} exists and is not a symlink made by releasetrain; move it away")
        tmp = os.path.join(envs, f".tmp-{env}-{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.path.relpath(tree, envs), tmp)
        os.replace(tmp, link)
        _fsync_dir(envs)

    def _collect_garbage(self, env):
        """Drop leftovers of killed runs and trees beyond ``keep_trees`` (never the current one)."""
        trees = self._trees(env)
        for folder in (trees, os.path.join(self.root, "envs"), self.releases_dir):
            for name in os.listdir(folder) if os.path.isdir(folder) else []:
                if name.startswith((".tmp-", ".trash-")) and _owner_is_gone(name):
                    _remove(os.path.join(folder, name))
        current = self.current(env)
        recent = []
        for release in reversed(self._stack(env)):
            if release not in recent:
                recent.append(release)
        keep = set(recent[: max(self.config.keep_trees, 1)]) | {current}
        for name in os.listdir(trees):
            if name not in keep and not name.startswith("."):
                self._remove_tree(env, name)

    def _remove_tree(self, env, name):
        """Unmark a tree, then take it out of its name, then delete it: a kill at any point leaves no tree to reuse."""
        self._unmark(env, name)
        tree = os.path.join(self._trees(env), name)
        aside = _aside(tree)
        _remove(aside)
        os.rename(tree, aside)
        _fsync_dir(os.path.dirname(tree))
        _remove(aside)
