"""A tampered kit (its release.yml written to match, so the sha256 check passes) is one line, not a traceback."""

import gzip
import os

import pytest

from tests.functional.release.test_store import config, two_releases  # noqa: F401  (fixtures)
from tests.functional.release.test_store_kits import assert_refused_and_untouched, folder, hand_made_release, member, tar_bytes


def good_kit(data=lambda index: f"id-{index}:\n  test.nop: []\n".encode() * 50):
    return tar_bytes([folder("f"), *(member(f"f/file{i:03d}.sls", data=data(i)) for i in range(40))])


def truncated(kit):
    data = gzip.compress(kit)
    return data[: len(data) // 2]


def corrupted(kit):
    data = bytearray(gzip.compress(kit))
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    return bytes(data)


def short_member(kit):
    """A member whose header promises more data than the tar holds."""
    return gzip.compress(tar_bytes([member("f/a", data=b"y" * 5000)])[:2048])


TAMPERED = {
    "truncated gzip": truncated,
    "damaged deflate data": corrupted,
    "damaged data tarfile never checks": lambda kit: corrupted(good_kit(data=lambda index: os.urandom(2000))),
    "a member cut short": short_member,
    "gzip of something else": lambda kit: gzip.compress(b"this is not a tar archive\n" * 100),
    "not gzip": lambda kit: kit,
    "empty": lambda kit: b"",
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_kit_is_one_line_not_a_traceback(config, two_releases, rt_paths, case):  # noqa: F811
    store = two_releases
    store.publish("r1", "test", by="a")
    hand_made_release(store, "bad", TAMPERED[case](good_kit()))
    assert_refused_and_untouched(store, config, rt_paths, lambda: store.publish("bad", "test", by="a"),
                                 "release 'bad': its kit cannot be unpacked (")


def test_a_missing_kit_is_one_line(config, two_releases, rt_paths):  # noqa: F811
    store = two_releases
    store.publish("r1", "test", by="a")
    os.unlink(store.tarball_path("r2"))
    assert_refused_and_untouched(store, config, rt_paths, lambda: store.publish("r2", "test", by="a"),
                                 "release 'r2': its kit cannot be read (No such file or directory); package it again")
