"""
Build, publish, promote and roll back deploy-kits of the release train.

Configuration (master config; every key optional):

.. code-block:: yaml

    releasetrain:
      store: /srv/releasetrain           # releases and per-environment trees
      cache: /var/cache/releasetrain     # bare git mirrors
      environments: [test, staging, production]   # promotion chain, in order
      lock_timeout: 600                  # seconds to wait for another run's lock
      keep_trees: 3                      # unpacked trees kept per environment

Each environment's tree is ``<store>/envs/<env>``; list it in that saltenv's
``file_roots`` (``releasetrain master-config`` prints the snippet).
"""

import logging

from releasetrain import saltglue
from releasetrain.release import compare
from releasetrain.release import packaging
from releasetrain.saltglue import flag, positive_int, runner, text
from releasetrain.release.store import Store

log = logging.getLogger(__name__)

__virtualname__ = "release"


def __virtual__():
    return __virtualname__


def _store():
    return Store(saltglue.load_config(__opts__))


@runner
def package(manifest: text, release: text = None, by: text = None):
    """
    Build a reproducible deploy-kit from a manifest of repo SHAs and add it to the store.

    CLI Example:

    .. code-block:: bash

        salt-run release.package manifest=/srv/deploy-kit/manifest.yml
        salt-run release.package manifest=/srv/deploy-kit/manifest.yml release=2026.11.0
    """
    config = saltglue.load_config(__opts__)
    with saltglue.MasterEvents(__opts__, "releasetrain/release") as emit:
        return packaging.package(config, manifest, release=release, by=saltglue.who(__opts__, by), emit=emit)


@runner
def list_():
    """
    List the releases in the store, oldest first.

    CLI Example:

    .. code-block:: bash

        salt-run release.list
    """
    store = _store()
    return [
        {key: meta.get(key) for key in ("release", "sha256", "packaged_at")}
        for meta in map(store.show, store.list_ids())
    ]


@runner
def show(release: text):
    """
    Show a release: its resolved manifest, commit subjects and dates, tarball sha256, and its
    ``deploy.region`` runs (``deployments``: mode, outcome, where it halted, each API's outage,
    the path of the run's HTML report).

    CLI Example:

    .. code-block:: bash

        salt-run release.show 2026.11.0
    """
    store = _store()
    return {**store.show(release), "deployments": store.deployments(release=release)}


@runner
def diff(old: text, new: text):
    """
    For each repo, the commits between its SHAs in two releases.

    CLI Example:

    .. code-block:: bash

        salt-run release.diff 2026.11.0 2026.11.1
    """
    return compare.diff(saltglue.load_config(__opts__), old, new)


def _publishing(action, *args, **kwargs):
    store = _store()
    # publish, promote and rollback take the environment's lock themselves (the store's env_lock);
    # verify does not: deploy.region calls it while the pipeline holds that lock.
    with saltglue.MasterEvents(__opts__, "releasetrain/release") as emit:
        result = getattr(store, action)(*args, **kwargs)
        if action != "verify":
            saltglue.refresh_fileserver(__opts__, result["env"])
        emit(f"{action}/done", result)
        return result


@runner
def publish(release: text, env: text, by: text = None):
    """
    Unpack a release into the store and switch ``env``'s tree to it atomically.

    CLI Example:

    .. code-block:: bash

        salt-run release.publish 2026.11.0 env=test
    """
    return _publishing("publish", release, env, saltglue.who(__opts__, by))


@runner
def promote(release: text, to: text, force: flag = False, by: text = None):
    """
    Publish a release to ``to`` if it is verified in the environment before it
    in the chain. ``force=True`` skips that check and is recorded.

    CLI Example:

    .. code-block:: bash

        salt-run release.promote 2026.11.0 to=staging
    """
    return _publishing("promote", release, to, saltglue.who(__opts__, by), force=force)


@runner
def verify(release: text, env: text, by: text = None):
    """
    Record that a release is deployed and verified in ``env`` (what promote checks).

    CLI Example:

    .. code-block:: bash

        salt-run release.verify 2026.11.0 env=test
    """
    return _publishing("verify", release, env, saltglue.who(__opts__, by))


@runner
def rollback(env: text, by: text = None):
    """
    Switch ``env`` back to the release it served before the current one.

    CLI Example:

    .. code-block:: bash

        salt-run release.rollback env=production
    """
    return _publishing("rollback", env, saltglue.who(__opts__, by))


@runner
def status(limit: positive_int = 20):
    """
    For each environment: the current release, when and by whom it was put
    there, whether it is verified, and its last ``deploy.region`` run (``last_deploy``: outcome,
    where it halted, API outages, report); plus the latest history records.

    CLI Example:

    .. code-block:: bash

        salt-run release.status
    """
    return _store().status(limit=limit)


__func_alias__ = {"list_": "list"}
