"""
Plan the deployment of a release to a region; the ``deploy.region`` orchestration runs the plan.

.. code-block:: bash

    salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "test"}'
    salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "test", "mode": "upgrade"}' test=True

Settings come from the ``deploy`` key of the orchestration's pillar (the
master's pillar or ``pillar=`` on the command line), merged over
``releasetrain.deploy.settings.DEFAULTS`` (dicts merge key by key):

.. code-block:: yaml

    deploy:
      targets:            # role -> how to find its nodes (default: grain roles:<role>)
        compute: {tgt: "G@roles:compute and G@region:north", tgt_type: compound}
      stages:             # stage -> SLS in the release's saltenv (default: from the formula's stages.yaml)
        compute: [openstack.nova.compute, openstack.neutron.compute]
      batch: 25%          # computes per batch: a count or a share
      network_batch: 1    # network nodes per step in an upgrade
      timeout: 120        # seconds a step waits for a silent minion
      openrc: /root/admin-openrc
      commands:           # shell on the first controller; {host} {release} {env} {path}
        upgrade_checks: [nova-status upgrade check, ...]   # skipped when not installed
        backup: mariadb-dump ... | gzip > {path}
        compute_disable: openstack compute service set --disable ... {host} nova-compute
        compute_enable: openstack compute service set --enable {host} nova-compute
        smoke: [openstack token issue -f value -c id, ...]
      backup_path: /var/backups/releasetrain/mysql-{env}-{release}-{date}.sql.gz
      health:             # stage -> probes after it: on controller|network|compute|batch|first_controller
        compute:          # checks: openstack_health.check kwargs
          - {on: batch, checks: {components: [nova_compute, neutron_compute]}}
          - {on: first_controller, checks: {agents: true}}
        neutron_network:  # services: names as they are, not read from the formula map
          - {on: batch, checks: {services: [neutron-linuxbridge-agent, neutron-l3-agent]}}

The default ``stages`` come from ``states/openstack/stages.yaml`` of the
formula shipped with releasetrain: each formula stage names the deploy stage
(``deploy_stage``) that applies its SLS.  A gate's ``components`` are parts
of the formula's map (``openstack/map.jinja``): each node checks the
``services`` its own merged map lists for them (Debian's ``keystone`` is
``apache2`` on Ubuntu), read from the release's saltenv.

The formula gets ``deploy:{release, env, stage}`` as pillar with every apply,
and ``deploy:db_sync`` (True on the first controller only) in an upgrade.
"""

import salt.utils.minions

from releasetrain import saltglue
from releasetrain.deploy import plan as deploy_plan
from releasetrain.saltglue import mapping, runner, text


def _ping(target, tgt_type, timeout):
    """The minions that answer test.ping for a target, and those the master knows for it."""
    answers = saltglue.local_client(__opts__).cmd(target, "test.ping", tgt_type=tgt_type, timeout=timeout)
    expected = salt.utils.minions.CkMinions(__opts__).check_minions(target, tgt_type).get("minions") or []
    return sorted(minion for minion, ok in (answers or {}).items() if ok is True), expected


@runner
def plan(release: text, env: text, mode: text = None, settings: mapping = None, date: text = None):
    """
    The ordered steps that deploy ``release`` from saltenv ``env`` to the region.

    ``mode`` is bootstrap or upgrade; left out, it is bootstrap while ``env`` has
    no verified release and upgrade after.  ``settings`` is the ``deploy``
    pillar (stage -> SLS, targets, batch size, commands, health checks), merged
    over ``releasetrain.deploy.settings.DEFAULTS``.  The release must be published to ``env``.

    CLI Example:

    .. code-block:: bash

        salt-run deploy.plan release=2026.11.1 env=test
        salt-run deploy.plan release=2026.11.1 env=test mode=upgrade settings='{"batch": "50%"}'
    """
    return deploy_plan.plan_release(saltglue.load_config(__opts__), release, env, mode, settings, date, ping=_ping)
