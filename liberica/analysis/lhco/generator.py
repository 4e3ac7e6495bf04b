"""The embedded LHC Olympics sample: QCD dijets with W' -> X Y (X, Y -> q q) injected,
in the LHCO high-level-features format (pandas HDF5, key ``df``, GeV).

Files (``{sample}_{i}.features.h5``, at most ``events_per_file`` rows each), written with
``DataFrame.to_hdf(path, key="df")`` (fixed layout): the columns :data:`COLUMNS`
(``pxj1 pyj1 pzj1 mj1 tau1j1 tau2j1 tau3j1`` and the same for ``j2``; jet 1 the
leading-pT jet), plus ``label`` (1 signal, 0 background) in the labelled samples only,
all float64. Samples (fileset metadata ``process``, ``is_data``):

- ``data`` (is_data): the black box: ``events`` QCD events and round(``signal_events``
  x ``mu_inject``) W' events, shuffled together, unlabelled. Its metadata names neither
  the signal's masses nor its count.
- ``qcd_sr`` (process ``qcdSR``): background-only QCD with 3.3 < mjj < 3.7 TeV (the
  R&D set's extra QCD sample, for an idealized anomaly detector), unlabelled.
- ``evaluation_qcd`` (process ``qcd``, label 0): QCD with 3.3 < mjj < 3.7 TeV.
- ``evaluation_wprime`` (process ``wprime``, label 1): W' events of all mjj; not written
  in black-box mode.

Every event passed the trigger (leading jet pT > 1.2 TeV) and has both jets within
|y| < 2.5. The physics is ``liberica.samples.dijets`` (13 TeV, R = 1 jets); each sample
has its own random streams (``SeedSequence([seed, crc32(sample), ...])``), so that the
data's QCD events are the same with and without a signal. Everything, the truth
included, is recorded in ``generation.json``.

Key numbers (seed 42, the default sizes; tests/test_lhco_generator.py checks them on
smaller samples):

- QCD: 24.6% of the generated hard scatterings (pT > 950 GeV) pass the trigger and the
  acceptance. mjj turns on above 2.3 TeV, peaks at 2.5-2.6 TeV (median 2.85 TeV) and
  falls monotonically above; 11.8% of the events (118,216) are in 3.3-3.7 TeV. The
  4-parameter dijet function fits 2.8-6 TeV (100 GeV bins, Poisson deviance) with
  chi2 = 39.0 / 28 (p = 0.08): adequate, though the trigger's turn-on still bends
  the spectrum at 2.8-3.0 TeV, visible with 4M events (73 / 28
  from 2.8 TeV, 31 / 26 from 3.0 TeV; numbers of format 1). 45% gluon jets. Jet mass
  median (90% quantile) of the leading jet: 97 (344) GeV at pT 1.2-1.3 TeV, 103 (375)
  at 1.3-1.5, 112 (427) at 1.5-1.8, 125 (497) at 1.8-2.5 TeV. tau21 mean 0.68 (sd
  0.16): 0.72 for jets below 50 GeV, 0.57 above 400 GeV and for m/pT > 0.3 (8.7% of
  the jets); tau32 median 0.79; tau1 median 0.075 (10-90%: 0.03-0.25).
- W' (3.5 TeV -> 500 + 100 GeV, width 1%): 73% pass the trigger (the isotropic decay
  puts many jets below 1.2 TeV). mjj peaks at 0.97 m(W') (the leaking prongs) with a
  core width (within +-15%) of 5.0%; 68% of the events are in 3.3-3.7 TeV: 682 of the
  1,000 injected, S/B = 0.58% and S/sqrt(B) = 2.0 there. The X jet holds both
  quarks in 76% of the events (else it is the harder quark alone: the jet mass's low
  tail), the Y jet in 99%. Heavier jet's median mass 465 GeV (54% in 450-550, 26%
  below 400: prongs leaking out of the cone), core resolution 8%; lighter 98 GeV, 11%;
  tau21 median 0.43 (jet 1) and 0.44 (jet 2) against 0.70 for QCD in 3.3-3.7 TeV,
  broad (10-90%: 0.19-0.72).
- Separability (format 2; 100k QCD and 20k W' evaluation events, 13,441 of them in
  3.3-3.7 TeV): supervised trees (``trainer="trees"``, 5 folds) on mj_min, delta_mj
  and the two tau21 reach a peak SIC of 21.4 at eps_S = 0.34, at the 25-event floor
  (18.0 at eps_S = 0.36, eps_B = 4.1e-4 with the streams of seed 7; the R&D set:
  ~16.5-17); format 1 gave 48, pinned at the floor.
- Speed: the defaults (1,001,000 data events, 320,000 MC) in 13 s on this machine
  (two cores, one used), about half of it the QCD window samples and the HDF5 writing.
"""

