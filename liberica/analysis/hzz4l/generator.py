"""The embedded H -> ZZ* -> 4l sample: MC samples and Poisson pseudo-data.

Processes (13 TeV, e/mu/tau as stated per process):

- ``ggH125_ZZ4lep`` / ``VBFH125_ZZ4lep``: H(125) -> Z Z* -> 4l (l = e, mu); the
  pair masses follow BW(m1) x BW(m2) x p*(m1, m2; mH) x polarization sum;
  H pT soft for ggH (recoiling against radiation), hard for VBF (two forward
  tagging jets with a large rapidity gap).
- ``ZZllll`` (and ``ZZllll_alt``, the alternative generator of the
  ``zz_generator`` systematic): qq -> ZZ* -> 4l (l = e, mu, tau; tau decayed):
  double-resonant ZZ(*) with its threshold at 2 mZ and falling tail, Z gamma*
  with low-mass pairs down to 4 GeV, and single-resonant Z -> 4l at 91 GeV.
  The alternative has a different Z -> 4l fraction and tail and a harder
  pT(4l).
- ``Zee``, ``Zmumu``, ``ttbar_lep``: filtered reducible backgrounds; every event
  has two prompt leptons (Z -> ll; or t -> Wb -> l nu b twice) and two
  non-prompt lepton candidates (b/c decays, light-hadron fakes) inside jets.
  Their cross-section is the inclusive one times the filter efficiency.

Generator weights: ``mcWeight = +-|w|`` with a kinematics-independent negative
fraction and a small spread of |w|. Because the sign does not depend on the
event, negative weights cancel exactly in expectation: sum(w x selected) /
sum(w) estimates the selection efficiency without bias. ``SumWeights`` holds
the sum of mcWeight over all files of the sample, as in open data.

Pseudo-data: for each process, ``N ~ Poisson(xsec x lumi x SF_max)`` events
(signal scaled by ``mu_inject``; nominal ZZ), generated with independent
seeds through the same detector model, each kept with probability
``SF / SF_max`` where SF is the product of the scale factors an analysis
weights MC with; the expected data then equal the MC prediction including
scale factors.
"""

from __future__ import annotations

