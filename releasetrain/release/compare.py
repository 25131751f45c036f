"""``release.diff``: what changed between two releases, repo by repo, from the mirrors."""

from releasetrain.release.manifest import RepoPin
from releasetrain.release.mirror import Mirror
from releasetrain.release.store import Store


def diff(config, old, new):
    store = Store(config)
    before = {repo["name"]: repo for repo in store.show(old)["repos"]}
    after = {repo["name"]: repo for repo in store.show(new)["repos"]}
    changes = {}
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changes[name] = {"change": "removed", "sha": before[name]["sha"]}
        elif name not in before:
            changes[name] = {"change": "added", "sha": after[name]["sha"]}
        elif before[name]["sha"] == after[name]["sha"]:
            changes[name] = {"change": "unchanged", "sha": after[name]["sha"]}
        else:
            changes[name] = _commits_between(config, before[name], after[name])
        for key in ("path", "subdir", "url"):
            if name in before and name in after and before[name].get(key) != after[name].get(key):
                changes[name][f"{key}_changed"] = [before[name].get(key), after[name].get(key)]
    return {"from": old, "to": new, "repos": changes}


def _commits_between(config, old, new):
    mirror = Mirror(config.cache, new["url"], config.lock_timeout)
    for repo in (old, new):
        mirror.ensure(RepoPin(name=new["name"], url=new["url"], sha=repo["sha"], path=".", ref=repo.get("ref", "")))
    forward = mirror.log(old["sha"], new["sha"])
    backward = mirror.log(new["sha"], old["sha"])
    return {"change": "moved", "from": old["sha"], "to": new["sha"], "commits": forward, "reverted": backward}
