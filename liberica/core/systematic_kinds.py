"""Systematic kinds, registered by name: what each varies and how.

A definition's systematic names a ``kind``; the kind says everything about it:

- its category: ``weight`` (a ratio to the nominal weight per selected row),
  ``object`` (a collection replaced, everything downstream recomputed) or
  ``sample`` (an alternative file set of a process);
- whether it is one-sided (only an Up variation exists, and Down is Up
  mirrored around nominal when the histograms are complete);
- the JSON schema of its options, and checks the schema cannot express;
- how it applies: ``ratios`` for a weight kind, ``vary`` for an object kind.

The base processor loops over the kinds of a definition's systematics; no code
asks for a kind by its name. The registry lives here, at the bottom, so that a
definition is validated without importing the processors; the kinds liberica
ships live beside the code they use (``processors/weights.py``,
``variations.py``, ``systematics.py``) and register on import. Their modules are
named under the entry-point group ``liberica.systematic_kinds`` (as an
installed package names its own), and :func:`get` imports them on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from liberica.core.entry_points import load_group

log = logging.getLogger(__name__)

CATEGORIES = ("weight", "object", "sample")

ENTRY_POINT_GROUP = "liberica.systematic_kinds"
"""Entry points naming the modules that register kinds when imported."""


class RowInputs(NamedTuple):
    """What a weight kind reads for the selected rows of one selection pass.

    Attributes:
        events: the chunk
        event_index: per row, its event in the chunk
        objects: per-row arrays the selection provides for weights, e.g.
            ``lepton_pt`` and ``lepton_abs_pdg_id`` of shape (rows, k)
        cache: per-event arrays read once per pass (e.g. ``scaleFactor_PILEUP``)
    """

    events: Any
    event_index: np.ndarray
    objects: Mapping[str, np.ndarray]
    cache: dict[str, np.ndarray]

    def event_branch(self, branch: str) -> np.ndarray:
        """A per-event branch of the chunk at the rows' events, as float64, read once."""
        if branch not in self.cache:
            values = np.asarray(self.events[branch], dtype=np.float64)
            self.cache[branch] = values[self.event_index]
        return self.cache[branch]

    def object_array(self, name: str, systematic: str) -> np.ndarray:
        """A per-row array of the selection.

        Raises:
            KeyError: naming the systematic and what the selection lacks
        """
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(
                f"systematic {systematic!r} needs {name!r} from the selection, which "
                f"provides {sorted(self.objects)}"
            ) from None


class ChunkInputs(NamedTuple):
    """Per-event arrays of the chunk that an object kind reads (seeds for smearing).

    Attributes:
        channel_number: per event
        event_number: per event
    """

    channel_number: np.ndarray
    event_number: np.ndarray


class SystematicKind:
    """A kind of systematic variation. Subclasses set the class attributes.

    Attributes:
        name: the kind's name in definitions
        category: ``weight``, ``object`` or ``sample``
        one_sided: only an Up variation is made
        options: JSON schema of the systematic's options (besides ``kind``)
        collection: for an object kind, the field of the analysis's objects it replaces
    """

    name: str = ""
    category: str = ""
    one_sided: bool = False
    options: dict[str, Any] = {"type": "object", "additionalProperties": False}
    collection: str = ""

    def check(self, name: str, options: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems the schema cannot express: ``(key under the systematic, reason)``."""
        return []

    def ratios(self, systematic, rows: RowInputs) -> tuple[np.ndarray, np.ndarray]:
        """Up and down ratios to the nominal weight per row (weight kinds)."""
        raise NotImplementedError(f"{self.name} is not a weight kind")

    def vary(self, systematic, columns: Any, chunk: ChunkInputs) -> Iterator[tuple[str, Any]]:
        """``("Up", varied columns)``, then ``("Down", ...)`` unless one-sided (object kinds).

        A generator: the base processor keeps one variation in memory at a time.
        """
        raise NotImplementedError(f"{self.name} is not an object kind")


KINDS: dict[str, SystematicKind] = {}
"""Registered kinds by name."""


def register(kind: type[SystematicKind]) -> type[SystematicKind]:
    """Class decorator: register a kind under its ``name``."""
    instance = kind()
    if instance.category not in CATEGORIES:
        raise ValueError(
            f"systematic kind {instance.name!r}: unknown category {instance.category!r}"
        )
    if instance.name in KINDS:
        raise ValueError(f"systematic kind {instance.name!r} is registered twice")
    KINDS[instance.name] = instance
    return kind


_DISCOVERED = False


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    # importing a module registers its kinds
    for _ in load_group(ENTRY_POINT_GROUP, "systematic kinds"):
        pass


def get(name: str) -> SystematicKind:
    """The kind ``name``.

    Raises:
        KeyError: naming the known kinds
    """
    _discover()
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS)) or (
            f"none: no module registers kinds under the entry points {ENTRY_POINT_GROUP!r}; "
            "reinstall liberica (pip install -e .)"
        )
        raise KeyError(f"unknown systematic kind {name!r} (known: {known})") from None
