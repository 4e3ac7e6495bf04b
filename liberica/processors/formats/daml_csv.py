"""The seed project's flat CSV tables ("DAML tables"): one row per selected event, MeV.

A table has the columns of :data:`COLUMNS`; energies and momenta are in MeV,
and ``FullEventWeight`` is the row's full, already normalized event weight, so
MC needs no cross-section, sum of weights or luminosity (the run's luminosity
does not rescale it). The files hold no objects, no scale factors and no
sample number.

coffea does not read CSV, so each table is converted once to parquet with
pyarrow (:func:`convert`), in liberica's units: the MeV columns times 1e-3
(GeV), every column float64. The conversion is cached under a key of the
file's content (a changed table is converted again, a copy of a table is
recognized as the same file) and the chunks read the parquet file through
coffea's parquet input with ``BaseSchema``.

The classifier folds need an event number. A table's ``eventNumber`` column
is used where there is one; otherwise the row's index within its file
(0-based) is added at the conversion as ``eventNumber`` and the choice is
logged. Both are deterministic: the same table gives the same folds on any
executor and chunking.

A table that lacks a column, holds a value that is not a number or an empty
value is refused before any chunk runs, in one line naming the file, the
column and (for a value) the line; so is one whose last line has no newline
(a file cut short, whose last row could otherwise parse with a value cut
short). A file cut exactly at a line end cannot be told from a complete one.
"""

from __future__ import annotations

import csv
import logging
import os
import pathlib
import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from coffea.nanoevents import BaseSchema

from liberica.processors.formats import (
    FileInfo,
    FormatFileError,
    InputFormat,
    conversion,
    register,
)
from liberica.processors.schema import MEV_TO_GEV

log = logging.getLogger(__name__)

MEV_COLUMNS: tuple[str, ...] = (
    "lep1_pt",
    "lep2_pt",
    "fatjet_pt",
    "Zll_mass",
    "Zll_pt",
    "MET",
    "reco_zv_mass",
)
"""The columns stored in MeV (converted to GeV)."""

COLUMNS: tuple[str, ...] = (
    "lep1_pt",
    "lep2_pt",
    "fatjet_pt",
    "fatjet_eta",
    "fatjet_D2",
    "Zll_mass",
    "Zll_pt",
    "MET",
    "reco_zv_mass",
    "isSignal",
    "FullEventWeight",
)
"""Every column of a DAML table, in the seed project's order."""

WEIGHT = "FullEventWeight"
EVENT_NUMBER = "eventNumber"
"""Optional column; without it, the row's index within its file."""

CONVERSION_VERSION = 1
"""Part of the cache key: bumped whenever the conversion's output changes."""


def _header(path: pathlib.Path) -> list[str]:
    with open(path, newline="") as f:
        try:
            return [name.strip() for name in next(csv.reader(f))]
        except StopIteration:
            raise FormatFileError(f"{path}: empty file, no header line") from None
        except (csv.Error, UnicodeDecodeError) as err:
            raise FormatFileError(f"{path}: cannot read the header line: {err}") from None


def _check_complete(path: pathlib.Path) -> None:
    """A table ends with a newline: a file cut short mostly does not (its last row may
    still parse, with a value cut short)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            raise FormatFileError(f"{path}: empty file, no header line")
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            raise FormatFileError(
                f"{path}: the last line has no newline: the file may be cut short "
                "(end it with a newline if it is complete)"
            )


def _first_bad_value(path: pathlib.Path, column: str) -> tuple[int, str]:
    """The line number and text of the first value of ``column`` that is not a number."""
    table = pa_csv.read_csv(
        path,
        convert_options=pa_csv.ConvertOptions(
            include_columns=[column], column_types={column: pa.string()}
        ),
    )
    for row, text in enumerate(table.column(column).to_pylist()):
        try:
            float(text)
        except (TypeError, ValueError):
            return row + 2, text  # line 1 is the header
    return 0, ""


def _read(path: pathlib.Path, columns: list[str]) -> pa.Table:
    """The table's ``columns`` as float64 (``eventNumber`` int64).

    Raises:
        FormatFileError: naming the column (and line) of a value that is not a number
    """
    types = {name: pa.float64() for name in columns}
    if EVENT_NUMBER in columns:
        types[EVENT_NUMBER] = pa.int64()
    options = pa_csv.ConvertOptions(
        include_columns=columns,
        column_types=types,
        null_values=[""],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        return pa_csv.read_csv(path, convert_options=options)
    except pa.ArrowInvalid as err:
        text = " ".join(str(err).split())
        found = re.search(r"CSV column #(\d+)", text)
        if found is None:
            raise FormatFileError(f"{path}: {text}"[:300]) from None
        column = _header(path)[int(found.group(1))]
        line, value = _first_bad_value(path, column)
        where = f" at line {line}" if line else ""
        raise FormatFileError(
            f"{path}: column '{column}' holds a value that is not a number{where} ({value!r})"
        ) from None


def _converted(table: pa.Table, path: pathlib.Path) -> pa.Table:
    """GeV for the MeV columns; ``eventNumber`` added as the row index where absent.

    Raises:
        FormatFileError: naming the column and line of an empty value
    """
    arrays, names = [], []
    for name in table.column_names:
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(np.asarray(column.is_null()))[0])
            raise FormatFileError(f"{path}: column '{name}' has an empty value at line {row + 2}")
        values = column.to_numpy()
        if name in MEV_COLUMNS:
            values = values * MEV_TO_GEV
        arrays.append(pa.array(values))
        names.append(name)
    if EVENT_NUMBER not in names:
        log.info(
            "%s has no %s column: the classifier folds take each row's index in the file",
            path,
            EVENT_NUMBER,
        )
        arrays.append(pa.array(np.arange(table.num_rows, dtype=np.int64)))
        names.append(EVENT_NUMBER)
    return pa.table(arrays, names=names)


def convert(
    path: str | pathlib.Path, columns: tuple[str, ...] = COLUMNS, key: str | None = None
) -> FileInfo:
    """The parquet conversion of a DAML table, made once per content.

    Args:
        path: the CSV table
        columns: the columns the processor reads (each must be in the table)
        key: ignored: a CSV file holds one table (the fileset's value for ROOT's tree)

    Returns:
        FileInfo: the parquet file, its rows, the table's content digest (its
        identity) and the columns it holds

    Raises:
        FormatFileError: one line naming the file and the missing column, or
            the column and line of a value that is not a number
    """
    path = pathlib.Path(path)
    header = _header(path)
    _check_complete(path)
    missing = [n for n in (*COLUMNS, *columns) if n not in header and n != EVENT_NUMBER]
    if missing:
        raise FormatFileError(
            f"{path}: no column '{missing[0]}' (a DAML table has {', '.join(COLUMNS)})"
        )
    digest = conversion.content_digest(path, f"daml_csv/{CONVERSION_VERSION}/")
    converted = conversion.existing(path, digest)
    if converted is not None:
        return converted
    wanted = [name for name in header if name in {*COLUMNS, *columns, EVENT_NUMBER}]
    return conversion.write(_converted(_read(path, wanted), path), path, digest)


def nominal_weight(events, metadata: dict, lumi_fb: float) -> np.ndarray:
    """``FullEventWeight`` as it is: already normalized, whatever the run's luminosity."""
    return np.asarray(events[WEIGHT], dtype=np.float64)


DAML_CSV = register(
    InputFormat(
        name="daml_csv",
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
