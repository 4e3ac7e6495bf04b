"""Input formats: what a format's files hold besides events, and how MC is normalized.

A format names the coffea schema that reads its files and the per-sample
normalization it needs. Open-data MC is normalized by cross-section and sum of
generator weights (``xsec`` and ``sumw`` in the fileset's metadata, else read
from branches of the files); a flat table whose rows carry an already
normalized weight needs neither (``daml_csv.py``), nor does a table of
unweighted events (``lhco_h5.py``). A format whose files coffea does not read
as they are gives ``open_file``, which makes or finds the file the chunks read
(a table's parquet conversion, ``conversion.py``). The fileset checks ask the
format, never a format's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError


class FormatFileError(LibericaError, ValueError):
    """A file its format cannot read: one line naming the file and the column or key."""


class FileInfo(NamedTuple):
    """What ``InputFormat.open_file`` found of one file.

    Attributes:
        path: the file the chunks read (the file itself, or its conversion)
        entries: its events (rows)
        uuid: 16 bytes identifying its content (two copies are the same file)
        columns: the columns it holds
    """

    path: str
    entries: int
    uuid: bytes
    columns: frozenset[str]


class InputFormat(NamedTuple):
    """What liberica needs to know of an input format.

    Attributes:
        name: the format's name in definitions
        schema: the coffea schema class that reads its files
        normalization_keys: metadata keys every MC sample needs to be normalized
            (each ``xsec`` > 0, ``sumw`` != 0)
        normalization_branches: for each of those keys, a branch of the files
            holding it on every entry, read where the metadata lacks the key
        nominal_weight: ``f(events, metadata, lumi_fb)``: each MC event's weight
        event_number: the branch of the event number (seeds, folds)
        sample_number: the branch identifying the MC sample (seeds), or None
            where the files have none (then 0)
        generator_weight: the branch of the generator weight (its sum is reported)
        base_columns: branches the base processor itself reads
        runner_format: what coffea's Runner reads, ``root`` or ``parquet``
        open_file: ``f(path, columns, key) -> FileInfo`` for a format whose files
            coffea does not read as they are, raising :class:`FormatFileError`;
            ``key`` is the fileset's value for the file (where ROOT has the tree
            name: the HDF5 key of a pandas table), or the definition's ``tree``;
            None for ROOT files, which the fileset checks open with uproot
    """

    name: str
    schema: type
    normalization_keys: tuple[str, ...]
    normalization_branches: dict[str, str]
    nominal_weight: Callable[[Any, dict, float], np.ndarray]
    event_number: str
    sample_number: str | None
    generator_weight: str
    base_columns: tuple[str, ...] = ()
    runner_format: str = "root"
    open_file: Callable[[str, tuple[str, ...], str | None], FileInfo] | None = None

    def sample_numbers(self, events: Any) -> np.ndarray:
        """Each event's sample number (int64): the branch, or 0 where the format has none."""
        if self.sample_number is None:
            return np.zeros(len(events), dtype=np.int64)
        return np.asarray(events[self.sample_number], dtype=np.int64)


FORMATS: dict[str, InputFormat] = {}
"""Registered input formats by name."""


def register(input_format: InputFormat) -> InputFormat:
    """Add a format to the registry (a name is registered once)."""
    if input_format.name in FORMATS:
        raise ValueError(f"input format {input_format.name!r} is registered twice")
    FORMATS[input_format.name] = input_format
    return input_format


def get(name: str) -> InputFormat:
    """The registered format ``name``.

    Raises:
        KeyError: naming the known formats
    """
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown input format {name!r} (known: {', '.join(FORMATS)})") from None


# the shipped formats register themselves on import
from liberica.processors.formats import daml_csv, lhco_h5, open_data  # noqa: E402, F401
