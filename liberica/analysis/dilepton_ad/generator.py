"""The embedded dilepton sample: SM and BSM MC samples and Poisson pseudo-data with a
recorded mis-modelling, in the open-data format (tree ``mini``, MeV).

Samples (13 TeV; l = e, mu; processes in ``processes.py``; cross-sections in pb
include the branching ratios and are those *before* the generator-level filter):

- ``DY{ee,mumu}_{low}_{high}``: Drell-Yan gamma*/Z -> l l in m_ll slices 40-120,
  120-400, 400-1000 and 1000-3000 GeV (2165, 21.6, 0.243, 0.00665 pb per flavour),
  so that the tail up to 3 TeV holds MC events; ``DYtautau_40_120``,
  ``DYtautau_120_3000``: tau tau -> l l + 4 nu (x BR 0.124).
- ``ttbar`` (831.76 pb x BR(W W -> l nu l nu) 0.0455), ``Wt`` (71.7 pb x 0.0455),
  ``WW`` (118.7 pb x 0.0455), ``WZ`` (47.0 pb x BR(Z -> l l) x BR(W -> l nu or q q')),
  ``ZZ`` (16.9 pb x BR(l l nu nu or 4l)).
- ``Wjets``: W -> l nu (40.2 nb) with a non-prompt lepton candidate above 10 GeV in a
  jet (probability 1e-3): 40.2 pb.
- Signals, none in the data unless injected: ``Zprime1000``, ``Zprime2000`` (Z' -> ee,
  mumu, width 3%, 1 + cos^2), ``Graviton1500`` (G -> ee, spin 2, width 1.5%,
  1 - cos^4 for g g -> G), ``Slepton`` (slepton pairs, m = 450 GeV, each -> l chi0 with
  m(chi0) = 100 GeV): 0.035, 0.014, 0.013 and 0.03 pb. These are benchmarks, not a
  model's prediction, sized for the default luminosity: the default injection
  (``Zprime1000`` at mu = 1) gives, after two isolated leptons of pT > 25 GeV, 8.3
  signal events over 1.9 background in m_ll = 1000 +- 52 GeV (+-1.5 sigma): a local
  excess of about 4 sigma; Zprime2000 and Graviton1500 at mu = 1 are alike (3.5 over
  0.11 and 0.14), Slepton gives 9.5 events with large MET.

Generator-level filter (every sample, data alike): two truth e/mu with |eta| < 2.5 and
pT > 25 and 10 GeV (``processes.lepton_filter``). Events are drawn until the filter
passed; the fileset's ``xsec`` is the cross-section times the filter efficiency
measured on the sample's own events (passed / drawn).

Default luminosity: 0.4 fb^-1 (``DEFAULT_LUMI_FB``), not the 140 fb^-1 of the other
analyses: the Z peak alone is 1.1 nb per flavour after the filter, so the pseudo-data
hold about 0.9M events; the default 1.2M MC events are about half the data at the Z
peak and far more beyond it.

Generator weights: ``mcWeight = +-|w|``, |w| lognormal (sigma 5%), the sign independent
of the event; ``SumWeights`` and the fileset's ``sumw`` are their true sum.

Pseudo-data: from streams independent of every MC stream (``SeedSequence([seed,
crc32('data'), ...])`` against ``[seed, crc32(sample), ...]``); for each background (and
the injected signal, its cross-section times ``mu_inject``)
``N ~ Poisson(xsec x lumi x SF_max)`` events are drawn before the filter, passed
through the filter and the detector, and each kept with probability ``SF / SF_max``;
the expected data then equal the MC prediction with scale factors. Then the recorded
detector mis-modelling (:data:`DATA_MISMODELLING`): the d0 significance of every
lepton is 1.3 x wider in data (the reference dropped that feature for this reason) and
the MET scale 2% higher. ``corrupt_weights=True`` writes wrong weights on purpose
(see :func:`generate_dilepton_ad`). Everything is recorded in ``generation.json`` and
the data's fileset metadata.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import pathlib
import re
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from liberica.analysis.dilepton_ad import DEFAULT_LUMI_FB
from liberica.analysis.dilepton_ad import processes as physics
from liberica.core.errors import LibericaError
from liberica.samples import detector
from liberica.samples.detector import (
    SimulatedEvents,
    TruthEvents,
    concatenate_events,
    select_events,
)
from liberica.samples.sample import (
    EVENTS_PER_FILE,
    GeneratedSample,
    data_entry,
    event_numbers,
    file_sizes,
    mc_entry,
    sample_key,
    stream,
    write_fileset,
)
from liberica.samples.writer import Objects, write_mini

log = logging.getLogger(__name__)

GENERATION_FORMAT = 1
"""Bumped whenever the generated content changes for the same arguments."""

MC_RUN_NUMBER = 284500
DATA_RUN_NUMBER = 300000
PB_PER_INVERSE_FB = 1.0e3
DATA_SAMPLE = "data"

DATA_MISMODELLING: dict[str, float] = {
    "lep_tracksigd0pvunbiased": 1.3,
    "met_et": 1.02,
}
"""Branch -> factor applied to the pseudo-data only: a d0 significance 1.3 x wider
(d0 itself unchanged: its uncertainty is underestimated in data) and a 2% higher MET
scale (met_et only; met_phi and met_et_syst unchanged)."""

DEFAULT_INJECTED_SIGNAL = "Zprime1000"

GRAVITON_WEIGHT_FACTOR = 50.0
"""``corrupt_weights``: Graviton1500's written mcWeight over its true one."""
ABSURD_WEIGHT_FACTOR = 1.0e4
"""``corrupt_weights``: the factor of the few absurd ttbar weights."""
ABSURD_WEIGHT_EVENTS = 20
"""``corrupt_weights``: at most this many ttbar events get absurd weights (one per 5,000)."""


