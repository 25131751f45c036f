"""Where the Salt loader finds this extension's modules and SLS trees."""

import os

LOADER_TYPES = {
    "runners": "_runners",
    "modules": "_modules",
    "states": "_states",
    "engines": "_engines",
    "output": "_output",
    "pillar": "_pillar",
}

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def tree_root():
    """The folder holding ``_runners``, ``orchestrate``, ``states`` and the rest.

    An installed wheel carries them under ``releasetrain/tree``; an editable
    install or a plain checkout has them at the top of the repository.
    """
    installed = os.path.join(_PACKAGE_DIR, "tree")
    if os.path.isdir(os.path.join(installed, "_runners")):
        return installed
    return os.path.dirname(_PACKAGE_DIR)


def tree_path(name):
    """The absolute path of one shipped tree, e.g. ``tree_path("orchestrate")``."""
    return os.path.join(tree_root(), name)


def loader_dirs():
    """The ``salt.loader`` entry point: loader type -> list of folders."""
    return {kind: [tree_path(folder)] for kind, folder in LOADER_TYPES.items()}
