"""The Gerrit-driven release train: candidate runs with votes, merge runs down the chain.

Configuration (master config; every key optional but ``deploy_kit``):

.. code-block:: yaml

    releasetrain:
      pipeline:
        deploy_kit: /srv/deploy-kit       # git repo (with a work tree) holding the manifest
        manifest: manifest.yml            # its path inside that repo
        deploy: {orchestrate: deploy.region, saltenv: null, pillar: {}}        # saltenv null: the env itself
        candidate: {orchestrate: deploy.region, env: volatile, saltenv: null, teardown: null, pillar: {},
                    region: null}
                                          # the candidate kit is published to env (a volatile environment)
                                          # region: {topology: null, max_regions: 1, wait: 3600} gives each
                                          # candidate a lab region of its own (releasetrain.gerrit.regions)
        auto_production: false            # else wait for an approval vote or release.promote
        settle: 5                         # seconds a merge run waits for more merges first

State lives in ``<store>/pipeline/``: ``runs.jsonl`` (every run, append-only),
``rejected.jsonl`` (the last ``REJECTED_KEEP`` events dropped before a run: why, and their
type and key when known; never the secret),
``queue.json`` (merges waiting for the train), ``regions.json`` (candidates waiting for a region
of their own, and the regions held), ``train.lock`` and
``env-<env>.lock`` (one deployment per environment at a time).

:class:`Pipeline` is the coordinator the runners call; the work is in the modules beside it:

* :mod:`~releasetrain.gerrit.runlog`     runs.jsonl, rejected.jsonl and one :class:`Run`'s record
* :mod:`~releasetrain.gerrit.queue`      queue.json: pending merges, superseding, releases awaiting approval
* :mod:`~releasetrain.gerrit.deploykit`  the deploy-kit repo: the manifest at a commit, a merged SHA pinned and committed
* :mod:`~releasetrain.gerrit.candidate`  patchset-created: candidate kit, volatile environment, vote
* :mod:`~releasetrain.gerrit.regions`    candidate regions: slots, their queue, superseding, stale owners
* :mod:`~releasetrain.gerrit.train`      change-merged: queue and train down the chain; comment-added: production approval

The environment lock is the store's (:func:`releasetrain.release.store.env_lock`): publish, promote
and rollback take it themselves, and the pipeline holds it over each whole deployment.

Event values reach git only as GitPython arguments, Salt only as pillar data and
Gerrit only URL-quoted: never a shell.
"""

import logging
import os
from collections.abc import Mapping

from releasetrain.errors import ReleaseTrainError
from releasetrain.gerrit import candidate as candidate_leg
from releasetrain.gerrit import events as gerrit
from releasetrain.gerrit import regions
from releasetrain.gerrit import train as train_leg
from releasetrain.gerrit.deploykit import DeployKit
from releasetrain.gerrit.queue import TrainQueue
from releasetrain.gerrit.runlog import REASON_CHARS, REJECTED_KEEP, REJECTED_TRIM_BYTES, Run, RunLog  # noqa: F401
from releasetrain.locking import file_lock
from releasetrain.release.store import Store, env_lock  # noqa: F401  (env_lock: where callers found it before)

log = logging.getLogger(__name__)

DEFAULTS = {
    "deploy_kit": "",
    "manifest": "manifest.yml",
    "deploy": {"orchestrate": "deploy.region", "saltenv": None, "pillar": {}},
    "candidate": {"orchestrate": "deploy.region", "env": "volatile", "saltenv": None, "teardown": None, "pillar": {},
                  "region": None},
    "auto_production": False,
    "settle": 5,
}


def pipeline_lock(config, name, timeout=None):
    """One of the pipeline's locks: ``runs`` (its records), ``deploy-kit`` (the queue and the deploy-kit commits)."""
    return file_lock(os.path.join(config.store, "pipeline", f"{name}.lock"),
                     config.lock_timeout if timeout is None else timeout, f"pipeline {name}")


def pipeline_settings(config):
    section = (config.raw or {}).get("pipeline") or {}
    if not isinstance(section, Mapping):
        raise ReleaseTrainError("releasetrain:pipeline must be a mapping, e.g. {deploy_kit: /srv/deploy-kit}")
    merged = {**DEFAULTS, **section}
    for key in ("deploy", "candidate"):
        if not isinstance(section.get(key) or {}, Mapping):
            raise ReleaseTrainError(f"releasetrain:pipeline:{key} must be a mapping, e.g. {{orchestrate: deploy.region}}")
        merged[key] = {**DEFAULTS[key], **(section.get(key) or {})}
    return merged


def orchestration_outcome(sls, result):
    """``(ok, report)`` of what ``state.orchestrate`` returned: ok only when its retcode is 0, it ran
    states and none failed; the report's first line counts them, the next ones name each failed
    state with its comment (trimmed)."""
    if not isinstance(result, dict):
        return False, f"state.orchestrate {sls}: {str(result)[:300]}"
    states = {}
    for minion_states in (result.get("data") or {}).values():
        if isinstance(minion_states, dict):
            states.update(minion_states)
        elif minion_states:
            return False, f"state.orchestrate {sls}: {str(minion_states)[:300]}"
    failed = [f"{s.get('__id__', key)}: {str(s.get('comment'))[:200]}" for key, s in states.items()
              if isinstance(s, dict) and s.get("result") is False]
    ok = result.get("retcode", 0) == 0 and not failed and bool(states)
    summary = f"state.orchestrate {sls}: {len(states)} states, {len(failed)} failed"
    return ok, "\n".join([summary, *failed])


