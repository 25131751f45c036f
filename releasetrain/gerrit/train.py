"""The merge leg: change-merged commits the merged SHA to the deploy-kit and queues it; the train
deploys the newest queued commit down the chain (test, staging, ...); comment-added with the
approval vote takes a release awaiting approval to production.

One train runs at a time (``train.lock``); a merge that finds it running leaves its entry in
the queue for that train to pick up.
"""

import os
import time

from releasetrain.errors import ReleaseTrainError
from releasetrain.gerrit import queue as train_queue
from releasetrain.locking import try_lock
from releasetrain.release import packaging


def merged(pipeline, event):
    """change-merged: pin the deploy-kit, queue the commit, then run the train if no one is."""
    run = pipeline.new_run(event, "merge")
    with run.step("commit"):
        with pipeline.queue.changing() as queue:  # its lock covers the deploy-kit commit too
            if train_queue.superseded(queue, event["repo"], event["created"]):
                return run.finish("superseded", reason="an event created later already moved this repo")
            commit = pipeline.kit.commit_pin(event)
            train_queue.add_merge(queue, event, run.record["id"], commit)
            run.record["deploy_kit_commit"] = commit
            run.finish("queued")  # before the train can see the entry, so superseding finds this record
    return {"queued": run.record["id"], "commit": commit, "ran": drain(pipeline)}


def drain(pipeline):
    """Deploy the newest queued deploy-kit commit while holding the train; older ones are superseded."""
    results = []
    settled = False
    while True:
        with try_lock(os.path.join(pipeline.dir, "train.lock")) as held:
            if not held:
                return results  # the run holding the train picks our entry up
            if not settled:
                time.sleep(float(pipeline.settings["settle"]))  # for more merges to come first
                settled = True
            pending = pipeline.queue.take_pending()
            if pending:
                entry, older = train_queue.newest(pending)
                for each in older:
                    _supersede(pipeline, each, entry)
                results.append(_train(pipeline, entry))
        if not pipeline.queue.has_pending():
            return results


def _supersede(pipeline, entry, newest):
    record = pipeline.runlog.run(entry["run"])
    if record is not None:
        pipeline.runlog.write_run({**record, "result": "superseded", "superseded_by": newest["run"]})


def _train(pipeline, entry):
    """Package ``entry``'s deploy-kit commit and deploy it down the chain, up to production when
    ``auto_production``, else up to the environment before it (then it awaits approval)."""
    record = pipeline.runlog.run(entry["run"]) or {"id": entry["run"]}
    run = pipeline.new_run({}, "merge")
    run.record.update({k: v for k, v in record.items() if k not in ("time", "result", "steps", "seconds")})
    run.record["result"] = "running"
    pipeline.runlog.write_run(run.record)
    chain = list(pipeline.config.environments)
    auto = chain if pipeline.settings["auto_production"] else chain[:-1]
    try:
        with run.step("package"):
            built = packaging.build(pipeline.config, pipeline.kit.manifest_at(entry["commit"]),
                                    by=f"gerrit:{record.get('who')}")
            run.record["release"] = built["release"]
        for index, env in enumerate(auto):
            deploy(pipeline, run, built["release"], env, promote=index > 0)
    except ReleaseTrainError as err:
        return run.finish("failure", error=str(err))
    if len(auto) < len(chain):
        pipeline.queue.await_approval({"release": built["release"], "env": chain[-1], "change": record.get("change"),
                                       "project": record.get("project"), "run": run.record["id"]})
        return run.finish("awaiting-approval")
    return run.finish("success")


def deploy(pipeline, run, release, env, promote):
    """Publish (or promote), orchestrate and verify ``release`` in ``env``, alone in that environment."""
    conf = pipeline.settings["deploy"]
    store = pipeline.store
    with store.env_lock(env):  # over the whole deployment; publish and promote take it again inside
        with run.step("promote" if promote else "publish", env):
            if promote:
                store.promote(release, env, pipeline.by)
            else:
                store.publish(release, env, pipeline.by)
        run.record["envs"].append(env)
        with run.step("deploy", env) as step:
            pillar = {**(conf.get("pillar") or {}), "release": release, "env": env}
            ok, report = pipeline.orchestrate(conf["orchestrate"], conf.get("saltenv") or env, pillar)
            step["ok"] = ok
            pipeline.note_report(step, release, env)
            if not ok:
                raise ReleaseTrainError(f"deploying {release} to {env} failed: {report[:300]}")
        with run.step("verify", env):
            if not store.is_verified(release, env):
                store.verify(release, env, pipeline.by)


def approve(pipeline, event):
    """comment-added: an approval vote on a change whose release awaits it deploys that release to production."""
    label, wanted = pipeline.gerrit.approval_label, pipeline.gerrit.approval_value
    if event["approvals"].get(label, 0) < wanted:
        return {"result": "ignored", "reason": f"no {label}>={wanted} vote"}
    entry = pipeline.queue.take_awaiting(event["change"], event["project"])
    if entry is None:
        return {"result": "ignored", "reason": f"change {event['change']} has no release awaiting approval"}
    run = pipeline.new_run(event, "approval")
    run.record["release"] = entry["release"]
    try:
        deploy(pipeline, run, entry["release"], entry["env"], promote=True)
    except ReleaseTrainError as err:
        return run.finish("failure", error=str(err))
    return run.finish("success", approved_by=event["who"])
