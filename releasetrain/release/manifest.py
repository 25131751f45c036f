"""Deploy-kit manifests: a YAML list of repos pinned to commit SHAs.

Two formats are read into the same :class:`Manifest`:

* the native one (``repos:`` with ``name``, ``url``, ``sha``, ``path`` and the
  optional ``subdir`` and ``ref``), and
* a Gitshelf file (``books:`` with ``book``/``path``, ``git`` and ``branch``), as
  long as every book is pinned to a full SHA.
"""

import json
import os
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import NamedTuple

import yaml

from releasetrain.errors import ManifestError

# Whole-text patterns: \A and \Z (not ^ and $, which let a trailing newline through), and
# checked with fullmatch. Other modules import RELEASE_RE and SHA_RE.
SHA_RE = re.compile(r"\A[0-9a-f]{40}\Z")
NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
RELEASE_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,99}\Z")
REF_RE = re.compile(r"\Arefs/[A-Za-z0-9._/+-]+\Z")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Prefixes, not whole texts: what kind of URL a url is.
SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@?[A-Za-z0-9._-]*:[^/]")

REPO_FIELDS = {"name", "url", "sha", "path", "subdir", "ref"}
REQUIRED_FIELDS = ("name", "url", "sha", "path")
BOOK_FIELDS = {"book", "path", "name", "git", "branch", "link"}

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: 3x faster
# A real manifest is a few KiB; 20,000 repos fit. With no aliases, the data grows only with the text.
MAX_TEXT = 4 * 1024 * 1024
MERGE_TAG = "tag:yaml.org,2002:merge"


class _NotText(NamedTuple):
    """A scalar YAML reads as something other than text (``2026.10`` is the float 2026.1,
    ``010`` the int 8, ``no`` False, ``~`` null...), kept as written so that the refusal
    can quote it. Every field of a manifest is text."""

    kind: str  # "a number", "a boolean", "null", "a date", "binary data"
    text: str
    line: int


NOT_TEXT_TAGS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}


class _ManifestLoader(YAML_LOADER):
    """PyYAML's safe loader, made to read a manifest as a reviewer does.

    A key given twice in one mapping is refused (plain YAML keeps the last one, the
    reviewer reads the first), and so is a merge key (``<<``): each field is written out.
    A scalar that is not text is read as a :class:`_NotText` (never converted: a 5,000-digit
    int or the date 2026-02-30 cannot fail here), for the checks to refuse with its text.
    """

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)  # raises the usual ConstructorError
        mapping, lines = {}, {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:
                raise ManifestError(f"line {line}: a merge key ('<<') is not allowed in a manifest; write each field")
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise ManifestError(f"line {line}: a key must be a field name, not {_shape(key)}")
            if key in lines:
                raise ManifestError(f"line {line}: duplicate key {key!r} (first at line {lines[key]})")
            lines[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _not_text_constructor(kind):
    def construct(loader, node):
        return _NotText(kind, loader.construct_scalar(node), node.start_mark.line + 1)
    return construct


for _tag, _kind in NOT_TEXT_TAGS.items():
    _ManifestLoader.add_constructor(_tag, _not_text_constructor(_kind))
# Plain scalars PyYAML (YAML 1.1) reads as text but YAML 1.2 readers as numbers (1e3, 1.0e3,
# 0o17): refused as well, so that the manifest means the same to every reader.
_ManifestLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|0o[0-7]+)$"),
    list("-+0123456789"),
)


def _refuse_anchors_and_aliases(text):
    """A manifest has no use for ``&anchor`` and ``*alias``; an alias can also expand a few
    lines into gigabytes (a "billion laughs"). Read the events only: nothing is expanded."""
    for event in yaml.parse(text, Loader=YAML_LOADER):
        if getattr(event, "anchor", None) is not None:
            raise ManifestError(
                f"line {event.start_mark.line + 1}: YAML anchors (&) and aliases (*) are not allowed in a manifest; "
                "write each value out"
            )


