"""Writing files so that a failure leaves nothing behind: a temporary file beside the target, renamed into place.

Every file the library writes in a user's folder or in its cache home goes through
``temporary_beside`` (or ``write_atomic``): the data goes to ``.<name>.<pid>.writing`` in the
target's folder, which replaces the target only once it is complete, and which is deleted on every
failure path (a full disk, a permission error, an exception from the writer, Ctrl-C). So a failed
write never leaves a partial target nor a stray temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_SUFFIX = ".writing"
"""Suffix of the temporary files ``temporary_beside`` hands out (hidden: their names start with a dot)."""


@contextmanager
def temporary_beside(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a path beside ``path`` to write to; on success it replaces ``path``, on any failure it is deleted.

    The temporary path does not exist when yielded (writers that create their file, e.g. pyarrow,
    work too); the folder is created when missing.

    Raises:
        OSError: the folder cannot be created, or the rename fails (the temporary file is deleted first).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through ``temporary_beside``; returns ``path``.

    Raises:
        OSError: the write failed (e.g. ENOSPC); ``path`` is unchanged and no temporary file is left.
    """
    with temporary_beside(path) as temporary, temporary.open("wb") as handle:
        handle.write(data)
    return Path(path)
