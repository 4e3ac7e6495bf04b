"""How the processor's per-candidate loops are compiled: numba, cached on disk where it can be.

numba keeps compiled code in ``NUMBA_CACHE_DIR`` when that is set, else
beside the module (``__pycache__``) or in the user's cache directory, the
first that is writable, so that a worker loads the loops in about 0.5 s instead of compiling
them for about 4 s. Where none is writable (a read-only install and home),
``numba.njit(cache=True)`` refuses the function outright; the loops are then
compiled in every process instead, with a warning that says how to cache them.

The small pieces the loops share are here too, inlined where they are used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import numba

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable)


def loop(function: F) -> F:
    """Compile ``function`` with numba in nopython mode, releasing the GIL, cached where possible."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError as err:  # "cannot cache function ...: no locator available"
        log.warning(
            "%s is compiled in every process: %s; set NUMBA_CACHE_DIR to a writable directory",
            function.__qualname__,
            err,
        )
        return numba.njit(nogil=True)(function)


@numba.njit(inline="always")
def at_least(value: float, floor: float) -> float:  # pragma: no cover - compiled
    """``np.maximum(value, floor)`` of two numbers: a NaN value passes through."""
    return value if value >= floor or value != value else floor


@numba.njit(inline="always")
def sum_of_four(values, row: int) -> float:  # pragma: no cover - compiled
    """``values[row].sum()`` of an ``(n, 4)`` array, left to right, as numpy sums the row."""
    return ((values[row, 0] + values[row, 1]) + values[row, 2]) + values[row, 3]
