"""gzip on every core, with bytes that depend only on the input (pigz's scheme).

The input is cut into blocks of ``BLOCK`` bytes at fixed offsets. Each block is
deflated on its own, primed with the 32 KiB of input before it (so it compresses
about as well as one long stream), and ends on a byte boundary with a sync flush;
the last one ends the stream. Joined in order, the pieces are one deflate stream
in one gzip member, which any gzip reads. Neither the number of threads nor how
the caller hands the input over changes a byte, so a kit is the same on a 2-core
CI machine and on a 64-core master (with the same zlib).
"""

import collections
import concurrent.futures
import os
import struct
import zlib

BLOCK = 1 << 18  # input bytes per deflated block
WINDOW = 1 << 15  # the deflate window: how much earlier input a block may refer to
MAX_WORKERS = 4


def header(level):
    """A gzip header without file name or time (mtime 0, OS unknown), as ``gzip -n`` writes."""
    xfl = b"\002" if level == 9 else b"\004" if level == 1 else b"\000"
    return b"\037\213\010\000" + b"\000\000\000\000" + xfl + b"\377"


def _deflate(block, dictionary, level, last):
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL,
                                  zlib.Z_DEFAULT_STRATEGY, *([dictionary] if dictionary else []))
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class GzipWriter:
    """``write(data)`` any number of times, then ``close()``; the gzip bytes go to ``out(bytes)``
    in order. zlib releases the GIL, so the blocks compress in parallel while the caller goes on."""

    def __init__(self, out, level=6, workers=None):
        self.out, self.level = out, level
        self.workers = workers or min(MAX_WORKERS, os.cpu_count() or 1)
        self.pending = collections.deque()  # futures of compressed blocks, in order
        self.pool = None
        self.buffer = bytearray()
        self.previous = b""  # the last WINDOW bytes of the block before
        self.crc, self.size = 0, 0
        out(header(level))

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            self.close()
        elif self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def write(self, data):
        self.buffer += data
        if len(self.buffer) >= BLOCK:
            view = memoryview(self.buffer)
            cut = len(view) - len(view) % BLOCK
            for start in range(0, cut, BLOCK):
                self._submit(bytes(view[start : start + BLOCK]), last=False)
            view.release()
            del self.buffer[:cut]

    def close(self):
        self._submit(bytes(self.buffer), last=True)
        self.buffer = bytearray()
        while self.pending:
            self.out(self.pending.popleft().result())
        if self.pool is not None:
            self.pool.shutdown()
        self.out(struct.pack("<LL", self.crc, self.size & 0xFFFFFFFF))

    def _submit(self, block, last):
        self.crc = zlib.crc32(block, self.crc)
        self.size += len(block)
        dictionary, self.previous = self.previous, block[-WINDOW:]
        if self.pool is None and last:
            self.out(_deflate(block, dictionary, self.level, last))  # small input: no threads
            return
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers,
                                                              thread_name_prefix="releasetrain-gzip")
        self.pending.append(self.pool.submit(_deflate, block, dictionary, self.level, last))
        while self.pending and (self.pending[0].done() or len(self.pending) > 2 * self.workers):
            self.out(self.pending.popleft().result())