def _yaml_problem(err):
    """Where a YAMLError is and what it says, to follow "malformed YAML" on one line."""
    if isinstance(err, yaml.reader.ReaderError):
        return f" at character {err.position + 1}: {err.reason}"
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    return f"{where}: {' '.join((getattr(err, 'problem', None) or 'invalid YAML').split())}"


def _as_text(text, source):
    """The manifest as str: bytes must be UTF-8, and a str must be writable as UTF-8."""
    try:
        if isinstance(text, bytes):
            return text.decode("utf-8")
        text.encode("utf-8")  # a lone surrogate cannot be
        return text
    except UnicodeError as err:
        raise ManifestError(f"is not UTF-8 text ({err.reason} at position {err.start + 1})", source=source) from None


def _load_yaml(text, source):
    text = _as_text(text, source)
    if len(text) > MAX_TEXT:
        raise ManifestError(f"is larger than {MAX_TEXT // 1024 // 1024} MiB; a manifest is a list of repos", source=source)
    loader = _ManifestLoader(text)
    try:
        if "&" in text or "*" in text:  # the only ways to write an anchor or an alias
            _refuse_anchors_and_aliases(text)
        return loader.get_single_data()
    except RecursionError:  # the pure-Python parser, on deeply nested brackets
        raise ManifestError("malformed YAML: nested too deeply", source=source) from None
    except yaml.YAMLError as err:
        raise ManifestError(f"malformed YAML{_yaml_problem(err)}", source=source) from err
    except ManifestError as err:
        err.source = source
        raise
    finally:
        loader.dispose()


@dataclass(frozen=True)
class RepoPin:
    name: str
    url: str
    sha: str
    path: str
    subdir: str = ""
    ref: str = ""
    fetch_url: str = ""  # ``url`` made absolute when it is a path relative to the manifest

    def describe(self):
        """The fields that go into release.yml (``fetch_url`` is a local detail)."""
        data = asdict(self)
        data.pop("fetch_url")
        return {key: value for key, value in data.items() if value}


@dataclass(frozen=True)
class Manifest:
    repos: tuple
    release: str = ""
    source: str = "manifest"

    def with_repo(self, name, sha, ref=""):
        """A copy with repo ``name`` moved to ``sha`` (and ``ref``), for candidate kits."""
        if name not in {repo.name for repo in self.repos}:
            raise ManifestError(f"no repo named {name!r} in the manifest", source=self.source)
        repos = tuple(
            RepoPin(**{**asdict(repo), "sha": sha, "ref": ref or repo.ref}) if repo.name == name else repo
            for repo in self.repos
        )
        return Manifest(repos=repos, release="", source=self.source)


def load(path):
    """Read and validate a manifest file; raise ManifestError naming the problem."""
    source = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_TEXT + 1)  # enough to tell it is too large, and no more
    except OSError as err:
        raise ManifestError(f"cannot read it: {err.strerror}", source=path) from err
    return parse(text, source=source, base_dir=os.path.dirname(os.path.abspath(path)))


def parse(text, source="manifest", base_dir=None):
    """Validate manifest ``text`` (str, or bytes that must be UTF-8) into a Manifest."""
    data = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise ManifestError("must be a mapping with a 'repos' list", source=source)
    if "books" in data and "repos" not in data:
        return _from_gitshelf(data, source, base_dir)
    return _from_native(data, source, base_dir)


def _from_native(data, source, base_dir):
    unknown = set(data) - {"release", "repos"}
    if unknown:
        raise ManifestError(f"unknown top-level field(s): {', '.join(sorted(unknown))}", source=source)
    release = release_name(data.get("release"), source)
    repos = data.get("repos")
    if not isinstance(repos, list) or not repos:
        raise ManifestError("'repos' must be a non-empty list", source=source)
    pins = tuple(_repo(entry, index, source, base_dir) for index, entry in enumerate(repos))
    _check_unique(pins, source)
    return Manifest(repos=pins, release=release, source=source)


