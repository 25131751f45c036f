"""Symlinks in a kit, resolved against the kit's own tree with all of its links, as the kernel would.

A link's target is not judged as text: ``a/up -> ..`` and ``a/esc -> up/../..`` each look
harmless alone, but ``esc`` goes through ``up`` and leaves the tree. :func:`check` follows
every component of every target through the other links of the same tree (links to links,
chains, in any order), and refuses a link whose resolution ever steps out of the root it
lies in (its repo's path in the kit, or the kit itself), an absolute target, and a loop.
Both ``release.package`` (before the kit is written) and ``release.publish`` (before anything
is extracted) call it, so a hand-made kit is held to the same rule as a packaged one.
"""

import posixpath

#: How many links one resolution may go through, as the kernel's ELOOP limit.
MAX_FOLLOWS = 40


class UnsafeLink(ValueError):
    """A link that leaves its root, or a path that goes through a link; ``str()`` says which and why."""

    def __init__(self, path, problem):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def check(links, paths=(), roots=("",)):
    """Raise :class:`UnsafeLink` for the first unsafe entry, in path order.

    ``links`` maps each symlink's path in the tree (relative, ``/``-separated) to its target;
    ``paths`` are the tree's other members (files and folders); ``roots`` are the folders that
    links must stay in (``""`` is the whole tree): each link is held to the innermost root
    that holds it, and to the whole tree when none does.
    """
    links = dict(links)
    roots = sorted({_normal(root) for root in roots}, key=len, reverse=True)
    for path in sorted(set(paths) | set(links)):
        through = _first_link_above(path, links)
        if through is not None:
            raise UnsafeLink(path, f"lies under the symlink {through}, so it would be written outside its folder")
    for path in sorted(links):
        root = next((root for root in roots if root == "" or path.startswith(root + "/")), "")
        _resolve(path, links, root)


def _normal(root):
    root = posixpath.normpath(root) if root else ""
    return "" if root == "." else root


def _first_link_above(path, links):
    parent = posixpath.dirname(path)
    while parent:
        if parent in links:
            return parent
        parent = posixpath.dirname(parent)
    return None


def _resolve(path, links, root):
    """Walk ``path``'s target component by component, expanding links as they are met."""
    floor = len(root.split("/")) if root else 0
    where = "the kit" if not root else root
    shown = f"symlink -> {links[path]}"
    parts = path.split("/")[:-1]  # a target is relative to the link's folder
    pending = _components(links[path], path, shown)
    follows = 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if len(parts) <= floor:
                raise UnsafeLink(path, f"{shown} points outside {where}")
            parts.pop()
            continue
        parts.append(name)
        here = "/".join(parts)
        if here in links:
            follows += 1
            if follows > MAX_FOLLOWS:
                raise UnsafeLink(path, f"{shown} goes through more than {MAX_FOLLOWS} symlinks (a loop)")
            parts.pop()
            pending.extend(_components(links[here], path, shown))


def _components(target, path, shown):
    if target.startswith("/"):
        raise UnsafeLink(path, f"{shown} points outside the kit (absolute target)")
    return list(reversed(target.split("/")))
