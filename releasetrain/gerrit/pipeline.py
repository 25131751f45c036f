"""The Gerrit-driven release train: candidate runs with votes, merge runs down the chain.

Configuration (master config; every key optional but ``deploy_kit``):

.. code-block:: yaml

    releasetrain:
      pipeline:
        deploy_kit: /srv/deploy-kit       # git repo (with a work tree) holding the manifest
        manifest: manifest.yml            # its path inside that repo
        deploy: {orchestrate: deploy.region, saltenv: null, pillar: {}}        # saltenv null: the env itself
        candidate: {orchestrate: deploy.region, env: volatile, saltenv: null, teardown: null, pillar: {}}
                                          # the candidate kit is published to env (a volatile environment)
        auto_production: false            # else wait for an approval vote or release.promote
        settle: 5                         # seconds a merge run waits for more merges first

State lives in ``<store>/pipeline/``: ``runs.jsonl`` (every run, append-only),
``rejected.jsonl`` (the last ``REJECTED_KEEP`` events dropped before a run: why, and their
type and key when known; never the secret),
``queue.json`` (merges waiting for the train), ``train.lock`` and
``env-<env>.lock`` (one deployment per environment at a time).

Event values reach git only as GitPython arguments, Salt only as pillar data and
Gerrit only URL-quoted: never a shell.
"""

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping

import git
import yaml

from releasetrain import journal
from releasetrain.gerrit import events as gerrit
from releasetrain.release import manifest as manifest_mod
from releasetrain.release import packaging
from releasetrain.errors import ReleaseTrainError
from releasetrain.locking import file_lock, try_lock
from releasetrain.journal import now
from releasetrain.release.store import Store

log = logging.getLogger(__name__)

DEFAULTS = {
    "deploy_kit": "",
    "manifest": "manifest.yml",
    "deploy": {"orchestrate": "deploy.region", "saltenv": None, "pillar": {}},
    "candidate": {"orchestrate": "deploy.region", "env": "volatile", "saltenv": None, "teardown": None, "pillar": {}},
    "auto_production": False,
    "settle": 5,
}
REJECTED_KEEP = 200  # rejected.jsonl keeps this many records: anyone who reaches salt-api can add one
REJECTED_TRIM_BYTES = 256 * 1024
REASON_CHARS = 300


def pipeline_lock(config, name, timeout=None):
    """One of the pipeline's locks (``env-<env>``: a deployment to that environment is running)."""
    return file_lock(os.path.join(config.store, "pipeline", f"{name}.lock"),
                     config.lock_timeout if timeout is None else timeout, f"pipeline {name}")


def env_lock(config, env, timeout=None):
    """Held while ``env`` is being deployed; publish, promote and rollback by hand take it too,
    so an operator cannot switch an environment's tree under a running deployment."""
    return pipeline_lock(config, f"env-{env}", timeout)


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


class Run:
    """One pipeline run: what triggered it and how long each step took."""

    def __init__(self, pipeline, event, kind):
        self.pipeline = pipeline
        self.record = {
            "id": uuid.uuid4().hex[:12], "kind": kind, "event": event.get("type"),
            "project": event.get("project"), "change": event.get("change"), "patchset": event.get("patchset"),
            "revision": event.get("new_rev") or event.get("revision"), "repo": event.get("repo"),
            "who": event.get("who"), "release": None, "envs": [], "steps": [], "result": "running",
        }
        self._started = time.monotonic()

    @contextlib.contextmanager
    def step(self, name, env=None):
        began = time.monotonic()
        entry = {"step": name, **({"env": env} if env else {})}
        try:
            yield entry
            entry.setdefault("ok", True)
        except Exception as err:
            entry.update(ok=False, error=str(err)[:500])
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - began, 3)
            self.record["steps"].append(entry)

    def finish(self, result, **extra):
        self.record.update(result=result, seconds=round(time.monotonic() - self._started, 3), **extra)
        self.pipeline.write_run(self.record)
        self.pipeline.emit(f"run/{result}", self.record)
        return self.record


