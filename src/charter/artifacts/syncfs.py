"""Making many new files durable at once with syncfs(2), where that is known to be safe.

Written here because Python's os module has no syncfs. One syncfs commits a whole
filesystem's journal once, where an fsync per file and per directory commits it once
each. It is used only where it keeps fsync's guarantees:
- Linux 5.8 or newer: older kernels do not report write-back errors from syncfs;
- a local disk filesystem (ext4, xfs, btrfs, f2fs): network and FUSE filesystems may
  not pass syncfs on to the server that holds the bytes;
- through a descriptor opened before the files are written: syncfs reports an error
  that happened since that descriptor was opened, so a failure while our bytes were
  written back cannot be taken (and reported) by another caller first.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

LOCAL_FILESYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs"})
_MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


def _load() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int]
    return cast(Callable[[int], int], function)


SYNCFS = _load()


def kernel_reports_errors(release: str | None = None) -> bool:
    """Whether this Linux kernel's syncfs reports write-back errors (5.8 and newer)."""
    found = re.match(r"(\d+)\.(\d+)", release if release is not None else os.uname().release)
    return found is not None and (int(found[1]), int(found[2])) >= (5, 8)


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem mounted at the longest mount point above `path`."""
    if mountinfo is None:
        try:
            mountinfo = _MOUNTINFO.read_text()
        except OSError:
            return None
    target, best, kind = str(path.resolve()), -1, None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 5:
            continue
        point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), fields[fields.index("-") + 1]
    return kind


@functools.lru_cache(maxsize=16)
def usable(directory: Path) -> bool:
    """Whether new files under `directory` may be made durable with syncfs."""
    return (
        SYNCFS is not None
        and kernel_reports_errors()
        and filesystem_type(directory) in LOCAL_FILESYSTEMS
    )


def sync(fd: int, what: Path) -> None:
    """syncfs(2) on the filesystem of the open descriptor `fd`; OSError if it failed."""
    if SYNCFS is None:
        raise OSError(errno.ENOSYS, f"syncfs {what}: the C library has no syncfs")
    if SYNCFS(fd) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"syncfs {what}: {os.strerror(error)}")
