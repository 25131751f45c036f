"""Build, inspect and remove the container lab: a region of systemd-nspawn nodes.

Settings come from the master configuration (all optional)::

    releasetrain:
      lab:
        state_dir: /var/lib/releasetrain/lab     # what the running lab made
        cache_dir: /var/cache/releasetrain/lab   # base image, apt-cacher-ng cache
        mirror: http://deb.debian.org/debian     # default: the host's apt mirror
        suite: bookworm
        proxy_port: 3148                         # apt-cacher-ng on the master's mgmt address
        boot_timeout: 180                        # seconds to wait for test.ping
        salt_version: "3008.4"

The master must listen where the nodes reach it (``interface: 0.0.0.0`` or
the topology's master address); ``lab/README.md`` describes the topology file.
"""

import logging
import os

from releasetrain import saltglue
from releasetrain.lab import cloud, copies, region, settings
from releasetrain.lab import layers as role_layers
from releasetrain.lab import topology as lab_topology
from releasetrain.lab.errors import LabError
from releasetrain.saltglue import flag, positive_int, runner, text

log = logging.getLogger(__name__)

__virtualname__ = "lab"


def __virtual__():
    return __virtualname__


def _settings():
    return settings.from_opts(__opts__)


@runner
def up(topology: text = None, wait: flag = True, layers: text = None):
    """Bring up the lab for a topology (default ``lab/region-minimal.yml``); no-op when up.

    Waits until every minion answers ``test.ping`` unless ``wait=False``.  With ``layers=<env>``
    the new nodes mount the role layers of the release published to that environment (its package
    states' packages, installed once and cached, as candidate regions do; lab/README.md): a
    bootstrap of that release then configures instead of installing.

    CLI Example:

    .. code-block:: bash

        salt-run lab.up topology=lab/region-minimal.yml
        salt-run lab.up layers=test
    """
    source = _layers_source(layers) if layers else None
    return region.up(_settings(), __opts__, topology, wait=wait, log=log.warning, layers=source)


def _layers_source(env):
    """The role layers' source: the trees of the release published to ``env``, which must be there."""
    config = saltglue.load_config(__opts__)
    config.check_env(env)
    tree = config.env_tree(env)
    for part in ("states", "pillar"):
        if not os.path.isdir(os.path.join(tree, part)):
            raise LabError(f"layers={env}: no release with {part}/ is published to {env} ({tree}); "
                           f"publish one first (salt-run release.publish <release> env={env})")
    return role_layers.Source(os.path.join(tree, "states"), os.path.join(tree, "pillar"), env)


@runner
def status():
    """Nodes, bridges and the apt proxy of the lab, if one is up.

    CLI Example:

    .. code-block:: bash

        salt-run lab.status
    """
    return region.status(_settings())


@runner
def down(topology: text = None):
    """Remove every container, mount, namespace, bridge, veth and process of the lab.

    With ``topology`` (as given to ``lab.up``), the file is checked first and the lab is
    removed only if it is that topology's; another lab up in the state dir is left alone.

    CLI Example:

    .. code-block:: bash

        salt-run lab.down
        salt-run lab.down topology=lab/region-minimal.yml
    """
    lab_settings = _settings()
    if topology is not None:
        _check_lab_is(lab_topology.load(topology), lab_settings)
    return region.down(lab_settings)


def _check_lab_is(topo, lab_settings):
    up_now = region.status(lab_settings).get("lab")
    if up_now not in (None, topo.name):
        raise LabError(
            f"the lab up in {lab_settings.state_dir} is {up_now!r}, not {topo.name!r} of {topo.source}; "
            "left as it is (run lab.down without topology= to remove it)"
        )


@runner
def check(topology: text = None):
    """Check a topology file and summarize it; creates nothing.

    CLI Example:

    .. code-block:: bash

        salt-run lab.check topology=lab/region-minimal.yml
    """
    return lab_topology.summary(lab_topology.load(topology))


@runner
def cloud_config(out: text, topology: text = None, copy: positive_int = None, **options):
    """Write salt-cloud provider, profiles and map for an OpenStack public cloud.

    ``copy=N`` writes them for the N-th copy of the topology instead: the candidate region
    ``candN`` of the review gate, its nodes ``candN-<node>`` and its ranges moved past the
    original's, so several candidates' regions fit in one project.

    CLI Example:

    .. code-block:: bash

        salt-run lab.cloud_config topology=lab/region-minimal.yml out=/etc/salt
        salt-run lab.cloud_config copy=1 out=/etc/salt
    """
    topo = lab_topology.load(topology)
    if copy is not None:
        topo = lab_topology.parse(copies.derived(topo, copy), source=f"{topo.source}, copy {copy}")
    return cloud.write(topo, out, **options)
