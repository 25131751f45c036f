"""Packaging streams file contents: a large file does not make the packaging process hold it.

Measured in a child process (its own peak RSS, not git's), with the benchmark's own helpers
(``bench/package_memory.py``), against the same child packaging the repo without the file.
"""

import hashlib
import importlib.util
import os
import random
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SIZE = 30 << 20


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("package_memory", os.path.join(ROOT, "bench", "package_memory.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest_of_random(size, seed=2026):
    """The sha256 of what ``write_random_file(path, size, seed)`` writes, without writing it."""
    rng, digest, left = random.Random(seed), hashlib.sha256(), size
    while left:
        chunk = min(left, 1 << 20)
        digest.update(rng.randbytes(chunk))
        left -= chunk
    return digest.hexdigest()


def test_the_peak_stays_far_below_the_large_file_and_the_kit_holds_it_whole(bench, tmp_path):
    peaks = {}
    for kind, size in (("small", 0), ("large", SIZE)):
        repo = str(tmp_path / kind)
        manifest = bench.write_manifest(str(tmp_path / f"{kind}.yml"), repo, bench.make_repo(repo, size))
        peaks[kind], _, _ = bench.measure(manifest, str(tmp_path / f"scratch-{kind}"))
    assert peaks["large"] < 1.5 * SIZE + peaks["small"], f"peak {peaks['large'] >> 20} MB"
    assert peaks["large"] - peaks["small"] < SIZE // 2, "the packaging process held most of the file"
    kit = tmp_path / "scratch-large" / "store" / "releases" / "memory.tar.gz"
    with tarfile.open(kit) as archive:
        member = archive.extractfile("states/big/files/large.bin")
        digest = hashlib.sha256()
        for piece in iter(lambda: member.read(1 << 20), b""):
            digest.update(piece)
    assert digest.hexdigest() == digest_of_random(SIZE)
