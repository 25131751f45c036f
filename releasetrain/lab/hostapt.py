"""Which Debian mirror the host's apt uses, so debootstrap and the nodes use it too."""

import glob
import re

SOURCES = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"
FALLBACK = "http://deb.debian.org/debian"
SECURITY_FALLBACK = "http://deb.debian.org/debian-security"


def debian_mirror(sources=SOURCES, sources_dir=SOURCES_DIR):
    """The first enabled ``deb`` URI of the main Debian archive (not security)."""
    return _first(sources, sources_dir, security=False) or FALLBACK


def security_mirror(sources=SOURCES, sources_dir=SOURCES_DIR):
    """The first enabled ``deb`` URI of Debian's security archive."""
    return _first(sources, sources_dir, security=True) or SECURITY_FALLBACK


def _first(sources, sources_dir, security):
    for uri in _uris(sources, sources_dir):
        if uri.startswith(("http://", "https://", "file:/")) and ("security" in uri) == security:
            return uri.rstrip("/")
    return None


def _uris(sources, sources_dir):
    for path in [sources, *sorted(glob.glob(f"{sources_dir}/*.list"))]:
        yield from _one_line_uris(path)
    for path in sorted(glob.glob(f"{sources_dir}/*.sources")):
        yield from _deb822_uris(path)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _one_line_uris(path):
    for line in _read(path).splitlines():
        line = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb" and "/debian" in line[1]:
            yield line[1]


def _deb822_uris(path):
    for stanza in re.split(r"\n\s*\n", _read(path)):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split():
            yield from (uri for uri in fields.get("uris", "").split() if "/debian" in uri)
