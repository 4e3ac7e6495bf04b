"""The embedded ttH 2lSS+1tau sample: MC samples and Poisson pseudo-data (tree ``mini``, MeV).

Samples (13 TeV; processes in ``processes.py``; cross-sections in pb before the filter):
``ttH`` (0.507 x BR(H -> WW*, tautau, ZZ*) 0.3043), ``ttW`` (0.60), ``ttZ`` (0.88),
``ttbar`` (831.76: the fakes, an isolated non-prompt lepton from a b decay, with electron
charge flips and jet -> tau fakes), ``VV`` (WZ 47.0 + ZZ 16.9), ``tZ`` (tZq, 0.90),
``tttt`` (0.012), ``other`` (tWZ, ttWW, tWH, VH lumped, 0.50); the alternative samples
``ttW_alt`` (variation ``ttw_modelling``) and ``ttbar_alt`` (``ttbar_modelling``).

Generation in the phase space that passes (``processes.py``): every event's decay modes and
radiation are drawn first, from biased probabilities, with the weight true / drawn; only
events with a same-sign pair of light leptons at generator level get kinematics (those
without a hadronic tau prescaled, the weight divided by the kept share). After the
detector model an event is kept if it passes the filter (:func:`passes_filter`, looser
than the preselection under every variation); those without a tau candidate are kept
with probability :attr:`Sample.tau_less_fraction` (weight divided by it): the signal
region, which needs one, gets the statistics. ``mcWeight`` = generator weight
(+-lognormal, a few % negative for the NLO ttX samples) x biasing weight, ``SumWeights``
their sum over the written events and ``XSection`` the filtered cross-section, sigma x
(sum of mcWeight written / sum over all drawn events, divided by the probability of a
forced choice: ttbar's isolated non-prompt lepton). Sample sizes are set for statistics
(:data:`SAMPLES`' shares), not in proportion to the cross-sections; the samples are
generated in parallel processes (each has its own random streams: the bytes do not
depend on the number of processes).

Selection (:func:`select`, the processor's in numpy; GeV): leptons: tight ID, pT > 10,
|eta| < 2.47 (e) / 2.5 (mu), ptcone30/pT < 0.06, etcone20/pT < 0.06, |d0| significance < 5
(e) / 3 (mu), |z0 sin(theta)| < 0.5 mm; taus: tight, pT > 25, |eta| < 2.5, 1 or 3 tracks;
jets: pT > 25, |eta| < 2.5, not within Delta R 0.4 of a selected lepton or tau; b-tag
MV2c10 > :data:`BTAG_CUT`. Both selections: a trigger, exactly two such leptons, same sign,
the leading above 20, m_ll > 12, |m_ll - 91.2| > 10 for ee and mumu, >= 1 b-tag;
``preselection``: >= 2 jets; ``sr``: exactly one tau, >= 4 jets.

Pseudo-data: for each nominal sample a fresh pool of filtered events (its own random
streams, truth dropped; :data:`DATA_POOL_FACTOR` times the expected count, at most half
the sample's MC events) is drawn; each event enters ``k ~ Poisson(omega)`` times with
omega its expected yield at ``lumi_fb`` (ttH x ``mu_inject``). Given the pool this is a
Poisson draw of the MC mixture; over pools, a bin's count varies by about
``1 + sum(omega^2) / sum(omega)`` times the Poisson variance (an event drawn twice
counts twice). ``generation.json`` records that factor per sample for the signal
region and the preselection (``data_overdispersion``): near 1 in the signal region,
where the biased generation puts many pool events per expected one.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import math
import multiprocessing
import os
import pathlib
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from liberica.analysis.tth2lss1tau import processes as physics
from liberica.core.errors import LibericaError
from liberica.samples import detector
from liberica.samples.charge_flip import flip_charges
from liberica.samples.detector import SimulatedEvents, concatenate_events, select_events
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
from liberica.samples.taus import reconstruct_taus
from liberica.samples.writer import Objects, write_mini

log = logging.getLogger(__name__)

GENERATION_FORMAT = 2
"""Bumped whenever the generated content changes for the same arguments."""

MC_RUN_NUMBER = 284500
DATA_RUN_NUMBER = 300000
PB_PER_INVERSE_FB = 1.0e3
DATA_SAMPLE = "data"
SIGNAL = "ttH"

BTAG_CUT = 0.11
"""MV2c10 cut of the b-tag the selection uses (called the 85% WP; in this detector model
it keeps 98% of b, 48% of c and 1.4% of light jets)."""
LEPTON_MIN_PT = 10.0
ELECTRON_MAX_ABS_ETA = 2.47
MUON_MAX_ABS_ETA = 2.5
LEADING_LEPTON_MIN_PT = 20.0
ISOLATION = 0.06
"""ptcone30/pT and etcone20/pT below this (the definition's ``max_ptcone30_over_pt`` and
``max_etcone20_over_pt``)."""
OVERLAP_DELTA_R = 0.4
"""Jets closer than this to a selected lepton or tau are removed (the processor's)."""
D0_SIGNIFICANCE = {11: 5.0, 13: 3.0}
Z0_SIN_THETA = 0.5
TAU_MIN_PT = 25.0
TAU_MAX_ABS_ETA = 2.5
JET_MIN_PT = 25.0
JET_MAX_ABS_ETA = 2.5
Z_VETO = (91.2, 10.0)
MIN_M_LL = 12.0
FILTER_JET_PT = 24.0
"""Below the selection's 25 GeV: a jet energy scale shifted by 3% keeps the filter looser."""


class GenerationError(LibericaError, ValueError):
    """A generator argument that cannot be generated (names the argument and value)."""


class Sample(NamedTuple):
    """One MC sample: name, process, dataset id, cross-section before the filter (pb), share
    of the requested events, negative-weight fraction, its systematic if an alternative
    sample, its generator, and whether the pseudo-data contain it."""

    name: str
    process: str
    dsid: int
    xsec_pb: float
    event_fraction: float
    negative_weight_fraction: float
    variation: str | None
    generate: Callable[[np.random.Generator, int], physics.Drawn]
    in_data: bool = True
    tau_less_fraction: float = 0.3


SAMPLES: tuple[Sample, ...] = (
    Sample("ttH", "ttH", 346345, round(0.507 * 0.3043, 6), 0.364, 0.03, None, physics.generate_tth),
    Sample("ttW", "ttW", 700168, 0.60, 0.086, 0.04, None, physics.generate_ttw,
           tau_less_fraction=0.15),
    Sample("ttZ", "ttZ", 410218, 0.88, 0.134, 0.04, None, physics.generate_ttz),
    Sample("ttbar", "ttbar", 410470, 831.76, 0.125, 0.005, None, physics.generate_ttbar,
           tau_less_fraction=0.1),
    Sample("VV", "VV", 364253, 63.9, 0.054, 0.01, None, physics.generate_vv),
    Sample("tZ", "tZ", 410560, 0.90, 0.019, 0.02, None, physics.generate_tz,
           tau_less_fraction=0.15),
    Sample("tttt", "tttt", 410080, 0.012, 0.006, 0.03, None, physics.generate_tttt),
    Sample("other", "other", 410408, 0.50, 0.021, 0.02, None, physics.generate_other),
    Sample("ttW_alt", "ttW", 410155, 0.60, 0.077, 0.04, "ttw_modelling",
           physics.generate_ttw_alternative, in_data=False, tau_less_fraction=0.15),
    Sample("ttbar_alt", "ttbar", 410557, 831.76, 0.115, 0.005, "ttbar_modelling",
           physics.generate_ttbar_alternative, in_data=False, tau_less_fraction=0.1),
)  # fmt: skip
"""The MC samples, in fileset order (``data`` follows)."""

_BY_NAME = {s.name: s for s in SAMPLES}


# -- per-event reductions on the writer's columns ---------------------------------------------


def _event_index(objects: Objects) -> np.ndarray:
    return np.repeat(np.arange(len(objects.counts)), objects.counts)


def _count(objects: Objects, mask: np.ndarray) -> np.ndarray:
    return np.bincount(_event_index(objects)[mask], minlength=len(objects.counts))


def _good_leptons(events: SimulatedEvents) -> np.ndarray:
    """The leptons passing the definition's lepton cuts (per lepton)."""
    lep = events.objects["lep"].fields
    pt, eta = lep["pt"], lep["eta"]
    electron = lep["type"] == 11
    d0_cut = np.where(electron, D0_SIGNIFICANCE[11], D0_SIGNIFICANCE[13])
    return (
        lep["isTightID"]
        & (pt > LEPTON_MIN_PT)
        & (np.abs(eta) < np.where(electron, ELECTRON_MAX_ABS_ETA, MUON_MAX_ABS_ETA))
        & (lep["ptcone30"] < ISOLATION * pt)
        & (lep["etcone20"] < ISOLATION * pt)
        & (np.abs(lep["tracksigd0pvunbiased"]) < d0_cut)
        & (np.abs(lep["z0"] / np.cosh(eta)) < Z0_SIN_THETA)
    )


def _fired(events: SimulatedEvents) -> np.ndarray:
    return np.asarray(events.branches["trigE"], bool) | np.asarray(events.branches["trigM"], bool)


def passes_filter(events: SimulatedEvents) -> np.ndarray:
    """The generation filter, looser than the preselection under every variation: a
    trigger, a same-sign pair among the selection's leptons, one of them above 20 GeV, and
    two jets above :data:`FILTER_JET_PT` (|eta| < 2.5), one b-tagged."""
    leptons = events.objects["lep"]
    lep = leptons.fields
    good = _good_leptons(events)
    plus = _count(leptons, good & (lep["charge"] > 0))
    minus = _count(leptons, good & (lep["charge"] < 0))
    hard = _count(leptons, good & (lep["pt"] > LEADING_LEPTON_MIN_PT))
    jet = events.objects["jet"].fields
    central = (jet["pt"] > FILTER_JET_PT) & (np.abs(jet["eta"]) < JET_MAX_ABS_ETA)
    jets = _count(events.objects["jet"], central)
    bjets = _count(events.objects["jet"], central & (jet["MV2c10"] > BTAG_CUT))
    return _fired(events) & ((plus >= 2) | (minus >= 2)) & (hard >= 1) & (jets >= 2) & (bjets >= 1)


def has_tau_candidate(events: SimulatedEvents) -> np.ndarray:
    """Events with a tau passing the selection's tau cuts (the others are prescaled)."""
    return _count(events.objects["tau"], _good_taus(events)) >= 1


def _good_taus(events: SimulatedEvents) -> np.ndarray:
    tau = events.objects["tau"].fields
    return (
        tau["isTightID"]
        & (tau["pt"] > TAU_MIN_PT)
        & (np.abs(tau["eta"]) < TAU_MAX_ABS_ETA)
        & ((tau["nTracks"] == 1) | (tau["nTracks"] == 3))
    )


def _far_from(
    objects: Objects, others: Objects, other_mask: np.ndarray, delta_r: float
) -> np.ndarray:
    """Which of ``objects`` lie farther than ``delta_r`` from every selected one of ``others``."""
    event = _event_index(objects)
    other_event = _event_index(others)[other_mask]
    eta, phi = others.fields["eta"][other_mask], others.fields["phi"][other_mask]
    starts = np.searchsorted(other_event, event, "left")
    stops = np.searchsorted(other_event, event, "right")
    far = np.ones(len(event), bool)
    if not len(eta):
        return far
    for k in range(int((stops - starts).max(initial=0))):
        has = starts + k < stops
        j = np.minimum(starts + k, len(eta) - 1)
        dphi = (objects.fields["phi"] - phi[j] + np.pi) % (2 * np.pi) - np.pi
        far &= ~(has & (np.hypot(objects.fields["eta"] - eta[j], dphi) < delta_r))
    return far


def select(events: SimulatedEvents) -> dict[str, np.ndarray]:
    """The ``preselection`` and ``sr`` masks of the module docstring's selection (the
    processor's, in numpy)."""
    leptons = events.objects["lep"]
    lep = leptons.fields
    pt = lep["pt"]
    good = _good_leptons(events)
    n = len(leptons.counts)
    two = _count(leptons, good) == 2
    pair = np.flatnonzero(good & two[_event_index(leptons)]).reshape(-1, 2)
    with_pair = np.flatnonzero(two)
    same_sign = np.zeros(n, bool)
    same_sign[with_pair] = lep["charge"][pair[:, 0]] * lep["charge"][pair[:, 1]] > 0
    same_flavour = np.zeros(n, bool)
    same_flavour[with_pair] = lep["type"][pair[:, 0]] == lep["type"][pair[:, 1]]
    leading = np.zeros(n)
    leading[with_pair] = pt[pair].max(axis=1)
    p4 = np.stack(
        [
            lep["E"][pair],
            pt[pair] * np.cos(lep["phi"][pair]),
            pt[pair] * np.sin(lep["phi"][pair]),
            pt[pair] * np.sinh(lep["eta"][pair]),
        ],
        axis=-1,
    ).sum(axis=1)
    mll = np.zeros(n)
    mll[with_pair] = np.sqrt(np.maximum(p4[:, 0] ** 2 - (p4[:, 1:] ** 2).sum(axis=1), 0.0))
    z_veto = ~same_flavour | (np.abs(mll - Z_VETO[0]) > Z_VETO[1])
    pair_cuts = (
        _fired(events) & two & same_sign & (leading > LEADING_LEPTON_MIN_PT) & (mll > MIN_M_LL)
    )
    pair_cuts &= z_veto

    good_tau = _good_taus(events)
    taus = _count(events.objects["tau"], good_tau)
    jet_objects = events.objects["jet"]
    jet = jet_objects.fields
    good_jet = (jet["pt"] > JET_MIN_PT) & (np.abs(jet["eta"]) < JET_MAX_ABS_ETA)
    # overlap removal: jets near a selected lepton or tau are that object
    good_jet &= _far_from(jet_objects, leptons, good, OVERLAP_DELTA_R)
    good_jet &= _far_from(jet_objects, events.objects["tau"], good_tau, OVERLAP_DELTA_R)
    jets = _count(jet_objects, good_jet)
    bjets = _count(jet_objects, good_jet & (jet["MV2c10"] > BTAG_CUT))
    preselection = pair_cuts & (jets >= 2) & (bjets >= 1)
    sr = pair_cuts & (taus == 1) & (jets >= 4) & (bjets >= 1)
    return {"preselection": preselection, "sr": sr}


def event_scale_factor(events: SimulatedEvents) -> np.ndarray:
    """Lepton, trigger, pileup, b-tagging and tau scale factors multiplied."""
    return (
        events.weight_scale_factor
        * events.branches["scaleFactor_BTAG"]
        * events.branches["scaleFactor_TAU"]
    )


# -- simulation -------------------------------------------------------------------------------

_MAX_BATCH = 40_000
MAX_WORKERS = 4
"""At most this many samples are generated at once (processes)."""


def _reconstruct(rng: np.random.Generator, truth: physics.Truth, is_data: bool) -> SimulatedEvents:
    taus = reconstruct_taus(rng, truth.taus, truth.events.jets, is_data=is_data)
    simulated = detector.simulate(
        rng, physics.with_jets_removed(truth, taus.jet_consumed), is_data=is_data
    )
    objects = dict(simulated.objects)
    objects["lep"] = flip_charges(rng, objects["lep"])
    objects["tau"] = taus.objects
    branches = dict(simulated.branches)
    branches["scaleFactor_TAU"] = taus.scale_factor
    return simulated._replace(branches=branches, objects=objects)


def _prefilter(truth: physics.Truth) -> np.ndarray:
    """Generator-level: two e/mu above 9 GeV in |eta| < 2.5 (looser than the filter)."""
    leptons = truth.events.leptons
    usable = leptons.valid & (leptons.pt > 9.0) & (np.abs(leptons.eta) < 2.5)
    return usable.sum(axis=1) >= 2


class _Simulated(NamedTuple):
    events: SimulatedEvents
    weights: np.ndarray
    drawn_weight: float
    drawn: int


def _simulate(sample: Sample, rng: np.random.Generator, n: int, is_data: bool) -> _Simulated:
    """``n`` filtered events, their weights (generator x biasing) and the drawn weight sum
    (over every drawn event, those the generator-level choice or the filter dropped
    included). Events without a tau candidate are kept with probability
    ``sample.tau_less_fraction`` and their weight divided by it: the statistics go to the
    signal region, which needs one."""
    parts, weights, have, drawn, drawn_weight = [], [], 0, 0, 0.0
    efficiency = 0.05
    while have < n:
        need = n - have
        batch = int(min(max(1.2 * need / efficiency + 256, 1024), _MAX_BATCH))
        made = sample.generate(rng, batch)
        sign = np.where(rng.random(batch) < sample.negative_weight_fraction, -1.0, 1.0)
        weight = (sign * rng.lognormal(0.0, 0.05, batch) * made.weight).astype(np.float32)
        first = np.flatnonzero(_prefilter(made.truth))
        simulated = _reconstruct(rng, physics.take(made.truth, first), is_data)
        filtered = passes_filter(simulated)
        tau_less = ~has_tau_candidate(simulated)
        prescaled = tau_less & (rng.random(len(filtered)) >= sample.tau_less_fraction)
        kept = np.flatnonzero(filtered & ~prescaled)
        passed = made.kept[first[kept]]
        boost = np.where(tau_less[kept], 1.0 / sample.tau_less_fraction, 1.0)
        boost = (boost * made.boost[first[kept]]).astype(np.float32)
        if len(passed) > need:
            batch_drawn = int(passed[need - 1]) + 1
            kept, passed, boost = kept[:need], passed[:need], boost[:need]
        else:
            batch_drawn = batch
        drawn += batch_drawn
        drawn_weight += float(np.sum(weight[:batch_drawn], dtype=np.float64)) / made.forced
        parts.append(select_events(simulated, kept))
        weights.append(weight[passed] * boost)
        have += len(passed)
        efficiency = max((have + 1.0) / (drawn + 2.0), 1e-4)
    return _Simulated(concatenate_events(parts), np.concatenate(weights), drawn_weight, drawn)


def _write(path: pathlib.Path, events: SimulatedEvents, bookkeeping: dict, key: str) -> str:
    write_mini(path, {**events.branches, **bookkeeping}, events.objects, key=key)
    return str(path.resolve())


class _MC(NamedTuple):
    files: list[str]
    xsec_pb: float
    sumw: float
    filter_efficiency: float
    yields: dict[str, float]
    raw: dict[str, int]
    sr_weight_spread: float


def _generate_mc(
    out_dir: pathlib.Path, sample: Sample, n: int, seed: int, per_file: int, generation: str,
    lumi_fb: float,
) -> _MC:  # fmt: skip
    key = sample_key(sample.name)
    parts = [
        _simulate(sample, stream(seed, key, 1, index), size, is_data=False)
        for index, size in enumerate(file_sizes(n, per_file))
    ]
    weights = np.concatenate([p.weights for p in parts])
    sumw = float(np.sum(weights, dtype=np.float64))
    efficiency = sumw / sum(p.drawn_weight for p in parts)
    xsec = sample.xsec_pb * efficiency
    yields: dict[str, float] = {}
    raw: dict[str, int] = {}
    files, start, sr_weights = [], 0, []
    for index, part in enumerate(parts):
        events = part.events
        size = len(part.weights)
        masks = select(events)
        normalization = xsec * lumi_fb * PB_PER_INVERSE_FB / sumw
        event_weight = part.weights * event_scale_factor(events) * normalization
        for region, mask in masks.items():
            yields[region] = yields.get(region, 0.0) + float(event_weight[mask].sum())
            raw[region] = raw.get(region, 0) + int(mask.sum())
        sr_weights.append(np.abs(part.weights[masks["sr"]]))
        bookkeeping = {
            "runNumber": np.full(size, MC_RUN_NUMBER),
            "eventNumber": event_numbers(sample.name, start, size),
            "channelNumber": np.full(size, sample.dsid),
            "mcWeight": part.weights,
            "XSection": np.full(size, xsec),
            "SumWeights": np.full(size, sumw),
        }
        path = out_dir / f"{sample.name}_{index}.root"
        files.append(_write(path, events, bookkeeping, f"{generation}/{sample.name}/{index}"))
        start += size
    log.info("%s: %d events, filter efficiency %.3g, xsec %.4g pb, SR %.2f (%d raw)",
             sample.name, n, efficiency, xsec, yields["sr"], raw["sr"])  # fmt: skip
    in_sr = np.concatenate(sr_weights)
    spread = float(in_sr.max() / np.median(in_sr)) if len(in_sr) else 0.0
    return _MC(files, xsec, sumw, efficiency, yields, raw, spread)


DATA_POOL_FACTOR = 8.0
"""Pool events per expected data event (before the cap at half the MC sample)."""


def _data_part(
    sample: Sample, mc: _MC, n: int, lumi_fb: float, mu_inject: float, seed: int
) -> tuple[SimulatedEvents, dict[str, float]]:
    """The pseudo-data events of ``sample``: a fresh pool of filtered events, each entering
    Poisson(omega) times; and the over-dispersion factor per region (module doc)."""
    expected = mc.xsec_pb * lumi_fb * PB_PER_INVERSE_FB
    pool = int(min(max(2000, DATA_POOL_FACTOR * expected), max(2000, n // 2)))
    rng = stream(seed, sample_key(DATA_SAMPLE), 1, sample_key(sample.name))
    made = _simulate(sample, rng, pool, is_data=True)
    strength = mu_inject if sample.name == SIGNAL else 1.0
    omega = (
        sample.xsec_pb * lumi_fb * PB_PER_INVERSE_FB * strength / made.drawn_weight
        * made.weights * event_scale_factor(made.events)
    )  # fmt: skip
    omega = np.maximum(omega, 0.0)
    copies = rng.poisson(omega)
    dispersion = {}
    for region, mask in select(made.events).items():
        total = float(omega[mask].sum())
        dispersion[region] = 1.0 + float((omega[mask] ** 2).sum()) / total if total else 1.0
    return select_events(made.events, np.repeat(np.arange(pool), copies)), dispersion


def _write_data(
    out_dir: pathlib.Path, parts: list[SimulatedEvents], seed: int, per_file: int, generation: str
) -> tuple[list[str], int]:
    data = concatenate_events(parts)
    n = len(data.weight_scale_factor)
    data = select_events(data, stream(seed, sample_key(DATA_SAMPLE), 2).permutation(n))
    files, start = [], 0
    for index, size in enumerate(file_sizes(n, per_file)):
        stop = start + size
        chunk = select_events(data, np.arange(start, stop))
        zeros = np.zeros(size)
        bookkeeping = {
            "runNumber": np.full(size, DATA_RUN_NUMBER),
            "eventNumber": event_numbers(DATA_SAMPLE, start, size),
            "channelNumber": np.full(size, DATA_RUN_NUMBER),
            "mcWeight": zeros,
            "XSection": np.ones(size),
            "SumWeights": np.ones(size),
            **{b: zeros for b in chunk.branches if b.startswith("scaleFactor_")},
        }
        path = out_dir / f"{DATA_SAMPLE}_{index}.root"
        files.append(_write(path, chunk, bookkeeping, f"{generation}/{DATA_SAMPLE}/{index}"))
        start = stop
    return files, n


class _Task(NamedTuple):
    out_dir: pathlib.Path
    name: str
    n: int
    lumi_fb: float
    mu_inject: float
    seed: int
    per_file: int
    generation: str


def _run(task: _Task) -> tuple[_MC, tuple[SimulatedEvents, dict[str, float]] | None]:
    """One sample: its MC files, and its pseudo-data events if the data contain it."""
    sample = _BY_NAME[task.name]
    mc = _generate_mc(task.out_dir, sample, task.n, task.seed, task.per_file, task.generation,
                      task.lumi_fb)  # fmt: skip
    if not sample.in_data:
        return mc, None
    return mc, _data_part(sample, mc, task.n, task.lumi_fb, task.mu_inject, task.seed)


def _workers(tasks: int) -> int:
    return max(1, min(tasks, MAX_WORKERS, len(os.sched_getaffinity(0))))


def _run_all(tasks: list[_Task]) -> list[tuple[_MC, Any]]:
    """The tasks, in worker processes when more than one core is free (each sample has its
    own random streams, so the result does not depend on it)."""
    workers = _workers(len(tasks))
    if workers == 1:
        return [_run(t) for t in tasks]
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        # the largest first, for balance
        order = sorted(range(len(tasks)), key=lambda i: -tasks[i].n)
        futures = {i: pool.submit(_run, tasks[i]) for i in order}
        return [futures[i].result() for i in range(len(tasks))]


def mc_event_counts(events: int) -> dict[str, int]:
    """MC events per sample for ``events`` in total (fixed shares, balanced statistics)."""
    return {s.name: max(1, round(events * s.event_fraction)) for s in SAMPLES}


def _check(events: int, lumi_fb: float, mu_inject: float, events_per_file: int) -> None:
    if events < 1:
        raise GenerationError(f"events must be at least 1, got {events}")
    if events_per_file < 1:
        raise GenerationError(f"events_per_file must be at least 1, got {events_per_file}")
    if not (math.isfinite(lumi_fb) and lumi_fb > 0):
        raise GenerationError(f"lumi_fb must be finite and positive, got {lumi_fb}")
    if not (math.isfinite(mu_inject) and mu_inject >= 0):
        raise GenerationError(f"mu_inject must be finite and >= 0, got {mu_inject}")


def generate_tth2lss1tau(
    out_dir: str | pathlib.Path,
    *,
    events: int = 600_000,
    lumi_fb: float = 140.0,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
) -> GeneratedSample:
    """Generate the tth2lss1tau MC samples and pseudo-data in the open-data format.

    Writes ``{sample}_{i}.root`` (TTree ``mini``, MeV), ``fileset.json`` and
    ``generation.json`` (cross-sections, filter efficiencies, and the expected
    preselection and SR yields per process at ``lumi_fb`` from :func:`select`, weighted and
    raw); the same arguments give the same bytes.

    Args:
        out_dir: output folder (created; earlier files of these samples removed)
        events: total MC events over all MC samples
        lumi_fb: integrated luminosity of the pseudo-data and of the recorded yields, fb^-1
        mu_inject: signal strength of ttH in the pseudo-data
        seed: seed of every random stream
        events_per_file: at most this many events per file

    Raises:
        GenerationError: for an argument that cannot be generated
    """
    _check(events, lumi_fb, mu_inject, events_per_file)
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
    }
    generation = json.dumps({"format": GENERATION_FORMAT, **arguments}, sort_keys=True)
    counts = mc_event_counts(events)
    tasks = [
        _Task(out_dir, s.name, counts[s.name], float(lumi_fb), float(mu_inject), int(seed),
              int(events_per_file), generation)
        for s in SAMPLES
    ]  # fmt: skip
    fileset: dict[str, dict] = {}
    mc: dict[str, _MC] = {}
    data_parts: list[SimulatedEvents] = []
    by_sample: dict[str, int] = {}
    dispersion: dict[str, dict[str, float]] = {}
    for sample, (made, data) in zip(SAMPLES, _run_all(tasks), strict=True):
        data_part = None
        if data is not None:
            data_part, dispersion[sample.name] = data
        entry = mc_entry(made.files, sample.process, made.xsec_pb, made.sumw, sample.variation)
        entry["metadata"]["filter_efficiency"] = made.filter_efficiency
        fileset[sample.name] = entry
        mc[sample.name] = made
        if data_part is not None:
            data_parts.append(data_part)
            by_sample[sample.name] = len(data_part.weight_scale_factor)
    data_files, counts[DATA_SAMPLE] = _write_data(
        out_dir, data_parts, seed, events_per_file, generation
    )
    log.info("data: %d events: %s", counts[DATA_SAMPLE], by_sample)
    fileset[DATA_SAMPLE] = data_entry(data_files, mu_inject, lumi_fb, seed)
    nominal = [s.name for s in SAMPLES if s.in_data]
    record = {
        "generator": "liberica.analysis.tth2lss1tau.generator",
        "format": GENERATION_FORMAT,
        **arguments,
        "samples": counts,
        "xsec_pb": {s.name: mc[s.name].xsec_pb for s in SAMPLES},
        "xsec_before_filter_pb": {s.name: s.xsec_pb for s in SAMPLES},
        "filter_efficiency": {s.name: mc[s.name].filter_efficiency for s in SAMPLES},
        "expected_yields": {
            region: {s: mc[s].yields[region] for s in nominal} for region in ("preselection", "sr")
        },
        "raw_mc_events": {
            region: {s.name: mc[s.name].raw[region] for s in SAMPLES}
            for region in ("preselection", "sr")
        },
        "sr_weight_spread": {s.name: mc[s.name].sr_weight_spread for s in SAMPLES},
        "data_events_by_sample": by_sample,
        "data_overdispersion": {
            region: {name: round(d[region], 4) for name, d in dispersion.items()}
            for region in ("preselection", "sr")
        },
        "selection": {
            "btag_cut": BTAG_CUT,
            "lepton_isolation": ISOLATION,
            "d0_significance": D0_SIGNIFICANCE,
            "z0_sin_theta_mm": Z0_SIN_THETA,
            "tau_min_pt": TAU_MIN_PT,
            "jet_min_pt": JET_MIN_PT,
            "z_veto": list(Z_VETO),
        },
        "seeds": {
            "mc": "numpy SeedSequence([seed, crc32(sample name), ...])",
            "data": "numpy SeedSequence([seed, crc32('data'), ...]): independent of the MC",
        },
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info(
        "generated the tth2lss1tau sample in %s (%.1f s)", out_dir, time.perf_counter() - started
    )
    return GeneratedSample(fileset_path, counts, float(mu_inject), float(lumi_fb), int(seed))
