"""hllj's embedded sample as the seed project's flat CSV tables (format ``daml_csv``).

The rows are real hllj events: the hllj generator writes its open-data ROOT
files (``root/`` beside the tables), hllj's own processor selects them
(its nominal preselection, every cut), and each preselected event becomes
one row of its process's table with the eight table variables and the llJ
mass in MeV, ``isSignal`` (1 for X1000, else 0) and ``FullEventWeight``, the
full nominal event weight (generator weight x scale factors x xsec x lumi /
sumw), so that the tables need no normalization.

Four tables, one per process, as the seed project's: ``X1000.csv``,
``Zjets.csv``, ``ttbar.csv``, ``diboson.csv``; and ``pseudo_data.csv``,
labelled as pseudo-data in its name and in the fileset (``pseudo_data:
true``): Poisson pseudo-data of the same mixture with the injected signal
strength, ``FullEventWeight`` 1 and ``isSignal`` -1 (not known for data).

Proportions: the seed's tables hold about 6.8M background rows and 50k
signal rows; ``events`` sets the MC rows of all four tables (full size:
``FULL_SIZE_ROWS``), the signal taking the seed's share and the backgrounds
hllj's generated mixture. The events come from streams of their own (the
seed mixed with this module's key), never the events of an hllj sample of
the same seed, on which the shipped classifier may have been trained. The
seed's tables have no ``eventNumber``; ``event_numbers=True`` adds one (the
ROOT files' numbers), for comparing the tables with the ROOT files.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
import time
import zlib

import loky
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import uproot
from coffea.nanoevents import NanoEventsFactory

from liberica.analysis.hllj import FIT_OBSERVABLE, TABLE_VARIABLES, generator
from liberica.analysis.hllj.processor import HlljProcessor
from liberica.core.definition import load, without_classifier
from liberica.processors.formats.daml_csv import COLUMNS, EVENT_NUMBER, MEV_COLUMNS
from liberica.processors.schema import MEV_TO_GEV, OpenDataSchema
from liberica.samples.sample import EVENTS_PER_FILE, GeneratedSample, write_fileset

log = logging.getLogger(__name__)

GENERATION_FORMAT = 1
"""Bumped whenever the generated tables change for the same arguments."""

SIGNAL = "X1000"
BACKGROUNDS = ("Zjets", "ttbar", "diboson")
DATA_TABLE = "pseudo_data"

FULL_SIZE_ROWS = 6_850_000
"""The seed project's MC rows: about 6.8M background and 50k signal."""
SIGNAL_SHARE = 50_000 / FULL_SIZE_ROWS
DEFAULT_ROWS = 250_000
"""The default MC rows (a few seconds to generate on 2 cores); full size: FULL_SIZE_ROWS."""

PRESELECTION_EFFICIENCY = {"X1000": 0.53, "Zjets": 0.32, "ttbar": 0.0014, "diboson": 0.18}
"""hllj's preselection efficiency per sample, measured on its generated sample: it
turns the wanted rows into the events to generate (the rows come out near the target)."""

STREAM_KEY = zlib.crc32(b"liberica.daml_tables")


def _stream_seed(seed: int) -> int:
    """The seed of the tables' events: ``seed`` mixed with this module's key."""
    return int(np.random.SeedSequence([seed, STREAM_KEY]).generate_state(1)[0])


def events_to_generate(rows: int) -> dict[str, int]:
    """hllj events to generate per sample for about ``rows`` preselected MC rows."""
    samples = {s.name: s for s in generator.SAMPLES}
    fractions = {name: samples[name].event_fraction for name in BACKGROUNDS}
    total = sum(fractions.values())
    # background events in hllj's mixture: rows = N * sum(f_i eff_i) / sum(f_i)
    efficiency = sum(fractions[n] * PRESELECTION_EFFICIENCY[n] for n in BACKGROUNDS) / total
    background_events = rows * (1.0 - SIGNAL_SHARE) / efficiency
    counts = {SIGNAL: max(1, math.ceil(rows * SIGNAL_SHARE / PRESELECTION_EFFICIENCY[SIGNAL]))}
    for name in BACKGROUNDS:
        counts[name] = max(1, math.ceil(background_events * fractions[name] / total))
    return counts


def _preselected(task: tuple[str, dict, float]) -> dict[str, np.ndarray]:
    """The preselected events of one ROOT file: table variables (GeV), weight, eventNumber."""
    path, metadata, lumi_fb = task
    processor = HlljProcessor(without_classifier(load("hllj")), lumi_fb, systematics=False)
    with uproot.open(path) as handle:
        events = NanoEventsFactory.from_root(
            handle, treepath="mini", schemaclass=OpenDataSchema, metadata=dict(metadata)
        ).events()
        objects, _ = processor.objects(events)
        result = processor.selections(events, objects).nominal()["preselection"]
        rows = np.flatnonzero(result.passed)
        if metadata["is_data"]:
            weight = np.ones(len(events))
        else:
            weight = processor.format.nominal_weight(events, metadata, lumi_fb)
        columns = {
            name: result.observables[name][rows] for name in (*TABLE_VARIABLES, FIT_OBSERVABLE)
        }
        columns["FullEventWeight"] = np.asarray(weight, dtype=np.float64)[rows]
        columns[EVENT_NUMBER] = np.asarray(events["eventNumber"], dtype=np.int64)[rows]
    return columns


