"""The container lab: a multi-node, multi-network region on one host, without VMs.

The Salt runner ``_runners/lab.py`` is a thin layer over this package:
:mod:`~releasetrain.lab.topology` reads and checks the region description,
:mod:`~releasetrain.lab.region` brings it up and down, :mod:`~releasetrain.lab.cloud`
writes the matching salt-cloud configuration.  ``lab/README.md`` is the guide.
"""
