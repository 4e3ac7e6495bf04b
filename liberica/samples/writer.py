"""Write events as one ROOT file in the ATLAS Open Data 13 TeV ``mini`` format.

Branch names and types follow the real open-data files (e.g.
``data_A.4lep.root``): event-level counters ``lep_n``, ``jet_n``... are
``uint32``, per-object branches are jagged and pT-ordered, energies are in MeV.
uproot writes jagged branches as counted arrays (``nlep`` plus ``lep_pt[nlep]``)
rather than ``std::vector<T>``; both read back as the same jagged arrays.

Output is reproducible byte for byte: the file UUID is derived from the
caller's key and every TDatime uproot stamps (file, directory, TKey, TTree) is
fixed to :data:`FIXED_DATIME` while the file is written.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import pathlib
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import awkward as ak
import numpy as np
import uproot

log = logging.getLogger(__name__)

TREE_NAME = "mini"
GEV_TO_MEV = 1.0e3

FIXED_DATIME = datetime.datetime(2020, 7, 1, 0, 0, 0)
"""The creation/modification time stamped into every generated file."""

EVENT_BRANCHES: dict[str, np.dtype] = {
    "runNumber": np.dtype(np.int32),
    "eventNumber": np.dtype(np.int32),
    "channelNumber": np.dtype(np.int32),
    "mcWeight": np.dtype(np.float32),
    "scaleFactor_PILEUP": np.dtype(np.float32),
    "scaleFactor_ELE": np.dtype(np.float32),
    "scaleFactor_MUON": np.dtype(np.float32),
    "scaleFactor_PHOTON": np.dtype(np.float32),
    "scaleFactor_TAU": np.dtype(np.float32),
    "scaleFactor_BTAG": np.dtype(np.float32),
    "scaleFactor_LepTRIGGER": np.dtype(np.float32),
    "scaleFactor_PhotonTRIGGER": np.dtype(np.float32),
    "trigE": np.dtype(np.bool_),
    "trigM": np.dtype(np.bool_),
    "trigP": np.dtype(np.bool_),
    "met_et": np.dtype(np.float32),
    "met_phi": np.dtype(np.float32),
    "ditau_m": np.dtype(np.float32),
    "met_et_syst": np.dtype(np.float32),
    "XSection": np.dtype(np.float32),
    "SumWeights": np.dtype(np.float32),
}
"""Event-level branches (besides the object counters) and their types, as in open data."""

_F4 = np.dtype(np.float32)
_I4 = np.dtype(np.int32)
_U4 = np.dtype(np.uint32)
_B = np.dtype(np.bool_)

OBJECT_BRANCHES: dict[str, dict[str, np.dtype]] = {
    "lep": {
        "truthMatched": _B,
        "trigMatched": _B,
        "pt": _F4,
        "eta": _F4,
        "phi": _F4,
        "E": _F4,
        "z0": _F4,
        "charge": _I4,
        "type": _U4,
        "isTightID": _B,
        "ptcone30": _F4,
        "etcone20": _F4,
        "trackd0pvunbiased": _F4,
        "tracksigd0pvunbiased": _F4,
        "pt_syst": _F4,
    },
    "jet": {
        "pt": _F4,
        "eta": _F4,
        "phi": _F4,
        "E": _F4,
        "jvt": _F4,
        "trueflav": _I4,
        "truthMatched": _B,
        "MV2c10": _F4,
        "pt_syst": _F4,
    },
    "photon": {
        "truthMatched": _B,
        "trigMatched": _B,
        "pt": _F4,
        "eta": _F4,
        "phi": _F4,
        "E": _F4,
        "isTightID": _B,
        "ptcone30": _F4,
        "etcone20": _F4,
        "convType": _I4,
        "pt_syst": _F4,
    },
    "tau": {
        "pt": _F4,
        "eta": _F4,
        "phi": _F4,
        "E": _F4,
        "isTightID": _B,
        "truthMatched": _B,
        "trigMatched": _B,
        "nTracks": _I4,
        "BDTid": _F4,
        "pt_syst": _F4,
        "charge": _I4,
    },
    "largeRjet": {
        "pt": _F4,
        "eta": _F4,
        "phi": _F4,
        "E": _F4,
        "m": _F4,
        "truthMatched": _F4,
        "D2": _F4,
        "tau32": _F4,
        "pt_syst": _F4,
    },
}
"""Per-object fields by collection (branch ``{collection}_{field}``) and their types."""

MEV_BRANCHES = frozenset(
    {"met_et", "met_et_syst", "ditau_m"}
    | {
        f"{collection}_{field}"
        for collection in OBJECT_BRANCHES
        for field in ("pt", "E", "m", "pt_syst", "ptcone30", "etcone20")
    }
)
"""Branches whose values are energies: given in GeV, written in MeV."""

_BRANCH_ORDER = (
    "runNumber",
    "eventNumber",
    "channelNumber",
    "mcWeight",
    "scaleFactor_PILEUP",
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_PHOTON",
    "scaleFactor_TAU",
    "scaleFactor_BTAG",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PhotonTRIGGER",
    "trigE",
    "trigM",
    "trigP",
    "lep",
    "met_et",
    "met_phi",
    "jet",
    "photon",
    "tau",
    "ditau_m",
    "met_et_syst",
    "XSection",
    "SumWeights",
    "largeRjet",
)


class Objects(NamedTuple):
    """One collection in columnar form.

    Attributes:
        counts: objects per event, ``(n_events,)``
        fields: field name (e.g. ``pt``) -> flat values (GeV), event by event and
            in the order they are written (pT-ordered) within an event
    """

    counts: np.ndarray
    fields: dict[str, np.ndarray]


def empty_objects(n: int, collection: str) -> Objects:
    """A collection with no objects in any of ``n`` events."""
    fields = {f: np.zeros(0, dtype=t) for f, t in OBJECT_BRANCHES[collection].items()}
    return Objects(np.zeros(n, dtype=np.int64), fields)


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def take_events(objects: Objects, index: np.ndarray) -> Objects:
    """The objects of events ``index`` (in that order)."""
    starts = _offsets(objects.counts)[:-1][index]
    counts = objects.counts[index]
    new_starts = _offsets(counts)[:-1]
    flat = np.repeat(starts - new_starts, counts) + np.arange(int(counts.sum()))
    return Objects(counts, {k: v[flat] for k, v in objects.fields.items()})


def concatenate_objects(parts: list[Objects]) -> Objects:
    """Events of several :class:`Objects` one after the other."""
    return Objects(
        np.concatenate([p.counts for p in parts]),
        {k: np.concatenate([p.fields[k] for p in parts]) for k in parts[0].fields},
    )


def _jagged(objects: Objects, collection: str) -> tuple[np.ndarray, ak.Array]:
    """The per-event counts and the jagged record array of one collection."""
    offsets = _offsets(objects.counts)
    contents = []
    names = []
    for field, dtype in OBJECT_BRANCHES[collection].items():
        values = objects.fields[field]
        if f"{collection}_{field}" in MEV_BRANCHES:
            values = values * GEV_TO_MEV
        contents.append(ak.contents.NumpyArray(np.ascontiguousarray(values, dtype=dtype)))
        names.append(field)
    record = ak.contents.RecordArray(contents, names, length=int(offsets[-1]))
    layout = ak.contents.ListOffsetArray(ak.index.Index64(offsets), record)
    return objects.counts, ak.Array(layout)


def build_arrays(
    branches: Mapping[str, np.ndarray], objects: Mapping[str, Objects]
) -> dict[str, np.ndarray | ak.Array]:
    """The arrays of one ``mini`` tree in branch order, converted to MeV and file types.

    Args:
        branches: every name of :data:`EVENT_BRANCHES` -> per-event values (GeV)
        objects: collection name -> :class:`Objects` (missing collections are written empty)

    Returns:
        dict: branch (or collection) name -> array, ready for ``TTree.extend``
    """
    missing = [b for b in EVENT_BRANCHES if b not in branches]
    if missing:
        raise ValueError(f"missing event branches: {', '.join(missing)}")
    n = len(branches["eventNumber"])
    arrays: dict[str, np.ndarray | ak.Array] = {}
    for name in _BRANCH_ORDER:
        if name in OBJECT_BRANCHES:
            collection = objects.get(name) or empty_objects(n, name)
            counts, jagged = _jagged(collection, name)
            arrays[f"{name}_n"] = counts.astype(np.uint32)
            arrays[name] = jagged
        else:
            values = np.asarray(branches[name])
            if name in MEV_BRANCHES:
                values = values * GEV_TO_MEV
            arrays[name] = np.ascontiguousarray(values, dtype=EVENT_BRANCHES[name])
    return arrays


_DATIME_LOCK = threading.Lock()


@contextlib.contextmanager
def _fixed_datime() -> Iterator[None]:
    """Make uproot stamp :data:`FIXED_DATIME` instead of the wall-clock time.

    uproot calls ``uproot._util.datetime_to_code`` for every TDatime it writes;
    the patch is process-wide while the file is written, hence the lock.
    """
    code = uproot._util.datetime_to_code(FIXED_DATIME)
    with _DATIME_LOCK:
        original = uproot._util.datetime_to_code
        uproot._util.datetime_to_code = lambda _dt: code
        try:
            yield
        finally:
            uproot._util.datetime_to_code = original


def file_uuid(key: str) -> uuid.UUID:
    """A deterministic UUID for the file written under ``key``."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"liberica-samples:{key}")


