"""Real git repositories for tests, built with GitPython in temporary folders."""

import os

import git
import yaml

AUTHOR = git.Actor("Release Tester", "tester@example.org")


def _env_dates(timestamp):
    date = f"{int(timestamp)} +0000"
    return {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}


def commit(repo_dir, files, message, timestamp=1_700_000_000):
    """Write ``files`` into the repo at ``repo_dir`` (creating it) and commit; return the SHA.

    ``files`` maps a relative path to text, to ``("exec", text)`` for an
    executable, to ``("symlink", target)``, or to ``None`` to delete it.
    """
    repo = git.Repo(repo_dir) if os.path.isdir(os.path.join(repo_dir, ".git")) else git.Repo.init(repo_dir)
    for path, content in files.items():
        full = os.path.join(repo_dir, path)
        if content is None:
            repo.index.remove([path], working_tree=True)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.lexists(full):
            os.unlink(full)
        if isinstance(content, tuple) and content[0] == "symlink":
            os.symlink(content[1], full)
        elif isinstance(content, tuple) and content[0] == "exec":
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(content[1])
            os.chmod(full, 0o755)
        else:
            with open(full, "w", encoding="utf-8") as handle:
                handle.write(content)
        repo.git.add(path)
    with repo.git.custom_environment(**_env_dates(timestamp)):
        repo.git.commit("-m", message, "--allow-empty", author=f"{AUTHOR.name} <{AUTHOR.email}>")
    return repo.head.commit.hexsha


def write_manifest(path, repos, release=None):
    data = {"repos": repos}
    if release:
        data["release"] = release
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return str(path)


def formula_entry(formula_repos):
    """The manifest entry pinning the ``formula_repos`` formula at its newest commit."""
    return {"name": "openstack-formula", "url": f"file://{formula_repos['formula']}",
            "sha": formula_repos["shas"]["formula"][-1], "path": "states/openstack", "subdir": "openstack"}


def make_deploy_kit(path, repos, message="Deploy-kit: initial manifest"):
    """A deploy-kit repo at ``path``: one commit of ``manifest.yml`` listing ``repos``."""
    os.makedirs(path)
    manifest = write_manifest(os.path.join(path, "manifest.yml"), repos)
    with open(manifest, encoding="utf-8") as handle:
        commit(str(path), {"manifest.yml": handle.read()}, message)
    return path


def snapshot(folder):
    """Every path below ``folder`` with its size or link target: to prove nothing changed."""
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, folder)
            result[rel] = os.readlink(full) if os.path.islink(full) else (
                os.path.getsize(full) if os.path.isfile(full) else "dir")
    return result
