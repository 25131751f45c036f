"""Packaging for releasetrain.

The Salt loader folders (``_runners``, ``_modules``, ...) and the SLS trees
(``orchestrate``, ``reactor``, ``states``, ``pillar``) live at the top of the
repository, as the design card lays out.  ``build_py`` copies them into the
wheel under ``releasetrain/tree/`` so that ``pip install .`` ships them and the
``salt.loader`` entry point can hand their installed paths to Salt.
"""

import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_TREES = (
    "_runners",
    "_modules",
    "_states",
    "_engines",
    "_output",
    "_pillar",
    "orchestrate",
    "reactor",
    "states",
    "pillar",
    "lab",
)


class BuildWithSaltTrees(build_py):
    """Copy the top-level Salt trees into the built package."""

    def run(self):
        super().run()
        if self.editable_mode:
            return  # the loader falls back to the checkout itself
        target = os.path.join(self.build_lib, "releasetrain", "tree")
        for name in SHIPPED_TREES:
            source = os.path.join(HERE, name)
            if os.path.isdir(source):
                destination = os.path.join(target, name)
                shutil.rmtree(destination, ignore_errors=True)
                shutil.copytree(
                    source,
                    destination,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )


setup(
    name="releasetrain",
    version="0.1.0",
    description="The CI/CD release train of an OpenStack cloud, run from inside SaltStack",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["releasetrain", "releasetrain.*"]),
    package_data={"releasetrain.deploy": ["templates/*.html"]},
    cmdclass={"build_py": BuildWithSaltTrees},
    install_requires=[
        "salt==3008.4",
        "GitPython>=3.1.40",
        "PyYAML>=6.0",
        "psutil>=5.9",
        "requests>=2.31",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-salt-factories>=1.0.5",
            "pytest-xdist>=3.5",  # ./run test: the tests that do not use the lab on two workers
            "pytest-testinfra>=10",
            "paramiko>=3.4",
            "CherryPy>=18",
        ],
    },
    entry_points={
        "salt.loader": ["releasetrain = releasetrain.loader:loader_dirs"],
        "console_scripts": ["releasetrain = releasetrain.cli:main"],
    },
    classifiers=[
        "Framework :: Salt",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Systems Administration",
    ],
)
