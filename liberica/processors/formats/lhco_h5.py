"""The LHC Olympics 2020 high-level-features tables (pandas HDF5): format ``lhco_h5``.

A file is a ``pandas.DataFrame`` as ``DataFrame.to_hdf(path, key="df")`` writes
it (PyTables; the default "fixed" layout or the "table" one), one row per
event: the two leading large-radius jets' momenta and masses and their
N-subjettiness, the columns of :data:`COLUMNS`, in GeV as given, and, in the
labelled files only, ``label`` (1 signal, 0 background). A fileset maps each
file to its key where ROOT files have the tree name::

    {"sample": {"files": {"events.features.h5": "df"}, "metadata": {...}}}

The rows are unweighted events, data and MC alike: every row weighs 1.0 and MC
needs no cross-section, sum of weights or luminosity.

coffea does not read HDF5, so each table is converted once to parquet
(``conversion.py``: cached under a key of the file's content and the HDF5 key)
and the chunks read it with ``BaseSchema``. The parquet holds every feature
column as float64, ``label`` as int64 (-1 on every row of a file without one:
a black box), ``eventNumber`` as int64 and a constant ``weight`` column (1.0,
the generator weight whose sum the base processor reports). The pandas index
is not kept.

The files have no event number: ``eventNumber`` is the row's position in its
file (0-based, whatever the pandas index holds), so the classifier folds
(``eventNumber % folds``) split each file by row and give the same folds on
any executor and chunking. Two files of one run then share event numbers;
each file's folds are still disjoint.

A table that lacks a column, holds a column that is not numeric, a value that
is not finite or a label other than 0 and 1, a file that is not HDF5 or has no
such key, are refused before any chunk runs, in one line naming the file and
the column (and row) or the keys it has. Reading needs PyTables, an extra
(``pip install 'liberica[lhco]'``): without it the first file opened says so.
"""

from __future__ import annotations

import importlib
import logging
import pathlib
from typing import Any

import numpy as np
import pyarrow as pa
from coffea.nanoevents import BaseSchema

from liberica.core.errors import LibericaError
from liberica.processors.formats import (
    FileInfo,
    FormatFileError,
    InputFormat,
    conversion,
    register,
)

log = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = (
    "pxj1",
    "pyj1",
    "pzj1",
    "mj1",
    "tau1j1",
    "tau2j1",
    "tau3j1",
    "pxj2",
    "pyj2",
    "pzj2",
    "mj2",
    "tau1j2",
    "tau2j2",
    "tau3j2",
)
"""Every feature column of an LHCO table, in the file's order (GeV)."""

LABEL = "label"
"""Optional column: 1 signal, 0 background; absent from a black box."""

NO_LABEL = -1
"""The label of every row of a file without a ``label`` column."""

EVENT_NUMBER = "eventNumber"
"""Added: the row's position in its file (the folds take it)."""

WEIGHT = "weight"
"""Added: 1.0 per row (the generator weight; the rows are unweighted events)."""

DEFAULT_KEY = "df"
"""The HDF5 key where the fileset gives none (pandas' and the LHCO files' own)."""

CONVERSION_VERSION = 1
"""Part of the cache key: bumped whenever the conversion's output changes."""


class MissingExtraError(LibericaError, ImportError):
    """A package of an extra that is not installed: one line naming the extra."""


def require_tables() -> Any:
    """PyTables, which ``pandas.read_hdf`` reads with.

    Raises:
        MissingExtraError: naming the extra that installs it
    """
    try:
        return importlib.import_module("tables")
    except ImportError:
        raise MissingExtraError(
            "LHCO HDF5 tables (format lhco_h5) need PyTables: pip install 'liberica[lhco]'"
        ) from None


def _normalized_key(key: str | None) -> str:
    """The key as ``HDFStore.keys()`` lists it (``df`` and ``/df`` are the same object)."""
    return "/" + (key or DEFAULT_KEY).strip("/")


def _read_frame(path: pathlib.Path, key: str) -> Any:
    """The DataFrame under ``key``.

    Raises:
        FormatFileError: for a file that is not HDF5, a missing key (naming the
            keys the file has) or an object that is not a DataFrame
    """
    import pandas as pd

    tables = require_tables()
    if not tables.is_hdf5_file(str(path)):
        raise FormatFileError(f"{path}: not an HDF5 file (an LHCO table is pandas HDF5)")
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = store.keys()
            if key not in keys:
                raise FormatFileError(
                    f"{path}: no key '{key.lstrip('/')}' (pandas keys in the file: "
                    f"{', '.join(k.lstrip('/') for k in keys) or 'none'})"
                )
            frame = pd.read_hdf(store, key)
    except (tables.HDF5ExtError, tables.NoSuchNodeError, TypeError, ValueError) as err:
        text = " ".join(str(err).split())[:200]
        raise FormatFileError(
            f"{path}: cannot read key '{key.lstrip('/')}': {type(err).__name__}: {text}"
        ) from None
    if not isinstance(frame, pd.DataFrame):
        raise FormatFileError(
            f"{path}: key '{key.lstrip('/')}' holds a {type(frame).__name__}, not a DataFrame"
        )
    return frame