from __future__ import annotations

import logging
import math
import pathlib
import re
import time

import numpy as np
import pandas as pd

from liberica._version import __version__
from liberica.core.errors import LibericaError
from liberica.processors.formats.lhco_h5 import require_tables
from liberica.samples import dijets
from liberica.samples.dijets import Dijets, ResonanceModel
from liberica.samples.sample import (
    DEFAULT_LUMI_FB,
    EVENTS_PER_FILE,
    GeneratedSample,
    file_sizes,
    sample_key,
    stream,
    write_fileset,
)

log = logging.getLogger(__name__)

GENERATION_FORMAT = 2
"""Bumped whenever the generated content changes for the same arguments."""

COLUMNS = (
    "pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
    "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2",
)  # fmt: skip
"""The feature columns, in the file's order (jet 1 the leading-pT jet)."""
LABEL = "label"
"""The truth column of the labelled samples: 1 signal, 0 background."""
HDF_KEY = "df"

TRIGGER_PT = 1200.0
"""The single large-R jet trigger's pT threshold, GeV."""
SIGNAL_REGION = (3300.0, 3700.0)
"""The mjj window of the background-only and evaluation QCD samples, GeV."""

DATA = "data"
QCD_SR = "qcd_sr"
QCD_SR_PROCESS = "qcdSR"
"""The background-only sample's process (process names are alphanumeric)."""
EVALUATION_QCD = "evaluation_qcd"
EVALUATION_SIGNAL = "evaluation_wprime"
SAMPLES = (DATA, QCD_SR, EVALUATION_QCD, EVALUATION_SIGNAL)

BLACK_BOX_WPRIME_RANGE = (3000.0, 5000.0)
"""W' masses of the black-box mode, GeV (uniform)."""
BLACK_BOX_DAUGHTER_RANGE = (100.0, 800.0)
"""X and Y masses of the black-box mode, GeV (uniform; X the heavier)."""
BLACK_BOX_MAX_DAUGHTER_FRACTION = 0.2
"""Black-box X and Y masses are at most this fraction of the W' mass, so that X's quarks
mostly share one R = 1 jet (their distance is about 4 m_X / m_W')."""


class GenerationError(LibericaError, ValueError):
    """A generator argument that cannot be generated (names the argument and value)."""


# -- features -------------------------------------------------------------------------------


def features(jets: Dijets, label: int | None = None) -> pd.DataFrame:
    """The LHCO feature table of pT-ordered events: :data:`COLUMNS`, and ``label`` when
    given; float64, GeV, a fresh 0..n-1 index."""
    transverse_mass = np.sqrt(jets.pt**2 + jets.mass**2)
    columns: dict[str, np.ndarray] = {}
    for jet in (0, 1):
        suffix = f"j{jet + 1}"
        columns[f"px{suffix}"] = jets.pt[:, jet] * np.cos(jets.phi[:, jet])
        columns[f"py{suffix}"] = jets.pt[:, jet] * np.sin(jets.phi[:, jet])
        columns[f"pz{suffix}"] = transverse_mass[:, jet] * np.sinh(jets.rapidity[:, jet])
        columns[f"m{suffix}"] = jets.mass[:, jet]
        for n in (1, 2, 3):
            columns[f"tau{n}{suffix}"] = getattr(jets, f"tau{n}")[:, jet]
    frame = pd.DataFrame({name: np.asarray(columns[name], dtype=np.float64) for name in COLUMNS})
    if label is not None:
        frame[LABEL] = np.full(len(frame), float(label))
    return frame


def _write(out_dir: pathlib.Path, sample: str, frame: pd.DataFrame, per_file: int) -> list[str]:
    files, start = [], 0
    for index, size in enumerate(file_sizes(len(frame), per_file)):
        part = frame.iloc[start : start + size].reset_index(drop=True)
        path = out_dir / f"{sample}_{index}.features.h5"
        part.to_hdf(path, key=HDF_KEY, mode="w", format="fixed")
        files.append(str(path.resolve()))
        start += size
    return files


def _entry(files: list[str], process: str, is_data: bool, **metadata) -> dict:
    return {
        "files": dict.fromkeys(files, HDF_KEY),
        "metadata": {"process": process, "is_data": is_data, **metadata},
    }


# -- the signal --------------------------------------------------------------------------------


