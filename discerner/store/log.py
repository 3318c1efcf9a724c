"""The write-ahead log: checksummed records, group commit, and torn-tail detection on replay.

A record is an 8-byte header followed by its payload: the payload length (uint32, little endian)
and the CRC32 of the length bytes and the payload (uint32). Covering the length with the
checksum means a damaged length is detected as surely as damaged data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import threading
import time
import zlib
from pathlib import Path

from discerner.errors import StoreCorruptError, StoreError

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<II")
LENGTH = struct.Struct("<I")
MAX_PAYLOAD = 1 << 30
GATHER_SHARE = 0.5
MAX_GATHER_S = 0.002
LOG_NAME = re.compile(r"\d{20}\.wal")


def frame(payload: bytes) -> bytes:
    """Return `payload` framed as one log record (header + payload)."""
    length = LENGTH.pack(len(payload))
    return HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


def _record_at(data: memoryview, offset: int) -> bytes | None:
    """The payload of a valid record starting at `offset`, or None when there is none."""
    if len(data) - offset < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(data, offset)
    end = offset + HEADER.size + length
    if length == 0 or length > MAX_PAYLOAD or end > len(data):
        return None
    payload = data[offset + HEADER.size : end]
    if zlib.crc32(payload, zlib.crc32(LENGTH.pack(length))) != crc:
        return None
    return bytes(payload)


def _valid_record_after(data: memoryview, offset: int) -> int | None:
    """The offset of the first valid record after `offset`, if any (a sign of corruption)."""
    for candidate in range(offset + 1, len(data) - HEADER.size + 1):
        if _record_at(data, candidate) is not None:
            return candidate
    return None


def read_log(path: Path, *, last: bool) -> tuple[list[tuple[int, bytes]], int, bool]:
    """Read every record of one log file.

    A damaged record followed by nothing valid is a torn tail (a crash or a write in
    progress) and ends the file; a damaged record followed by a valid one is corruption.

    Args:
        path: The log file.
        last: Whether this is the newest log file, the only one allowed a torn tail.

    Returns:
        ((byte offset, payload) of each record in order, byte offset where the valid prefix
        ends, whether a tail was torn).

    Raises:
        StoreCorruptError: A damaged record before the tail; names the file and offset.
    """
    data = memoryview(path.read_bytes())
    records: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        payload = _record_at(data, offset)
        if payload is None:
            if not last or _valid_record_after(data, offset) is not None:
                raise StoreCorruptError("damaged log record", path=str(path), offset=offset)
            return records, offset, True
        records.append((offset, payload))
        offset += HEADER.size + len(payload)
    return records, offset, False


def log_name(first_seq: int) -> str:
    """The file name of a log whose first record is `first_seq`."""
    return f"{first_seq:020d}.wal"


def first_seq(path: Path) -> int:
    """The sequence number a log file starts at, read from its name.

    Raises:
        StoreCorruptError: The name is not one the store gives its logs.
    """
    if not LOG_NAME.fullmatch(path.name):
        raise StoreCorruptError("not a log file name (<20 digits>.wal)", path=str(path))
    return int(path.name[:20])


class LogWriter:
    """Appends records to one log file with group commit.

    Writers call `append` in sequence order (under the store's lock) and then `wait` (outside
    it). The first waiter finds no flush in progress, takes every pending record, writes them
    with one `write` and one `fdatasync`, and wakes everyone whose record is now durable;
    writers arriving meanwhile queue up for the next flush, so one fsync serves many writes.
    """

    def __init__(self, path: Path, durable_seq: int):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._pending_seq = durable_seq
        self._durable_seq = durable_seq
        self._flushing = False
        self._error: BaseException | None = None
        self._last_batch = 0
        self._last_sync = 0.0

    def append(self, seq: int, payload: bytes) -> None:
        """Queue one record; `seq` must be one more than the previous record's."""
        with self._cond:
            self.check()
            self._pending.append(frame(payload))
            self._pending_seq = seq

    def wait(self, seq: int) -> None:
        """Return once the record `seq` (and every earlier one) is on disk.

        Raises:
            StoreError: A write or fsync failed; the store accepts no more writes.
        """
        with self._cond:
            while self._durable_seq < seq:
                self.check()
                if self._flushing:
                    self._cond.wait()
                else:
                    self._flush_pending()

    def flush(self) -> None:
        """Make every queued record durable."""
        with self._cond:
            target = self._pending_seq
        self.wait(target)

    def close(self) -> None:
        """Flush and close the file."""
        if self._error is None:
            self.flush()
        os.close(self._fd)

    @property
    def durable_seq(self) -> int:
        """The sequence number of the last record known to be on disk."""
        return self._durable_seq

    @property
    def failed(self) -> bool:
        """Whether a write or fsync failed (then the log takes no more records)."""
        return self._error is not None

    def check(self) -> None:
        """Raise StoreError when an earlier write or fsync failed (the log takes no more)."""
        if self._error is not None:
            raise StoreError(f"the log {self.path} could not be written") from self._error

    def _flush_pending(self) -> None:
        """Write and fsync the pending batch; holds the condition on entry, not meanwhile."""
        self._flushing = True
        if self._last_batch > 1:
            # Several writers are active: the ones the last flush released are about to queue
            # again. Waiting a fraction of an fsync for them doubles the batch (else batches
            # alternate between two halves of the writers) at a small cost in latency.
            self._cond.wait(min(GATHER_SHARE * self._last_sync, MAX_GATHER_S))
        batch, last_seq = b"".join(self._pending), self._pending_seq
        self._last_batch = len(self._pending)
        self._pending = []
        self._cond.release()
        error = None
        started = time.perf_counter()
        try:
            _write_all(self._fd, batch)
            os.fdatasync(self._fd)
        except BaseException as exc:
            error = exc
        finally:
            self._cond.acquire()
        self._last_sync = time.perf_counter() - started
        self._flushing = False
        if error is not None:
            # After a failed fsync the file's state is unknown: refuse every later write.
            self._error = error
            logger.error("log write to %s failed: %s", self.path, error)
            with contextlib.suppress(OSError):  # best effort: drop the refused records
                os.ftruncate(self._fd, self.size)
        else:
            self.size += len(batch)
            self._durable_seq = last_seq
        self._cond.notify_all()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