class GenerationError(LibericaError, ValueError):
    """A generator argument that cannot be generated (names the argument and value)."""


class Sample(NamedTuple):
    """One MC sample.

    Attributes:
        name: sample (and file) name
        process: the process it belongs to (the stack's entry)
        dsid: dataset id, written as channelNumber
        xsec_pb: cross-section x branching ratios before the generator filter, pb
        event_fraction: its share of the requested MC events
        negative_weight_fraction: share of events with mcWeight < 0
        signal: a BSM signal (in the data only when injected)
        generate: (rng, n) -> TruthEvents, unfiltered
    """

    name: str
    process: str
    dsid: int
    xsec_pb: float
    event_fraction: float
    negative_weight_fraction: float
    signal: bool
    generate: Callable[[np.random.Generator, int], TruthEvents]


DY_SLICES = ((40.0, 120.0), (120.0, 400.0), (400.0, 1000.0), (1000.0, 3000.0))
"""m_ll slices of the ee and mumu Drell-Yan samples (GeV)."""
DY_TAUTAU_SLICES = ((40.0, 120.0), (120.0, 3000.0))
TAUTAU_TO_LEPTONS = (physics.TAU_TO_ELECTRON + physics.TAU_TO_MUON) ** 2
BR_WW_TO_LEPTONS = 0.2134**2
"""BR(W W -> l nu l nu), l = e, mu (no taus)."""

_DY_FRACTIONS = (0.185, 0.04, 0.025, 0.02)
_TAUTAU_FRACTIONS = (0.04, 0.01)


