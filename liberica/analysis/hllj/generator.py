"""The embedded X -> ZZ -> l l J sample: MC samples and Poisson pseudo-data.

Processes (13 TeV; l = e, mu; J is one large-R jet):

- ``X700``, ``X1000``, ``X1500``: a narrow heavy scalar (width 2% of its mass)
  decaying to Z Z, one Z to a lepton pair, the other to quarks reconstructed as
  one two-prong large-R jet (low D2) at the Z mass. X pT is soft (it recoils
  against initial-state radiation only).
- ``Zjets`` (and ``Zjets_alt``, the alternative modelling of the
  ``zjets_modelling`` systematic): a boosted Z -> l l recoiling against a
  one-prong QCD jet: a falling jet-mass spectrum, higher D2, and a falling
  llJ mass. The alternative has a harder boson pT, a 5% heavier jet-mass
  scale and 4% lower D2.
- ``ttbar``: dileptonic top pairs (t -> W b, W -> l nu): leptons not from a Z,
  missing transverse momentum, and a b-jet as the large-R jet.
- ``diboson``: non-resonant ZZ and WZ -> l l qq: the large-R jet is a
  two-prong W or Z, the llJ mass a continuum.

Every process is generated above a boson (or jet) pT of about 150 GeV, as a
boosted filter would; the cross-sections are the filtered ones. The detector
model of ``liberica.samples.detector`` reconstructs the leptons, small-R jets
and MET; the large-R jets are built here from the generated boson or jet,
with a 5% pT and an 8% mass resolution.

Generator weights: ``mcWeight = +-|w|``, the sign independent of the event.
Pseudo-data: for each process in data, ``N ~ Poisson(xsec x lumi x SF_max)``
events (X1000 scaled by ``mu_inject``; X700 and X1500 are not in data),
each kept with probability ``SF / SF_max``.
"""

from __future__ import annotations

import json
import logging
import pathlib
import re
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from liberica.samples import detector, kinematics
from liberica.samples.detector import (
    PROMPT,
    SimulatedEvents,
    TruthEvents,
    TruthJets,
    TruthLeptons,
    concatenate_events,
    select_events,
)
from liberica.samples.kinematics import p4_from_pt_y_phi_m, pt_eta_phi_e, two_body_decay
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
FATJET_MIN_PT = 200.0
FATJET_MAX_ABS_ETA = 2.0


class Truth(NamedTuple):
    """Generated events: what the detector sees, and the large-R jet's truth.

    Attributes:
        events: leptons, small-R jets and neutrinos, for ``detector.simulate``
        fatjet_p4: the large-R jet's four-momentum (n, 4), GeV
        fatjet_d2, fatjet_tau32: its substructure (D2 low for two prongs)
    """

    events: TruthEvents
    fatjet_p4: np.ndarray
    fatjet_d2: np.ndarray
    fatjet_tau32: np.ndarray


# -- building blocks -----------------------------------------------------------------------


def _leptons(p4s: list[np.ndarray], flavour: np.ndarray, charges=(-1, 1)) -> TruthLeptons:
    """Prompt truth leptons, one slot per four-momentum."""
    n = len(flavour)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in TruthLeptons._fields}
    for p4, charge in zip(p4s, charges, strict=True):
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        columns["pt"].append(pt)
        columns["eta"].append(eta)
        columns["phi"].append(phi)
        columns["flavour"].append(flavour)
        columns["charge"].append(np.full(n, charge))
        columns["origin"].append(np.full(n, PROMPT))
        columns["valid"].append(np.ones(n, dtype=bool))
    return TruthLeptons(**{k: np.stack(v, axis=1) for k, v in columns.items()})


def _jets(p4s: list[np.ndarray], flavours: list[int]) -> TruthJets:
    """Truth small-R jets, one slot per four-momentum."""
    n = len(p4s[0])
    columns: dict[str, list[np.ndarray]] = {k: [] for k in TruthJets._fields}
    for p4, flavour in zip(p4s, flavours, strict=True):
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        columns["pt"].append(pt)
        columns["eta"].append(eta)
        columns["phi"].append(phi)
        columns["mass"].append(np.maximum(kinematics.invariant_mass(p4), 0.0))
        columns["flavour"].append(np.full(n, flavour))
        columns["pileup"].append(np.zeros(n, dtype=bool))
        columns["valid"].append(np.ones(n, dtype=bool))
    return TruthJets(**{k: np.stack(v, axis=1) for k, v in columns.items()})