def _write_table(path: pathlib.Path, parts: list[dict], is_signal: int, event_numbers: bool) -> int:
    """Write one DAML table (MeV, the seed's column order, plain header); its rows."""
    arrays = {}
    for name in COLUMNS:
        if name == "isSignal":
            n = sum(len(p[EVENT_NUMBER]) for p in parts)
            arrays[name] = pa.array(np.full(n, is_signal, dtype=np.int64))
            continue
        values = np.concatenate([p[name] for p in parts])
        arrays[name] = pa.array(values / MEV_TO_GEV if name in MEV_COLUMNS else values)
    if event_numbers:
        arrays[EVENT_NUMBER] = pa.array(np.concatenate([p[EVENT_NUMBER] for p in parts]))
    table = pa.table(arrays)
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(
            table, f, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none")
        )
    return table.num_rows


def generate_daml_tables(
    out_dir: str | pathlib.Path,
    *,
    events: int = DEFAULT_ROWS,
    lumi_fb: float = 140.0,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
    event_numbers: bool = False,
    workers: int = 2,
) -> GeneratedSample:
    """Generate hllj's sample as DAML tables: four MC tables, the pseudo-data, the fileset.

    Writes ``X1000.csv``, ``Zjets.csv``, ``ttbar.csv``, ``diboson.csv``,
    ``pseudo_data.csv``, ``fileset.json`` (for ``hllj_table``) and
    ``generation.json`` in ``out_dir``, and the ROOT files they come from in
    ``out_dir/root/`` (with their own ``fileset.json``, for ``hllj``).

    Args:
        out_dir: output folder (created)
        events: MC rows over the four tables, about (full size: ``FULL_SIZE_ROWS``)
        lumi_fb: integrated luminosity of the weights and the pseudo-data, fb^-1
        mu_inject: signal strength of X1000 in the pseudo-data
        seed: seed of every random stream
        events_per_file: at most this many events per ROOT file
        event_numbers: add an ``eventNumber`` column (the seed's tables have none)
        workers: processes selecting the ROOT files' events
    """
    if events < 1 or events_per_file < 1 or lumi_fb <= 0 or mu_inject < 0:
        raise ValueError("need events, events_per_file, lumi_fb > 0 and mu_inject >= 0")
    started = time.perf_counter()
    out_dir = pathlib.Path(out_dir)
    root_dir = out_dir / "root"
    root_dir.mkdir(parents=True, exist_ok=True)
    stream = _stream_seed(seed)
    arguments = {
        "events": int(events),
        "lumi_fb": float(lumi_fb),
        "mu_inject": float(mu_inject),
        "seed": int(seed),
        "events_per_file": int(events_per_file),
        "event_numbers": bool(event_numbers),
    }
    generation = json.dumps({"format": GENERATION_FORMAT, **arguments}, sort_keys=True)
    counts = events_to_generate(events)
    samples = {s.name: s for s in generator.SAMPLES}
    root_fileset: dict[str, dict] = {}
    for name, n in counts.items():
        sample = samples[name]
        files, sumw = generator._generate_mc(
            root_dir, sample, n, stream, events_per_file, generation
        )
        root_fileset[name] = generator.mc_entry(files, sample.process, sample.xsec_pb, sumw)
    data_files, n_data = generator._generate_data(
        root_dir, lumi_fb, mu_inject, stream, events_per_file, generation
    )
    root_fileset[DATA_TABLE] = generator.data_entry(data_files, mu_inject, lumi_fb, seed)
    root_record = {"generator": __name__, "root_events": {**counts, DATA_TABLE: n_data}}
    write_fileset(root_dir, root_fileset, {**root_record, **arguments})

    tasks = [
        (path, {**entry["metadata"], "dataset": name}, float(lumi_fb))
        for name, entry in root_fileset.items()
        for path in entry["files"]
    ]
    # loky's workers start fresh (no fork of a process that may hold JAX's or onnxruntime's
    # threads), as the futures executor's do
    with loky.ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        selected = list(pool.map(_preselected, tasks))
    parts: dict[str, list[dict]] = {name: [] for name in root_fileset}
    for (_, metadata, _), columns in zip(tasks, selected, strict=True):
        parts[metadata["dataset"]].append(columns)

    fileset, rows = {}, {}
    for name, entry in root_fileset.items():
        path = out_dir / f"{name}.csv"
        is_signal = -1 if name == DATA_TABLE else int(name == SIGNAL)
        rows[name] = _write_table(path, parts[name], is_signal, event_numbers)
        if name == DATA_TABLE:
            metadata = {**entry["metadata"], "pseudo_data": True}
        else:
            metadata = {"process": entry["metadata"]["process"], "is_data": False}
        fileset[name] = {"files": [str(path.resolve())], "metadata": metadata}
    record = {
        "generator": __name__,
        "format": GENERATION_FORMAT,
        **arguments,
        "samples": rows,
        "root_events": root_record["root_events"],
        "stream_seed": stream,
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info(
        "wrote the hllj DAML tables in %s: %s rows (%.1f s)",
        out_dir,
        ", ".join(f"{k} {v:,}" for k, v in rows.items()),
        time.perf_counter() - started,
    )
    return GeneratedSample(fileset_path, rows, float(mu_inject), float(lumi_fb), int(seed))