class Pipeline:
    def __init__(self, config, orchestrate, emit=lambda tag, data: None, by="releasetrain-pipeline", lab=None):
        """``orchestrate(sls, saltenv, pillar) -> (ok, summary)`` runs an orchestration (Salt's runner client);
        ``lab(topology)`` makes what brings candidate regions up and down (a
        :class:`releasetrain.lab.copies.Copies` of that topology) when ``candidate:region`` is set."""
        self.config = config
        self.settings = pipeline_settings(config)
        self.region_settings = regions.settings(self.settings["candidate"]["region"], config.volatile_environments)
        self.lab = None if self.region_settings is None or lab is None else lab(self.region_settings.topology)
        self.regions = None if self.lab is None else regions.RegionPool(
            os.path.join(config.store, "pipeline"), lambda: pipeline_lock(config, "regions"),
            config.volatile_environments, self.region_settings,
            remove=lambda slot: self.lab.down(slot.number))
        self.gerrit = gerrit.settings(config)
        self.store = Store(config)
        self.orchestrate = orchestrate
        self.emit = emit
        self.by = by
        self.dir = os.path.join(config.store, "pipeline")
        self.runlog = RunLog(self.dir, lock=lambda: pipeline_lock(config, "runs"))
        self.queue = TrainQueue(self.dir, lock=lambda: pipeline_lock(config, "deploy-kit"))
        self.kit = DeployKit(self.settings["deploy_kit"], self.settings["manifest"])
        self.runs_path, self.rejected_path = self.runlog.runs_path, self.runlog.rejected_path
        self.queue_path = self.queue.path

    def note_report(self, step, release, env):
        """A run step's ``report``: the HTML report of the latest ``deploy.region`` run of ``release``
        in ``env`` (none when the orchestration recorded no run, e.g. it halted before it began).
        Returns that run's history entry, or None."""
        runs = self.store.deployments(release=release, env=env, limit=1)
        if runs and runs[-1].get("report"):
            step["report"] = runs[-1]["report"]
            return runs[-1]
        return None

    def new_run(self, event, kind):
        return Run(self.runlog, self.emit, event, kind)

    # -- records ---------------------------------------------------------------------
    def write_run(self, record):
        self.runlog.write_run(record)

    def write_rejected(self, source, result, reason, event=None):
        """Record an event dropped before any run (wrong secret, malformed, unconfigured, failed)."""
        self.runlog.write_rejected(source, result, reason, event)

    def runs(self):
        return self.runlog.runs()

    def rejected(self, limit=20):
        return self.runlog.rejected(limit)

    def status(self, limit=20):
        queue = self.queue.read()
        status = {"runs": self.runs()[-int(limit):], "rejected": self.rejected(limit), "queued": queue.get("pending", []),
                  "awaiting_approval": queue.get("awaiting", []), "store": self.store.status(limit=0)["environments"]}
        if self.region_settings is not None:
            held = regions.read(self.dir)
            status["candidate_regions"] = {"held": held["held"], "waiting": held["waiting"]}
        return status

    # -- dispatch --------------------------------------------------------------------
    def on_event(self, event):
        """Act on a normalised event (re-checked here: anything on the bus could claim to be one)."""
        if self.gerrit.secret and not gerrit.signature_valid(event, self.gerrit.secret):
            return self._drop(event, "rejected", "missing or invalid signature")
        try:
            accepted = gerrit.check_normalised(event)
        except gerrit.GerritEventError as err:
            return self._drop(event, "rejected", f"rejected: {err}")
        accepted["repo"], why = gerrit.route(accepted, self.gerrit)
        if accepted["repo"] is None:
            return self._drop(event, "ignored", f"ignored: {why}")
        handler = {
            "patchset-created": self.candidate,
            "change-merged": self.merged,
            "comment-added": self.comment_added,
        }.get(accepted["type"])
        if handler is None:
            return {"result": "ignored", "reason": f"no action for {accepted['type']}"}
        return handler(accepted)

    def _drop(self, event, result, reason):
        log.warning("releasetrain: dropped a releasetrain/gerrit event: %s", reason)
        self.write_rejected("event", result, reason, gerrit.identify(event))
        return {"result": result, "reason": reason}

    # -- the legs (releasetrain.gerrit.candidate and .train) -------------------------------
    def candidate(self, event):
        """patchset-created: candidate kit, volatile environment, vote."""
        return candidate_leg.run_candidate(self, event)

    def merged(self, event):
        """change-merged: deploy-kit commit, queue, train."""
        return train_leg.merged(self, event)

    def drain(self):
        return train_leg.drain(self)

    def deploy(self, run, release, env, promote):
        return train_leg.deploy(self, run, release, env, promote)

    def comment_added(self, event):
        """comment-added: the production approval."""
        return train_leg.approve(self, event)