def write_mini(
    path: str | pathlib.Path,
    branches: Mapping[str, np.ndarray],
    objects: Mapping[str, Objects],
    *,
    key: str,
    compression: uproot.compression.Compression | None = None,
) -> pathlib.Path:
    """Write one ROOT file with a TTree ``mini`` holding all events, in one basket per branch.

    Args:
        path: the file to (re)create
        branches: event-level values (GeV) for every :data:`EVENT_BRANCHES` name
        objects: collections as :class:`Objects` (GeV)
        key: identifies the file's content (sample, seed, index): seeds its UUID
        compression: uproot compression (default LZ4 level 1: fast)

    Returns:
        pathlib.Path: the path written
    """
    path = pathlib.Path(path)
    arrays = build_arrays(branches, objects)
    compression = compression if compression is not None else uproot.LZ4(1)
    the_uuid = file_uuid(key)
    with _fixed_datime():
        with uproot.recreate(path, compression=compression, uuid_function=lambda: the_uuid) as f:
            tree = f.mktree(TREE_NAME, {name: _branch_type(a) for name, a in arrays.items()})
            tree.extend(arrays)
    log.debug("wrote %d events to %s", len(arrays["eventNumber"]), path)
    return path


def _branch_type(array: np.ndarray | ak.Array):
    return array.dtype if isinstance(array, np.ndarray) else array.type
