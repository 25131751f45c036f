"""Lab settings from the master config and the host's Debian mirror."""

import pytest

from releasetrain.lab import hostapt, settings
from releasetrain.lab.errors import LabError


def test_defaults_and_overrides():
    opts = {"releasetrain": {"lab": {"state_dir": "/tmp/x/state", "proxy_port": "3200"}}}
    result = settings.from_opts(opts)
    assert result.state_dir == "/tmp/x/state"
    assert result.cache_dir == "/var/cache/releasetrain/lab"
    assert result.proxy_port == 3200
    assert result.salt_version == "3008.4"


@pytest.mark.parametrize("suite", ["buster", "Trixie", "13"])
def test_an_unknown_distribution_is_refused(suite):
    with pytest.raises(LabError, match=rf"^releasetrain:lab:suite: unknown distribution '{suite}' \(known: bookworm, trixie\)$"):
        settings.from_opts({"releasetrain": {"lab": {"suite": suite}}})
    assert settings.from_opts({"releasetrain": {"lab": {"suite": "trixie"}}}).suite == "trixie"


def test_unknown_key_is_refused():
    with pytest.raises(LabError, match="unknown key 'statedir'"):
        settings.from_opts({"releasetrain": {"lab": {"statedir": "/x"}}})


def test_mirror_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n"
    )
    mirror = hostapt.debian_mirror(str(tmp_path / "none"), str(tmp_path / "sources.list.d"))
    assert mirror == "http://mirror.example/debian"
    security = hostapt.security_mirror(str(tmp_path / "none"), str(tmp_path / "sources.list.d"))
    assert security == "http://mirror.example/debian-security"


def test_mirror_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://ftp.example/debian bookworm main\n"
    )
    mirror = hostapt.debian_mirror(str(tmp_path / "sources.list"), str(tmp_path / "none"))
    assert mirror == "http://ftp.example/debian"


def test_mirror_falls_back_to_deb_debian_org(tmp_path):
    assert hostapt.debian_mirror(str(tmp_path / "a"), str(tmp_path / "b")) == hostapt.FALLBACK
    assert hostapt.security_mirror(str(tmp_path / "a"), str(tmp_path / "b")) == hostapt.SECURITY_FALLBACK
