"""
The region pillar of the lab regions up on this master's host, from their topologies
(``releasetrain/lab/pillar.py``): a lab node's minion gets ``openstack:controller:address`` and
``openstack:nodes:<id>`` of its own region.  Candidate regions need it; for the default region it
gives what ``pillar/openstack/region/lab.sls`` holds.

.. code-block:: yaml

    ext_pillar:
      - releasetrain_lab: {}
"""

from releasetrain.lab import pillar as lab_pillar

__virtualname__ = "releasetrain_lab"


def __virtual__():
    return __virtualname__


def ext_pillar(minion_id, pillar, *args, **kwargs):  # pylint: disable=unused-argument
    return lab_pillar.for_minion(minion_id, __opts__["pki_dir"])
