import random
import time

import pytest
import yaml

from releasetrain.release import manifest
from releasetrain.errors import ManifestError

SHA = "3f1c" + "0" * 36
OTHER = "a" * 40


def repo(**fields):
    base = {"name": "openstack-formula", "url": "https://review.example.org/salt/openstack-formula",
            "sha": SHA, "path": "states/openstack"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def text(*repos, **top):
    return yaml.safe_dump({**top, "repos": list(repos)})


def test_native_manifest_is_read_with_optional_fields():
    parsed = manifest.parse(text(repo(subdir="openstack/", ref="refs/changes/45/12345/3"), release="2026.11.0"))
    assert parsed.release == "2026.11.0"
    (pin,) = parsed.repos
    assert (pin.name, pin.sha, pin.path, pin.subdir, pin.ref) == (
        "openstack-formula", SHA, "states/openstack", "openstack", "refs/changes/45/12345/3")


def test_relative_url_is_resolved_against_the_manifest_folder(tmp_path):
    parsed = manifest.parse(text(repo(url="../repos/formula")), base_dir=str(tmp_path / "kit"))
    assert parsed.repos[0].fetch_url == str(tmp_path / "repos" / "formula")
    assert parsed.repos[0].url == "../repos/formula"  # the kit records what the operator wrote


@pytest.mark.parametrize("url", ["https://h/x", "ssh://git@h:29418/x", "git@h:salt/x", "file:///srv/x", "/srv/x"])
def test_real_urls_are_left_alone(url):
    assert manifest.parse(text(repo(url=url)), base_dir="/elsewhere").repos[0].fetch_url == url


BAD = {
    "malformed yaml": ("repos: [\n  - name: x\n", "malformed YAML"),
    "not a mapping": ("- just\n- a list\n", "must be a mapping"),
    "no repos": ("release: x\n", "'repos' must be a non-empty list"),
    "unknown top field": (text(repo(), colour="red"), "unknown top-level field(s): colour"),
    "missing sha": (text(repo(sha=None)), "repo 'openstack-formula': missing required field 'sha'"),
    "missing name": (text(repo(name=None)), "repo '#1': missing required field 'name'"),
    "unknown repo field": (text(repo(branch="main")), "repo 'openstack-formula': unknown field(s): branch"),
    "short sha": (text(repo(sha="3f1c")), "sha '3f1c' is not 40 lowercase hex digits"),
    "branch as sha": (text(repo(sha="master")), "sha 'master' is not 40 lowercase hex digits"),
    "sha not a string": ("repos:\n- {name: a, url: u, sha: 123, path: p}\n", "field 'sha' must be a string"),
    "duplicate names": (text(repo(), repo(path="other")), "repo 'openstack-formula': duplicate name"),
    "duplicate paths": (text(repo(), repo(name="second")), "repo 'second': path 'states/openstack' overlaps"),
    "nested paths": (text(repo(), repo(name="second", path="states/openstack/extra")), "overlaps"),
    "path escapes": (text(repo(path="../etc")), "path '../etc' escapes the kit"),
    "absolute path": (text(repo(path="/etc/salt")), "must be a relative path inside the kit"),
    "subdir escapes": (text(repo(subdir="a/../../b")), "subdir 'a/../../b' escapes the kit"),
    "bad ref": (text(repo(ref="changes/45/12345/3")), "ref 'changes/45/12345/3' must be a full ref"),
    "bad release name": (text(repo(), release="a b/c"), "release name 'a b/c'"),
    "bad repo name": (text(repo(name="x;rm -rf")), "name must be letters"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_manifests_are_refused_with_one_line(case):
    source, expected = BAD[case]
    with pytest.raises(ManifestError) as error:
        manifest.parse(source, source="manifest.yml")
    message = str(error.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("manifest.yml: ")


def test_gitshelf_books_pinned_to_shas_are_accepted():
    parsed = manifest.parse(yaml.safe_dump({"books": [
        {"book": "states/openstack", "git": "https://h/openstack-formula", "branch": SHA},
        {"book": "pillar", "git": "https://h/pillar", "branch": OTHER, "name": "site-pillar"},
    ]}))
    assert [(p.name, p.path, p.sha, p.url) for p in parsed.repos] == [
        ("states-openstack", "states/openstack", SHA, "https://h/openstack-formula"),
        ("site-pillar", "pillar", OTHER, "https://h/pillar"),
    ]


@pytest.mark.parametrize("book, expected", [
    ({"book": "states", "git": "https://h/x", "branch": "master"}, "is not a full 40-hex commit SHA"),
    ({"book": "states", "link": "../other"}, "is a 'link:' book; a release must be pinned"),
    ({"book": "states", "branch": SHA}, "missing 'git:' URL"),
])
def test_gitshelf_books_that_are_not_pinned_are_refused(book, expected):
    with pytest.raises(ManifestError, match=expected) as error:
        manifest.parse(yaml.safe_dump({"books": [book]}))
    assert "repo 'states'" in str(error.value)


def test_with_repo_moves_one_pin_for_a_candidate_kit():
    parsed = manifest.parse(text(repo(), repo(name="pillar", path="pillar", sha=OTHER), release="r1"))
    candidate = parsed.with_repo("pillar", "b" * 40, ref="refs/changes/01/1/2")
    assert [p.sha for p in candidate.repos] == [SHA, "b" * 40]
    assert candidate.repos[1].ref == "refs/changes/01/1/2"
    assert candidate.release == ""
    with pytest.raises(ManifestError, match="no repo named 'nope'"):
        parsed.with_repo("nope", SHA)


def _first_overlap_by_comparing_every_pair(paths):
    """The rule _check_unique keeps, written the slow, obvious way: (later, earlier) indexes or None."""
    def overlaps(first, second):
        return "." in (first, second) or first == second or first.startswith(second + "/") \
            or second.startswith(first + "/")
    for index, path in enumerate(paths):
        for earlier, earlier_path in enumerate(paths[:index]):
            if overlaps(path, earlier_path):
                return index, earlier
    return None


@pytest.mark.parametrize("seed", range(300))
def test_overlapping_paths_are_found_as_comparing_every_pair_would(seed):
    rng = random.Random(seed)
    parts = ["a", "b", "a.b", "a-b", "ab"]  # '.' and '-' sort before '/': neighbours that are not parents
    paths = ["/".join(rng.choice(parts) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.1:
        paths.insert(rng.randrange(len(paths) + 1), ".")
    document = text(*(repo(name=f"r{index}", path=path) for index, path in enumerate(paths)))
    expected = _first_overlap_by_comparing_every_pair(paths)
    if expected is None:
        assert [pin.path for pin in manifest.parse(document).repos] == paths
    else:
        later, earlier = expected
        with pytest.raises(ManifestError) as error:
            manifest.parse(document)
        assert str(error.value) == (f"manifest: repo 'r{later}': path {paths[later]!r} overlaps "
                                    f"the path {paths[earlier]!r} of repo 'r{earlier}'")


def test_twenty_thousand_repos_parse_without_comparing_every_pair_of_paths():
    # All under one folder: the worst case for comparing each path with every earlier one
    # (10,000 repos took 12.5 s that way). The bounds only guard against going back to it.
    document = "repos:\n" + "".join(
        f"- {{name: r{index}, url: u, sha: {SHA}, path: states/r{index}}}\n" for index in range(20_000))
    started = time.monotonic()
    parsed = manifest.parse(document)
    assert time.monotonic() - started < 10
    assert len(parsed.repos) == 20_000
    around_them_all = manifest.RepoPin(name="last", url="u", sha=SHA, path="states")
    started = time.monotonic()
    with pytest.raises(ManifestError, match="repo 'last': path 'states' overlaps the path 'states/r0' of repo 'r0'"):
        manifest._check_unique(parsed.repos + (around_them_all,), "manifest")
    assert time.monotonic() - started < 2
