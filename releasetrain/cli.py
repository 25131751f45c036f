"""``releasetrain``: helpers for setting up a salt-master to use the installed extension.

``releasetrain master-config`` prints a master.d snippet that points each
environment's ``file_roots`` at its tree in the release store, adds the
shipped orchestration SLS tree, and wires the shipped reactors.
"""

import argparse
import os
import sys

import yaml

from releasetrain import config as rt_config
from releasetrain.loader import LOADER_TYPES, tree_path

# A deploy-kit's layout: SLS trees under states/, pillar data (no secrets) under pillar/.
KIT_STATES = "states"
KIT_PILLAR = "pillar"
# Gerrit's webhook reaches the master through salt-api's /hook/gerrit...; the
# pipeline acts on the checked, normalised releasetrain/gerrit/<type> events.
REACTORS = (
    ("salt/netapi/hook/gerrit*", "gerrit_hook.sls"),
    ("releasetrain/gerrit/*", "gerrit_event.sls"),
)


def master_config(store=None, cache=None, environments=None):
    """The master configuration that serves releasetrain's trees, as a dict."""
    section = {key: value for key, value in
               (("store", store), ("cache", cache), ("environments", environments)) if value}
    config = rt_config.load({"releasetrain": section})
    file_roots = {"base": [tree_path("orchestrate")]}
    pillar_roots = {}
    for env in config.all_environments:
        file_roots[env] = [os.path.join(config.env_tree(env), KIT_STATES), tree_path("orchestrate")]
        pillar_roots[env] = [os.path.join(config.env_tree(env), KIT_PILLAR)]
    snippet = {
        "releasetrain": {"store": config.store, "cache": config.cache, "environments": list(config.environments),
                         "volatile_environments": list(config.volatile_environments)},
        "file_roots": file_roots,
        "pillar_roots": pillar_roots,
    }
    reactor_dir = tree_path("reactor")
    snippet["reactor"] = [
        {tag: [os.path.join(reactor_dir, sls)]}
        for tag, sls in REACTORS
        if os.path.isfile(os.path.join(reactor_dir, sls))
    ]
    return snippet


def main(argv=None):
    parser = argparse.ArgumentParser(prog="releasetrain", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    snippet = sub.add_parser("master-config", help="print a master.d snippet for this installation")
    snippet.add_argument("--store")
    snippet.add_argument("--cache")
    snippet.add_argument("--environments", help="comma separated promotion chain, e.g. test,staging,production")
    sub.add_parser("paths", help="print where the shipped SLS trees and loader folders are")
    args = parser.parse_args(argv)
    if args.command == "master-config":
        envs = args.environments.split(",") if args.environments else None
        sys.stdout.write(yaml.safe_dump(master_config(args.store, args.cache, envs), sort_keys=False))
    else:
        for name in ("orchestrate", "reactor", "states", "pillar", *LOADER_TYPES.values()):
            print(f"{name}: {tree_path(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
