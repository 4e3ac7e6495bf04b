"""A parametric ATLAS-like detector: truth particles in, reconstructed objects out (GeV).

Per object: energy-dependent resolution, reconstruction efficiency and
acceptance, identification, isolation and impact parameters that differ
between prompt leptons and non-prompt ones (heavy-flavour decays, light-hadron
fakes); per event: lepton, trigger, pileup and b-tagging scale factors,
single- and di-lepton triggers, missing transverse momentum.

Lengths are in mm: ``lep_z0``, ``lep_trackd0pvunbiased`` (d0) and
``lep_tracksigd0pvunbiased`` holds the d0 significance |d0| / sigma_d0
(dimensionless), as in the real open-data files.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from liberica.samples.kinematics import ELECTRON_MASS, MUON_MASS, wrap_phi
from liberica.samples.writer import Objects, concatenate_objects, take_events

log = logging.getLogger(__name__)

ELECTRON = 11
MUON = 13

PROMPT = 0
"""Lepton origin: W, Z or Higgs decay."""
FROM_TAU = 1
"""Lepton origin: leptonic decay of a prompt tau."""
HEAVY_FLAVOUR = 2
"""Lepton origin: semileptonic b or c hadron decay (non-prompt)."""
LIGHT_FAKE = 3
"""Lepton origin: a light hadron, conversion or pileup track faking a lepton (non-prompt)."""

ELECTRON_MAX_ABS_ETA = 2.47
MUON_MAX_ABS_ETA = 2.5
ELECTRON_MIN_PT = 7.0
MUON_MIN_PT = 5.0
JET_MIN_PT = 20.0
JET_MAX_ABS_ETA = 4.5
LARGE_R_JET_MIN_PT = 250.0
BTAG_CUT = 0.8244
"""MV2c10 cut of the 77% b-tagging working point."""

PILEUP_WEIGHT_RANGE = (0.75, 1.3)
"""Pileup weights are lognormal (sigma 0.1, mean ~1), clipped to this range."""

SCALE_FACTORS_FOR_WEIGHT = (
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
    "scaleFactor_PILEUP",
)
"""The scale factors an analysis multiplies into the event weight (not BTAG: only
analyses that b-tag apply it)."""

MAX_WEIGHT_SCALE_FACTOR = PILEUP_WEIGHT_RANGE[1]
"""Upper bound of the product of :data:`SCALE_FACTORS_FOR_WEIGHT` (lepton and
trigger factors are at most 1)."""


class TruthLeptons(NamedTuple):
    """Generator-level leptons as dense ``(n_events, n_slots)`` arrays.

    Attributes:
        pt, eta, phi: kinematics (GeV)
        flavour: 11 or 13
        charge: +1 or -1
        origin: PROMPT, FROM_TAU, HEAVY_FLAVOUR or LIGHT_FAKE
        valid: which slots hold a lepton
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    flavour: np.ndarray
    charge: np.ndarray
    origin: np.ndarray
    valid: np.ndarray


