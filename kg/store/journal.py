"""The embedded store's write-ahead journal: an append-only file of changes beside the snapshot.

A commit appends one record instead of rewriting the whole graph: a few hundred bytes and one
``fsync``, however large the graph. The file is a header line

    kgrec-journal 1 <lineage> <base>

(``lineage``: the random id of the store the journal belongs to, written into its snapshot
too, so that a journal left from an earlier store in the same folder is never replayed onto a
new one; ``base``: the snapshot generation the journal follows), then records, each

    generation (u64) | payload length (u32) | CRC-32 of generation and payload (u32) | payload

big-endian. A record is whole only when its bytes are all there and its checksum matches: a
writer that died half-way through an append leaves a torn last record, which :func:`records`
stops before, and which the next writer (holding the lock, so nobody else is appending) cuts
off before appending its own.

:func:`write_atomically` is how both files are replaced (compaction, a new store): a temporary
file of the writer's own, fsynced, renamed over the old one, the folder fsynced.
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kgrec.kg import files

MAGIC = b"kgrec-journal"
FORMAT = 1
RECORD = struct.Struct(">QII")
"""A record's head: generation, payload length, CRC-32 of the generation's 8 bytes and the payload."""
MAX_PAYLOAD = 2**32 - 1
TEMPORARY_PREFIX = ".graph-"


@dataclass(frozen=True)
class Header:
    lineage: str
    base: int
    """The generation of the snapshot the journal's records follow."""
    size: int
    """Bytes of the header line: where the first record starts."""


def header_line(lineage: str, base: int) -> bytes:
    return b"%s %d %s %d\n" % (MAGIC, FORMAT, lineage.encode("ascii"), base)


def read_header(handle: BinaryIO) -> Header | None:
    """The header of a journal file (``handle`` left after it), or None when it is not one of
    this format (a file cut short before its header was whole reads as None too)."""
    line = handle.readline(200)
    parts = line.split()
    if not line.endswith(b"\n") or len(parts) != 4 or parts[0] != MAGIC or parts[1] != b"%d" % FORMAT \
            or not parts[3].isdigit():
        return None
    return Header(parts[2].decode("ascii", "replace"), int(parts[3]), len(line))


def encode(generation: int, payload: bytes) -> bytes:
    """One record, ready to append."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a journal record holds at most {MAX_PAYLOAD:,} bytes, got {len(payload):,}")
    number = generation.to_bytes(8, "big")
    return RECORD.pack(generation, len(payload), zlib.crc32(payload, zlib.crc32(number))) + payload


def records(handle: BinaryIO, offset: int) -> Iterator[tuple[int, bytes, int]]:
    """``(generation, payload, end offset)`` of each whole record from ``offset`` on, in order;
    it stops at the end of the file or before the first record that is cut short or fails its
    checksum (a torn append: nothing after it is read)."""
    handle.seek(offset)
    while True:
        head = handle.read(RECORD.size)
        if len(head) < RECORD.size:
            return
        generation, length, checksum = RECORD.unpack(head)
        payload = handle.read(length)
        if len(payload) < length or zlib.crc32(payload, zlib.crc32(generation.to_bytes(8, "big"))) != checksum:
            return
        offset += RECORD.size + length
        yield generation, payload, offset


class Damaged(Exception):
    """Whole records follow one that fails its checksum: not a torn append but a damaged file."""


def append(path: Path, valid_end: int, record: bytes) -> int:
    """Write ``record`` at ``valid_end`` (the end of the last whole record) and fsync; the new
    end. The caller holds the writer lock. What follows ``valid_end`` is cut off first when it
    is a torn append (one record, cut short or with a bad checksum, and nothing after it);
    :class:`Damaged` when more follows it, which cutting would lose."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        rest = os.fstat(descriptor).st_size - valid_end
        if rest > 0:
            head = os.pread(descriptor, RECORD.size, valid_end)
            if len(head) == RECORD.size and RECORD.size + RECORD.unpack(head)[1] < rest:
                raise Damaged(f"{path} is damaged at byte {valid_end:,}: whole records follow one that fails its checksum")
            os.ftruncate(descriptor, valid_end)
        written = os.pwrite(descriptor, record, valid_end)
        if written != len(record):
            raise OSError(f"short write to {path} ({written} of {len(record)} bytes)")
        os.fdatasync(descriptor)
    finally:
        os.close(descriptor)
    return valid_end + len(record)


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """:func:`kgrec.kg.files.write_atomically` for the store's files. The caller holds the
    writer lock, so a temporary file already there was left by a writer that died: it is
    removed first."""
    for stale in path.parent.glob(f"{TEMPORARY_PREFIX}*{files.TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)
    files.write_atomically(path, write, prefix=TEMPORARY_PREFIX)
