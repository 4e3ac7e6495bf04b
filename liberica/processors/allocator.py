"""The C allocator's settings for chunk processing: freed memory is kept for the next chunk.

A 500k-event chunk of the flagship analysis's full job allocates and frees about a gigabyte
of numpy arrays. glibc's defaults give large blocks back to the kernel when
they are freed (the mmap threshold starts at 128 KiB and the heap is trimmed
beyond twice it), so every chunk faults the same pages in again: 1.9M page
faults in the 20M-event benchmark, about 2 us each on these VMs. Keeping up to
512 MiB of freed heap between chunks, and serving blocks up to 32 MiB from the
heap, cuts that to 0.8M faults; the full job runs about 15% faster for about
90 MB more peak RSS (benchmarks/RESULTS.md).

The settings are made at run time, so they also replace the
``MALLOC_TRIM_THRESHOLD_=65536`` that dask's nanny exports to its workers
(which cost 42% of the rate): facility workers need no environment for it.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 32 << 20
"""Blocks up to this size come from the heap (glibc's dynamic maximum)."""

TRIM_THRESHOLD_BYTES = 512 << 20
"""Freed memory at the top of the heap is returned to the kernel beyond this."""

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process, once.

    Returns:
        bool: whether the thresholds are set; False off glibc
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    applied = bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    log.debug(
        "allocator keeps up to %d MiB of freed memory: %s", TRIM_THRESHOLD_BYTES >> 20, applied
    )
    return applied