def black_box_masses(seed: int) -> tuple[float, float, float]:
    """The W', X and Y masses (GeV, whole numbers) of the black box of ``seed``: W' in
    :data:`BLACK_BOX_WPRIME_RANGE`, X >= Y in :data:`BLACK_BOX_DAUGHTER_RANGE` and at
    most :data:`BLACK_BOX_MAX_DAUGHTER_FRACTION` of the W' mass."""
    rng = stream(seed, sample_key("black_box"))
    wprime = float(round(rng.uniform(*BLACK_BOX_WPRIME_RANGE)))
    low = BLACK_BOX_DAUGHTER_RANGE[0]
    high = min(BLACK_BOX_DAUGHTER_RANGE[1], BLACK_BOX_MAX_DAUGHTER_FRACTION * wprime)
    x_mass, y_mass = sorted((float(round(m)) for m in rng.uniform(low, high, 2)), reverse=True)
    return wprime, x_mass, y_mass


def _in_window(jets: Dijets, low: float, high: float) -> int:
    mjj = dijets.dijet_mass(jets)
    return int(np.count_nonzero((mjj >= low) & (mjj < high)))


# -- checks ----------------------------------------------------------------------------------


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GenerationError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_mass(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise GenerationError(f"{name} must be a finite mass > 0 GeV, got {value!r}")


def _check(arguments: dict) -> None:
    _check_count("events", arguments["events"], 1)
    _check_count("events_per_file", arguments["events_per_file"], 1)
    for name in (
        "signal_events",
        "background_only_events",
        "evaluation_background_events",
        "evaluation_signal_events",
    ):
        _check_count(name, arguments[name], 0)
    lumi_fb, mu = arguments["lumi_fb"], arguments["mu_inject"]
    if not (isinstance(lumi_fb, (int, float)) and math.isfinite(lumi_fb) and lumi_fb > 0):
        raise GenerationError(f"lumi_fb must be finite and positive, got {lumi_fb!r}")
    if not (isinstance(mu, (int, float)) and math.isfinite(mu) and mu >= 0):
        raise GenerationError(f"mu_inject must be finite and >= 0, got {mu!r}")
    for name in ("signal_mass", "x_mass", "y_mass"):
        _check_mass(name, arguments[name])
    if arguments["x_mass"] + arguments["y_mass"] >= arguments["signal_mass"]:
        raise GenerationError(
            f"x_mass + y_mass ({arguments['x_mass']:g} + {arguments['y_mass']:g} GeV) must be "
            f"below signal_mass ({arguments['signal_mass']:g} GeV)"
        )
    if 2.0 * TRIGGER_PT > 1.3 * arguments["signal_mass"]:
        raise GenerationError(
            f"signal_mass {arguments['signal_mass']:g} GeV is too light for the "
            f"{TRIGGER_PT:g} GeV jet trigger (at least {2 * TRIGGER_PT / 1.3:.0f} GeV)"
        )


# -- the generator -----------------------------------------------------------------------------


def generate_lhco(
    out_dir: str | pathlib.Path,
    *,
    events: int = 1_000_000,
    lumi_fb: float = DEFAULT_LUMI_FB,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
    signal_events: int = 1000,
    signal_mass: float = 3500.0,
    x_mass: float = 500.0,
    y_mass: float = 100.0,
    background_only_events: int = 200_000,
    evaluation_background_events: int = 100_000,
    evaluation_signal_events: int = 20_000,
    black_box: bool = False,
) -> GeneratedSample:
    """Generate the LHCO-style black box, its background-only QCD and the evaluation samples.

    Writes ``{sample}_{i}.features.h5`` (module docstring), ``fileset.json`` (per sample
    its files, each with the HDF5 key ``df``, and metadata ``process``, ``is_data``) and
    ``generation.json`` (every argument, the truth, the counts). Same arguments, same
    tables.

    Args:
        out_dir: output folder (created; earlier files of these samples removed)
        events: QCD events in the data (all passing the trigger)
        lumi_fb: recorded only (the data's size is ``events``, not a luminosity)
        mu_inject: the injected W' events are round(``signal_events`` x ``mu_inject``)
        seed: seed of every random stream
        events_per_file: at most this many events per file
        signal_events: W' events in the data at ``mu_inject`` = 1 (0: background only)
        signal_mass: the W' mass, GeV (ignored with ``black_box``)
        x_mass: the X mass, GeV (ignored with ``black_box``)
        y_mass: the Y mass, GeV (ignored with ``black_box``)
        background_only_events: events of ``qcd_sr`` (QCD in 3.3-3.7 TeV; 0: none)
        evaluation_background_events: events of ``evaluation_qcd`` (0: none)
        evaluation_signal_events: events of ``evaluation_wprime`` (0 or ``black_box``: none)
        black_box: draw the W', X and Y masses from the seed (:func:`black_box_masses`),
            write no labelled signal, keep the truth in ``generation.json`` only

    Returns:
        GeneratedSample: where the fileset is and the events per sample written

    Raises:
        GenerationError: for an argument that cannot be generated
    """
    arguments = {
        "events": events,
        "lumi_fb": lumi_fb,
        "mu_inject": mu_inject,
        "seed": seed,
        "events_per_file": events_per_file,
        "signal_events": signal_events,
        "signal_mass": signal_mass,
        "x_mass": x_mass,
        "y_mass": y_mass,
        "background_only_events": background_only_events,
        "evaluation_background_events": evaluation_background_events,
        "evaluation_signal_events": evaluation_signal_events,
        "black_box": bool(black_box),
    }
    if black_box:
        signal_mass, x_mass, y_mass = black_box_masses(seed)
    _check({**arguments, "signal_mass": signal_mass, "x_mass": x_mass, "y_mass": y_mass})
    started = time.perf_counter()
    require_tables()  # pandas writes HDF5 through PyTables: the lhco extra
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^({'|'.join(SAMPLES)})_\d+\.features\.h5$")
    for path in out_dir.iterdir():
        if pattern.match(path.name):
            path.unlink()

    model = ResonanceModel(float(signal_mass), float(x_mass), float(y_mass))
    injected = math.floor(signal_events * mu_inject + 0.5)
    data_key = sample_key(DATA)
    qcd = dijets.qcd_dijets(stream(seed, data_key, 0), events, trigger_pt=TRIGGER_PT)
    mixed = qcd.jets
    efficiency = {"qcd": qcd.efficiency}
    injected_in_sr = injected_near_peak = 0
    if injected:
        signal = dijets.resonance_dijets(
            stream(seed, data_key, 1), injected, model, trigger_pt=TRIGGER_PT
        )
        mixed = dijets.concatenate([qcd.jets, signal.jets])
        efficiency["wprime"] = signal.efficiency
        injected_in_sr = _in_window(signal.jets, *SIGNAL_REGION)
        injected_near_peak = _in_window(signal.jets, 0.9 * model.mass, 1.1 * model.mass)
    order = stream(seed, data_key, 2).permutation(len(mixed.pt))
    data = features(dijets.select(mixed, order))
    fileset = {DATA: _entry(_write(out_dir, DATA, data, events_per_file), DATA, True)}
    counts = {DATA: len(data)}

    window = {"mjj_range": list(SIGNAL_REGION)}
    for name, n, process, label in (
        (QCD_SR, background_only_events, QCD_SR_PROCESS, None),
        (EVALUATION_QCD, evaluation_background_events, "qcd", 0),
    ):
        if n:
            made = dijets.qcd_dijets(
                stream(seed, sample_key(name)), n, trigger_pt=TRIGGER_PT, mjj_range=SIGNAL_REGION
            )
            files = _write(out_dir, name, features(made.jets, label), events_per_file)
            fileset[name] = _entry(files, process, False, **window)
            counts[name] = n
    if evaluation_signal_events and not black_box:
        made = dijets.resonance_dijets(
            stream(seed, sample_key(EVALUATION_SIGNAL)),
            evaluation_signal_events,
            model,
            trigger_pt=TRIGGER_PT,
        )
        files = _write(out_dir, EVALUATION_SIGNAL, features(made.jets, 1), events_per_file)
        fileset[EVALUATION_SIGNAL] = _entry(files, "wprime", False)
        counts[EVALUATION_SIGNAL] = evaluation_signal_events
        efficiency.setdefault("wprime", made.efficiency)

    record = {
        "generator": "liberica.analysis.lhco.generator",
        "format": GENERATION_FORMAT,
        "liberica_version": __version__,
        **arguments,
        "truth": {
            "wprime_mass": model.mass,
            "x_mass": model.x_mass,
            "y_mass": model.y_mass,
            "wprime_relative_width": model.relative_width,
            "masses_from": "the seed (black box)" if black_box else "the arguments",
            "injected_events": injected,
            "signal_region": list(SIGNAL_REGION),
            "injected_in_signal_region": injected_in_sr,
            "injected_within_10_percent_of_mass": injected_near_peak,
            "qcd_events_in_data": events,
        },
        "samples": counts,
        "selection": {
            "trigger_leading_jet_pt": TRIGGER_PT,
            "max_abs_rapidity": dijets.MAX_ABS_RAPIDITY,
            "jet_radius": dijets.JET_RADIUS,
            "efficiency": efficiency,
        },
        "seeds": {
            "samples": "numpy SeedSequence([seed, crc32(sample name), ...])",
            "data": "QCD [seed, crc32('data'), 0], W' [.., 1], shuffle [.., 2]",
            "black_box_masses": "[seed, crc32('black_box')]",
        },
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info("generated the lhco sample in %s (%.1f s)", out_dir, time.perf_counter() - started)
    mu_injected = float(mu_inject) if injected else 0.0
    return GeneratedSample(fileset_path, counts, mu_injected, float(lumi_fb), int(seed))
