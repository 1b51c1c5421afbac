"""The process's memory as glibc manages it (Linux): handing freed memory back to the OS."""
from __future__ import annotations

import ctypes
import gc
from functools import cache


@cache
def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``mallopt``, ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc's own functions, or AttributeError
    except (OSError, AttributeError):
        return None
    return libc


def return_freed_memory() -> None:
    """Collect garbage and hand what the process has freed back to the OS (glibc's
    ``malloc_trim``; nothing elsewhere): Python and NumPy free into the heap, which keeps
    its peak otherwise."""
    gc.collect()
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)