class TruthJets(NamedTuple):
    """Generator-level jets as dense ``(n_events, n_slots)`` arrays.

    Attributes:
        pt, eta, phi, mass: kinematics (GeV)
        flavour: 5 (b), 4 (c) or 0 (light)
        pileup: whether the jet comes from a pileup interaction
        valid: which slots hold a jet
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    flavour: np.ndarray
    pileup: np.ndarray
    valid: np.ndarray


class TruthEvents(NamedTuple):
    """What the generator hands to the detector.

    Attributes:
        leptons: charged leptons (and lepton candidates) from the hard process
        jets: jets (hard process, radiation, pileup)
        neutrino_px, neutrino_py: summed invisible transverse momentum (GeV)
    """

    leptons: TruthLeptons
    jets: TruthJets
    neutrino_px: np.ndarray
    neutrino_py: np.ndarray


class SimulatedEvents(NamedTuple):
    """Reconstructed events, ready for the writer.

    Attributes:
        branches: event-level branches (GeV), all but the bookkeeping ones
            (runNumber, eventNumber, channelNumber, mcWeight, XSection, SumWeights)
        objects: collection name -> :class:`~liberica.samples.writer.Objects`
        weight_scale_factor: per event, the product of :data:`SCALE_FACTORS_FOR_WEIGHT`
    """

    branches: dict[str, np.ndarray]
    objects: dict[str, Objects]
    weight_scale_factor: np.ndarray


# -- resolution ---------------------------------------------------------------------


def electron_energy_resolution(energy: np.ndarray) -> np.ndarray:
    """Relative electron energy resolution: 10%/sqrt(E/GeV) (+) 0.7%."""
    return np.sqrt(0.10**2 / np.maximum(energy, 1e-3) + 0.007**2)


def muon_momentum_resolution(pt: np.ndarray) -> np.ndarray:
    """Relative muon pT resolution: 1.5% (+) 0.01% x pT/GeV."""
    return np.sqrt(0.015**2 + (1.0e-4 * pt) ** 2)


def jet_energy_resolution(energy: np.ndarray) -> np.ndarray:
    """Relative jet energy resolution: 60%/sqrt(E/GeV) (+) 5%."""
    return np.sqrt(0.60**2 / np.maximum(energy, 1e-3) + 0.05**2)


def _smear_factor(rng: np.random.Generator, relative: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 + relative * rng.standard_normal(relative.shape), 0.05)


# -- efficiencies and scale factors ---------------------------------------------------


def reconstruction_efficiency(pt: np.ndarray, flavour: np.ndarray) -> np.ndarray:
    """Lepton reconstruction efficiency, rising with pT (e 0.85 -> 0.97, mu 0.95 -> 0.99)."""
    electron = 0.85 + 0.12 * (1.0 - np.exp(-np.maximum(pt - ELECTRON_MIN_PT, 0.0) / 15.0))
    muon = 0.95 + 0.04 * (1.0 - np.exp(-np.maximum(pt - MUON_MIN_PT, 0.0) / 10.0))
    return np.where(flavour == ELECTRON, electron, muon)


def tight_id_efficiency(pt: np.ndarray, flavour: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Probability that a reconstructed lepton passes the tight identification."""
    prompt_e = 0.90 + 0.07 * (1.0 - np.exp(-np.maximum(pt - ELECTRON_MIN_PT, 0.0) / 15.0))
    prompt = np.where(flavour == ELECTRON, prompt_e, 0.985)
    heavy = np.where(flavour == ELECTRON, 0.55, 0.85)
    fake = np.where(flavour == ELECTRON, 0.25, 0.45)
    return np.select([origin == HEAVY_FLAVOUR, origin == LIGHT_FAKE], [heavy, fake], prompt)


def lepton_scale_factor(pt: np.ndarray, eta: np.ndarray, flavour: np.ndarray) -> np.ndarray:
    """Data/MC efficiency ratio per lepton (electrons ~0.96-0.995, muons ~0.985-0.993)."""
    electron = (
        0.97
        + 0.025 * (1.0 - np.exp(-np.maximum(pt - ELECTRON_MIN_PT, 0.0) / 20.0))
        - 0.01 * (np.abs(eta) > 1.37)
    )
    muon = 0.985 + 0.008 * (1.0 - np.exp(-np.maximum(pt - MUON_MIN_PT, 0.0) / 10.0))
    return np.where(flavour == ELECTRON, electron, muon)


def pileup_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-event pileup reweighting factors: lognormal around 1 (sigma 0.1), clipped."""
    return np.clip(rng.lognormal(-0.005, 0.1, n), *PILEUP_WEIGHT_RANGE)


# -- isolation and impact parameters ----------------------------------------------------


def isolation(
    rng: np.random.Generator, pt: np.ndarray, origin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ptcone30 and etcone20 (GeV) of leptons.

    Prompt leptons are isolated: ptcone30/pT is zero for about half of them and
    exponential (mean 0.05) otherwise; etcone20/pT is exponential (mean 0.03)
    plus pileup noise that can make it negative. Non-prompt leptons sit in jets:
    ptcone30/pT is lognormal with median 0.35, etcone20 follows it.
    """
    shape = pt.shape
    non_prompt = origin >= HEAVY_FLAVOUR
    prompt_track = (rng.random(shape) < 0.45) * rng.exponential(0.05, shape)
    prompt_calo = rng.exponential(0.03, shape)
    jet_track = rng.lognormal(np.log(0.35), 0.75, shape)
    jet_calo = jet_track * rng.lognormal(-0.2, 0.5, shape)
    track = np.where(non_prompt, jet_track, prompt_track)
    calo = np.where(non_prompt, jet_calo, prompt_calo) + rng.normal(0.0, 0.02, shape)
    return track * pt, calo * pt


