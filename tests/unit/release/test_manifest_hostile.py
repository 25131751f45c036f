"""Manifests written to mislead or to hurt: each is refused in one line naming the problem."""

import random
import time

import pytest
import yaml

from releasetrain.release import manifest
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


def native(release_line="", **fields):
    """A one-repo manifest with ``fields`` written as they are (plain YAML, unquoted)."""
    entry = {"name": "formula", "url": "https://h/formula", "sha": SHA, "path": "states", **fields}
    return release_line + "repos:\n- " + "\n  ".join(f"{key}: {value}" for key, value in entry.items()) + "\n"


@pytest.mark.parametrize("written, read_as", [
    ("2026.10", "a number"), ("010", "a number"), ("0x1F", "a number"), ("1_000", "a number"), ("1e3", "a number"),
    ("1.0e3", "a number"), ("0o17", "a number"),    (".inf", "a number"), (".NaN", "a number"), ("true", "a boolean"), ("no", "a boolean"), ("On", "a boolean"),
    ("2026-11-01", "a date"), ("2026-02-30", "a date"), ("1" * 5000, "a number"), ("!!binary aGVsbG8=", "binary data"),
])
def test_a_release_name_yaml_reads_as_anything_but_text_is_refused_with_a_hint_to_quote_it(written, read_as):
    message = refused(native(f"release: {written}\n"))
    shown = written if len(written) <= 60 else written[:57] + "..."
    if written.startswith("!!"):
        shown = written.split()[1]
    assert f"release name must be a string, but YAML reads {shown} (line 1) as {read_as}; " \
           f'quote it: release: "{shown}"' in message


@pytest.mark.parametrize("written", ["", "~", "null", "Null"])
def test_a_release_with_no_value_is_refused_rather_than_derived(written):
    assert "release name has no value (line 1): write it, quoted if need be, or remove the line" \
        in refused(native(f"release: {written}\n"))


@pytest.mark.parametrize("written", ["'2026.10'", '"010"', "'true'", '"2026-11-01"'])
def test_a_quoted_release_name_is_the_text_written(written):
    assert manifest.parse(native(f"release: {written}\n")).release == written[1:-1]


def test_a_runner_argument_salt_read_as_a_number_is_refused_too():
    with pytest.raises(ManifestError, match=r"^manifest.yml: release name must be a string, not 2026.1; quote it$"):
        manifest.release_name(2026.1, "manifest.yml")
    assert manifest.release_name(None, "m") == "" and manifest.release_name("2026.10", "m") == "2026.10"


@pytest.mark.parametrize("key, written, expected", [
    ("name", "no", "field 'name' must be a string, but YAML reads no (line 2) as a boolean; quote it: name: \"no\""),
    ("name", "123", "field 'name' must be a string, but YAML reads 123 (line 2)"),
    ("url", "2026", "field 'url' must be a string, but YAML reads 2026 (line 3)"),
    ("sha", "1" * 40, f"field 'sha' must be a string, but YAML reads {'1' * 40} (line 4) as a number"),
    ("path", "2026.10", "field 'path' must be a string, but YAML reads 2026.10 (line 5) as a number"),
    ("subdir", "1.5", "field 'subdir' must be a string, but YAML reads 1.5 (line 6)"),
    ("subdir", "~", "field 'subdir' has no value (line 6)"),
    ("subdir", "", "field 'subdir' has no value (line 6)"),
    ("ref", "off", "field 'ref' must be a string, but YAML reads off (line 6) as a boolean"),
    ("ref", "[refs/a]", "field 'ref' must be a string, not a list"),
    ("path", "{a: b}", "field 'path' must be a string, not a mapping"),
])
def test_a_repo_field_yaml_reads_as_anything_but_text_is_refused(key, written, expected):
    assert expected in refused(native(**{key: written}))


@pytest.mark.parametrize("fields, expected", [
    ({"book": "2026"}, "field 'book' must be a string, but YAML reads 2026 (line 2) as a number"),
    ({"path": "2026"}, "field 'path' must be a string, but YAML reads 2026 (line 2) as a number"),
    ({"git": "1"}, "field 'git' must be a string, but YAML reads 1 (line 3) as a number"),
    ({"branch": "1" * 40}, f"field 'branch' must be a string, but YAML reads {'1' * 40} (line 4) as a number"),
    ({"name": "yes"}, "field 'name' must be a string, but YAML reads yes (line 5) as a boolean"),
    ({"name": "~"}, "field 'name' has no value (line 5)"),
    ({"branch": "[a]"}, "field 'branch' must be a string, not a list"),
])
def test_a_gitshelf_field_yaml_reads_as_anything_but_text_is_refused(fields, expected):
    book = {"book": "states", "git": "https://h/x", "branch": SHA, **fields}
    if "path" in fields:
        del book["book"]
    lines = [f"{key}: {book[key]}" for key in ("book", "path", "git", "branch", "name") if key in book]
    assert expected in refused("books:\n- " + "\n  ".join(lines) + "\n")


def test_a_gitshelf_book_with_both_book_and_path_is_refused():
    document = f"books:\n- {{book: states, path: pillar, git: x, branch: '{SHA}'}}\n"
    assert "repo 'states': has both 'book:' and 'path:'" in refused(document)


def test_a_gitshelf_release_is_checked_as_written():
    document = f"release: 2026.10\nbooks:\n- {{book: states, git: x, branch: '{SHA}'}}\n"
    assert "release name must be a string, but YAML reads 2026.10 (line 1)" in refused(document)
    assert manifest.parse(document.replace("2026.10", "'2026.10'")).release == "2026.10"


