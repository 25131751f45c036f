"""The lab's one error type: an operator-facing, one-line ``ReleaseTrainError``."""

from releasetrain.errors import ReleaseTrainError


class LabError(ReleaseTrainError):
    """The lab cannot be built, inspected or removed; ``str()`` says what to do."""
