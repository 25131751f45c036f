"""releasetrain.release.deflate: parallel gzip whose bytes depend only on the input."""

import gzip
import random
import shutil
import subprocess
import zlib

import pytest

from releasetrain.release import deflate
from releasetrain.release.deflate import BLOCK


def text(size, seed=0):
    """Kit-like text: SLS words, repeated enough to compress, random enough to differ."""
    rng = random.Random(seed)
    words = b"pkg.installed service.running file.managed keystone nova neutron - name: require watch".split()
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choice(words) for _ in range(16)) + b"\n"
    return bytes(out[:size])


def compress(data, workers=None, cuts=None):
    parts = []
    writer = deflate.GzipWriter(parts.append, 6, workers=workers)
    start = 0
    for cut in cuts or []:
        writer.write(data[start:cut])
        start = cut
    writer.write(data[start:])
    writer.close()
    return b"".join(parts)


SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 3 * BLOCK + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_any_gzip_reads_it_back(size):
    data = text(size)
    packed = compress(data)
    assert gzip.decompress(packed) == data
    assert zlib.decompress(packed, 16 + zlib.MAX_WBITS) == data


@pytest.mark.skipif(not shutil.which("gzip"), reason="no gzip(1)")
def test_gzip_the_program_checks_it():
    data = text(3 * BLOCK + 7)
    result = subprocess.run(["gzip", "-dc"], input=compress(data), capture_output=True, check=True)
    assert result.stdout == data


@pytest.mark.parametrize("size", SIZES)
def test_the_bytes_do_not_depend_on_threads_or_on_how_the_input_comes(size):
    data = text(size, seed=size)
    rng = random.Random(size)
    expected = compress(data, workers=1)
    for workers in (2, 3, 8):
        assert compress(data, workers=workers) == expected
    for _ in range(5):
        cuts = sorted(rng.randrange(size + 1) for _ in range(rng.randrange(1, 40)))
        assert compress(data, workers=rng.choice([1, 2, 4]), cuts=cuts) == expected


def test_less_than_a_block_is_one_plain_zlib_stream():
    data = text(BLOCK - 1)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    assert compress(data)[10:-8] == body


def test_compresses_about_as_well_as_one_stream():
    data = text(16 * BLOCK)
    single = len(gzip.compress(data, compresslevel=6, mtime=0))
    assert len(compress(data)) <= single * 1.01


def test_header_has_no_name_no_time_and_the_trailer_is_crc_and_size():
    data = text(2 * BLOCK + 3)
    packed = compress(data)
    assert packed[:4] == b"\x1f\x8b\x08\x00" and packed[4:8] == b"\0\0\0\0"  # no flags (no name), mtime 0
    assert int.from_bytes(packed[-8:-4], "little") == zlib.crc32(data)
    assert int.from_bytes(packed[-4:], "little") == len(data)


def test_an_error_inside_the_with_block_stops_the_threads():
    parts = []
    with pytest.raises(RuntimeError, match="stop"):
        with deflate.GzipWriter(parts.append, 6, workers=2) as writer:
            writer.write(text(4 * BLOCK))
            raise RuntimeError("stop")
    assert writer.pool is not None and writer.pool._shutdown
