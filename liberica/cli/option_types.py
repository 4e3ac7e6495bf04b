"""The types of the command line's numeric options: checked in parsing, before any work.

click's ``FloatRange`` compares, and every comparison with NaN is false, so
``--lumi nan`` passed a ``min=0`` range and ``--lumi inf`` one without a
maximum; a negative ``--seed`` passed ``int`` and failed later in numpy. Every
float option takes :class:`FiniteFloatRange` (``--mu`` a list of them) and
every seed :data:`SEED`, so a bad value stops the command in click's one line
naming the option.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A float in a range that is also finite (not NaN, not +-inf)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


class FiniteFloatList(click.ParamType):
    """Comma-separated finite floats, each in the range; a tuple of floats.

    Args:
        **limits: ``FiniteFloatRange``'s (``min``, ``max``, ``min_open``, ``max_open``)
    """

    name = "floats"

    def __init__(self, **limits: Any) -> None:
        self._item = FiniteFloatRange(**limits)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        items = [item.strip() for item in str(value).split(",")]
        if not all(items):
            self.fail(f"{value!r} is not a comma-separated list of numbers.", param, ctx)
        return tuple(self._item.convert(item, param, ctx) for item in items)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "M1,M2,..."


LUMINOSITY = FiniteFloatRange(min=0, min_open=True)
"""An integrated luminosity, fb^-1: finite and > 0 (zero or negative scales every MC yield
to nothing or below it)."""

SIGNAL_STRENGTH = FiniteFloatRange(min=0)
"""A true (injected or generated) signal strength: finite and >= 0 (the signal's events are
drawn from it)."""

SEED = click.IntRange(0, 2**32 - 1)
"""A seed: the range every seeded library here takes (numpy refuses a negative seed, and its
legacy global seed, the narrowest, stops at 2**32 - 1)."""
