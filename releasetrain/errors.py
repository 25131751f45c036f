"""The one error type the loader modules turn into a non-zero exit and one line."""


class ReleaseTrainError(Exception):
    """A problem the operator can act on; ``str()`` is the one line to show."""


class ManifestError(ReleaseTrainError):
    """The manifest is malformed, or one of its repos cannot be used."""

    def __init__(self, problem, repo=None, source=None):
        self.repo = repo
        self.problem = problem
        where = source or "manifest"
        prefix = f"{where}: repo {repo!r}: " if repo else f"{where}: "
        super().__init__(prefix + problem)


class StoreError(ReleaseTrainError):
    """The release store refuses an operation (unknown release, not verified, locked...)."""

