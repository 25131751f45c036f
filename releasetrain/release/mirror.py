"""Bare git mirrors in the cache: one per URL, fetched only when a SHA is missing.

The hot path (is the commit here? fetch, read the commit, ``git archive``) spawns
few processes: commits are read through GitPython's object database, whose
persistent ``git cat-file --batch`` answers before and after the fetch; ``fetch``
(with its transport helpers) and ``archive`` run git directly. A warm run that
must fetch spawns ``cat-file``, ``fetch`` and ``archive`` per repo, and nothing else.
"""

import hashlib
import os
import re
import shutil
import subprocess
import threading

import git

from releasetrain.errors import ManifestError
from releasetrain.locking import file_lock

FETCH_TIMEOUT = 600
GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=20",
    "GIT_ASKPASS": "/bin/true",
}
BRANCHES_AND_TAGS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
# Keep what a fetch brings as one pack (index-pack) instead of exploding it into loose objects
# (unpack-objects, one file per object: two to three times slower here); the cache is ours, so
# no automatic maintenance and no FETCH_HEAD. Unknown keys are ignored by older git.
FETCH_CONFIG = [
    "-c", "fetch.unpackLimit=1",
    "-c", "maintenance.auto=false",
    "-c", "gc.auto=0",
    "-c", "fetch.writeFetchHEAD=false",
]
# Every fetch adds a pack; past this many, the next fetch ends with a full repack so lookups stay fast.
MAX_PACKS = 50
# A kit is the tree at the SHA, byte for byte, on any machine: git archive must not apply a repo's
# .gitattributes (export-subst expands $Format:%d$ to the refs this mirror happens to have,
# export-ignore drops files, text/eol/ident/filter rewrite content). $GIT_DIR/info/attributes
# overrides every other attributes file, so the mirror unsets them all there.
ARCHIVE_ATTRIBUTES = "* -export-subst -export-ignore -text -eol -crlf -ident -filter -working-tree-encoding\n"
# ... and no system or user configuration (core.autocrlf, tar.umask, core.attributesFile) reaches it.
ARCHIVE_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_ATTR_NOSYSTEM": "1"}


def mirror_path(cache, url):
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:40] or "repo"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(cache, "mirrors", f"{slug}-{digest}.git")


def _git_env(extra=None):
    env = dict(os.environ)
    env.update(GIT_ENV)
    env.update(extra or {})
    env.update(LANGUAGE="C", LC_ALL="C")  # messages are parsed and shown in English
    return env


def _stderr_detail(stderr, status):
    """The last line of git's stderr, as the messages have always shown it."""
    text = stderr.decode("utf-8", "surrogateescape") if isinstance(stderr, bytes) else (stderr or "")
    if text.endswith("\n"):
        text = text[:-1]
    text = f"\n  stderr: '{text}'" if text else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].strip("'") if lines else f"git exited {status}"