def d0_resolution(pt: np.ndarray, eta: np.ndarray, flavour: np.ndarray) -> np.ndarray:
    """Transverse impact-parameter uncertainty sigma_d0 (mm): multiple scattering and intrinsic."""
    base = np.sqrt(0.008**2 + (0.12 / np.maximum(pt, 1.0)) ** 2) * (1.0 + 0.25 * np.abs(eta))
    return np.where(flavour == ELECTRON, 1.4 * base, base)


def impact_parameters(
    rng: np.random.Generator,
    pt: np.ndarray,
    eta: np.ndarray,
    flavour: np.ndarray,
    origin: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """d0 (mm), its uncertainty (mm) and z0 (mm) of leptons.

    Prompt: d0/sigma_d0 ~ N(0, 1), z0 ~ N(0, 0.1 mm). From tau decays: a small
    extra displacement. Heavy flavour: displaced by the b/c flight (Laplace,
    scale 0.08 mm in d0, 0.35 mm in z0). Light fakes: slightly broader than
    prompt, and 15% are tracks from a pileup vertex (z0 ~ N(0, 40 mm)).
    """
    shape = pt.shape
    sigma = d0_resolution(pt, eta, flavour)
    measured = sigma * rng.standard_normal(shape)
    displacement = np.select(
        [origin == FROM_TAU, origin == HEAVY_FLAVOUR, origin == LIGHT_FAKE],
        [
            rng.laplace(0.0, 0.015, shape),
            rng.laplace(0.0, 0.08, shape),
            0.3 * sigma * rng.standard_normal(shape),
        ],
        0.0,
    )
    z0_prompt = rng.normal(0.0, 0.1, shape)
    z0 = np.select(
        [origin == FROM_TAU, origin == HEAVY_FLAVOUR, origin == LIGHT_FAKE],
        [
            rng.normal(0.0, 0.12, shape),
            z0_prompt + rng.laplace(0.0, 0.35, shape),
            np.where(
                rng.random(shape) < 0.15, rng.normal(0.0, 40.0, shape), rng.normal(0.0, 0.3, shape)
            ),
        ],
        z0_prompt,
    )
    return measured + displacement, sigma, z0


# -- objects ---------------------------------------------------------------------------


def _per_event_sum(event: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(event, weights=values, minlength=n)


def _per_event_product(event: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.exp(np.bincount(event, weights=np.log(values), minlength=n))


def _pt_order(event: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Order of flat objects: by event (ascending), then by decreasing pT."""
    # one float64 key: pT (< 1e6 GeV) keeps ~1e-4 GeV resolution next to event * 1e6
    return np.argsort(event * 1.0e6 - np.minimum(pt, 9.9e5), kind="stable")


def _objects(
    event: np.ndarray, n: int, fields: dict[str, np.ndarray], order: np.ndarray
) -> Objects:
    return Objects(np.bincount(event, minlength=n), {k: v[order] for k, v in fields.items()})


class _Leptons(NamedTuple):
    objects: Objects
    electron_sf: np.ndarray
    muon_sf: np.ndarray
    trig_e: np.ndarray
    trig_m: np.ndarray
    leading_pt: np.ndarray
    missing_px: np.ndarray
    missing_py: np.ndarray


def _reconstruct_leptons(rng: np.random.Generator, truth: TruthLeptons, is_data: bool) -> _Leptons:
    n = truth.pt.shape[0]
    event = np.nonzero(truth.valid)[0]
    true_pt = truth.pt[truth.valid]
    eta = truth.eta[truth.valid]
    phi = truth.phi[truth.valid]
    flavour = truth.flavour[truth.valid]
    origin = truth.origin[truth.valid]
    charge = truth.charge[truth.valid]

    size = len(event)
    is_electron = flavour == ELECTRON
    energy_true = true_pt * np.cosh(eta)
    resolution = np.where(
        is_electron, electron_energy_resolution(energy_true), muon_momentum_resolution(true_pt)
    )
    pt = true_pt * _smear_factor(rng, resolution)
    in_acceptance = np.where(
        is_electron,
        (np.abs(eta) < ELECTRON_MAX_ABS_ETA) & (pt > ELECTRON_MIN_PT),
        (np.abs(eta) < MUON_MAX_ABS_ETA) & (pt > MUON_MIN_PT),
    )
    found = rng.random(size) < reconstruction_efficiency(true_pt, flavour)
    keep = np.flatnonzero(in_acceptance & found)
    event, true_pt, pt, eta, phi = event[keep], true_pt[keep], pt[keep], eta[keep], phi[keep]
    flavour, origin, charge, is_electron = (
        flavour[keep],
        origin[keep],
        charge[keep],
        is_electron[keep],
    )
    size = len(event)

    mass = np.where(is_electron, ELECTRON_MASS, MUON_MASS)
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    tight = rng.random(size) < tight_id_efficiency(pt, flavour, origin)
    ptcone30, etcone20 = isolation(rng, pt, origin)
    d0, sigma_d0, z0 = impact_parameters(rng, pt, eta, flavour, origin)

    # triggers: one efficiency draw per lepton, used by its single and di-lepton legs
    fires = rng.random(size) < np.where(is_electron, 0.95, 0.90)
    single_e = is_electron & fires & (pt > 25.0)
    leg_e = is_electron & fires & (pt > 17.0)
    single_m = ~is_electron & fires & (pt > 21.0)
    leg_m = ~is_electron & fires & (pt > 14.0)
    di_e = _per_event_sum(event, leg_e, n) >= 2
    di_m = _per_event_sum(event, leg_m, n) >= 2
    trig_e = (_per_event_sum(event, single_e, n) > 0) | di_e
    trig_m = (_per_event_sum(event, single_m, n) > 0) | di_m
    trig_matched = single_e | single_m | (leg_e & di_e[event]) | (leg_m & di_m[event])

    sf = lepton_scale_factor(pt, eta, flavour)
    electron_sf = _per_event_product(event, np.where(is_electron, sf, 1.0), n)
    muon_sf = _per_event_product(event, np.where(is_electron, 1.0, sf), n)

    # mismeasured leptons shift the missing transverse momentum
    shift = true_pt - pt
    missing_px = _per_event_sum(event, shift * np.cos(phi), n)
    missing_py = _per_event_sum(event, shift * np.sin(phi), n)

    fields = {
        "truthMatched": (origin != LIGHT_FAKE) & (not is_data),
        "trigMatched": trig_matched,
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "E": energy,
        "z0": z0,
        "charge": charge,
        "type": flavour,
        "isTightID": tight,
        "ptcone30": ptcone30,
        "etcone20": etcone20,
        "trackd0pvunbiased": d0,
        "tracksigd0pvunbiased": np.abs(d0) / sigma_d0,
        "pt_syst": pt * np.where(is_electron, 0.005, 0.002),
    }
    objects = _objects(event, n, fields, _pt_order(event, pt))
    leading_pt = np.zeros(n)
    np.maximum.at(leading_pt, event, pt)
    return _Leptons(
        objects, electron_sf, muon_sf, trig_e, trig_m, leading_pt, missing_px, missing_py
    )


def btag_score(rng: np.random.Generator, flavour: np.ndarray) -> np.ndarray:
    """MV2c10 output in [-1, 1]: b jets near 1, c jets spread, light jets near -1."""
    score = np.empty(flavour.shape)
    b = flavour == 5
    c = flavour == 4
    light = ~(b | c)
    score[b] = 1.0 - 2.0 * rng.beta(0.3, 4.0, int(b.sum()))
    score[c] = 2.0 * rng.beta(1.6, 1.4, int(c.sum())) - 1.0
    n_light = int(light.sum())
    score[light] = np.where(
        rng.random(n_light) < 0.01,
        2.0 * rng.beta(2.0, 1.0, n_light) - 1.0,
        2.0 * rng.beta(1.0, 6.0, n_light) - 1.0,
    )
    return score


class _Jets(NamedTuple):
    objects: Objects
    large_r: Objects
    btag_sf: np.ndarray
    missing_px: np.ndarray
    missing_py: np.ndarray


def _reconstruct_jets(rng: np.random.Generator, truth: TruthJets, is_data: bool) -> _Jets:
    n = truth.pt.shape[0]
    event = np.nonzero(truth.valid)[0]
    true_pt = truth.pt[truth.valid]
    eta = truth.eta[truth.valid]
    phi = truth.phi[truth.valid]
    true_mass = truth.mass[truth.valid]
    flavour = truth.flavour[truth.valid]
    pileup = truth.pileup[truth.valid]

    energy_true = np.sqrt((true_pt * np.cosh(eta)) ** 2 + true_mass**2)
    scale = _smear_factor(rng, jet_energy_resolution(energy_true))
    pt = true_pt * scale
    # every true jet's mismeasurement shifts the missing transverse momentum
    shift = true_pt - pt
    missing_px = _per_event_sum(event, shift * np.cos(phi), n)
    missing_py = _per_event_sum(event, shift * np.sin(phi), n)

    keep = np.flatnonzero((pt > JET_MIN_PT) & (np.abs(eta) < JET_MAX_ABS_ETA))
    event, pt, eta, phi = event[keep], pt[keep], eta[keep], phi[keep]
    mass, flavour, pileup = (true_mass * scale)[keep], flavour[keep], pileup[keep]
    size = len(event)
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    jvt = np.where(
        pileup,
        np.clip(rng.exponential(0.15, size), 0.0, 1.0),
        np.clip(1.0 - rng.exponential(0.04, size), 0.0, 1.0),
    )
    mv2c10 = btag_score(rng, flavour)
    tagged = (mv2c10 > BTAG_CUT) & (np.abs(eta) < 2.5)
    btag_sf = _per_event_product(
        event, np.where(tagged, np.where(flavour == 5, 0.975, 1.05), 1.0), n
    )
    fields = {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "E": energy,
        "jvt": jvt,
        "trueflav": flavour if not is_data else np.full(size, -1),
        "truthMatched": ~pileup & (not is_data),
        "MV2c10": mv2c10,
        "pt_syst": 0.03 * pt,
    }
    order = _pt_order(event, pt)
    objects = _objects(event, n, fields, order)

    # large-R jets: the hardest central jets, reclustered (already pT-ordered)
    event = event[order]
    large = np.flatnonzero(
        (objects.fields["pt"] > LARGE_R_JET_MIN_PT) & (np.abs(objects.fields["eta"]) < 2.0)
    )
    size = len(large)
    large_pt = 1.08 * objects.fields["pt"][large]
    large_eta = objects.fields["eta"][large]
    large_m = 10.0 + rng.gamma(3.0, 12.0, size)
    large_r = Objects(
        np.bincount(event[large], minlength=n),
        {
            "pt": large_pt,
            "eta": large_eta,
            "phi": objects.fields["phi"][large],
            "E": np.sqrt((large_pt * np.cosh(large_eta)) ** 2 + large_m**2),
            "m": large_m,
            "truthMatched": np.full(size, 0.0 if is_data else 1.0),
            "D2": rng.gamma(3.0, 0.6, size),
            "tau32": rng.beta(6.0, 3.0, size),
            "pt_syst": 0.03 * large_pt,
        },
    )
    return _Jets(objects, large_r, btag_sf, missing_px, missing_py)


def _photons(rng: np.random.Generator, n: int, is_data: bool) -> Objects:
    """Mostly empty: 3% of events have one photon (final-state radiation)."""
    counts = (rng.random(n) < 0.03).astype(np.int64)
    size = int(counts.sum())
    pt = 10.0 + rng.exponential(15.0, size)
    eta = rng.uniform(-2.37, 2.37, size)
    return Objects(
        counts,
        {
            "truthMatched": np.full(size, not is_data),
            "trigMatched": np.zeros(size, dtype=bool),
            "pt": pt,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, size),
            "E": pt * np.cosh(eta),
            "isTightID": rng.random(size) < 0.9,
            "ptcone30": pt * rng.exponential(0.02, size),
            "etcone20": pt * rng.exponential(0.03, size),
            "convType": (rng.random(size) < 0.3).astype(np.int32),
            "pt_syst": 0.01 * pt,
        },
    )


def simulate(
    rng: np.random.Generator, truth: TruthEvents, *, is_data: bool = False
) -> SimulatedEvents:
    """Pass generator-level events through the detector model.

    Args:
        rng: the random generator (the detector's own stream)
        truth: the generated events
        is_data: drop truth information (truth matching, jet flavour) as in data

    Returns:
        SimulatedEvents: branches (GeV) and collections, sorted by pT
    """
    n = len(truth.neutrino_px)
    leptons = _reconstruct_leptons(rng, truth.leptons, is_data)
    jets = _reconstruct_jets(rng, truth.jets, is_data)
    photons = _photons(rng, n, is_data)

    soft = rng.normal(0.0, 8.0, (2, n))
    met_x = truth.neutrino_px + leptons.missing_px + jets.missing_px + soft[0]
    met_y = truth.neutrino_py + leptons.missing_py + jets.missing_py + soft[1]
    met_et = np.hypot(met_x, met_y)

    triggered = leptons.trig_e | leptons.trig_m
    trigger_sf = np.where(
        triggered,
        0.985 + 0.01 * (1.0 - np.exp(-np.maximum(leptons.leading_pt - 20.0, 0.0) / 30.0)),
        1.0,
    )
    pileup = pileup_weights(rng, n)
    ones = np.ones(n)
    branches = {
        "scaleFactor_PILEUP": pileup,
        "scaleFactor_ELE": leptons.electron_sf,
        "scaleFactor_MUON": leptons.muon_sf,
        "scaleFactor_PHOTON": ones,
        "scaleFactor_TAU": ones,
        "scaleFactor_BTAG": jets.btag_sf,
        "scaleFactor_LepTRIGGER": trigger_sf,
        "scaleFactor_PhotonTRIGGER": ones,
        "trigE": leptons.trig_e,
        "trigM": leptons.trig_m,
        "trigP": np.zeros(n, dtype=bool),
        "met_et": met_et,
        "met_phi": wrap_phi(np.arctan2(met_y, met_x)),
        "ditau_m": np.zeros(n),
        "met_et_syst": 0.05 * met_et,
    }
    weight_sf = leptons.electron_sf * leptons.muon_sf * trigger_sf * pileup
    objects = {
        "lep": leptons.objects,
        "jet": jets.objects,
        "photon": photons,
        "largeRjet": jets.large_r,
    }
    return SimulatedEvents(branches, objects, weight_sf)


def select_events(events: SimulatedEvents, index: np.ndarray) -> SimulatedEvents:
    """The events at ``index`` (their branches, objects and scale factors)."""
    return SimulatedEvents(
        {k: v[index] for k, v in events.branches.items()},
        {name: take_events(o, index) for name, o in events.objects.items()},
        events.weight_scale_factor[index],
    )


def concatenate_events(parts: list[SimulatedEvents]) -> SimulatedEvents:
    """The events of ``parts``, one after another."""
    return SimulatedEvents(
        {k: np.concatenate([p.branches[k] for p in parts]) for k in parts[0].branches},
        {n: concatenate_objects([p.objects[n] for p in parts]) for n in parts[0].objects},
        np.concatenate([p.weight_scale_factor for p in parts]),
    )
