"""Numbered copies of a lab topology, each a region of its own beside the others: what the review
gate brings up for a candidate (``releasetrain.gerrit.regions``).

Copy ``n`` of topology ``T`` is :func:`releasetrain.lab.topology.derive` of ``T``: named
``<name>`` (e.g. ``cand1``), its nodes (and so its minion ids) ``<name>-<node>``, every range
moved ``n`` spans past ``T``'s.  It has its own state dir (``<state_dir>-<name>``) and apt proxy
port (``proxy_port + n``); its topology file is written beside that state dir, which ``lab.down``
empties.  The minions' region pillar comes from the copy's topology through the
``releasetrain_lab`` ext_pillar.
"""

import dataclasses
from collections.abc import Mapping
import os

import yaml

from releasetrain.lab import region, topology
from releasetrain.lab.errors import LabError

EXT_PILLAR = "releasetrain_lab"
NAME = "cand{}"  # copy number -> region name; its minions are "<name>-<node>"


def minion_prefix(number):
    """What copy ``number``'s minion ids start with: ``cand<number>-``."""
    return f"{NAME.format(number)}-"


def derived(original, number):
    """Topology data of copy ``number`` of the parsed topology ``original``: named ``cand<number>``,
    its nodes ``cand<number>-<node>``."""
    return topology.derive(original, NAME.format(number), minion_prefix(number), number)


class Copies:
    def __init__(self, lab_settings, master_opts, topology_path=None, log=print):
        self.lab_settings = lab_settings
        self.master_opts = master_opts
        self.topology_path = topology_path
        self.log = log

    def settings(self, number):
        return dataclasses.replace(self.lab_settings, state_dir=f"{self.lab_settings.state_dir}-{NAME.format(number)}",
                                   proxy_port=self.lab_settings.proxy_port + number)

    def topology_file(self, number):
        """Write copy ``number``'s topology file (checked) and return its path."""
        original = topology.load(self.topology_path)
        data = derived(original, number)
        path = f"{self.lab_settings.state_dir}-{data['name']}.yml"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
            handle.write(f"# copy {number} of {original.source}, written by releasetrain\n")
            yaml.safe_dump(data, handle, sort_keys=False)
        os.replace(f"{path}.tmp", path)
        return path

    def up(self, number, layers=None):
        """Bring copy ``number`` up and wait for its minions; returns ``lab.up``'s summary.
        ``layers``: the release whose role layers its nodes mount (:func:`releasetrain.lab.region.up`).
        Refused while the master lacks the ext_pillar that gives the copy's minions their addresses."""
        if not any(isinstance(entry, Mapping) and EXT_PILLAR in entry for entry in self.master_opts.get("ext_pillar") or []):
            raise LabError(f"a candidate region needs its addresses from the {EXT_PILLAR} ext_pillar: add "
                           f"`ext_pillar: [{{{EXT_PILLAR}: {{}}}}]` to the master configuration")
        return region.up(self.settings(number), self.master_opts, self.topology_file(number),
                         log=self.log, layers=layers)

    def down(self, number):
        """Remove copy ``number``: everything of it, also what a crashed run left."""
        return region.down(self.settings(number))