class Mirror:
    """A bare mirror of one URL."""

    def __init__(self, cache, url, lock_timeout=600):
        self.url = url
        self.path = mirror_path(cache, url)
        self.lock_timeout = lock_timeout
        self._repo = None
        self._commits = {}  # sha -> what commit_info gives, read once per run
        # GitPython's persistent cat-file serves one thread at a time (pins of the same URL share this mirror)
        self._objects_lock = threading.Lock()

    @property
    def repo(self):
        if self._repo is None:
            self._init()
            self._repo = git.Repo(self.path)
            self._repo.git.update_environment(GIT_DIR=self.path, **GIT_ENV)
        return self._repo

    def _init(self):
        if not os.path.isdir(self.path):
            repo = git.Repo.init(self.path, bare=True, mkdir=True)
            repo.git.config("gc.auto", "0")  # the cache is ours; never pause a package run
        self._pin_attributes()

    def _pin_attributes(self):
        """Write ARCHIVE_ATTRIBUTES to info/attributes unless it holds them (a mirror made by an older version)."""
        path = os.path.join(self.path, "info", "attributes")
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == ARCHIVE_ATTRIBUTES:
                    return
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(ARCHIVE_ATTRIBUTES)
        os.replace(tmp, path)

    def _git(self, *args, timeout=None, input=None, env=None, stdout=subprocess.PIPE):
        executable = git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"
        return subprocess.run(
            [executable, f"--git-dir={self.path}", *args], input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=stdout, stderr=subprocess.PIPE, env=_git_env(env), timeout=timeout, check=False,
        )

    def _lookup(self, sha):
        """What :meth:`commit_info` gives for the commit ``sha``, or None when the mirror has no commit
        by that name. Read through GitPython's object database, with the persistent ``cat-file --batch``
        it keeps (git looks for new packs when an object is missing, so it also answers after a fetch);
        :meth:`_close_objects` ends it."""
        if not os.path.isdir(self.path):
            return None
        binsha = bytes.fromhex(sha)
        with self._objects_lock:
            repo = self.repo
            try:
                stream = repo.odb.stream(binsha)
                stream.read()  # the whole object: the next request reads after it
                if stream.type != git.Commit.type.encode():
                    return None
                commit = git.Commit(repo, binsha)  # its fields are read on first use, from the same cat-file
                return {"subject": commit.summary, "date": commit.committed_datetime.isoformat(),
                        "time": commit.committed_date}
            except ValueError:  # "<sha> missing"
                return None
            except OSError:  # cat-file is gone: a fresh one next time
                repo.git.clear_cache()
                return None

    def _close_objects(self):
        """End the persistent cat-file processes, if any."""
        with self._objects_lock:
            if self._repo is not None:
                self._repo.git.clear_cache()

    def has_commit(self, sha):
        try:
            return self._lookup(sha) is not None
        finally:
            self._close_objects()

    def ensure(self, pin):
        """Make sure ``pin.sha`` is in the mirror, fetching only when it is missing.

        One ``git cat-file --batch`` answers before and after the fetch (git looks for new
        packs when an object is missing), so a repo that must fetch costs one cat-file.
        A mirror that held no objects and still holds none when this fails (an unreachable
        URL, an empty repo) is removed, under the lock: it would only take room in the cache.
        """
        with file_lock(self.path + ".lock", self.lock_timeout, f"mirror of {self.url}"):
            had_objects = self._holds_objects()
            try:
                return self._ensure_locked(pin)
            except BaseException:
                if not had_objects and not self._holds_objects():
                    self._remove()
                raise

    def _ensure_locked(self, pin):
        try:
            return self._ensure_objects(pin)
        finally:
            self._close_objects()

    def _ensure_objects(self, pin):
        info = self._lookup(pin.sha)
        if info is not None:
            self._commits[pin.sha] = info
            self._pin_attributes()
            return False
        self._init()
        refspecs = BRANCHES_AND_TAGS + ([f"+{pin.ref}:{pin.ref}"] if pin.ref else [])
        self._fetch(pin, refspecs)
        info = self._lookup(pin.sha)
        if info is None:
            # Servers that allow it can still hand over an unadvertised commit.
            try:
                self._fetch(pin, [pin.sha], quiet=True)
            except ManifestError:
                pass
            info = self._lookup(pin.sha)
        if info is None:
            where = "its branches, tags" + (f" and {pin.ref}" if pin.ref else "")
            raise ManifestError(f"sha {pin.sha} is not in {pin.url} (searched {where})", pin.name)
        self._commits[pin.sha] = info
        self._repack_if_needed()
        return True

    def _holds_objects(self):
        """True if the mirror has a pack or a loose object (False when it does not exist)."""
        objects = os.path.join(self.path, "objects")
        if not os.path.isdir(objects):
            return False
        packs = os.path.join(objects, "pack")
        if os.path.isdir(packs) and any(name.endswith(".pack") for name in os.listdir(packs)):
            return True
        return any(len(name) == 2 and os.listdir(os.path.join(objects, name)) for name in os.listdir(objects))

    def _remove(self):
        """Delete the mirror (its lock file stays: another run may be waiting on it)."""
        self._close_objects()
        self._repo = None
        self._commits.clear()
        shutil.rmtree(self.path, ignore_errors=True)

    def _fetch(self, pin, refspecs, quiet=False):
        try:
            process = self._git(*FETCH_CONFIG, "fetch", "--no-tags", "--prune", pin.fetch_url or pin.url, *refspecs,
                                timeout=FETCH_TIMEOUT)
            status, stderr = process.returncode, process.stderr
        except subprocess.TimeoutExpired:
            status, stderr = -9, f"Timeout: git fetch did not complete in {FETCH_TIMEOUT} secs."
        if status != 0:
            if quiet:
                raise ManifestError("fetch failed", pin.name)
            raise ManifestError(f"cannot fetch {pin.url}: {_stderr_detail(stderr, status)}", pin.name)

    def _repack_if_needed(self):
        packs = os.path.join(self.path, "objects", "pack")
        if sum(name.endswith(".pack") for name in os.listdir(packs)) > MAX_PACKS:
            self._git("repack", "-a", "-d", "-q")  # best effort: a failed repack leaves the packs as they were

    def commit_info(self, sha):
        """The subject, ISO date and commit time (seconds) of the commit ``sha``; ensure() has read it already."""
        info = self._commits.get(sha)
        if info is None:
            try:
                info = self._lookup(sha)
            finally:
                self._close_objects()
            if info is None:
                raise ValueError(f"{sha} is not a commit in the mirror of {self.url}")
            self._commits[sha] = info
        return dict(info)

    def archive(self, sha, subdir, out):
        """``git archive`` of the tree at ``sha`` (or of ``subdir`` in it) written to the file ``out``
        (git writes it there itself: no byte of it passes through Python); returns (exit status, stderr)."""
        treeish = f"{sha}:{subdir}" if subdir else sha
        process = self._git("archive", "--format=tar", treeish, env=ARCHIVE_ENV, stdout=out)
        return process.returncode, process.stderr

    def gitlinks(self, sha, subdir=""):
        """Paths of submodules (gitlinks) in the exported tree: they cannot be exported."""
        args = ["-r", "-z", sha] + ([subdir] if subdir else [])
        out = self.repo.git.ls_tree(*args)
        return [entry.split("\t", 1)[1] for entry in out.split("\0") if entry.startswith("160000 ")]

    def log(self, old, new):
        """Commits reachable from ``new`` and not from ``old``, newest first."""
        out = self.repo.git.log("--format=%H%x09%cI%x09%s", f"{old}..{new}")
        return [dict(zip(("sha", "date", "subject"), line.split("\t", 2))) for line in out.splitlines() if line]
