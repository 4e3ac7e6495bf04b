"""What a sample generator returns, and the defaults every generator shares."""

from __future__ import annotations

import json
import pathlib
import zlib
from typing import NamedTuple

import numpy as np

# the default of an analysis that states none (``Analysis.default_lumi_fb``)
from liberica.core.registry import DEFAULT_LUMI_FB  # noqa: F401

EVENTS_PER_FILE = 200_000
"""At most this many events per generated file (a chunk never spans two files)."""

_EVENT_NUMBER_MULTIPLIER = 1_103_515_245


def sample_key(name: str) -> int:
    """A stable integer for a sample's name (its random streams and event numbers)."""
    return zlib.crc32(name.encode())


def stream(seed: int, *keys: int) -> np.random.Generator:
    """The random generator of ``seed`` and ``keys``: independent streams, the same every run."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def event_numbers(sample: str, start: int, n: int) -> np.ndarray:
    """Distinct pseudo-random event numbers: an odd-multiplier bijection of 0..2^31-1."""
    index = np.arange(start, start + n, dtype=np.int64)
    offset = sample_key(sample) % (1 << 31)
    return ((_EVENT_NUMBER_MULTIPLIER * index + offset) % (1 << 31)).astype(np.int32)


def file_sizes(n: int, per_file: int) -> list[int]:
    """The sizes of the files ``n`` events are split into, at most ``per_file`` each."""
    files = max(1, -(-n // per_file))
    return [len(part) for part in np.array_split(np.arange(n), files)]


class GeneratedSample(NamedTuple):
    """What a generator wrote.

    Attributes:
        fileset_path: ``DIR/fileset.json``
        samples: sample name -> number of events written (MC and data)
        mu_injected: signal strength injected into the pseudo-data
        lumi_fb: integrated luminosity of the pseudo-data, fb^-1
        seed: the seed everything was derived from
    """

    fileset_path: pathlib.Path
    samples: dict[str, int]
    mu_injected: float
    lumi_fb: float
    seed: int


def mc_entry(
    files: list[str], process: str, xsec_pb: float, sumw: float, variation: str | None = None
) -> dict:
    """The fileset entry of a generated MC sample (tree ``mini``)."""
    metadata = {"process": process, "is_data": False, "xsec": xsec_pb, "sumw": sumw}
    if variation:
        metadata["variation"] = variation
    return {"files": {f: "mini" for f in files}, "metadata": metadata}


def data_entry(files: list[str], mu_inject: float, lumi_fb: float, seed: int) -> dict:
    """The fileset entry of generated pseudo-data, with its injected signal strength."""
    return {
        "files": {f: "mini" for f in files},
        "metadata": {
            "process": "data",
            "is_data": True,
            "mu_injected": float(mu_inject),
            "lumi_fb": float(lumi_fb),
            "seed": int(seed),
        },
    }


def write_fileset(out_dir: pathlib.Path, fileset: dict, record: dict) -> pathlib.Path:
    """Write ``fileset.json`` and the generator's record ``generation.json``; the fileset path."""
    fileset_path = out_dir / "fileset.json"
    fileset_path.write_text(json.dumps(fileset, indent=2) + "\n")
    (out_dir / "generation.json").write_text(json.dumps(record, indent=2) + "\n")
    return fileset_path
