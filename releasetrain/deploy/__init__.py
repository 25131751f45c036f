"""Deploy a release to a region (``deploy.region``).

The orchestrate SLS only lists the steps of a plan in order; everything else
lives here so that it can be read and tested without a master:

* ``settings``: ``DEFAULTS`` (which SLS each stage applies, how roles are
  targeted, batch sizes, the commands run on the controller, the health checks)
  and ``resolve``, which merges the ``deploy`` pillar over them;
* ``plan``: ``build_plan`` turns settings, the role members and the mode into
  an ordered list of steps (bootstrap or upgrade);
* ``run``: ``run_step`` runs one step and says which node, stage and reason
  halted it.
"""
