"""Manifests written to mislead or to hurt: each is refused in one line naming the problem."""

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
