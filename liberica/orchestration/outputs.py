"""Write a run's outputs: ROOT histograms, hist objects, cutflows, metrics."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from typing import Any

import hist
import numpy as np
import uproot

from liberica.core.errors import LibericaError
from liberica.processors.histograms import DATA_PROCESS, NOMINAL


class OutputError(LibericaError, OSError):
    """An output folder that cannot be created or written, named with the reason."""


def check_writable(output_dir: str | pathlib.Path) -> pathlib.Path:
    """Create ``output_dir`` if needed and check a file can be written there.

    Runs before any work, so that a bad ``--out`` costs nothing.

    Raises:
        OutputError: naming the folder and the reason (read-only, a path under a
            regular file, no space, ...)
    """
    output_dir = pathlib.Path(output_dir)
    probe = output_dir / f".liberica-write-test-{os.getpid()}"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(probe) else ""
        raise OutputError(f"cannot write outputs to {output_dir}: {reason}{where}") from None
    return output_dir


def histogram_name(region: str, process: str, variation: str) -> str:
    """Name of a TH1 in histograms.root."""
    return f"{region}_{process}_{variation}"


def write_root(path: pathlib.Path, histograms: dict[str, hist.Hist]) -> int:
    """One TH1 (TH2 for a 2-D region) per region, process and variation (data: nominal
    only), with flow bins.

    Returns:
        int: number of histograms written
    """
    written = 0
    with uproot.recreate(path) as root_file:
        for region, h in histograms.items():
            for process in h.axes["process"]:
                variations = [NOMINAL] if process == DATA_PROCESS else list(h.axes["variation"])
                for variation in variations:
                    one = h[..., process, variation]
                    root_file[histogram_name(region, process, variation)] = one
                    written += 1
    return written


def write_pickle(
    path: pathlib.Path, histograms: dict[str, hist.Hist], counts: dict[str, hist.Hist]
) -> None:
    """The hist objects: ``{"histograms": {region: Hist}, "counts": {region: Hist}}``."""
    with open(path, "wb") as stream:
        pickle.dump({"histograms": histograms, "counts": counts}, stream)


def read_pickle(path: pathlib.Path) -> dict[str, dict[str, hist.Hist]]:
    """Read the hist objects written by :func:`write_pickle`."""
    with open(path, "rb") as stream:
        return pickle.load(stream)


def write_json(path: pathlib.Path, content: Any) -> None:
    """Write JSON with sorted-by-insertion keys and two-space indentation."""
    path.write_text(json.dumps(content, indent=2) + "\n")


def read_features(path: pathlib.Path) -> np.ndarray:
    """A feature table written by :func:`write_features`, as a structured array.

    Raises:
        FileNotFoundError: naming the missing file
    """
    import pyarrow.parquet as pq

    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"no per-event table {path}")
    table = pq.read_table(path)
    columns = [table.column(name).to_numpy() for name in table.column_names]
    return np.rec.fromarrays(columns, names=table.column_names).view(np.ndarray)


def write_features(path: pathlib.Path, table: np.ndarray) -> None:
    """Write a structured feature table as parquet (one column per field)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: table[name] for name in table.dtype.names}
    pq.write_table(pa.table(columns), path)
