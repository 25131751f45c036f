"""
Plan the deployment of a release to a region; the ``deploy.region`` orchestration runs the plan.

.. code-block:: bash

    salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "test"}'
    salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "test", "mode": "upgrade"}' test=True
    salt-run state.orchestrate deploy.region pillar='{"release": "ID", "env": "test", "mode": "major"}'

Modes: ``bootstrap`` (a new region), ``upgrade`` (rolling, same distribution and OpenStack
series: controllers one at a time, network nodes, computes in batches), ``downgrade`` (upgrade's
plan for an older release of the same series: what ``on_failure: rollback`` runs) and ``major``, the offline
fast-forward upgrade to the release's distribution (pillar ``openstack:distribution``, e.g.
Debian 13 trixie / OpenStack 2025.1 from bookworm / Zed; states/openstack/UPGRADE.md):
pre-checks (``*-status upgrade check``, Nova's online data migrations to completion, a checked
backup, every SLS rendered), the control plane stopped (``openstack.upgrade.stop``), the
controllers moved to the new distribution (``openstack.upgrade.{rabbitmq,distribution,mariadb}``),
the controller stages one by one on the first controller with ``deploy:db_sync`` (migrations in
dependency order, Nova's ``disable_compute_service_check_for_ffu`` workaround on), the other
controllers, the network nodes and computes each moved and then deployed, cell discovery, the
workaround off, smoke.  A re-run of the same major plan resumes.  ``major`` is never chosen
by itself, and before any node is touched the plan refuses, unless the mode is major, a release
whose distribution differs from the nodes' or whose version pins change the OpenStack major of
an installed package.

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
      canary: 1           # computes that go first, alone (0: no canary batch)
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
      probe:              # every mode but bootstrap: each API of the catalog asked once a second
        services: [keystone, glance, placement, nova, neutron]
        interval: 1
        timeout: 2
      max_api_outage: 60  # seconds (or {nova: 30, ...}): a longer outage halts the run; null: not gated
      on_failure: halt    # or rollback: back to the release served before, applied in mode downgrade
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
``deploy:db_sync`` (True on the first controller only) in an upgrade and a major upgrade, and
``deploy:distribution`` (the target codename) in a major upgrade.  ``deploy:major`` sets the
major upgrade's SLS per role, its Nova workaround pillar and the online-migration rounds.
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


def _inspect(minions, packages):
    """What ``deploy_plan.guard`` checks, per minion: grain ``oscodename``, pillar
    ``openstack:distribution``, the version pins ``openstack:<component>:version`` (with a pillar
    ``pkgs`` overriding ``packages``) and ``pkg.version`` of the pinned components' packages."""
    if not minions:
        return {}
    client = saltglue.local_client(__opts__)
    keys = ["openstack:distribution"] + [f"openstack:{c}:{key}" for c in sorted(packages) for key in ("version", "pkgs")]
    # the pillar refreshed first, in a job of its own (a job keeps the pillar it started with): the
    # pins are the ones the next state run sees; Salt 3008 masks pillar.item's values unless unmasked
    client.cmd(list(minions), "saltutil.refresh_pillar", ["wait=True"], tgt_type="list", timeout=60)
    asked = client.cmd(
        list(minions), ["grains.item", "pillar.item"], [["oscodename"], [*keys, "unmask=True"]],
        tgt_type="list", timeout=60,
    ) or {}
    facts, wanted = {}, {}
    for minion in minions:
        answer = asked.get(minion) or {}
        grains = answer.get("grains.item") if isinstance(answer.get("grains.item"), dict) else {}
        pillar = answer.get("pillar.item") if isinstance(answer.get("pillar.item"), dict) else {}
        pins, own = {}, {}
        for component, names in packages.items():
            version = pillar.get(f"openstack:{component}:version")
            if version:
                pins[component] = str(version)
                own[component] = list(pillar.get(f"openstack:{component}:pkgs") or names)
        facts[minion] = {"oscodename": grains.get("oscodename"), "distribution": pillar.get("openstack:distribution"),
                         "pins": pins, "installed": {}, "packages": own}
        if own:
            wanted[minion] = sorted({name for names in own.values() for name in names})
    for minion, names in wanted.items():
        versions = client.cmd(minion, "pkg.version", names, timeout=30) or {}
        versions = versions.get(minion)
        if isinstance(versions, str) and len(names) == 1:
            versions = {names[0]: versions}
        facts[minion]["installed"] = versions if isinstance(versions, dict) else {}
    return facts


@runner
def plan(release: text, env: text, mode: text = None, settings: mapping = None, date: text = None):
    """
    The ordered steps that deploy ``release`` from saltenv ``env`` to the region.

    ``mode`` is bootstrap, upgrade or major; left out, it is bootstrap while ``env`` has
    no verified release and upgrade after (never major).  ``settings`` is the ``deploy``
    pillar (stage -> SLS, targets, batch size, commands, health checks), merged
    over ``releasetrain.deploy.settings.DEFAULTS``.  The release must be published to ``env``.

    CLI Example:

    .. code-block:: bash

        salt-run deploy.plan release=2026.11.1 env=test
        salt-run deploy.plan release=2026.11.1 env=test mode=upgrade settings='{"batch": "50%"}'
        salt-run deploy.plan release=2026.12.0 env=test mode=major
    """
    return deploy_plan.plan_release(saltglue.load_config(__opts__), release, env, mode, settings, date,
                                    ping=_ping, inspect=_inspect)