def _drell_yan_samples() -> list[Sample]:
    samples = []
    for flavour, label, dsid, process in ((11, "ee", 301000, "Zee"), (13, "mumu", 301020, "Zmumu")):
        for index, ((low, high), fraction) in enumerate(zip(DY_SLICES, _DY_FRACTIONS, strict=True)):
            samples.append(
                Sample(
                    f"DY{label}_{low:.0f}_{high:.0f}",
                    process,
                    dsid + index,
                    round(physics.drell_yan_cross_section(low, high), 9),
                    fraction,
                    0.01,
                    False,
                    functools.partial(
                        physics.generate_drell_yan, flavour=flavour, low=low, high=high
                    ),
                )
            )
    for index, ((low, high), fraction) in enumerate(
        zip(DY_TAUTAU_SLICES, _TAUTAU_FRACTIONS, strict=True)
    ):
        samples.append(
            Sample(
                f"DYtautau_{low:.0f}_{high:.0f}",
                "Ztautau",
                301040 + index,
                round(physics.drell_yan_cross_section(low, high) * TAUTAU_TO_LEPTONS, 9),
                fraction,
                0.01,
                False,
                functools.partial(physics.generate_drell_yan, flavour=15, low=low, high=high),
            )
        )
    return samples


SAMPLES: tuple[Sample, ...] = (
    *_drell_yan_samples(),
    Sample("ttbar", "ttbar", 410472, round(831.76 * BR_WW_TO_LEPTONS, 6), 0.12, 0.004, False,
           physics.generate_ttbar),
    Sample("Wt", "Wt", 410648, round(71.7 * BR_WW_TO_LEPTONS, 6), 0.03, 0.004, False,
           physics.generate_wt),
    Sample("WW", "WW", 363359, round(118.7 * BR_WW_TO_LEPTONS, 6), 0.04, 0.01, False,
           physics.generate_ww),
    Sample("WZ", "WZ", 363358, round(47.0 * 0.0673 * (0.2134 + 0.6741), 6), 0.03, 0.01,
           False, physics.generate_wz),
    Sample("ZZ", "ZZ", 363356, round(16.9 * (0.0673**2 + 2 * 0.0673 * 0.2), 6), 0.03,
           0.01, False, physics.generate_zz),
    Sample("Wjets", "Wjets", 364156, 40.2, 0.06, 0.02, False, physics.generate_wjets),
    Sample("Zprime1000", "Zprime1000", 301215, 0.035, 0.025, 0.0, True,
           functools.partial(physics.generate_zprime, mass=1000.0)),
    Sample("Zprime2000", "Zprime2000", 301220, 0.014, 0.025, 0.0, True,
           functools.partial(physics.generate_zprime, mass=2000.0)),
    Sample("Graviton1500", "Graviton1500", 301553, 0.013, 0.025, 0.0, True,
           functools.partial(physics.generate_graviton, mass=1500.0)),
    Sample("Slepton", "Slepton", 392916, 0.03, 0.025, 0.0, True, physics.generate_sleptons),
)  # fmt: skip
"""The MC samples, in fileset order (``data`` follows)."""

SIGNALS = tuple(s.name for s in SAMPLES if s.signal)
_BY_NAME = {s.name: s for s in SAMPLES}


# -- seeding, truth, detector ---------------------------------------------------------------


_MAX_BATCH = 250_000
"""At most this many unfiltered events are generated at once (memory)."""


def _filtered_truth(sample: Sample, rng: np.random.Generator, n: int) -> tuple[TruthEvents, int]:
    """``n`` events that pass the filter, and how many were drawn up to the n-th passing one."""
    parts, have, drawn = [], 0, 0
    efficiency = 0.5
    while True:
        need = n - have
        batch = int(min(max(1.1 * need / efficiency + 64, 256), _MAX_BATCH))
        truth = sample.generate(rng, batch)
        passed = np.flatnonzero(physics.lepton_filter(truth.leptons))
        if len(passed) >= need:
            drawn += int(passed[need - 1]) + 1 if need else 0
            parts.append(physics.take_truth(truth, passed[:need]))
            return physics.concatenate_truth(parts), drawn
        drawn += batch
        have += len(passed)
        parts.append(physics.take_truth(truth, passed))
        efficiency = (have + 1.0) / (drawn + 2.0)


