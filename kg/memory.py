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
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def return_freed_memory() -> None:
    """Collect garbage and hand what the process has freed back to the OS (glibc's
    ``malloc_trim``; nothing elsewhere): Python and NumPy free into the heap, which keeps
    its peak otherwise."""
    gc.collect()
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)
