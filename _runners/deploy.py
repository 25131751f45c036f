"""Plan the deployment of a release to a region; ``deploy.region`` renders the plan."""

import salt.client
import salt.utils.minions

from releasetrain import deploy, saltglue
from releasetrain.errors import ReleaseTrainError
from releasetrain.store import Store


def _members(targets, timeout):
    """role -> minion ids of that role's target; every minion the master knows for it must answer."""
    client = salt.client.get_local_client(mopts=__opts__)
    known = salt.utils.minions.CkMinions(__opts__)
    members = {}
    for role, target in targets.items():
        tgt_type = target.get("tgt_type", "glob")
        answers = client.cmd(target["tgt"], "test.ping", tgt_type=tgt_type, timeout=timeout)
        members[role] = sorted(minion for minion, ok in (answers or {}).items() if ok is True)
        expected = known.check_minions(target["tgt"], tgt_type).get("minions") or []
        silent = sorted(set(expected) - set(members[role]))
        if silent:
            raise ReleaseTrainError(
                f"{', '.join(silent)} ({role}, {target['tgt']}) did not answer test.ping; "
                f"bring them up, or narrow deploy:targets:{role} to leave them out"
            )
    return members


def _plan(release, env, mode, settings, date):
    config = saltglue.load_config(__opts__)
    config.check_env(env)
    store = Store(config)
    serving = store.current(env)
    if serving != release:
        raise ReleaseTrainError(
            f"release {release!r} is not published to {env!r} (it serves {serving!r}); "
            f"run: salt-run release.publish {release} env={env}"
        )
    recorded = any(record.get("action") == "verify" for record in store.history(env))
    mode = deploy.choose_mode(mode, recorded)
    conf = deploy.settings(settings)
    members = _members(conf["targets"], timeout=conf.get("ping_timeout", 5))
    return deploy.build_plan(conf, members, release, env, mode, date=date)


def plan(release=None, env=None, mode=None, settings=None, date=None):
    """
    The ordered steps that deploy ``release`` from saltenv ``env`` to the region.

    ``mode`` is bootstrap or upgrade; left out, it is bootstrap while ``env`` has
    no verified release and upgrade after.  ``settings`` is the ``deploy``
    pillar (stage -> SLS, targets, batch size, commands, health checks), merged
    over ``releasetrain.deploy.DEFAULTS``.  The release must be published to ``env``.

    CLI Example:

    .. code-block:: bash

        salt-run deploy.plan release=2026.11.1 env=test
        salt-run deploy.plan release=2026.11.1 env=test mode=upgrade settings='{"batch": "50%"}'
    """
    return saltglue.run(__context__, _plan, release and str(release), env, mode, settings, date)