import functools
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
    FROM_TAU,
    HEAVY_FLAVOUR,
    LIGHT_FAKE,
    PROMPT,
    SimulatedEvents,
    TruthEvents,
    TruthJets,
    TruthLeptons,
    concatenate_events,
    select_events,
)
from liberica.samples.kinematics import (
    LEPTON_MASSES,
    BreitWigner,
    PowerLaw,
    p4_from_pt_y_phi_m,
    pt_eta_phi_e,
    two_body_decay,
    wrap_phi,
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
from liberica.samples.writer import write_mini

log = logging.getLogger(__name__)

GENERATION_FORMAT = 2
"""Bumped whenever the generated content changes for the same arguments (2: file UUIDs from
every generation argument)."""

MC_RUN_NUMBER = 284500
"""The run number of all MC events (mc16a-like)."""

DATA_RUN_NUMBERS = (
    276262,
    278880,
    280862,
    283780,
    284484,
    297730,
    298687,
    298773,
    299055,
    300279,
    302393,
    303338,
    305380,
    307732,
    310809,
    325713,
    331085,
    336852,
    340453,
    348885,
    352448,
    355261,
    359872,
    364292,
)
"""Run numbers of the pseudo-data (2015-2018-like); channelNumber equals runNumber in data."""


PB_PER_INVERSE_FB = 1.0e3
M_LOW = 4.0
"""Lowest generated lepton-pair mass (GeV), as the generator cut m_ll > 4 GeV."""

_Z_SHAPE = BreitWigner(kinematics.Z_MASS, kinematics.Z_WIDTH)
_PHOTON_SHAPE = PowerLaw(-1.0)
_RISING_SHAPE = PowerLaw(1.0)
_TAU_BRANCHING = (0.1782, 0.1739)
"""tau -> e nu nu and tau -> mu nu nu branching fractions."""


# -- generator building blocks ---------------------------------------------------------


def _lepton_mass(flavour: np.ndarray) -> np.ndarray:
    return np.select(
        [flavour == 11, flavour == 13], [LEPTON_MASSES[11], LEPTON_MASSES[13]], LEPTON_MASSES[15]
    )


def _random_flavours(rng: np.random.Generator, n: int, choices: tuple[int, ...]) -> np.ndarray:
    return np.asarray(choices)[rng.integers(0, len(choices), n)]


_TAU_X = np.linspace(0.0, 1.0, 2001)
_TAU_CDF = (5.0 * _TAU_X - 3.0 * _TAU_X**3 + _TAU_X**4) / 3.0


def _tau_lepton_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Momentum fraction of the charged lepton in tau -> l nu nu (collinear, unpolarized)."""
    return np.interp(rng.random(n), _TAU_CDF, _TAU_X)


class _Final(NamedTuple):
    """Charged leptons, extra jets and neutrinos of a decay chain (dense, per event)."""

    leptons: TruthLeptons
    jets: list[tuple]
    neutrino_px: np.ndarray
    neutrino_py: np.ndarray


def _decay_bosons_to_leptons(
    rng: np.random.Generator, bosons: list[np.ndarray], flavours: list[np.ndarray]
) -> _Final:
    """Decay each boson to a lepton pair (isotropic); taus decay on (collinear approximation).

    Returns four (per boson two) lepton slots, hadronic taus as jets, and the neutrinos.
    """
    n = len(bosons[0])
    columns: dict[str, list[np.ndarray]] = {k: [] for k in TruthLeptons._fields}
    jets = []
    nu_px = np.zeros(n)
    nu_py = np.zeros(n)
    for boson, flavour in zip(bosons, flavours, strict=True):
        mass = _lepton_mass(flavour)
        minus, plus = two_body_decay(rng, boson, mass, mass)
        for p4, charge in ((minus, -1), (plus, 1)):
            is_tau = flavour == 15
            u = rng.random(n)
            tau_flavour = np.where(
                u < _TAU_BRANCHING[0], 11, np.where(u < sum(_TAU_BRANCHING), 13, 0)
            )
            leptonic = ~is_tau | (tau_flavour > 0)
            fraction = np.where(is_tau, _tau_lepton_fraction(rng, n), 1.0)
            visible_hadronic = rng.uniform(0.3, 1.0, n)
            pt, eta, phi, _ = pt_eta_phi_e(p4)
            lepton_pt = pt * fraction
            invisible = np.where(
                is_tau, np.where(leptonic, 1.0 - fraction, 1.0 - visible_hadronic), 0.0
            )
            nu_px += invisible * p4[:, 1]
            nu_py += invisible * p4[:, 2]
            hadronic = is_tau & ~leptonic
            jets.append(
                (
                    visible_hadronic * pt,
                    eta,
                    phi,
                    np.full(n, 1.0),
                    np.zeros(n, int),
                    np.zeros(n, bool),
                    hadronic,
                )
            )
            columns["pt"].append(lepton_pt)
            columns["eta"].append(eta)
            columns["phi"].append(phi)
            columns["flavour"].append(np.where(is_tau, tau_flavour, flavour))
            columns["charge"].append(np.full(n, charge))
            columns["origin"].append(np.where(is_tau, FROM_TAU, PROMPT))
            columns["valid"].append(leptonic)
    leptons = TruthLeptons(**{k: np.stack(v, axis=1) for k, v in columns.items()})
    return _Final(leptons, jets, nu_px, nu_py)


def _stack_leptons(parts: list[TruthLeptons]) -> TruthLeptons:
    return TruthLeptons(*(np.concatenate(f, axis=1) for f in zip(*parts, strict=True)))


def _jet_columns(
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    flavour: np.ndarray,
    pileup: bool,
    valid: np.ndarray,
) -> tuple:
    mass = pt * 0.12
    return pt, eta, phi, mass, flavour, np.full(pt.shape, pileup), valid


def _radiation_jets(rng: np.random.Generator, n: int, mean: float, max_jets: int) -> tuple:
    """Extra jets from initial-state radiation: Poisson multiplicity, falling pT."""
    shape = (n, max_jets)
    count = np.minimum(rng.poisson(mean, n), max_jets)
    valid = np.arange(max_jets)[None, :] < count[:, None]
    u = rng.random(shape)
    flavour = np.where(u < 0.01, 5, np.where(u < 0.05, 4, 0))
    return _jet_columns(
        15.0 + rng.exponential(15.0, shape),
        np.clip(rng.normal(0.0, 2.2, shape), -4.9, 4.9),
        rng.uniform(-np.pi, np.pi, shape),
        flavour,
        False,
        valid,
    )


def _pileup_jets(rng: np.random.Generator, n: int, mean: float = 0.15) -> tuple:
    """At most one jet from a pileup interaction: soft, anywhere in eta."""
    shape = (n, 1)
    return _jet_columns(
        15.0 + rng.exponential(6.0, shape),
        rng.uniform(-4.5, 4.5, shape),
        rng.uniform(-np.pi, np.pi, shape),
        np.zeros(shape, int),
        True,
        rng.random(shape) < mean,
    )


def _recoil_jet(rng: np.random.Generator, system_pt: np.ndarray, system_phi: np.ndarray) -> tuple:
    """The jet balancing a system's transverse momentum (when it is hard enough)."""
    n = len(system_pt)
    pt = system_pt * np.clip(rng.normal(1.0, 0.2, n), 0.2, None)
    phi = wrap_phi(system_phi + np.pi + rng.normal(0.0, 0.3, n))
    flavour = np.where(rng.random(n) < 0.05, 4, 0)
    return _jet_columns(
        pt, np.clip(rng.normal(0.0, 2.2, n), -4.9, 4.9), phi, flavour, False, system_pt > 15.0
    )


def _truth_jets(columns: list[tuple]) -> TruthJets:
    """Stack jet columns (each field ``(n,)`` or ``(n, k)``) into dense slots."""
    fields = []
    for i in range(len(TruthJets._fields)):
        parts = [np.asarray(c[i]) for c in columns]
        fields.append(np.concatenate([p[:, None] if p.ndim == 1 else p for p in parts], axis=1))
    return TruthJets(*fields)


def _system(
    rng: np.random.Generator, mass: np.ndarray, pt: np.ndarray, rapidity_sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lab four-momenta of systems of given masses and pT, random azimuth, Gaussian rapidity."""
    n = len(mass)
    phi = rng.uniform(-np.pi, np.pi, n)
    rapidity = np.clip(rng.normal(0.0, rapidity_sigma, n), -4.0, 4.0)
    return p4_from_pt_y_phi_m(pt, rapidity, phi, mass), phi


# -- processes --------------------------------------------------------------------------


def _higgs_to_4l(rng: np.random.Generator, higgs: np.ndarray) -> _Final:
    mass = kinematics.invariant_mass(higgs)
    m1, m2 = kinematics.sample_pair_masses(rng, mass, _Z_SHAPE, _Z_SHAPE, m_low=M_LOW, ordered=True)
    z1, z2 = two_body_decay(rng, higgs, m1, m2)
    n = len(higgs)
    flavours = [_random_flavours(rng, n, (11, 13)), _random_flavours(rng, n, (11, 13))]
    return _decay_bosons_to_leptons(rng, [z1, z2], flavours)


def generate_ggh(rng: np.random.Generator, n: int) -> TruthEvents:
    """gg -> H(125) -> ZZ* -> 4l (e, mu): soft H pT (peak ~12 GeV), recoil and ISR jets."""
    mass = kinematics.sample_breit_wigner(rng, 125.0, 0.0041, n, 124.0, 126.0)
    pt = rng.gamma(1.8, 15.0, n)
    higgs, phi = _system(rng, mass, pt, 1.8)
    final = _higgs_to_4l(rng, higgs)
    jets = [_recoil_jet(rng, pt, phi), _radiation_jets(rng, n, 0.35, 2), _pileup_jets(rng, n)]
    return TruthEvents(final.leptons, _truth_jets(jets), final.neutrino_px, final.neutrino_py)


def generate_vbfh(rng: np.random.Generator, n: int) -> TruthEvents:
    """qq -> qqH(125), H -> ZZ* -> 4l (e, mu): two forward jets with a large rapidity gap."""
    jet_pt = 20.0 + rng.gamma(2.0, 18.0, (n, 2))
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    jet_eta = np.clip(rng.normal(2.2, 1.0, (n, 2)) * np.array([1.0, -1.0]) * side, -4.8, 4.8)
    jet_phi = rng.uniform(-np.pi, np.pi, (n, 2))
    px = -np.sum(jet_pt * np.cos(jet_phi), axis=1) + rng.normal(0.0, 5.0, n)
    py = -np.sum(jet_pt * np.sin(jet_phi), axis=1) + rng.normal(0.0, 5.0, n)
    mass = kinematics.sample_breit_wigner(rng, 125.0, 0.0041, n, 124.0, 126.0)
    rapidity = np.clip(rng.normal(0.0, 1.3, n), -4.0, 4.0)
    higgs = p4_from_pt_y_phi_m(np.hypot(px, py), rapidity, np.arctan2(py, px), mass)
    final = _higgs_to_4l(rng, higgs)
    tag = _jet_columns(
        jet_pt, jet_eta, jet_phi, np.zeros((n, 2), int), False, np.ones((n, 2), bool)
    )
    jets = [tag, _radiation_jets(rng, n, 0.4, 1), _pileup_jets(rng, n)]
    return TruthEvents(final.leptons, _truth_jets(jets), final.neutrino_px, final.neutrino_py)


class ZZModel(NamedTuple):
    """Parameters of the qq -> ZZ* -> 4l generator (component shares of all events).

    Attributes:
        z4l_fraction: single-resonant Z -> l l gamma* -> 4l (m4l ~ mZ)
        zgamma_fraction: Z gamma* (one on-shell Z, one virtual photon down to 4 GeV)
        zz_fraction: double-resonant ZZ(*) (threshold at 2 mZ)
        tail_scale: production density ~ M^-p exp(-M / tail_scale), GeV (p = 2; 4 for
            gamma* gamma*)
        pt_shape, pt_scale: Gamma distribution of pT(4l)

    The rest is gamma* gamma* -> 4l (two low-mass pairs, low m4l).
    """

    z4l_fraction: float
    zgamma_fraction: float
    zz_fraction: float
    tail_scale: float
    pt_shape: float
    pt_scale: float


ZZ_NOMINAL = ZZModel(
    z4l_fraction=0.10,
    zgamma_fraction=0.145,
    zz_fraction=0.21,
    tail_scale=120.0,
    pt_shape=1.4,
    pt_scale=11.0,
)
ZZ_ALTERNATIVE = ZZModel(
    z4l_fraction=0.06,
    zgamma_fraction=0.145,
    zz_fraction=0.21,
    tail_scale=150.0,
    pt_shape=1.6,
    pt_scale=20.0,
)


def _continuum_mass(
    rng: np.random.Generator, table: kinematics.PairTable, power: float, tail: float, n: int
) -> np.ndarray:
    luminosity = table.mass**-power * np.exp(-table.mass / tail)
    return kinematics.sample_parent_mass(rng, table, luminosity, n)


_CONTINUUM_SHAPES = (
    # line shape 1, line shape 2, ordered, power of the M^-power production density
    (_Z_SHAPE, _PHOTON_SHAPE, False, 2.0),  # Z gamma*
    (_Z_SHAPE, _Z_SHAPE, True, 2.0),  # ZZ(*)
    (_PHOTON_SHAPE, _PHOTON_SHAPE, True, 4.0),  # gamma* gamma*: steeply falling, low m4l
)


def generate_zz(rng: np.random.Generator, n: int, model: ZZModel = ZZ_NOMINAL) -> TruthEvents:
    """qq -> ZZ*/Z gamma*/gamma* gamma*/Z -> 4l (e, mu, tau) with the shares of ``model``."""
    shares = [model.z4l_fraction, model.zgamma_fraction, model.zz_fraction]
    component = rng.choice(4, size=n, p=[*shares, 1.0 - sum(shares)])
    mass = np.empty(n)
    m1 = np.empty(n)
    m2 = np.empty(n)
    # single-resonant Z -> l l gamma* -> 4l: the l l pair takes most of the mass
    z4l = component == 0
    mass[z4l] = kinematics.sample_breit_wigner(
        rng, kinematics.Z_MASS, kinematics.Z_WIDTH, int(z4l.sum()), 60.0, 120.0
    )
    m1[z4l], m2[z4l] = kinematics.sample_pair_masses(
        rng, mass[z4l], _RISING_SHAPE, _PHOTON_SHAPE, m_low=M_LOW
    )
    for index, (shape1, shape2, ordered, power) in enumerate(_CONTINUUM_SHAPES, start=1):
        chosen = component == index
        table = kinematics.pair_table(shape1, shape2, M_LOW, ordered)
        mass[chosen] = _continuum_mass(rng, table, power, model.tail_scale, int(chosen.sum()))
        m1[chosen], m2[chosen] = kinematics.sample_pair_masses(
            rng, mass[chosen], shape1, shape2, m_low=M_LOW, ordered=ordered
        )

    pt = rng.gamma(model.pt_shape, model.pt_scale, n)
    system, phi = _system(rng, mass, pt, 1.6)
    v1, v2 = two_body_decay(rng, system, m1, m2)
    flavours = [_random_flavours(rng, n, (11, 13, 15)), _random_flavours(rng, n, (11, 13, 15))]
    final = _decay_bosons_to_leptons(rng, [v1, v2], flavours)
    jets = [
        _recoil_jet(rng, pt, phi),
        _radiation_jets(rng, n, 0.25, 1),
        _pileup_jets(rng, n),
        *final.jets,
    ]
    return TruthEvents(final.leptons, _truth_jets(jets), final.neutrino_px, final.neutrino_py)


def generate_zz_alternative(rng: np.random.Generator, n: int) -> TruthEvents:
    """The alternative ZZ* generator: fewer Z -> 4l, longer tail, harder pT(4l)."""
    return generate_zz(rng, n, ZZ_ALTERNATIVE)


def _non_prompt_in_jets(
    rng: np.random.Generator,
    jet_pt: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    lepton_pt: np.ndarray,
    heavy: np.ndarray,
) -> tuple[TruthLeptons, np.ndarray, np.ndarray]:
    """Non-prompt lepton candidates inside jets: random flavour and charge.

    Heavy-flavour candidates come with a neutrino along the jet.
    """
    shape = jet_pt.shape
    leptons = TruthLeptons(
        pt=lepton_pt,
        eta=jet_eta + rng.normal(0.0, 0.04, shape),
        phi=wrap_phi(jet_phi + rng.normal(0.0, 0.04, shape)),
        flavour=np.where(rng.random(shape) < 0.5, 11, 13),
        charge=np.where(rng.random(shape) < 0.5, -1, 1),
        origin=np.where(heavy, HEAVY_FLAVOUR, LIGHT_FAKE),
        valid=np.ones(shape, bool),
    )
    nu_pt = np.where(heavy, lepton_pt * rng.uniform(0.2, 1.0, shape), 0.0)
    return leptons, np.sum(nu_pt * np.cos(jet_phi), axis=1), np.sum(nu_pt * np.sin(jet_phi), axis=1)


def generate_zjets(rng: np.random.Generator, n: int, flavour: int) -> TruthEvents:
    """Z -> ll (+ jets), filtered: two non-prompt lepton candidates in the recoiling jets."""
    lepton_pt = 5.0 + rng.exponential(8.0, (n, 2))
    jet_pt = lepton_pt / np.clip(rng.beta(2.0, 3.0, (n, 2)), 0.1, 0.9)
    jet_eta = np.clip(rng.normal(0.0, 1.6, (n, 2)), -4.4, 4.4)
    jet_phi = rng.uniform(-np.pi, np.pi, (n, 2))
    u = rng.random((n, 2))
    jet_flavour = np.where(u < 0.3, 5, np.where(u < 0.6, 4, 0))
    non_prompt, nu_px, nu_py = _non_prompt_in_jets(
        rng, jet_pt, jet_eta, jet_phi, lepton_pt, jet_flavour > 0
    )
    px = -np.sum(jet_pt * np.cos(jet_phi), axis=1) + rng.normal(0.0, 6.0, n)
    py = -np.sum(jet_pt * np.sin(jet_phi), axis=1) + rng.normal(0.0, 6.0, n)
    mass = kinematics.sample_breit_wigner(
        rng, kinematics.Z_MASS, kinematics.Z_WIDTH, n, 60.0, 200.0
    )
    rapidity = np.clip(rng.normal(0.0, 1.8, n), -4.0, 4.0)
    z = p4_from_pt_y_phi_m(np.hypot(px, py), rapidity, np.arctan2(py, px), mass)
    final = _decay_bosons_to_leptons(rng, [z], [np.full(n, flavour)])
    jets = [
        _jet_columns(jet_pt, jet_eta, jet_phi, jet_flavour, False, np.ones((n, 2), bool)),
        _radiation_jets(rng, n, 0.5, 2),
        _pileup_jets(rng, n),
    ]
    return TruthEvents(_stack_leptons([final.leptons, non_prompt]), _truth_jets(jets), nu_px, nu_py)


def generate_ttbar(rng: np.random.Generator, n: int) -> TruthEvents:
    """tt -> WbWb -> l nu b l nu b (l = e, mu), filtered: a non-prompt lepton in each b jet."""
    top_masses = [
        kinematics.sample_breit_wigner(
            rng, kinematics.TOP_MASS, kinematics.TOP_WIDTH, n, 155.0, 190.0
        )
        for _ in range(2)
    ]
    mass = top_masses[0] + top_masses[1] + 3.0 + rng.gamma(1.6, 90.0, n)
    system, _ = _system(rng, mass, rng.gamma(1.5, 20.0, n), 1.2)
    tops = two_body_decay(rng, system, top_masses[0], top_masses[1])
    bosons = []
    quarks = []
    for top in tops:
        w_mass = kinematics.sample_breit_wigner(
            rng, kinematics.W_MASS, kinematics.W_WIDTH, n, 60.0, 100.0
        )
        w, b = two_body_decay(rng, top, w_mass, kinematics.B_MASS)
        bosons.append(w)
        quarks.append(b)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in TruthLeptons._fields}
    nu_px = np.zeros(n)
    nu_py = np.zeros(n)
    for w, charge in zip(bosons, (1, -1), strict=True):
        flavour = _random_flavours(rng, n, (11, 13))
        lepton, neutrino = two_body_decay(rng, w, _lepton_mass(flavour), 0.0)
        pt, eta, phi, _ = pt_eta_phi_e(lepton)
        nu_px += neutrino[:, 1]
        nu_py += neutrino[:, 2]
        for key, value in (
            ("pt", pt),
            ("eta", eta),
            ("phi", phi),
            ("flavour", flavour),
            ("charge", np.full(n, charge)),
            ("origin", np.full(n, PROMPT)),
            ("valid", np.ones(n, bool)),
        ):
            columns[key].append(value)
    prompt = TruthLeptons(**{k: np.stack(v, axis=1) for k, v in columns.items()})
    b_pt, b_eta, b_phi, _ = (
        np.stack(x, axis=1) for x in zip(*(pt_eta_phi_e(b) for b in quarks), strict=True)
    )
    lepton_pt = np.minimum(5.0 + rng.exponential(8.0, (n, 2)), 0.7 * b_pt)
    non_prompt, hf_px, hf_py = _non_prompt_in_jets(
        rng, b_pt, b_eta, b_phi, lepton_pt, np.ones((n, 2), bool)
    )
    jets = [
        _jet_columns(b_pt, b_eta, b_phi, np.full((n, 2), 5), False, np.ones((n, 2), bool)),
        _radiation_jets(rng, n, 1.0, 3),
        _pileup_jets(rng, n),
    ]
    return TruthEvents(
        _stack_leptons([prompt, non_prompt]), _truth_jets(jets), nu_px + hf_px, nu_py + hf_py
    )


# -- samples ------------------------------------------------------------------------------


Z_INCLUSIVE_XSEC_PB = 1950.5
"""sigma(pp -> Z -> ll) per lepton flavour, m_ll > 60 GeV (Powheg x k-factor)."""
TTBAR_INCLUSIVE_XSEC_PB = 831.76
"""sigma(pp -> tt), NNLO+NNLL."""
ZJETS_FILTER_EFFICIENCY = 3.5e-4
"""Fraction of Z -> ll events with two non-prompt lepton candidates (the filter)."""
TTBAR_FILTER_EFFICIENCY = 6.0e-4
"""Fraction of tt events with two W -> l nu (e, mu) and a non-prompt lepton in each b jet.

Both filter efficiencies are chosen so that, after the H -> 4l selection (isolation,
impact parameters, tight ID, four leptons, pT > 25/15/10 GeV, Z1/Z2 windows), Z+jets
and ttbar are about 2.5% of ZZ* in 80 < m4l < 250 GeV and ~15% of it in 115-130 GeV.
"""
ZJETS_XSEC_PB = round(Z_INCLUSIVE_XSEC_PB * ZJETS_FILTER_EFFICIENCY, 6)
TTBAR_XSEC_PB = round(TTBAR_INCLUSIVE_XSEC_PB * TTBAR_FILTER_EFFICIENCY, 6)


class Sample(NamedTuple):
    """One MC sample of the embedded set.

    Attributes:
        name: sample (and file) name
        process: the analysis process it belongs to
        dsid: dataset id, written as channelNumber
        xsec_pb: cross-section x branching ratio x filter efficiency, pb
        event_fraction: its share of the requested MC events
        negative_weight_fraction: share of events with mcWeight < 0
        signal: whether ``mu_inject`` scales it in the pseudo-data
        variation: for an alternative sample, the systematic it implements
        generate: (rng, n) -> TruthEvents
        in_data: whether the pseudo-data contain it
    """

    name: str
    process: str
    dsid: int
    xsec_pb: float
    event_fraction: float
    negative_weight_fraction: float
    signal: bool
    variation: str | None
    generate: Callable[[np.random.Generator, int], TruthEvents]
    in_data: bool = True


SAMPLES: tuple[Sample, ...] = (
    Sample("ggH125_ZZ4lep", "ggH", 345060, 0.0060, 0.10, 0.01, True, None, generate_ggh),
    Sample("VBFH125_ZZ4lep", "VBFH", 344235, 0.00046, 0.05, 0.005, True, None, generate_vbfh),
    Sample("ZZllll", "ZZ", 363490, 1.2578, 0.30, 0.03, False, None, generate_zz),
    Sample(
        "ZZllll_alt",
        "ZZ",
        364250,
        1.2578,
        0.15,
        0.05,
        False,
        "zz_generator",
        generate_zz_alternative,
        in_data=False,
    ),
    Sample(
        "Zee",
        "Zjets",
        361106,
        ZJETS_XSEC_PB,
        0.125,
        0.02,
        False,
        None,
        functools.partial(generate_zjets, flavour=11),
    ),
    Sample(
        "Zmumu",
        "Zjets",
        361107,
        ZJETS_XSEC_PB,
        0.125,
        0.02,
        False,
        None,
        functools.partial(generate_zjets, flavour=13),
    ),
    Sample("ttbar_lep", "ttbar", 410000, TTBAR_XSEC_PB, 0.15, 0.03, False, None, generate_ttbar),
)
"""The MC samples, in fileset order (``data`` follows)."""

DATA_SAMPLE = "data"


# -- seeding, bookkeeping ----------------------------------------------------------------------


def _generator_weights(rng: np.random.Generator, n: int, negative_fraction: float) -> np.ndarray:
    """mcWeight: +-|w|, |w| lognormal (sigma 5%), the sign independent of the event.

    Because neither the sign nor |w| depends on the kinematics, the negative
    weights cancel exactly in expectation in sum(w x selected) / sum(w).
    """
    magnitude = rng.lognormal(0.0, 0.05, n)
    sign = np.where(rng.random(n) < negative_fraction, -1.0, 1.0)
    return (sign * magnitude).astype(np.float32)


def _simulate(sample: Sample, rng: np.random.Generator, n: int, is_data: bool) -> SimulatedEvents:
    truth = sample.generate(rng, n)
    return detector.simulate(rng, truth, is_data=is_data)


# -- combining simulated events (pseudo-data) -----------------------------------------------


# -- writing -----------------------------------------------------------------------------------


def _write_file(
    path: pathlib.Path, events: SimulatedEvents, bookkeeping: dict[str, np.ndarray], key: str
) -> None:
    branches = dict(events.branches)
    branches.update(bookkeeping)
    write_mini(path, branches, events.objects, key=key)


def _remove_stale(out_dir: pathlib.Path, names: list[str]) -> None:
    """Remove files of an earlier generation (``{sample}_{i}.root``) in ``out_dir``."""
    pattern = re.compile(rf"^({'|'.join(map(re.escape, names))})_\d+\.root$")
    for path in out_dir.iterdir():
        if pattern.match(path.name):
            path.unlink()


def _generate_mc(
    out_dir: pathlib.Path, sample: Sample, n: int, seed: int, per_file: int, generation: str
) -> tuple[list[str], float]:
    key = sample_key(sample.name)
    weights = _generator_weights(stream(seed, key, 0), n, sample.negative_weight_fraction)
    sumw = float(np.sum(weights, dtype=np.float64))
    files = []
    start = 0
    for index, size in enumerate(file_sizes(n, per_file)):
        events = _simulate(sample, stream(seed, key, 1, index), size, is_data=False)
        path = out_dir / f"{sample.name}_{index}.root"
        bookkeeping = {
            "runNumber": np.full(size, MC_RUN_NUMBER),
            "eventNumber": event_numbers(sample.name, start, size),
            "channelNumber": np.full(size, sample.dsid),
            "mcWeight": weights[start : start + size],
            "XSection": np.full(size, sample.xsec_pb),
            "SumWeights": np.full(size, sumw),
        }
        _write_file(path, events, bookkeeping, f"{generation}/{sample.name}/{index}")
        files.append(str(path.resolve()))
        start += size
    log.info("%s: %d events in %d file(s), sumw = %.6g", sample.name, n, len(files), sumw)
    return files, sumw


def expected_data_events(lumi_fb: float, mu_inject: float) -> dict[str, float]:
    """Expected pseudo-data events per sample before scale factors: xsec x lumi (x mu)."""
    return {
        s.name: s.xsec_pb * lumi_fb * PB_PER_INVERSE_FB * (mu_inject if s.signal else 1.0)
        for s in SAMPLES
        if s.in_data
    }


def _generate_data(
    out_dir: pathlib.Path,
    lumi_fb: float,
    mu_inject: float,
    seed: int,
    per_file: int,
    generation: str,
) -> tuple[list[str], int]:
    key = sample_key(DATA_SAMPLE)
    counts_rng = stream(seed, key, 0)
    sf_max = detector.MAX_WEIGHT_SCALE_FACTOR
    parts = []
    for sample in (s for s in SAMPLES if s.in_data):
        expected = expected_data_events(lumi_fb, mu_inject)[sample.name] * sf_max
        drawn = int(counts_rng.poisson(expected))
        for index, size in enumerate(file_sizes(drawn, per_file) if drawn else []):
            rng = stream(seed, key, 1, sample_key(sample.name), index)
            events = _simulate(sample, rng, size, is_data=True)
            keep = rng.random(size) * sf_max < events.weight_scale_factor
            parts.append(select_events(events, np.flatnonzero(keep)))
        log.info(
            "data: %d %s events drawn (expected %.1f before SF thinning)",
            drawn,
            sample.name,
            expected,
        )
    if not parts:  # no events expected: one empty file
        parts.append(_simulate(SAMPLES[0], stream(seed, key, 3), 0, is_data=True))
    data = concatenate_events(parts)
    n = len(data.weight_scale_factor)
    order_rng = stream(seed, key, 2)
    shuffled = order_rng.permutation(n)
    runs = np.sort(np.asarray(DATA_RUN_NUMBERS)[order_rng.integers(0, len(DATA_RUN_NUMBERS), n)])
    data = select_events(data, shuffled)
    files = []
    start = 0
    zeros = np.zeros(n)
    for index, size in enumerate(file_sizes(n, per_file)):
        chunk = select_events(data, np.arange(start, start + size))
        stop = start + size
        # as in real open-data files: no MC weights (0) and XSection = SumWeights = 1
        bookkeeping = {
            "runNumber": runs[start:stop],
            "eventNumber": event_numbers(DATA_SAMPLE, start, size),
            "channelNumber": runs[start:stop],
            "mcWeight": zeros[start:stop],
            "XSection": np.ones(size),
            "SumWeights": np.ones(size),
        }
        bookkeeping.update(
            {b: zeros[start:stop] for b in chunk.branches if b.startswith("scaleFactor_")}
        )
        path = out_dir / f"{DATA_SAMPLE}_{index}.root"
        _write_file(path, chunk, bookkeeping, f"{generation}/{DATA_SAMPLE}/{index}")
        files.append(str(path.resolve()))
        start = stop
    log.info("data: %d events in %d file(s)", n, len(files))
    return files, n


def mc_event_counts(events: int) -> dict[str, int]:
    """Events per MC sample for a requested total (fixed fractions, at least one each)."""
    return {s.name: max(1, round(events * s.event_fraction)) for s in SAMPLES}


def generate_hzz4l(
    out_dir: str | pathlib.Path,
    *,
    events: int = 2_000_000,
    lumi_fb: float = 140.0,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
) -> GeneratedSample:
    """Generate the hzz4l MC samples and pseudo-data in the open-data format.

    Writes ``{sample}_{i}.root`` (TTree ``mini``, MeV), ``fileset.json`` (coffea
    style, with each sample's process, xsec and sumw; the data's mu_injected,
    lumi_fb and seed) and ``generation.json`` (the arguments and event counts).
    Same arguments, same bytes.

    Args:
        out_dir: output folder (created; earlier ``{sample}_{i}.root`` files removed)
        events: total MC events over all MC samples
        lumi_fb: integrated luminosity of the pseudo-data, fb^-1
        mu_inject: signal strength injected into the pseudo-data
        seed: seed of every random stream
        events_per_file: at most this many events per file (the events drawn
            depend on it: each file has its own random stream)

    Returns:
        GeneratedSample: where the fileset is and what was written
    """
    if events < 1:
        raise ValueError(f"events must be positive, got {events}")
    if events_per_file < 1:
        raise ValueError(f"events_per_file must be positive, got {events_per_file}")
    if lumi_fb <= 0 or mu_inject < 0:
        raise ValueError(f"need lumi_fb > 0 and mu_inject >= 0 (got {lumi_fb}, {mu_inject})")
    started = time.perf_counter()
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir, [s.name for s in SAMPLES] + [DATA_SAMPLE])

    counts = mc_event_counts(events)
    # every file's ROOT UUID depends on every generation argument: samples generated
    # with other arguments are other files, for the fileset's duplicate check and the
    # checkpoints alike
    generation = json.dumps(
        {
            "format": GENERATION_FORMAT,
            "events": int(events),
            "lumi_fb": float(lumi_fb),
            "mu_inject": float(mu_inject),
            "seed": int(seed),
            "events_per_file": int(events_per_file),
        },
        sort_keys=True,
    )
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
        "generator": "liberica.analysis.hzz4l.generator",
        "format": GENERATION_FORMAT,
        "events": int(events),
        "lumi_fb": float(lumi_fb),
        "mu_inject": float(mu_inject),
        "seed": int(seed),
        "events_per_file": int(events_per_file),
        "samples": counts,
        "xsec_pb": {s.name: s.xsec_pb for s in SAMPLES},
        "expected_data_before_sf": expected_data_events(lumi_fb, mu_inject),
    }
    fileset_path = write_fileset(out_dir, fileset, record)
    log.info("generated the hzz4l sample in %s (%.1f s)", out_dir, time.perf_counter() - started)
    return GeneratedSample(fileset_path, counts, float(mu_inject), float(lumi_fb), int(seed))


def cached_hzz4l(cache_dir: str | pathlib.Path, **arguments) -> GeneratedSample:
    """The hzz4l sample in ``cache_dir``, generated only if absent or stale (``samples.cache``)."""
    from liberica.core import registry
    from liberica.samples import cached_sample

    return cached_sample(registry.get("hzz4l"), pathlib.Path(cache_dir), **arguments)
