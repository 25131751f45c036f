"""The one error type the loader modules turn into a non-zero exit and one line."""


class ReleaseTrainError(Exception):
    """A problem the operator can act on; ``str()`` is the one line to show."""


class ManifestError(ReleaseTrainError):
    """The manifest is malformed, or one of its repos cannot be used."""

    def __init__(self, problem, repo=None, source=None):
        self.repo = repo
        self.problem = problem
        self.source = source
        super().__init__(problem)

    def __str__(self):
        prefix = f"{self.source or 'manifest'}: "
        if self.repo:
            prefix += f"repo {self.repo!r}: "
        return prefix + self.problem


class StoreError(ReleaseTrainError):
    """The release store refuses an operation (unknown release, not verified, locked...)."""