class Pipeline:
    def __init__(self, config, orchestrate, emit=lambda tag, data: None, by="releasetrain-pipeline"):
        """``orchestrate(sls, saltenv, pillar) -> (ok, summary)`` runs an orchestration (Salt's runner client)."""
        self.config = config
        self.settings = pipeline_settings(config)
        self.gerrit = gerrit.settings(config)
        self.store = Store(config)
        self.orchestrate = orchestrate
        self.emit = emit
        self.by = by
        self.dir = os.path.join(config.store, "pipeline")
        self.runs_path = os.path.join(self.dir, "runs.jsonl")
        self.rejected_path = os.path.join(self.dir, "rejected.jsonl")
        self.queue_path = os.path.join(self.dir, "queue.json")

    # -- bookkeeping -----------------------------------------------------------------
    def _lock(self, name, timeout=None):
        return pipeline_lock(self.config, name, timeout)

    def _append(self, path, record, keep=None):
        """Append one record to a journal (ASCII JSON: any character an event holds is escaped); with
        ``keep``, a journal grown past REJECTED_TRIM_BYTES is cut to its last ``keep`` lines."""
        with self._lock("runs"):
            journal.append(path, record)
            if keep:
                journal.trim(path, keep, REJECTED_TRIM_BYTES)

    def write_run(self, record):
        self._append(self.runs_path, record)

    def write_rejected(self, source, result, reason, event=None):
        """Record an event dropped before any run (wrong secret, malformed, unconfigured, failed)."""
        known = {key: event[key] for key in ("type", "key") if isinstance(event, dict) and event.get(key)}
        self._append(self.rejected_path, {"source": source, "result": result, "reason": str(reason)[:REASON_CHARS],
                                          **known}, keep=REJECTED_KEEP)

    def runs(self):
        latest = {}
        for record in journal.read(self.runs_path):
            latest.pop(record.get("id"), None)
            latest[record.get("id")] = record
        return list(latest.values())

    def rejected(self, limit=20):
        return journal.read(self.rejected_path)[-int(limit):]

    def _read_queue(self):
        try:
            with open(self.queue_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {"pending": [], "awaiting": [], "last_created": {}}

    def _write_queue(self, queue):
        os.makedirs(self.dir, exist_ok=True)
        tmp = f"{self.queue_path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(queue, handle, sort_keys=True, indent=1)
        os.replace(tmp, self.queue_path)

    def status(self, limit=20):
        queue = self._read_queue()
        return {"runs": self.runs()[-int(limit):], "rejected": self.rejected(limit), "queued": queue.get("pending", []),
                "awaiting_approval": queue.get("awaiting", []), "store": self.store.status(limit=0)["environments"]}

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

    # -- patchset-created: candidate kit, volatile environment, vote ------------------------
    def candidate(self, event):
        run = Run(self, event, "candidate")
        conf = self.settings["candidate"]
        env = self.config.check_env(conf.get("env") or "volatile")
        saltenv = conf.get("saltenv") or env
        run.record["envs"] = [env]
        ok, report = False, ""
        try:
            with run.step("package"):
                kit = self._manifest_at(None).with_repo(event["repo"], event["revision"], event["ref"])
                built = packaging.build(self.config, kit, by=f"gerrit:{event['who'] or 'unknown'}")
                run.record["release"] = built["release"]
            try:
                with env_lock(self.config, env):
                    with run.step("publish", env):
                        self.store.publish(built["release"], env, by=f"gerrit:{event['who'] or 'unknown'}")
                    with run.step("deploy", env) as step:
                        pillar = {**(conf.get("pillar") or {}), "release": built["release"], "env": env,
                                  "mode": "bootstrap", "kit": built["tarball"], "change": event["change"],
                                  "patchset": event["patchset"], "project": event["project"]}
                        ok, report = self.orchestrate(conf["orchestrate"], saltenv, pillar)
                        step["ok"] = ok
            finally:
                if conf.get("teardown"):
                    with run.step("teardown", env):
                        self.orchestrate(conf["teardown"], saltenv,
                                         {"release": built["release"], "env": env, "mode": "teardown"})
        except ReleaseTrainError as err:
            ok, report = False, str(err)
        message = (f"releasetrain: candidate {run.record['release'] or '(not built)'} with {event['repo']} at "
                   f"{event['revision'][:12]} in {env}: {'PASSED' if ok else 'FAILED'}\n\n{report}".strip())
        try:
            with run.step("vote"):
                run.record["vote"] = gerrit.post_review(self.gerrit, event, ok, message[:4000])["labels"]
        except ReleaseTrainError as err:
            return run.finish("failure", error=str(err))
        return run.finish("success" if ok else "failure", report=report[:1000])

    # -- change-merged: deploy-kit commit, queue, train ------------------------------------
    def merged(self, event):
        run = Run(self, event, "merge")
        with run.step("commit"):
            with self._lock("deploy-kit"):
                queue = self._read_queue()
                last = queue.setdefault("last_created", {}).get(event["repo"], 0)
                if event["created"] and event["created"] < last:
                    return run.finish("superseded", reason="an event created later already moved this repo")
                commit = self._commit_pin(event)
                queue["last_created"][event["repo"]] = max(last, event["created"])
                queue.setdefault("pending", []).append({"run": run.record["id"], "commit": commit, "queued_at": now(),
                                                        "change": event["change"], "project": event["project"]})
                run.record["deploy_kit_commit"] = commit
                run.finish("queued")  # before the train can see the entry, so superseding finds this record
                self._write_queue(queue)
        return {"queued": run.record["id"], "commit": commit, "ran": self.drain()}

    def drain(self):
        """Deploy the newest queued deploy-kit commit while holding the train; older ones are superseded."""
        results = []
        settled = False
        while True:
            with try_lock(os.path.join(self.dir, "train.lock")) as held:
                if not held:
                    return results  # the run holding the train picks our entry up
                if not settled:
                    time.sleep(float(self.settings["settle"]))
                    settled = True
                with self._lock("deploy-kit"):
                    queue = self._read_queue()
                    pending, queue["pending"] = queue.get("pending", []), []
                    self._write_queue(queue)
                if pending:
                    newest = pending[-1]
                    for older in pending[:-1]:
                        self._supersede(older, newest)
                    results.append(self._train(newest))
            if not self._read_queue().get("pending"):
                return results

    def _supersede(self, entry, newest):
        for record in self.runs():
            if record.get("id") == entry["run"]:
                self.write_run({**record, "result": "superseded", "superseded_by": newest["run"]})

    def _train(self, entry):
        record = next((r for r in self.runs() if r.get("id") == entry["run"]), {"id": entry["run"]})
        run = Run(self, {}, "merge")
        run.record.update({k: v for k, v in record.items() if k not in ("time", "result", "steps", "seconds")})
        run.record["result"] = "running"
        self.write_run(run.record)
        chain = list(self.config.environments)
        auto = chain if self.settings["auto_production"] else chain[:-1]
        try:
            with run.step("package"):
                built = packaging.build(self.config, self._manifest_at(entry["commit"]), by=f"gerrit:{record.get('who')}")
                run.record["release"] = built["release"]
            for index, env in enumerate(auto):
                self.deploy(run, built["release"], env, promote=index > 0)
        except ReleaseTrainError as err:
            return run.finish("failure", error=str(err))
        if len(auto) < len(chain):
            with self._lock("deploy-kit"):
                queue = self._read_queue()
                queue["awaiting"] = [a for a in queue.get("awaiting", []) if a.get("release") != built["release"]]
                queue["awaiting"].append({"release": built["release"], "env": chain[-1], "change": record.get("change"),
                                          "project": record.get("project"), "run": run.record["id"]})
                self._write_queue(queue)
            return run.finish("awaiting-approval")
        return run.finish("success")

    def deploy(self, run, release, env, promote):
        """Publish (or promote), orchestrate and verify ``release`` in ``env``, alone in that environment."""
        conf = self.settings["deploy"]
        with env_lock(self.config, env):
            with run.step("promote" if promote else "publish", env):
                if promote:
                    self.store.promote(release, env, self.by)
                else:
                    self.store.publish(release, env, self.by)
            run.record["envs"].append(env)
            with run.step("deploy", env) as step:
                pillar = {**(conf.get("pillar") or {}), "release": release, "env": env}
                ok, report = self.orchestrate(conf["orchestrate"], conf.get("saltenv") or env, pillar)
                step["ok"] = ok
                if not ok:
                    raise ReleaseTrainError(f"deploying {release} to {env} failed: {report[:300]}")
            with run.step("verify", env):
                if not self.store.is_verified(release, env):
                    self.store.verify(release, env, self.by)

    # -- comment-added: the production approval ------------------------------------------
    def comment_added(self, event):
        label, wanted = self.gerrit.approval_label, self.gerrit.approval_value
        if event["approvals"].get(label, 0) < wanted:
            return {"result": "ignored", "reason": f"no {label}>={wanted} vote"}
        with self._lock("deploy-kit"):
            queue = self._read_queue()
            waiting = [a for a in queue.get("awaiting", []) if a.get("change") == event["change"]
                       and a.get("project") == event["project"]]
            if not waiting:
                return {"result": "ignored", "reason": f"change {event['change']} has no release awaiting approval"}
            entry = waiting[-1]
            queue["awaiting"] = [a for a in queue["awaiting"] if a is not entry]
            self._write_queue(queue)
        run = Run(self, event, "approval")
        run.record["release"] = entry["release"]
        try:
            self.deploy(run, entry["release"], entry["env"], promote=True)
        except ReleaseTrainError as err:
            return run.finish("failure", error=str(err))
        return run.finish("success", approved_by=event["who"])

    # -- the deploy-kit repo --------------------------------------------------------------
    def _kit_repo(self):
        path = self.settings["deploy_kit"]
        if not path or not os.path.isdir(os.path.join(path, ".git")):
            raise ReleaseTrainError("releasetrain:pipeline:deploy_kit must name a git repo holding the manifest")
        return git.Repo(path)

    def _manifest_at(self, commit):
        repo = self._kit_repo()
        name = self.settings["manifest"]
        try:
            text = repo.git.show(f"{commit or 'HEAD'}:{name}")
        except git.GitCommandError as err:
            raise ReleaseTrainError(f"deploy-kit {repo.working_tree_dir}: cannot read {name} at {commit or 'HEAD'}") from err
        return manifest_mod.parse(text, source=name, base_dir=repo.working_tree_dir)

    def _commit_pin(self, event):
        """Point the manifest's repo at the merged SHA and commit it; return the deploy-kit commit."""
        repo = self._kit_repo()
        name = self.settings["manifest"]
        path = os.path.join(repo.working_tree_dir, name)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        data = yaml.safe_load(text)
        entries = [e for e in data.get("repos", []) if isinstance(e, dict) and e.get("name") == event["repo"]]
        if len(entries) != 1:
            raise ReleaseTrainError(f"{name}: no single repo named {event['repo']!r} in the deploy-kit manifest")
        old = entries[0]["sha"]
        if old == event["new_rev"]:
            return repo.head.commit.hexsha
        if text.count(old) == 1:
            text = text.replace(old, event["new_rev"])  # keeps the file's comments and layout
        else:
            entries[0]["sha"] = event["new_rev"]
            text = yaml.safe_dump(data, sort_keys=False)
        manifest_mod.parse(text, source=name, base_dir=repo.working_tree_dir)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        repo.index.add([name])
        message = (f"{event['repo']}: {event['new_rev'][:12]} (change {event['change']} merged)\n\n"
                   f"Project: {event['project']}\nChange: {event['change']}\nMerged-By: {event['who']}\n")
        actor = git.Actor("releasetrain", "releasetrain@localhost")
        return repo.index.commit(message, author=actor, committer=actor).hexsha