def _lepton_flavours(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, 11, 13)


def _z_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return kinematics.sample_breit_wigner(
        rng, kinematics.Z_MASS, kinematics.Z_WIDTH, n, 60.0, 120.0
    )


def _leptonic_z(rng: np.random.Generator, z_p4: np.ndarray) -> TruthLeptons:
    flavour = _lepton_flavours(rng, len(z_p4))
    mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
    minus, plus = two_body_decay(rng, z_p4, mass, mass)
    return _leptons([minus, plus], flavour)


def _system(rng: np.random.Generator, mass: np.ndarray, pt: np.ndarray, sigma_y: float):
    n = len(mass)
    phi = rng.uniform(-np.pi, np.pi, n)
    rapidity = np.clip(rng.normal(0.0, sigma_y, n), -3.0, 3.0)
    return p4_from_pt_y_phi_m(pt, rapidity, phi, mass)


def _two_prong(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """D2 and tau32 of a two-prong (W/Z) large-R jet."""
    return rng.gamma(2.5, 0.32, n), rng.beta(5.0, 4.0, n)


def _one_prong(rng: np.random.Generator, n: int, d2_scale: float = 0.55):
    """D2 and tau32 of a one-prong (QCD) large-R jet."""
    return rng.gamma(4.0, d2_scale, n), rng.beta(6.0, 3.0, n)


def _no_neutrinos(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n), np.zeros(n)


# -- processes -------------------------------------------------------------------------------


def generate_resonance(rng: np.random.Generator, n: int, mass: float) -> Truth:
    """X(mass) -> Z(l l) Z(q q), narrow (width 2%), soft X pT."""
    x_mass = kinematics.sample_breit_wigner(rng, mass, 0.02 * mass, n, 0.8 * mass, 1.2 * mass)
    x_p4 = _system(rng, x_mass, rng.exponential(40.0, n), 1.0)
    z_leptonic, z_hadronic = two_body_decay(rng, x_p4, _z_masses(rng, n), _z_masses(rng, n))
    leptons = _leptonic_z(rng, z_leptonic)
    quark1, quark2 = two_body_decay(rng, z_hadronic, 0.0, 0.0)
    d2, tau32 = _two_prong(rng, n)
    truth = TruthEvents(leptons, _jets([quark1, quark2], [0, 0]), *_no_neutrinos(n))
    return Truth(truth, z_hadronic, d2, tau32)


def generate_zjets(
    rng: np.random.Generator,
    n: int,
    pt_slope: float = 160.0,
    mass_scale: float = 1.0,
    d2_scale: float = 0.55,
) -> Truth:
    """Z(l l) + one hard QCD jet, balanced in pT; a falling jet mass."""
    z_pt = 150.0 + rng.exponential(pt_slope, n)
    z_p4 = _system(rng, _z_masses(rng, n), z_pt, 1.1)
    _, _, z_phi, _ = pt_eta_phi_e(z_p4)
    jet_pt = z_pt * rng.normal(1.0, 0.12, n)
    jet_mass = mass_scale * np.minimum(8.0 + 0.11 * jet_pt * rng.gamma(2.0, 0.5, n), 0.6 * jet_pt)
    jet_y = np.clip(rng.normal(0.0, 1.2, n), -3.0, 3.0)
    jet_phi = kinematics.wrap_phi(z_phi + np.pi + rng.normal(0.0, 0.25, n))
    jet_p4 = p4_from_pt_y_phi_m(np.maximum(jet_pt, 1.0), jet_y, jet_phi, jet_mass)
    d2, tau32 = _one_prong(rng, n, d2_scale)
    truth = TruthEvents(_leptonic_z(rng, z_p4), _jets([jet_p4], [0]), *_no_neutrinos(n))
    return Truth(truth, jet_p4, d2, tau32)


def generate_zjets_alternative(rng: np.random.Generator, n: int) -> Truth:
    """The alternative Z+jets model: a harder boson pT, 5% heavier jets, 4% lower D2."""
    return generate_zjets(rng, n, pt_slope=170.0, mass_scale=1.05, d2_scale=0.53)


def generate_ttbar(rng: np.random.Generator, n: int) -> Truth:
    """t tbar -> (W b)(W b), W -> l nu both; the harder b jet is the large-R jet."""
    top_mass = np.sqrt(
        kinematics.BreitWigner(kinematics.TOP_MASS, kinematics.TOP_WIDTH).sample(
            rng, np.full(2 * n, 160.0**2), np.full(2 * n, 185.0**2)
        )
    ).reshape(2, n)
    pair_mass = top_mass.sum(axis=0) + 150.0 + rng.exponential(300.0, n)
    pair_p4 = _system(rng, pair_mass, rng.exponential(60.0, n), 1.0)
    tops = two_body_decay(rng, pair_p4, top_mass[0], top_mass[1])
    w_mass = kinematics.sample_breit_wigner(
        rng, kinematics.W_MASS, kinematics.W_WIDTH, 2 * n, 60.0, 100.0
    ).reshape(2, n)
    flavour = _lepton_flavours(rng, n)
    other = np.where(rng.random(n) < 0.5, flavour, np.where(flavour == 11, 13, 11))
    leptons, bs, nu_px, nu_py = [], [], np.zeros(n), np.zeros(n)
    for k, top in enumerate(tops):
        w, b = two_body_decay(rng, top, w_mass[k], kinematics.B_MASS)
        lepton, neutrino = two_body_decay(rng, w, 0.0, 0.0)
        leptons.append(lepton)
        bs.append(b)
        nu_px += neutrino[:, 1]
        nu_py += neutrino[:, 2]
    charged = _leptons(leptons, flavour)
    charged = charged._replace(flavour=np.stack([flavour, other], axis=1))
    harder = np.where(pt_eta_phi_e(bs[0])[0] >= pt_eta_phi_e(bs[1])[0], 0, 1)
    fatjet = np.where(harder[:, None] == 0, bs[0], bs[1]).copy()
    # a large-R jet around a b quark: QCD-like mass
    pt, eta, phi, _ = pt_eta_phi_e(fatjet)
    mass = 15.0 + rng.gamma(3.0, 14.0, n)
    fatjet = kinematics.p4_from_pt_eta_phi_m(pt, eta, phi, mass)
    d2, tau32 = _one_prong(rng, n, 0.45)
    truth = TruthEvents(charged, _jets(bs, [5, 5]), nu_px, nu_py)
    return Truth(truth, fatjet, d2, tau32)


def generate_diboson(rng: np.random.Generator, n: int) -> Truth:
    """Non-resonant Z V -> l l q q (V = W 40%, Z 60%): a two-prong jet, an llJ continuum."""
    is_w = rng.random(n) < 0.4
    v_mass = np.where(
        is_w,
        kinematics.sample_breit_wigner(rng, kinematics.W_MASS, kinematics.W_WIDTH, n, 60.0, 110.0),
        _z_masses(rng, n),
    )
    z_mass = _z_masses(rng, n)
    pair_mass = z_mass + v_mass + 150.0 + rng.exponential(260.0, n)
    pair_p4 = _system(rng, pair_mass, rng.exponential(50.0, n), 1.1)
    z_leptonic, v_hadronic = two_body_decay(rng, pair_p4, z_mass, v_mass)
    quark1, quark2 = two_body_decay(rng, v_hadronic, 0.0, 0.0)
    d2, tau32 = _two_prong(rng, n)
    truth = TruthEvents(
        _leptonic_z(rng, z_leptonic), _jets([quark1, quark2], [0, 0]), *_no_neutrinos(n)
    )
    return Truth(truth, v_hadronic, d2, tau32)


class Sample(NamedTuple):
    """One MC sample: name, process, dataset id, filtered cross-section (pb), share of the
    requested events, negative-weight fraction, whether it is the injected signal, its
    systematic if an alternative sample, its generator, and whether data contain it."""

    name: str
    process: str
    dsid: int
    xsec_pb: float
    event_fraction: float
    negative_weight_fraction: float
    injected: bool
    variation: str | None
    generate: Callable[[np.random.Generator, int], Truth]
    in_data: bool = True


SAMPLES: tuple[Sample, ...] = (
    Sample("X700", "X700", 451700, 0.004, 0.03, 0.01, False, None,
           lambda rng, n: generate_resonance(rng, n, 700.0), in_data=False),
    Sample("X1000", "X1000", 451000, 0.003, 0.05, 0.01, True, None,
           lambda rng, n: generate_resonance(rng, n, 1000.0)),
    Sample("X1500", "X1500", 451500, 0.0008, 0.03, 0.01, False, None,
           lambda rng, n: generate_resonance(rng, n, 1500.0), in_data=False),
    Sample("Zjets", "Zjets", 364100, 1.2, 0.55, 0.05, False, None, generate_zjets),
    Sample("Zjets_alt", "Zjets", 364200, 1.2, 0.20, 0.05, False, "zjets_modelling",
           generate_zjets_alternative, in_data=False),
    Sample("ttbar", "ttbar", 410472, 0.3, 0.07, 0.02, False, None, generate_ttbar),
    Sample("diboson", "diboson", 363356, 0.06, 0.07, 0.03, False, None, generate_diboson),
)  # fmt: skip
"""The MC samples, in fileset order (``data`` follows)."""

DATA_SAMPLE = "data"


# -- reconstruction of the large-R jet, seeding, writing -------------------------------------


def _large_r_jets(rng: np.random.Generator, truth: Truth, is_data: bool) -> Objects:
    """The reconstructed large-R jet of each event (5% pT, 8% mass resolution), if it passes."""
    pt, eta, phi, _ = pt_eta_phi_e(truth.fatjet_p4)
    true_mass = np.maximum(kinematics.invariant_mass(truth.fatjet_p4), 0.0)
    n = len(pt)
    pt = pt * rng.normal(1.0, 0.05, n)
    mass = np.maximum(true_mass * rng.normal(1.0, 0.08, n), 1.0)
    eta = eta + rng.normal(0.0, 0.01, n)
    phi = kinematics.wrap_phi(phi + rng.normal(0.0, 0.01, n))
    keep = (pt > FATJET_MIN_PT) & (np.abs(eta) < FATJET_MAX_ABS_ETA)
    index = np.flatnonzero(keep)
    fields = {
        "pt": pt[index],
        "eta": eta[index],
        "phi": phi[index],
        "E": np.sqrt((pt[index] * np.cosh(eta[index])) ** 2 + mass[index] ** 2),
        "m": mass[index],
        "truthMatched": np.full(len(index), 0.0 if is_data else 1.0),
        "D2": truth.fatjet_d2[index],
        "tau32": truth.fatjet_tau32[index],
        "pt_syst": 0.03 * pt[index],
    }
    return Objects(keep.astype(np.int64), fields)


def _simulate(sample: Sample, rng: np.random.Generator, n: int, is_data: bool) -> SimulatedEvents:
    truth = sample.generate(rng, n)
    simulated = detector.simulate(rng, truth.events, is_data=is_data)
    objects = dict(simulated.objects)
    objects["largeRjet"] = _large_r_jets(rng, truth, is_data)
    return simulated._replace(objects=objects)


def _write(path: pathlib.Path, events: SimulatedEvents, bookkeeping: dict, key: str) -> str:
    write_mini(path, {**events.branches, **bookkeeping}, events.objects, key=key)
    return str(path.resolve())


def _generate_mc(out_dir, sample: Sample, n: int, seed: int, per_file: int, generation: str):
    key = sample_key(sample.name)
    weights_rng = stream(seed, key, 0)
    magnitude = weights_rng.lognormal(0.0, 0.05, n)
    sign = np.where(weights_rng.random(n) < sample.negative_weight_fraction, -1.0, 1.0)
    weights = (sign * magnitude).astype(np.float32)
    sumw = float(np.sum(weights, dtype=np.float64))
    files, start = [], 0
    for index, size in enumerate(file_sizes(n, per_file)):
        events = _simulate(sample, stream(seed, key, 1, index), size, is_data=False)
        bookkeeping = {
            "runNumber": np.full(size, MC_RUN_NUMBER),
            "eventNumber": event_numbers(sample.name, start, size),
            "channelNumber": np.full(size, sample.dsid),
            "mcWeight": weights[start : start + size],
            "XSection": np.full(size, sample.xsec_pb),
            "SumWeights": np.full(size, sumw),
        }
        path = out_dir / f"{sample.name}_{index}.root"
        files.append(_write(path, events, bookkeeping, f"{generation}/{sample.name}/{index}"))
        start += size
    return files, sumw


def _generate_data(out_dir, lumi_fb, mu_inject, seed, per_file, generation):
    key = sample_key(DATA_SAMPLE)
    counts_rng = stream(seed, key, 0)
    sf_max = detector.MAX_WEIGHT_SCALE_FACTOR
    parts = []
    for sample in (s for s in SAMPLES if s.in_data):
        expected = sample.xsec_pb * lumi_fb * PB_PER_INVERSE_FB * sf_max
        expected *= mu_inject if sample.injected else 1.0
        drawn = int(counts_rng.poisson(expected))
        if drawn:
            rng = stream(seed, key, 1, sample_key(sample.name))
            events = _simulate(sample, rng, drawn, is_data=True)
            keep = rng.random(drawn) * sf_max < events.weight_scale_factor
            parts.append(select_events(events, np.flatnonzero(keep)))
        log.info("data: %d %s events drawn (expected %.1f)", drawn, sample.name, expected)
    if not parts:
        parts.append(_simulate(SAMPLES[1], stream(seed, key, 3), 0, is_data=True))
    data = concatenate_events(parts)
    n = len(data.weight_scale_factor)
    data = select_events(data, stream(seed, key, 2).permutation(n))
    files, start, zeros = [], 0, np.zeros(n)
    for index, size in enumerate(file_sizes(n, per_file)):
        stop = start + size
        chunk = select_events(data, np.arange(start, stop))
        bookkeeping = {
            "runNumber": np.full(size, DATA_RUN_NUMBER),
            "eventNumber": event_numbers(DATA_SAMPLE, start, size),
            "channelNumber": np.full(size, DATA_RUN_NUMBER),
            "mcWeight": zeros[start:stop],
            "XSection": np.ones(size),
            "SumWeights": np.ones(size),
        }
        bookkeeping.update(
            {b: zeros[start:stop] for b in chunk.branches if b.startswith("scaleFactor_")}
        )
        path = out_dir / f"{DATA_SAMPLE}_{index}.root"
        files.append(_write(path, chunk, bookkeeping, f"{generation}/{DATA_SAMPLE}/{index}"))
        start = stop
    return files, n


def mc_event_counts(events: int) -> dict[str, int]:
    """MC events per sample for ``events`` in total."""
    return {s.name: max(1, int(round(events * s.event_fraction))) for s in SAMPLES}


def generate_hllj(
    out_dir: str | pathlib.Path,
    *,
    events: int = 2_000_000,
    lumi_fb: float = 140.0,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
) -> GeneratedSample:
    """Generate the hllj MC samples and pseudo-data in the open-data format.

    Writes ``{sample}_{i}.root`` (TTree ``mini``, MeV), ``fileset.json`` and
    ``generation.json``; the same arguments give the same bytes.

    Args:
        out_dir: output folder (created; earlier files of these samples removed)
        events: total MC events over all MC samples
        lumi_fb: integrated luminosity of the pseudo-data, fb^-1
        mu_inject: signal strength of X1000 in the pseudo-data
        seed: seed of every random stream
        events_per_file: at most this many events per file
    """
    if events < 1 or events_per_file < 1 or lumi_fb <= 0 or mu_inject < 0:
        raise ValueError("need events, events_per_file, lumi_fb > 0 and mu_inject >= 0")
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
    fileset: dict[str, dict] = {}
    for sample in SAMPLES:
        files, sumw = _generate_mc(
            out_dir, sample, counts[sample.name], seed, events_per_file, generation
        )
        fileset[sample.name] = mc_entry(
            files, sample.process, sample.xsec_pb, sumw, sample.variation
        )
    data_files, counts[DATA_SAMPLE] = _generate_data(
        out_dir, lumi_fb, mu_inject, seed, events_per_file, generation
    )
    fileset[DATA_SAMPLE] = data_entry(data_files, mu_inject, lumi_fb, seed)
    record = {
        "generator": "liberica.analysis.hllj.generator",
        "format": GENERATION_FORMAT,
        **arguments,
        "samples": counts,
        "xsec_pb": {s.name: s.xsec_pb for s in SAMPLES},
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info("generated the hllj sample in %s (%.1f s)", out_dir, time.perf_counter() - started)
    return GeneratedSample(fileset_path, counts, float(mu_inject), float(lumi_fb), int(seed))