def _filter_drawn(sample: Sample, rng: np.random.Generator, drawn: int) -> TruthEvents:
    """The events of ``drawn`` unfiltered ones that pass the filter."""
    parts = []
    for size in [_MAX_BATCH] * (drawn // _MAX_BATCH) + [drawn % _MAX_BATCH]:
        truth = sample.generate(rng, size)
        parts.append(physics.take_truth(truth, physics.lepton_filter(truth.leptons)))
    return physics.concatenate_truth(parts)


def mismodel(events: SimulatedEvents) -> SimulatedEvents:
    """The pseudo-data's detector mis-modelling (:data:`DATA_MISMODELLING`) applied to events."""
    branches = dict(events.branches)
    branches["met_et"] = branches["met_et"] * DATA_MISMODELLING["met_et"]
    leptons = events.objects["lep"]
    fields = dict(leptons.fields)
    fields["tracksigd0pvunbiased"] = (
        fields["tracksigd0pvunbiased"] * DATA_MISMODELLING["lep_tracksigd0pvunbiased"]
    )
    objects = {**events.objects, "lep": Objects(leptons.counts, fields)}
    return SimulatedEvents(branches, objects, events.weight_scale_factor)


def simulate(name: str, events: int, *, seed: int, is_data: bool = False) -> SimulatedEvents:
    """``events`` filtered events of sample ``name`` through the detector (GeV), as MC or,
    with ``is_data``, as data (truth dropped, :func:`mismodel` applied): the same seed gives
    the same events either way, for comparing data and MC at generator level.

    Raises:
        GenerationError: for an unknown sample
    """
    sample = _sample(name, "sample")
    rng = stream(seed, sample_key(name), 7)
    truth, _ = _filtered_truth(sample, rng, events)
    simulated = detector.simulate(rng, truth, is_data=is_data)
    return mismodel(simulated) if is_data else simulated


def _sample(name: str, what: str) -> Sample:
    if name not in _BY_NAME:
        raise GenerationError(
            f"dilepton_ad has no {what} {name!r} (its samples: {', '.join(_BY_NAME)})"
        )
    return _BY_NAME[name]


def _generator_weights(rng: np.random.Generator, n: int, negative_fraction: float) -> np.ndarray:
    """mcWeight: +-|w|, |w| lognormal (sigma 5%), the sign independent of the event."""
    magnitude = rng.lognormal(0.0, 0.05, n)
    sign = np.where(rng.random(n) < negative_fraction, -1.0, 1.0)
    return (sign * magnitude).astype(np.float32)


# -- wrong weights on purpose -----------------------------------------------------------------


def _corrupt(sample: Sample, weights: np.ndarray, seed: int) -> tuple[np.ndarray, dict | None]:
    """The weights written for ``sample`` under ``corrupt_weights``, and what was done.

    Graviton1500: every mcWeight x :data:`GRAVITON_WEIGHT_FACTOR` (sumw stays the true
    sum, so sum(mcWeight) / sumw = 50). ttbar: one event in 5,000 (at most
    :data:`ABSURD_WEIGHT_EVENTS`) x :data:`ABSURD_WEIGHT_FACTOR`.
    """
    n = len(weights)
    if sample.name == "Graviton1500":
        written = weights * np.float32(GRAVITON_WEIGHT_FACTOR)
        return written, {"sample": sample.name, "events": "all", "factor": GRAVITON_WEIGHT_FACTOR}
    if sample.name == "ttbar":
        count = min(ABSURD_WEIGHT_EVENTS, max(1, n // 5000))
        index = np.sort(stream(seed, sample_key("corrupt_weights")).choice(n, count, replace=False))
        written = weights.copy()
        written[index] *= np.float32(ABSURD_WEIGHT_FACTOR)
        numbers = event_numbers(sample.name, 0, n)[index]
        return written, {
            "sample": sample.name,
            "eventNumbers": [int(e) for e in numbers],
            "factor": ABSURD_WEIGHT_FACTOR,
        }
    return weights, None


# -- writing ------------------------------------------------------------------------------------


def _write(path: pathlib.Path, events: SimulatedEvents, bookkeeping: dict, key: str) -> str:
    write_mini(path, {**events.branches, **bookkeeping}, events.objects, key=key)
    return str(path.resolve())


class _MC(NamedTuple):
    files: list[str]
    xsec_pb: float
    sumw: float
    filter_efficiency: float
    corruption: dict | None


def _generate_mc(
    out_dir: pathlib.Path,
    sample: Sample,
    n: int,
    seed: int,
    per_file: int,
    generation: str,
    corrupt_weights: bool,
) -> _MC:
    key = sample_key(sample.name)
    weights = _generator_weights(stream(seed, key, 0), n, sample.negative_weight_fraction)
    sumw = float(np.sum(weights, dtype=np.float64))
    written, corruption = _corrupt(sample, weights, seed) if corrupt_weights else (weights, None)
    parts, drawn = [], 0
    for index, size in enumerate(file_sizes(n, per_file)):
        rng = stream(seed, key, 1, index)
        truth, tries = _filtered_truth(sample, rng, size)
        parts.append(detector.simulate(rng, truth, is_data=False))
        drawn += tries
    efficiency = n / drawn
    xsec = sample.xsec_pb * efficiency
    files, start = [], 0
    for index, events in enumerate(parts):
        size = len(events.weight_scale_factor)
        bookkeeping = {
            "runNumber": np.full(size, MC_RUN_NUMBER),
            "eventNumber": event_numbers(sample.name, start, size),
            "channelNumber": np.full(size, sample.dsid),
            "mcWeight": written[start : start + size],
            "XSection": np.full(size, xsec),
            "SumWeights": np.full(size, sumw),
        }
        path = out_dir / f"{sample.name}_{index}.root"
        files.append(_write(path, events, bookkeeping, f"{generation}/{sample.name}/{index}"))
        start += size
    log.info(
        "%s: %d events in %d file(s), filter efficiency %.4f, xsec %.6g pb",
        sample.name,
        n,
        len(files),
        efficiency,
        xsec,
    )
    return _MC(files, xsec, sumw, efficiency, corruption)


class _Data(NamedTuple):
    files: list[str]
    events: int
    by_sample: dict[str, int]


def _generate_data(
    out_dir: pathlib.Path,
    expected_drawn: dict[str, float],
    expected_filtered: float,
    seed: int,
    per_file: int,
    generation: str,
) -> _Data:
    """Pseudo-data in blocks: per block and sample ``Poisson(expected_drawn / blocks)`` events
    before the filter (the blocks' sum is the full Poisson draw), shuffled within the block,
    written in files of at most ``per_file`` events."""
    key = sample_key(DATA_SAMPLE)
    counts_rng = stream(seed, key, 0)
    sf_max = detector.MAX_WEIGHT_SCALE_FACTOR
    blocks = max(1, math.ceil(expected_filtered / per_file))
    by_sample = dict.fromkeys(expected_drawn, 0)
    files: list[str] = []
    start = 0
    for block in range(blocks):
        parts = []
        for name, mean in expected_drawn.items():
            drawn = int(counts_rng.poisson(mean / blocks))
            rng = stream(seed, key, 1, sample_key(name), block)
            truth = _filter_drawn(_BY_NAME[name], rng, drawn)
            events = mismodel(detector.simulate(rng, truth, is_data=True))
            keep = rng.random(len(events.weight_scale_factor)) * sf_max < events.weight_scale_factor
            parts.append(select_events(events, np.flatnonzero(keep)))
            by_sample[name] += int(keep.sum())
        data = concatenate_events(parts)
        n = len(data.weight_scale_factor)
        if n == 0 and (files or block < blocks - 1):
            continue
        data = select_events(data, stream(seed, key, 2, block).permutation(n))
        offset = 0
        for size in file_sizes(n, per_file):
            chunk = select_events(data, np.arange(offset, offset + size))
            zeros = np.zeros(size)
            # as in real open-data files: no MC weights (0) and XSection = SumWeights = 1
            bookkeeping = {
                "runNumber": np.full(size, DATA_RUN_NUMBER),
                "eventNumber": event_numbers(DATA_SAMPLE, start, size),
                "channelNumber": np.full(size, DATA_RUN_NUMBER),
                "mcWeight": zeros,
                "XSection": np.ones(size),
                "SumWeights": np.ones(size),
                **{b: zeros for b in chunk.branches if b.startswith("scaleFactor_")},
            }
            index = len(files)
            path = out_dir / f"{DATA_SAMPLE}_{index}.root"
            files.append(_write(path, chunk, bookkeeping, f"{generation}/{DATA_SAMPLE}/{index}"))
            offset += size
            start += size
    log.info("data: %d events in %d file(s): %s", start, len(files), by_sample)
    return _Data(files, start, by_sample)


# -- the generator ------------------------------------------------------------------------------


def mc_event_counts(events: int) -> dict[str, int]:
    """MC events per sample for ``events`` in total (fixed shares, at least one each)."""
    return {s.name: max(1, round(events * s.event_fraction)) for s in SAMPLES}


def _check(
    events: int,
    lumi_fb: float,
    mu_inject: float,
    events_per_file: int,
    inject_signal: str | None,
) -> None:
    if events < 1:
        raise GenerationError(f"events must be at least 1, got {events}")
    if events_per_file < 1:
        raise GenerationError(f"events_per_file must be at least 1, got {events_per_file}")
    if not (math.isfinite(lumi_fb) and lumi_fb > 0):
        raise GenerationError(f"lumi_fb must be finite and positive, got {lumi_fb}")
    if not (math.isfinite(mu_inject) and mu_inject >= 0):
        raise GenerationError(f"mu_inject must be finite and >= 0, got {mu_inject}")
    if inject_signal is not None and inject_signal not in SIGNALS:
        raise GenerationError(
            f"inject_signal {inject_signal!r} is not a dilepton_ad signal "
            f"(one of {', '.join(SIGNALS)}, or None)"
        )


def generate_dilepton_ad(
    out_dir: str | pathlib.Path,
    *,
    events: int = 1_200_000,
    lumi_fb: float = DEFAULT_LUMI_FB,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
    inject_signal: str | None = DEFAULT_INJECTED_SIGNAL,
    corrupt_weights: bool = False,
) -> GeneratedSample:
    """Generate the dilepton_ad MC samples and pseudo-data in the open-data format.

    Writes ``{sample}_{i}.root`` (TTree ``mini``, MeV), ``fileset.json`` (each MC
    sample's process, filtered xsec, sumw, filter efficiency and category; the data's
    injection, mis-modelling and seed) and ``generation.json`` (everything, including
    the data's events per sample and any corrupted weights). Same arguments, same bytes.

    Args:
        out_dir: output folder (created; earlier files of these samples removed)
        events: total MC events over all MC samples
        lumi_fb: integrated luminosity of the pseudo-data, fb^-1
        mu_inject: the injected signal's cross-section over its sample's
        seed: seed of every random stream
        events_per_file: at most this many events per file
        inject_signal: the signal in the pseudo-data (one of :data:`SIGNALS`), or None
        corrupt_weights: write Graviton1500's mcWeight x 50 (its sumw the true one) and a
            few ttbar events' x 1e4, as a check of weight sanity must catch; which events
            is recorded in ``generation.json``

    Returns:
        GeneratedSample: where the fileset is and what was written (``mu_injected`` is 0
        without an injected signal)

    Raises:
        GenerationError: for an argument that cannot be generated
    """
    _check(events, lumi_fb, mu_inject, events_per_file, inject_signal)
    started = time.perf_counter()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in SAMPLES] + [DATA_SAMPLE]
    pattern = re.compile(rf"^({'|'.join(map(re.escape, names))})_\d+\.root$")
    for path in out_dir.iterdir():
        if pattern.match(path.name):
            path.unlink()
    arguments = {
        "events": int(events),
        "lumi_fb": float(lumi_fb),
        "mu_inject": float(mu_inject),
        "seed": int(seed),
        "events_per_file": int(events_per_file),
        "inject_signal": inject_signal,
        "corrupt_weights": bool(corrupt_weights),
    }
    # every file's UUID depends on every argument: other arguments, other files
    generation = json.dumps({"format": GENERATION_FORMAT, **arguments}, sort_keys=True)
    counts = mc_event_counts(events)
    fileset: dict[str, dict] = {}
    mc: dict[str, _MC] = {}
    for sample in SAMPLES:
        made = _generate_mc(
            out_dir, sample, counts[sample.name], seed, events_per_file, generation, corrupt_weights
        )
        entry = mc_entry(made.files, sample.process, made.xsec_pb, made.sumw)
        entry["metadata"]["category"] = "signal" if sample.signal else "background"
        entry["metadata"]["filter_efficiency"] = made.filter_efficiency
        fileset[sample.name] = entry
        mc[sample.name] = made

    mu_injected = float(mu_inject) if inject_signal is not None else 0.0
    strength = {s.name: 1.0 for s in SAMPLES if not s.signal}
    if inject_signal is not None:
        strength[inject_signal] = float(mu_inject)
    lumi_pb = lumi_fb * PB_PER_INVERSE_FB
    sf_max = detector.MAX_WEIGHT_SCALE_FACTOR
    expected_drawn = {n: _BY_NAME[n].xsec_pb * lumi_pb * mu * sf_max for n, mu in strength.items()}
    expected = {n: mc[n].xsec_pb * lumi_pb * mu for n, mu in strength.items()}
    data = _generate_data(
        out_dir, expected_drawn, sf_max * sum(expected.values()), seed, events_per_file, generation
    )
    counts[DATA_SAMPLE] = data.events
    injection = {"signal": inject_signal, "mu": mu_injected}
    injection |= {
        "xsec_pb": mc[inject_signal].xsec_pb if inject_signal else 0.0,
        "expected_events_before_sf": expected[inject_signal] if inject_signal else 0.0,
        "data_events": data.by_sample[inject_signal] if inject_signal else 0,
    }
    fileset[DATA_SAMPLE] = data_entry(data.files, mu_injected, lumi_fb, seed)
    fileset[DATA_SAMPLE]["metadata"] |= {
        "injected_signal": inject_signal,
        "mismodelling": dict(DATA_MISMODELLING),
    }
    corrupted = [m.corruption for m in mc.values() if m.corruption is not None]
    record = {
        "generator": "liberica.analysis.dilepton_ad.generator",
        "format": GENERATION_FORMAT,
        **arguments,
        "samples": counts,
        "xsec_pb": {s.name: mc[s.name].xsec_pb for s in SAMPLES},
        "xsec_before_filter_pb": {s.name: s.xsec_pb for s in SAMPLES},
        "filter_efficiency": {s.name: mc[s.name].filter_efficiency for s in SAMPLES},
        "filter": {
            "leading_pt": physics.FILTER_LEADING_PT,
            "subleading_pt": physics.FILTER_SUBLEADING_PT,
            "max_abs_eta": physics.FILTER_MAX_ABS_ETA,
        },
        "injection": injection,
        "mismodelling": dict(DATA_MISMODELLING),
        "expected_data_before_sf": expected,
        "data_events_by_sample": data.by_sample,
        "corrupted_weights": corrupted,
        "seeds": {
            "mc": "numpy SeedSequence([seed, crc32(sample name), ...])",
            "data": "numpy SeedSequence([seed, crc32('data'), ...]): independent of the MC",
        },
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info(
        "generated the dilepton_ad sample in %s (%.1f s)", out_dir, time.perf_counter() - started
    )
    return GeneratedSample(fileset_path, counts, mu_injected, float(lumi_fb), int(seed))
