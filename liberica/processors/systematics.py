"""The shipped sample kind, and the systematic-kind vocabulary the processors use.

The registry and the base class live in :mod:`liberica.core.systematic_kinds`;
the weight and object kinds in ``weights.py`` and ``variations.py``.
"""

from __future__ import annotations

from liberica.core.systematic_kinds import (
    CATEGORIES,
    KINDS,
    ChunkInputs,
    RowInputs,
    SystematicKind,
    get,
    register,
)

__all__ = [
    "CATEGORIES",
    "KINDS",
    "ChunkInputs",
    "RowInputs",
    "SystematicKind",
    "get",
    "register",
]


@register
class AlternativeSample(SystematicKind):
    """An alternative file set of one process (one-sided: Up is the alternative)."""

    name = "alternative_sample"
    category = "sample"
    one_sided = True
    options = {
        "type": "object",
        "additionalProperties": False,
        "required": ["process"],
        "properties": {"process": {"type": "string"}},
    }


# the shipped weight and object kinds register on import
from liberica.processors import variations, weights  # noqa: E402, F401