@pytest.mark.parametrize("document, expected", [
    (b"release: r1\nrepos: []\n\xff\n", "is not UTF-8 text (invalid start byte at position 23)"),
    ("release: r1\ud800\n", "is not UTF-8 text"),
    ("5: x\n", "line 1: a key must be a field name, not a number (5)"),
    (NATIVE + "2026.10: x\n", "line 7: a key must be a field name, not a number (2026.10)"),
    (NATIVE + "    ~: x\n", "line 7: a key must be a field name, not null (~)"),
    (NATIVE + "? [a]\n: x\n", "line 7: a key must be a field name, not a list"),
    (f"repos:\n- [{SHA}]\n", "repos[0] must be a mapping, not a list"),
    ("repos:\n- 7\n", "repos[0] must be a mapping, not a number (7)"),
    ("repos: {name: a}\n", "'repos' must be a non-empty list"),
    ("books:\n- x\n", "books[0] must be a mapping, not a str"),
    ("release: r1\x00\n", "malformed YAML at character 12: control characters are not allowed"),
    ("repos:\n\t- name: a\n", "malformed YAML at line 2"),
    ("repos: [\n", "malformed YAML at line 2"),
    ("--- {repos: []}\n--- {repos: []}\n", "malformed YAML at line 2"),
    ("!!python/object/apply:os.system [true]\n", "malformed YAML at line 1"),
    (native(url="'-uhttps://h/x'"), "url '-uhttps://h/x' must not start with '-'"),
    (native(url='"https://h/x\\n"'), "url 'https://h/x\\n' must not start with '-' or hold control characters"),
    (native(url='"https://h/\\0x"'), "hold control characters"),
    (native(path='"states\\nx"'), "path 'states\\nx' must be a relative path inside the kit"),
])
def test_malformed_shapes_are_one_line(document, expected):
    assert expected in refused(document)


def test_a_byte_order_mark_and_bytes_in_utf8_are_read(tmp_path):
    path = tmp_path / "manifest.yml"
    path.write_bytes(b"\xef\xbb\xbf" + NATIVE.encode())
    assert manifest.load(str(path)).release == "r1"
    path.write_bytes(b"\xef\xbb\xbfrelease: caf\xc3\xa9\n" + NATIVE.encode().split(b"\n", 1)[1])
    with pytest.raises(ManifestError, match=r"^manifest.yml: release name 'café' must be letters"):
        manifest.load(str(path))
    path.write_bytes(NATIVE.encode("utf-16"))
    with pytest.raises(ManifestError, match=r"^manifest.yml: is not UTF-8 text"):
        manifest.load(str(path))


# Generated documents: parse returns a Manifest of text or refuses in one line, nothing else.

KEYS = ["release", "repos", "books", "name", "url", "sha", "path", "subdir", "ref", "book", "git", "branch",
        "link", "colour", "5", "~", "''", "<<", "yes", "2026.10", "'sha'", "[a]", "{a: b}"]
SCALARS = ["", "~", "null", "yes", "No", "on", "010", "0o17", "2026.10", "1e3", "0x1F", ".nan", "-.inf", "2026-02-30",
           "2026-11-01 10:00:00", SHA, "'" + SHA + "'", "a" * 40, "states", "states/x", "../etc", "/abs", ".", "''",
           "refs/changes/45/12345/3", "https://h/x", "'-oProxyCommand=x'", "1" * 5000, '"a\\nb"', '"\\0"', '"\\t"',
           '"\\ud800"', "!!binary aGk=", "!!python/object:os.system x", "!!set {a: null}", "!!omap [a: b]",
           "!!str 5", "!!int x", "!!timestamp x", "&a x", "*a", "é", "\ufeffx", "x: y", "- x", "'", "{", "]", "#"]


def random_value(rng, depth):
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return rng.choice(SCALARS)
    if roll < 0.75:
        return "[" + ", ".join(random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    return random_mapping(rng, depth + 1)


def random_mapping(rng, depth=0):
    return "{" + ", ".join(f"{rng.choice(KEYS)}: {random_value(rng, depth)}" for _ in range(rng.randint(0, 5))) + "}"


def near_valid(rng):
    """A valid manifest with one field, key or byte changed."""
    fields = {"name": "a", "url": "https://h/a", "sha": f"'{SHA}'", "path": "states"}
    roll = rng.random()
    if roll < 0.4:
        fields[rng.choice([*fields, "subdir", "ref"])] = rng.choice(SCALARS)
    elif roll < 0.6:
        fields[rng.choice(KEYS)] = rng.choice(SCALARS)
    top = rng.choice(["", f"release: {rng.choice(SCALARS)}\n", "release: r1\n"])
    text = top + "repos:\n- {" + ", ".join(f"{key}: {value}" for key, value in fields.items()) + "}\n"
    if roll >= 0.6:
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return text


@pytest.mark.parametrize("seed", range(4))
def test_generated_documents_parse_to_a_manifest_of_text_or_refuse_in_one_line(seed):
    rng = random.Random(seed)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(600):
        document = near_valid(rng) if rng.random() < 0.5 else random_mapping(rng)
        try:
            parsed = manifest.parse(document, source="m.yml")
        except ManifestError as error:
            message = str(error)
            assert "\n" not in message and message.startswith("m.yml: "), (document, message)
            outcomes["refused"] += 1
        else:
            assert isinstance(parsed.release, str)
            for pin in parsed.repos:
                assert all(isinstance(value, str) for value in (pin.name, pin.url, pin.sha, pin.path, pin.subdir,
                                                               pin.ref, pin.fetch_url)), document
                assert manifest.SHA_RE.fullmatch(pin.sha) and manifest.NAME_RE.fullmatch(pin.name), document
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 10 and outcomes["refused"] > 300, outcomes  # both ways were exercised