def release_name(value, source):
    """The release name as written ('' when there is none); ManifestError when it is not a name.

    ``value`` is the manifest's ``release:`` or the runner's ``release=`` argument, which
    salt-run reads as YAML too: a number there is refused as well, never turned into text.
    """
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ManifestError(_not_a_string("release name", "release", value), source=source)
    if not RELEASE_RE.fullmatch(value):
        raise ManifestError(
            f"release name {value!r} must be letters, digits, '.', '_', '+' or '-' (at most 100)",
            source=source,
        )
    return value


def _not_a_string(what, key, value):
    """Why ``value`` cannot be ``what`` (e.g. "field 'sha'"): the problem's one line."""
    if isinstance(value, _NotText) and value.kind == "null":
        return f"{what} has no value (line {value.line}): write it, quoted if need be, or remove the line"
    if isinstance(value, _NotText):
        text = _clip(value.text)
        return (f"{what} must be a string, but YAML reads {text} (line {value.line}) as {value.kind}; "
                f"quote it: {key}: {json.dumps(text)}")
    if isinstance(value, (bool, int, float)):
        return f"{what} must be a string, not {value!r}; quote it"
    return f"{what} must be a string, not {_shape(value)}"


def _shape(value):
    """What a value that is not text is, without printing it (it may be huge or deeply nested)."""
    if isinstance(value, _NotText):
        return f"{value.kind} ({_clip(value.text)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _clip(text, most=60):
    return text if len(text) <= most else text[:most - 3] + "..."


def _string(fields, key, label, source):
    """``fields[key]`` when it is text ('' when absent); ManifestError naming the field otherwise."""
    value = fields.get(key, "")
    if not isinstance(value, str):
        raise ManifestError(_not_a_string(f"field {key!r}", key, value), label, source)
    return value


def _repo(entry, index, source, base_dir):
    if not isinstance(entry, dict):
        raise ManifestError(f"repos[{index}] must be a mapping, not {_shape(entry)}", source=source)
    name = entry.get("name")
    label = name if isinstance(name, str) and name else f"#{index + 1}"
    unknown = set(entry) - REPO_FIELDS
    if unknown:
        raise ManifestError(f"unknown field(s): {', '.join(sorted(unknown))}", label, source)
    for key in REQUIRED_FIELDS:
        if entry.get(key) in (None, ""):
            raise ManifestError(f"missing required field {key!r}", label, source)
    name, url, sha, path, subdir, ref = (_string(entry, key, label, source) for key in
                                         ("name", "url", "sha", "path", "subdir", "ref"))
    if not NAME_RE.fullmatch(name):
        raise ManifestError("name must be letters, digits, '.', '_' or '-'", label, source)
    if not SHA_RE.fullmatch(sha):
        raise ManifestError(f"sha {sha!r} is not 40 lowercase hex digits (a full commit SHA)", label, source)
    if ref and not REF_RE.fullmatch(ref):
        raise ManifestError(f"ref {ref!r} must be a full ref such as refs/changes/45/12345/3", label, source)
    if CONTROL_RE.search(url) or url.startswith("-"):  # git would read a leading '-' as an option
        raise ManifestError(f"url {url!r} must not start with '-' or hold control characters", label, source)
    return RepoPin(
        name=name,
        url=url,
        sha=sha,
        path=_inside_kit(path, "path", label, source, allow_root=True),
        subdir=_inside_kit(subdir, "subdir", label, source) if subdir else "",
        ref=ref,
        fetch_url=_fetch_url(url, base_dir),
    )


def _inside_kit(value, field_name, label, source, allow_root=False):
    """Normalise a relative POSIX path; refuse one that escapes the kit."""
    if value.startswith("/") or "\\" in value or CONTROL_RE.search(value):
        raise ManifestError(f"{field_name} {value!r} must be a relative path inside the kit", label, source)
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ManifestError(f"{field_name} {value!r} escapes the kit ('..' is not allowed)", label, source)
    normal = posixpath.join(*parts) if parts else "."
    if normal == "." and not allow_root:
        raise ManifestError(f"{field_name} must name a folder", label, source)
    return normal


def _fetch_url(url, base_dir):
    """Resolve a plain relative path against the manifest's folder; leave real URLs alone."""
    if SCHEME_RE.match(url) or SCP_RE.match(url) or os.path.isabs(url) or base_dir is None:
        return url
    return os.path.normpath(os.path.join(base_dir, url))


def _check_unique(pins, source):
    """Refuse a repeated name, or a path equal to, inside or around an earlier repo's path.

    A path is refused against the first earlier repo (in manifest order) it overlaps. The
    claimed paths are kept as a tree of folders, so each path costs one walk down its own
    parts instead of a comparison with every earlier path.
    """
    seen_names = set()
    for pin in pins:
        if pin.name in seen_names:
            raise ManifestError("duplicate name", pin.name, source)
        seen_names.add(pin.name)
    claimed = _Folder()
    for index, pin in enumerate(pins):
        other = claimed.first_overlap(pin.path)
        if other is not None:
            raise ManifestError(
                f"path {pin.path!r} overlaps the path {other[1].path!r} of repo {other[1].name!r}", pin.name, source
            )
        claimed.claim(pin.path, (index, pin))


class _Folder:
    """A folder of the kit: the repo whose path it is, and the first repo whose path is inside it."""

    __slots__ = ("children", "owner", "first_inside")

    def __init__(self):
        self.children = {}
        self.owner = None  # (manifest index, pin)
        self.first_inside = None

    def first_overlap(self, path):
        """The earliest claim that is ``path``, one of its parents or inside it; None when free."""
        found = []
        folder = self
        for part in _parts(path):
            found.append(folder.owner)
            folder = folder.children.get(part)
            if folder is None:
                break
        else:
            found += [folder.owner, folder.first_inside]
        return min((claim for claim in found if claim is not None), default=None, key=lambda claim: claim[0])

    def claim(self, path, claim):
        folder = self
        for part in _parts(path):
            if folder.first_inside is None:
                folder.first_inside = claim
            folder = folder.children.setdefault(part, _Folder())
        folder.owner = claim


def _parts(path):
    """The folders of a normalised kit path ('.' is the kit's root: no parts)."""
    return [] if path == "." else path.split("/")


def _from_gitshelf(data, source, base_dir):
    books = data.get("books")
    if not isinstance(books, list) or not books:
        raise ManifestError("'books' must be a non-empty list", source=source)
    native = {"repos": [_book_as_repo(book, index, source) for index, book in enumerate(books)]}
    if "release" in data:
        native["release"] = data["release"]
    return _from_native(native, source, base_dir)


def _book_as_repo(book, index, source):
    """A Gitshelf book pinned to a full SHA, as a native repo entry."""
    if not isinstance(book, dict):
        raise ManifestError(f"books[{index}] must be a mapping, not {_shape(book)}", source=source)
    path_key = "book" if "book" in book else "path"
    path = book.get(path_key)
    label = path if isinstance(path, str) and path else f"#{index + 1}"
    unknown = set(book) - BOOK_FIELDS
    if unknown:
        raise ManifestError(f"unknown field(s): {', '.join(sorted(unknown))}", label, source)
    if "link" in book:
        raise ManifestError(
            "is a 'link:' book; a release must be pinned, so list the linked repo with its own SHA",
            label,
            source,
        )
    if "book" in book and "path" in book:
        raise ManifestError("has both 'book:' and 'path:'; give its path once", label, source)
    if book.get("git") in (None, ""):
        raise ManifestError("missing 'git:' URL", label, source)
    branch = book.get("branch")
    if branch in (None, ""):
        raise ManifestError("missing 'branch:': a release must be pinned to a full 40-hex commit SHA", label, source)
    branch = _string(book, "branch", label, source)
    if not SHA_RE.fullmatch(branch):
        raise ManifestError(
            f"branch {branch!r} is not a full 40-hex commit SHA; a release must be pinned, not follow a branch",
            label,
            source,
        )
    if path in (None, ""):
        raise ManifestError("missing 'book:' path", label, source)
    path = _string(book, path_key, label, source)
    name = _string(book, "name", label, source) or re.sub(r"[^A-Za-z0-9._-]+", "-", path.strip("/")) or "root"
    return {"name": name, "url": _string(book, "git", label, source), "sha": branch, "path": path}