def _column(frame: Any, name: str, path: pathlib.Path) -> np.ndarray:
    """One column as float64, refusing a non-numeric column or a value that is not finite."""
    import pandas as pd

    series = frame[name]
    if isinstance(series, pd.DataFrame):
        raise FormatFileError(f"{path}: column '{name}' appears {series.shape[1]} times")
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise FormatFileError(f"{path}: column '{name}' is not numeric (dtype {series.dtype})")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise FormatFileError(
            f"{path}: column '{name}' holds {values[row]} at row {row} (0-based): "
            "every value must be finite"
        )
    return values


def _labels(frame: Any, path: pathlib.Path) -> np.ndarray:
    """The ``label`` column as int64 (0 or 1), or :data:`NO_LABEL` on every row."""
    if LABEL not in frame.columns:
        log.info("%s has no %s column: every row is labelled %d", path, LABEL, NO_LABEL)
        return np.full(len(frame), NO_LABEL, dtype=np.int64)
    values = _column(frame, LABEL, path)
    bad = (values != 0) & (values != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise FormatFileError(
            f"{path}: column '{LABEL}' holds {values[row]:g} at row {row} (0-based); "
            "a label is 1 (signal) or 0 (background)"
        )
    return values.astype(np.int64)


def _extra(columns: tuple[str, ...]) -> list[str]:
    """The columns asked for beyond the features and the added ones, sorted."""
    return sorted(set(columns) - {*COLUMNS, LABEL, EVENT_NUMBER, WEIGHT})


def _converted(frame: Any, path: pathlib.Path, columns: tuple[str, ...]) -> pa.Table:
    """The parquet table: the features (and other columns asked for) as float64, ``label``,
    ``eventNumber`` (the row index) and ``weight`` (1.0)."""
    arrays = {name: _column(frame, name, path) for name in (*COLUMNS, *_extra(columns))}
    n = len(frame)
    arrays[LABEL] = _labels(frame, path)
    arrays[EVENT_NUMBER] = np.arange(n, dtype=np.int64)
    arrays[WEIGHT] = np.ones(n, dtype=np.float64)
    log.info(
        "%s: %s is each row's index in the file: the classifier folds take it",
        path,
        EVENT_NUMBER,
    )
    return pa.table({name: pa.array(values) for name, values in arrays.items()})


def convert(
    path: str | pathlib.Path, columns: tuple[str, ...] = COLUMNS, key: str | None = DEFAULT_KEY
) -> FileInfo:
    """The parquet conversion of an LHCO table, made once per content and key.

    Args:
        path: the HDF5 file
        columns: the columns the processor reads (each in the table, or one the
            conversion adds: ``label``, ``eventNumber``, ``weight``)
        key: the DataFrame's HDF5 key (the fileset's value for the file)

    Returns:
        FileInfo: the parquet file, its rows, the content digest (its identity)
        and the columns it holds

    Raises:
        FormatFileError: one line naming the file and the missing key (and the
            keys it has), the missing or non-numeric column, or the column and
            row of a value that is not finite
        MissingExtraError: PyTables is not installed
    """
    path = pathlib.Path(path)
    key = _normalized_key(key)
    require_tables()
    # the key and the extra columns are part of what the conversion makes
    extra = ",".join(_extra(columns))
    digest = conversion.content_digest(path, f"lhco_h5/{CONVERSION_VERSION}/{key}/{extra}/")
    converted = conversion.existing(path, digest)
    if converted is not None:
        return converted
    frame = _read_frame(path, key)
    reserved = [name for name in (EVENT_NUMBER, WEIGHT) if name in frame.columns]
    if reserved:
        raise FormatFileError(
            f"{path}: key '{key.lstrip('/')}' has a column '{reserved[0]}', which the "
            "lhco_h5 format adds itself (row index, unit weight)"
        )
    missing = [name for name in (*COLUMNS, *_extra(columns)) if name not in frame.columns]
    if missing:
        raise FormatFileError(
            f"{path}: key '{key.lstrip('/')}' has no column '{missing[0]}' (an LHCO table "
            f"has {', '.join(COLUMNS)} and optionally {LABEL})"
        )
    return conversion.write(_converted(frame, path, columns), path, digest)


def nominal_weight(events: Any, metadata: dict, lumi_fb: float) -> np.ndarray:
    """1.0 per event: the rows are unweighted events, whatever the run's luminosity."""
    return np.ones(len(events), dtype=np.float64)


LHCO_H5 = register(
    InputFormat(
        name="lhco_h5",
        schema=BaseSchema,
        normalization_keys=(),
        normalization_branches={},
        nominal_weight=nominal_weight,
        event_number=EVENT_NUMBER,
        sample_number=None,
        generator_weight=WEIGHT,
        base_columns=(WEIGHT, EVENT_NUMBER),
        runner_format="parquet",
        open_file=convert,
    )
)
