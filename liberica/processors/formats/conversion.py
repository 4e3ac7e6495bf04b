"""The parquet conversion cache shared by the formats that coffea does not read as they are.

A table format (a CSV table, a pandas HDF5 table) is converted once to parquet,
which coffea's Runner reads in chunks. The conversion is stored under a key of
the source file's content and of the conversion itself (its format, version and
options): a changed file is converted again, a copy of a file is recognized as
the same file (its digest is its identity in the fileset checks), and a
conversion that exists is reused without reading the source again. A
conversion is written beside its target and renamed, so a reader (another
worker, another run) never sees half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

from liberica.processors.formats import FileInfo

log = logging.getLogger(__name__)

CACHE_ENV = "LIBERICA_TABLE_CACHE"
"""Environment variable naming the folder of converted tables."""

ROW_GROUP_ROWS = 500_000
"""Rows per parquet row group (a chunk reads the groups its entries span)."""


def cache_folder(source: pathlib.Path) -> pathlib.Path:
    """Where the parquet conversion of ``source`` goes.

    ``$LIBERICA_TABLE_CACHE`` if set; else ``.liberica-parquet/`` beside the
    source where that folder can be written; else ``~/.cache/liberica/tables``.
    """
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    beside = source.parent / ".liberica-parquet"
    if os.access(beside if beside.exists() else source.parent, os.W_OK):
        return beside
    return pathlib.Path.home() / ".cache" / "liberica" / "tables"


def content_digest(path: pathlib.Path, conversion: str) -> bytes:
    """BLAKE2b (16 bytes) of ``conversion`` (what makes the output) and the file's bytes.

    Args:
        path: the source file
        conversion: the format, version and options of the conversion, e.g.
            ``"daml_csv/1/"``: a different one gives a different digest
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(conversion.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.digest()


def target(source: pathlib.Path, digest: bytes) -> pathlib.Path:
    """The parquet file of ``source``'s conversion with ``digest``."""
    return cache_folder(source) / f"{source.stem}-{digest.hex()}.parquet"


def existing(source: pathlib.Path, digest: bytes) -> FileInfo | None:
    """The conversion of ``source`` with ``digest`` if it was made, else None."""
    path = target(source, digest)
    if not path.exists():
        return None
    metadata = pq.read_metadata(path)
    log.debug("%s: using its conversion %s", source, path)
    return FileInfo(str(path), metadata.num_rows, digest, frozenset(metadata.schema.names))


def write(table: pa.Table, source: pathlib.Path, digest: bytes) -> FileInfo:
    """Write ``table`` as the conversion of ``source`` with ``digest`` (atomically)."""
    path = target(source, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target and renamed: a reader never sees half a file
    handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".parquet.partial")
    os.close(handle)
    try:
        pq.write_table(table, partial, row_group_size=ROW_GROUP_ROWS)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    log.info("converted %s (%d rows) to %s", source, table.num_rows, path)
    return FileInfo(str(path), table.num_rows, digest, frozenset(table.column_names))
