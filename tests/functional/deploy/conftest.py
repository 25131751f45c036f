"""A minion's execution modules through the real Salt loader, with no daemons."""

import pytest
import salt.config
import salt.loader

from releasetrain.loader import tree_path


@pytest.fixture(scope="module")
def minion_functions(tmp_path_factory):
    """``minion_functions(grains)``: the loaded ``__salt__`` of a masterless minion with these grains;
    its saltenv ``test`` serves the openstack formula shipped with releasetrain, ``base`` is empty."""

    def _load(grains):
        opts = salt.config.minion_config(None)
        opts["file_client"] = "local"
        opts["cachedir"] = str(tmp_path_factory.mktemp("cache"))
        opts["file_roots"] = {"base": [str(tmp_path_factory.mktemp("empty"))], "test": [tree_path("states")]}
        opts["grains"] = {"id": "cmp01", "fqdn": "cmp01.example.org", "kernel": "Linux", **grains}
        return salt.loader.minion_mods(opts, utils=salt.loader.utils(opts))

    return _load
