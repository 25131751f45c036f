"""links.check: a kit's symlinks resolved with each other, judged against the kernel's own resolution."""

import os
import random

import pytest

from releasetrain.release.links import MAX_FOLLOWS, UnsafeLink, check


def refusal(links, paths=(), roots=("",)):
    try:
        check(links, paths, roots)
    except UnsafeLink as err:
        return err
    return None


@pytest.mark.parametrize("links", [
    {"states/x/a/up": "..", "states/x/a/esc": "up/../.."},       # the reported chain
    {"states/x/a/esc": "up/../..", "states/x/a/up": ".."},       # the same, listed the other way round
    {"states/x/a/z": "y", "states/x/a/y": "x/../..", "states/x/a/x": "."},  # a link to a link to a link
    {"states/x/l1": "l2", "states/x/l2": "l3", "states/x/l3": "../y"},      # a chain ending outside the repo
    {"states/x/a/b/deep": "../../../../../../etc"},
    {"states/x/abs": "/etc/hostname"},
    {"states/x/a/up": "..", "states/x/a/b/up2": "../up/../../..", "states/x/c": "a/b/up2/hostname"},
])
def test_a_link_that_leaves_its_repo_through_any_chain_is_refused(links):
    err = refusal(links, roots=["states/x"])
    assert err is not None and "outside" in err.problem


@pytest.mark.parametrize("links", [
    {"states/x/a/up": "..", "states/x/a/back": "up/a/up"},      # through a link and back inside
    {"states/x/l1": "l2", "states/x/l2": "a/file"},
    {"states/x/a/self": "."},
    {"states/x/a/dangling": "nothing/here"},
])
def test_a_link_that_stays_in_its_repo_is_accepted(links):
    assert refusal(links, roots=["states/x"]) is None


def test_a_link_into_another_repo_of_the_kit_is_refused():
    err = refusal({"states/x/p": "../../pillar/secret.sls"}, roots=["states/x", "pillar"])
    assert err.path == "states/x/p" and "outside states/x" in err.problem


def test_loops_are_refused_and_bounded():
    assert "loop" in refusal({"a/l1": "l2", "a/l2": "l1"}).problem
    assert "loop" in refusal({"a/self": "self/x"}).problem
    chain = {f"a/l{i}": f"l{i + 1}" for i in range(MAX_FOLLOWS + 2)}  # l0 goes through 41 links
    assert "loop" in refusal(chain).problem


def test_a_member_under_a_link_is_refused():
    err = refusal({"a/up": ".."}, paths=["a/up/x"])
    assert err.path == "a/up/x" and "a/up" in err.problem


def test_links_outside_every_root_are_held_to_the_whole_tree():
    assert refusal({"top": "states/x"}, roots=["states/x"]) is None
    assert "outside the kit" in refusal({"top": "../elsewhere"}, roots=["states/x"]).problem


# -- the kernel as the oracle -----------------------------------------------------------------

NAMES = ["a", "b", "l0", "l1", "l2", "..", "..", "."]


def _random_tree(rng):
    folders = ["r/a", "r/a/b", "r/b", "s"]
    links = {}
    for index in range(rng.randint(1, 5)):
        parent = rng.choice(folders)
        target = "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, 5)))
        links[f"{parent}/l{index % 3}"] = target
    return folders, links


def _materialise(base, folders, links):
    tree = os.path.join(base, "outside", "tree")
    for folder in folders:
        os.makedirs(os.path.join(tree, folder), exist_ok=True)
    for path, target in links.items():
        os.symlink(target, os.path.join(tree, path))
    return tree


def _inside(path, folder):
    return path == folder or path.startswith(folder + os.sep)


def test_whatever_check_accepts_the_kernel_resolves_inside_the_root(tmp_path):
    """Random trees of links to folders, links and '..': every accepted link resolves (os.path.realpath,
    the kernel following each link) inside its root, and so does anything reached through it."""
    rng = random.Random(20261202)
    accepted = refused = 0
    for trial in range(400):
        folders, links = _random_tree(rng)
        base = tmp_path / str(trial)
        tree = _materialise(str(base), folders, links)
        err = refusal(links, roots=["r", "s"])
        if err is not None:
            refused += 1
            continue
        accepted += 1
        for path in links:
            root = os.path.join(tree, path.split("/")[0])
            for probe in ("", "/a", "/b/../a"):
                resolved = os.path.realpath(os.path.join(tree, path) + probe)
                assert _inside(resolved, os.path.realpath(root)) or not os.path.lexists(resolved), (
                    f"seed trial {trial}: {links} accepted, but {path}{probe} resolves to {resolved}")
    assert accepted > 50 and refused > 50, (accepted, refused)  # both sides of the rule were exercised
