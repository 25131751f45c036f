"""The deploy-kit repo the pipeline reads manifests from and commits merged SHAs to.

:func:`pin_sha` edits the manifest's text: the one scalar that holds the repo's ``sha`` is
replaced where it stands (comments and layout stay), and a manifest where that scalar is not
plain to find is refused in one line, for a person to edit.
"""

import os
import re

import git
import yaml

from releasetrain.errors import ReleaseTrainError
from releasetrain.release import manifest as manifest_mod

ACTOR = git.Actor("releasetrain", "releasetrain@localhost")
_NOT_A_NUMBER = re.compile(r"[a-df]")  # a SHA without these letters could read as a number: it is quoted


class PinError(ReleaseTrainError):
    """The manifest does not say plainly which ``sha`` to change."""


def pin_sha(text, repo, sha, source="manifest"):
    """``text`` with repo ``repo``'s ``sha`` set to ``sha``, and nothing else changed; PinError when
    the manifest does not hold exactly one ``repos`` entry named ``repo`` with one plain or quoted ``sha``."""
    node = _sha_node(text, repo, source)
    if node.value == sha:
        return text
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ("'", '"'):
        start, end = start + 1, end - 1  # a SHA needs no escapes: the quotes stay as they are
        written = sha
    else:
        written = sha if _NOT_A_NUMBER.search(sha) else f"'{sha}'"
    pinned = text[:start] + written + text[end:]
    _check_only_the_sha_moved(text, pinned, repo, sha, source)
    return pinned


def _refuse(source, repo, problem):
    return PinError(f"{source}: cannot pin {repo!r}: {problem}; edit the deploy-kit manifest by hand")


def _sha_node(text, repo, source):
    """The YAML scalar node of ``repos[<the entry named repo>].sha``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise _refuse(source, repo, f"it is not one YAML document{f' (line {mark.line + 1})' if mark else ''}") from None
    repos = _values(root, "repos") if isinstance(root, yaml.MappingNode) else []
    if len(repos) != 1 or not isinstance(repos[0], yaml.SequenceNode):
        raise _refuse(source, repo, "it has no single 'repos' list")
    entries = [entry for entry in repos[0].value if isinstance(entry, yaml.MappingNode)
               and any(isinstance(name, yaml.ScalarNode) and name.value == repo for name in _values(entry, "name"))]
    if len(entries) != 1:
        raise PinError(f"{source}: no single repo named {repo!r} in the deploy-kit manifest")
    shas = _values(entries[0], "sha")
    if len(shas) != 1 or not isinstance(shas[0], yaml.ScalarNode) or shas[0].style not in (None, "'", '"'):
        raise _refuse(source, repo, "its entry has no single plain or quoted 'sha'")
    return shas[0]


def _values(mapping, key):
    return [value for name, value in mapping.value if isinstance(name, yaml.ScalarNode) and name.value == key]


def _check_only_the_sha_moved(before, after, repo, sha, source):
    """The edited text reads as the old one with that one SHA changed (a last guard on the text edit)."""
    try:
        expected, got = yaml.safe_load(before), yaml.safe_load(after)
    except yaml.YAMLError:
        raise _refuse(source, repo, "it is not YAML a safe loader reads") from None
    for entry in expected["repos"]:
        if isinstance(entry, dict) and entry.get("name") == repo:
            entry["sha"] = sha
    if got != expected:
        raise _refuse(source, repo, "the edited text would read differently")


class DeployKit:
    """The git repo (with a work tree) at ``path`` holding the manifest at ``manifest`` (relative)."""

    def __init__(self, path, manifest):
        self.path = path
        self.manifest = manifest

    def repo(self):
        if not self.path or not os.path.isdir(os.path.join(self.path, ".git")):
            raise ReleaseTrainError("releasetrain:pipeline:deploy_kit must name a git repo holding the manifest")
        return git.Repo(self.path)

    def manifest_at(self, commit):
        """The manifest as committed at ``commit`` (None: HEAD), parsed and checked."""
        repo = self.repo()
        name = self.manifest
        try:
            text = repo.git.show(f"{commit or 'HEAD'}:{name}")
        except git.GitCommandError as err:
            raise ReleaseTrainError(f"deploy-kit {repo.working_tree_dir}: cannot read {name} at {commit or 'HEAD'}") from err
        return manifest_mod.parse(text, source=name, base_dir=repo.working_tree_dir)

    def commit_pin(self, event):
        """Point the manifest's repo at the merged SHA and commit it; return the deploy-kit commit."""
        repo = self.repo()
        name = self.manifest
        path = os.path.join(repo.working_tree_dir, name)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        pinned = pin_sha(text, event["repo"], event["new_rev"], source=name)
        if pinned == text:
            return repo.head.commit.hexsha
        manifest_mod.parse(pinned, source=name, base_dir=repo.working_tree_dir)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(pinned)
        repo.index.add([name])
        message = (f"{event['repo']}: {event['new_rev'][:12]} (change {event['change']} merged)\n\n"
                   f"Project: {event['project']}\nChange: {event['change']}\nMerged-By: {event['who']}\n")
        return repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha
