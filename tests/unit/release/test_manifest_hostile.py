"""Manifests written to mislead or to hurt: each is refused in one line naming the problem."""

import time

import pytest
import yaml

from releasetrain import manifest
from releasetrain.errors import ManifestError

SHA = "3f1c" + "0" * 36


def repo(**fields):
    return {"name": "formula", "url": "https://h/formula", "sha": SHA, "path": "states", **fields}


def refused(text, source="manifest.yml"):
    """The one line ``parse`` refuses ``text`` with (and it is one line, prefixed with the source)."""
    with pytest.raises(ManifestError) as error:
        manifest.parse(text, source=source)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{source}: ")
    return message


@pytest.mark.parametrize("document, expected", [
    ({"release": "evil\n", "repos": [repo()]}, "release name 'evil\\n'"),
    ({"repos": [repo(name="formula\n")]}, "name must be letters"),
    ({"repos": [repo(sha=SHA + "\n")]}, "is not 40 lowercase hex digits"),
    ({"repos": [repo(ref="refs/changes/45/12345/3\n")]}, "must be a full ref"),
    ({"books": [{"book": "states", "git": "https://h/x", "branch": SHA + "\n"}]}, "is not a full 40-hex commit SHA"),
])
def test_a_trailing_newline_is_not_part_of_a_valid_name(document, expected):
    assert expected in refused(yaml.safe_dump(document))


@pytest.mark.parametrize("pattern, good", [(manifest.RELEASE_RE, "2026.11.0"), (manifest.SHA_RE, SHA)])
def test_shared_patterns_match_only_the_whole_text_whichever_method_calls_them(pattern, good):
    assert pattern.fullmatch(good) and pattern.match(good)
    for method in (pattern.fullmatch, pattern.match, pattern.search):
        assert method(good + "\n") is None


NATIVE = f"""release: r1
repos:
  - name: formula
    url: https://h/formula
    sha: {SHA}
    path: states
"""


@pytest.mark.parametrize("document, expected", [
    (NATIVE + "release: r2\n", "line 7: duplicate key 'release' (first at line 1)"),
    (NATIVE + "repos: []\n", "line 7: duplicate key 'repos' (first at line 2)"),
    (NATIVE + f"    sha: {'a' * 40}\n", "line 7: duplicate key 'sha' (first at line 5)"),
    (NATIVE + '    "sha": x\n', "line 7: duplicate key 'sha' (first at line 5)"),  # however the key is quoted
    (NATIVE.replace("    path: states\n", "    path: states\n    name: other\n"), "line 7: duplicate key 'name'"),
    (f"books:\n- {{book: states, git: x, branch: {SHA}, branch: {'a' * 40}}}\n", "line 2: duplicate key 'branch'"),
])
def test_a_key_given_twice_is_refused_at_any_depth(document, expected):
    assert expected in refused(document)


def laughs(levels=9):
    """A "billion laughs": each level is an alias list of ten of the level before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("document", [
    "bomb:\n" + "  " + laughs().replace("\n", "\n  ") + f"release: *l9\nrepos:\n- {repo()}\n",
    "defs:\n  " + laughs().replace("\n", "\n  ") + f"books:\n- {{book: states, git: x, branch: *l9}}\n",
])
def test_an_alias_bomb_is_refused_in_milliseconds(document):
    started = time.monotonic()
    assert "line 2: YAML anchors (&) and aliases (*) are not allowed in a manifest" in refused(document)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("document, line", [
    (f"release: &name r1\nrepos:\n- {repo()}\n", 1),  # an anchor alone: no use in a manifest either
    (f"repos:\n- &first {repo()}\n- *first\n", 2),
    (f"repos:\n- name: a\n  url: u\n  sha: {SHA}\n  path: &p states\n- {{name: b, url: u, sha: {SHA}, path: *p}}\n", 5),
])
def test_anchors_and_aliases_are_refused(document, line):
    assert f"line {line}: YAML anchors (&) and aliases (*) are not allowed" in refused(document)


def test_a_merge_key_is_refused():
    document = f"repos:\n- name: a\n  url: u\n  path: states\n  <<: {{sha: '{SHA}'}}\n"
    assert "line 5: a merge key ('<<') is not allowed" in refused(document)


def test_a_document_over_the_size_cap_is_refused_before_it_is_parsed(tmp_path):
    document = NATIVE + "#" * manifest.MAX_TEXT
    assert "is larger than 4 MiB" in refused(document)
    path = tmp_path / "manifest.yml"
    path.write_text(document)
    with pytest.raises(ManifestError, match=r"^manifest.yml: is larger than 4 MiB"):
        manifest.load(str(path))


def test_deeply_nested_brackets_are_one_line():
    assert "malformed YAML" in refused("repos: " + "[" * 100_000 + "]" * 100_000 + "\n")
