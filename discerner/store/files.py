"""Durable file operations: atomic replacement (temp file, fsync, rename, fsync of the folder)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (created, renamed or removed files) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Make a file's contents durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: `.<name>.<pid>.tmp` beside it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def temp_target(name: str) -> str | None:
    """The file name a `temp_path` name (or an older `.<name>.tmp`) was for; None if not one."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    stem = name[1 : -len(".tmp")]
    head, _, pid = stem.rpartition(".")
    return head if pid.isdigit() else stem


def replace_atomically(path: Path, write: Callable[[Path], None], *, replace: bool = True) -> None:
    """Write `path` through `write(temp_path)` so readers see the old or the new file, never half.

    Args:
        path: The final file.
        write: Writes the whole content to the temporary path it is given.
        replace: False: never replace an existing `path` (FileExistsError instead; a hard
            link, so the check and the move are one step).
    """
    temp = temp_path(path)
    try:
        write(temp)
        fsync_file(temp)
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably."""
    replace_atomically(path, lambda temp: temp.write_bytes(data))


def move_aside(paths: list[Path], root: Path, into: Path) -> Path:
    """Move `paths` (inside `root`) to a new folder in `into`, keeping their relative paths.

    A rename, so nothing is copied or deleted; the moves are durable on return.

    Returns:
        The new folder (named after the current UTC time).
    """
    into.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=into))
    for path in paths:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        created = [target.parent, *target.parent.parents]
        for changed in {path.parent, into.parent, *created[: created.index(into) + 1]}:
            fsync_dir(changed)
    return folder
