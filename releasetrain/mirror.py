"""Bare git mirrors in the cache: one per URL, fetched only when a SHA is missing."""

import hashlib
import os
import re

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


def mirror_path(cache, url):
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:40] or "repo"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return os.path.join(cache, "mirrors", f"{slug}-{digest}.git")


class Mirror:
    """A bare mirror of one URL."""

    def __init__(self, cache, url, lock_timeout=600):
        self.url = url
        self.path = mirror_path(cache, url)
        self.lock_timeout = lock_timeout
        self._repo = None

    @property
    def repo(self):
        if self._repo is None:
            if not os.path.isdir(self.path):
                repo = git.Repo.init(self.path, bare=True, mkdir=True)
                repo.git.config("gc.auto", "0")  # the cache is ours; never pause a package run
            self._repo = git.Repo(self.path)
            self._repo.git.update_environment(**GIT_ENV)
        return self._repo

    def has_commit(self, sha):
        try:
            return self.repo.git.cat_file("-t", sha) == "commit"
        except git.GitCommandError:
            return False

    def ensure(self, pin):
        """Make sure ``pin.sha`` is in the mirror, fetching only when it is missing."""
        with file_lock(self.path + ".lock", self.lock_timeout, f"mirror of {self.url}"):
            if self.has_commit(pin.sha):
                return False
            refspecs = BRANCHES_AND_TAGS + ([f"+{pin.ref}:{pin.ref}"] if pin.ref else [])
            self._fetch(pin, refspecs)
            if not self.has_commit(pin.sha):
                # Servers that allow it can still hand over an unadvertised commit.
                try:
                    self._fetch(pin, [pin.sha], quiet=True)
                except ManifestError:
                    pass
            if not self.has_commit(pin.sha):
                where = "its branches, tags" + (f" and {pin.ref}" if pin.ref else "")
                raise ManifestError(f"sha {pin.sha} is not in {pin.url} (searched {where})", pin.name)
            return True

    def _fetch(self, pin, refspecs, quiet=False):
        try:
            self.repo.git.fetch(
                "--no-tags", "--prune", pin.fetch_url or pin.url, *refspecs, kill_after_timeout=FETCH_TIMEOUT
            )
        except git.GitCommandError as err:
            if quiet:
                raise ManifestError("fetch failed", pin.name) from err
            lines = [line.strip() for line in str(err.stderr or "").splitlines() if line.strip()]
            detail = lines[-1].strip("'") if lines else f"git exited {err.status}"
            raise ManifestError(f"cannot fetch {pin.url}: {detail}", pin.name) from err

    def commit_info(self, sha):
        commit = self.repo.commit(sha)
        return {"subject": commit.summary, "date": commit.committed_datetime.isoformat(), "time": commit.committed_date}

    def archive(self, sha, subdir=""):
        """A tar stream of the tree at ``sha`` (or of ``subdir`` in it), as a GitPython AutoInterrupt."""
        treeish = f"{sha}:{subdir}" if subdir else sha
        return self.repo.git.archive("--format=tar", treeish, as_process=True)

    def gitlinks(self, sha, subdir=""):
        """Paths of submodules (gitlinks) in the exported tree: they cannot be exported."""
        args = ["-r", "-z", sha] + ([subdir] if subdir else [])
        out = self.repo.git.ls_tree(*args)
        return [entry.split("\t", 1)[1] for entry in out.split("\0") if entry.startswith("160000 ")]

    def log(self, old, new):
        """Commits reachable from ``new`` and not from ``old``, newest first."""
        out = self.repo.git.log("--format=%H%x09%cI%x09%s", f"{old}..{new}")
        return [dict(zip(("sha", "date", "subject"), line.split("\t", 2))) for line in out.splitlines() if line]
