"""dilepton_ad's processes at generator level: truth leptons, jets and invisibles (13 TeV, GeV).

Each ``generate_*`` function draws ``n`` events of one process as
:class:`~liberica.samples.detector.TruthEvents`, before any filter; the generator
(``generator.py``) applies :func:`lepton_filter`, the detector model and the writer.
Leptons are e and mu (l); taus appear only in Drell-Yan, decayed leptonically.

The Drell-Yan mass spectrum (:func:`drell_yan_mass_density`, per lepton flavour) is
a Z Breit-Wigner plus a 1/m^3 virtual-photon continuum, both multiplied by a
falling parton-luminosity factor ``x^-(a + b ln x) ((1 - m/sqrt(s)) / (1 - mZ/sqrt(s)))^c``
with ``x = m / mZ``. Its five constants were fitted (to 1%) to sigma(66 < m < 116) =
1.95 nb and the fourteen NLO mass-slice cross-sections of 120 GeV to 3 TeV (17.5 pb
at 120-180 GeV down to 12 fb at 2.75-3 TeV); the tail falls locally as m^-4.6 at
500 GeV, m^-5.1 at 1 TeV and m^-6.3 at 2 TeV.

Decay angles are drawn in the resonance's rest frame reached by a pure boost from
the lab, about the beam axis (the Collins-Soper angle for pT << m):
``1 + cos^2`` for q qbar -> gamma*/Z/Z' -> l l, ``1 - cos^4`` for g g -> G -> l l
(spin 2), isotropic for scalars and for the W and Z of top and diboson decays.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from liberica.samples import kinematics
from liberica.samples.detector import (
    FROM_TAU,
    HEAVY_FLAVOUR,
    LIGHT_FAKE,
    PROMPT,
    TruthEvents,
    TruthJets,
    TruthLeptons,
)
from liberica.samples.kinematics import (
    B_MASS,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    Z_MASS,
    Z_WIDTH,
    boost_to_lab,
    invariant_mass,
    p4_from_pt_eta_phi_m,
    p4_from_pt_y_phi_m,
    pt_eta_phi_e,
    sample_breit_wigner,
    sample_from_table,
    two_body_momentum,
    wrap_phi,
)

SQRT_S = 13_000.0

# -- the generator-level filter ---------------------------------------------------------------

FILTER_LEADING_PT = 25.0
FILTER_SUBLEADING_PT = 10.0
FILTER_MAX_ABS_ETA = 2.5
"""Every sample is filtered at generator level: two truth e/mu (prompt, from tau decays
or non-prompt) with |eta| < 2.5 and pT > 25 and 10 GeV. Data and MC pass the same
filter, so they agree for any selection; one looser than the filter (reconstructed
pT below about 27 and 10 GeV) sees its edge."""


def lepton_filter(leptons: TruthLeptons) -> np.ndarray:
    """Which events pass the generator-level filter (:data:`FILTER_LEADING_PT` ...)."""
    usable = (
        leptons.valid
        & (np.abs(leptons.eta) < FILTER_MAX_ABS_ETA)
        & ((leptons.flavour == 11) | (leptons.flavour == 13))
    )
    pt = np.where(usable, leptons.pt, 0.0)
    ordered = -np.sort(-pt, axis=1)
    return (ordered[:, 0] > FILTER_LEADING_PT) & (ordered[:, 1] > FILTER_SUBLEADING_PT)


def take_truth(truth: TruthEvents, index: np.ndarray) -> TruthEvents:
    """The events ``index`` (a mask or indices) of ``truth``."""
    return TruthEvents(
        TruthLeptons(*(f[index] for f in truth.leptons)),
        TruthJets(*(f[index] for f in truth.jets)),
        truth.neutrino_px[index],
        truth.neutrino_py[index],
    )


def concatenate_truth(parts: list[TruthEvents]) -> TruthEvents:
    """Events of several :class:`TruthEvents` of one process one after the other."""
    return TruthEvents(
        TruthLeptons(*(np.concatenate(f) for f in zip(*(p.leptons for p in parts), strict=True))),
        TruthJets(*(np.concatenate(f) for f in zip(*(p.jets for p in parts), strict=True))),
        np.concatenate([p.neutrino_px for p in parts]),
        np.concatenate([p.neutrino_py for p in parts]),
    )


# -- the Drell-Yan spectrum ----------------------------------------------------------------------

DY_Z_PB = 1962.4
"""Normalization of the Z Breit-Wigner term (pb, per lepton flavour)."""
DY_PHOTON_PB = 62.55
"""Normalization of the virtual-photon term: ``DY_PHOTON_PB x (mZ / m)^3 / mZ`` (pb/GeV)."""
DY_LUMINOSITY_SLOPE = (0.9371, 0.03604)
"""``(a, b)`` of the parton-luminosity factor ``x^-(a + b ln x)``, ``x = m / mZ``."""
DY_LUMINOSITY_ENDPOINT_POWER = 11.83
"""``c`` of ``((1 - m / sqrt(s)) / (1 - mZ / sqrt(s)))^c``."""
DY_MIN_MASS = 40.0
DY_MAX_MASS = 3000.0


def drell_yan_mass_density(mass: np.ndarray) -> np.ndarray:
    """d sigma / d m_ll of pp -> gamma*/Z -> l l, one lepton flavour, no cuts (pb/GeV)."""
    mass = np.asarray(mass, dtype=np.float64)
    s = mass**2
    mg = Z_MASS * Z_WIDTH
    breit_wigner = 2.0 * mass * mg / (np.pi * ((s - Z_MASS**2) ** 2 + mg**2))
    photon = (Z_MASS / mass) ** 3 / Z_MASS
    x = mass / Z_MASS
    a, b = DY_LUMINOSITY_SLOPE
    luminosity = (
        x ** -(a + b * np.log(x))
        * ((1.0 - mass / SQRT_S) / (1.0 - Z_MASS / SQRT_S)) ** DY_LUMINOSITY_ENDPOINT_POWER
    )
    return luminosity * (DY_Z_PB * breit_wigner + DY_PHOTON_PB * photon)


@functools.lru_cache(maxsize=32)
def _mass_table(low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """A fine log-spaced grid of [low, high] GeV (5 MeV steps at the Z) and the density on it."""
    grid = np.geomspace(low, high, 40_001)
    return grid, drell_yan_mass_density(grid)


def drell_yan_cross_section(low: float, high: float) -> float:
    """sigma(low < m_ll < high) of one lepton flavour, no other cut (pb)."""
    grid, density = _mass_table(float(low), float(high))
    return float(np.sum(0.5 * (density[1:] + density[:-1]) * np.diff(grid)))


def sample_drell_yan_mass(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """m_ll (GeV) from :func:`drell_yan_mass_density` on [low, high]."""
    grid, density = _mass_table(float(low), float(high))
    return sample_from_table(rng, grid, density, n)


# -- building blocks -------------------------------------------------------------------------------

_COS = np.linspace(-1.0, 1.0, 2001)
VECTOR = 1.0 + _COS**2
"""q qbar -> spin-1 -> l l: 1 + cos^2 theta*."""
GRAVITON = 1.0 - _COS**4
"""g g -> spin-2 -> l l: 1 - cos^4 theta*."""

_TAU_X = np.linspace(0.0, 1.0, 2001)
_TAU_DENSITY = (5.0 - 9.0 * _TAU_X**2 + 4.0 * _TAU_X**3) / 3.0
TAU_TO_ELECTRON, TAU_TO_MUON = 0.1782, 0.1739
"""Branching fractions of tau -> e nu nu and tau -> mu nu nu."""


def cos_theta(rng: np.random.Generator, n: int, density: np.ndarray) -> np.ndarray:
    """cos theta* from a density tabulated on [-1, 1] (:data:`VECTOR`, :data:`GRAVITON`)."""
    return sample_from_table(rng, _COS, density, n)


def decay(
    rng: np.random.Generator,
    parent: np.ndarray,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
    cos: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-body decays of ``parent`` (n, 4) with the first daughter at polar angle ``cos``
    about the beam axis in the parent's rest frame (isotropic if None); lab four-momenta."""
    n = len(parent)
    p_star = two_body_momentum(invariant_mass(parent), m1, m2)
    cos = rng.uniform(-1.0, 1.0, n) if cos is None else cos
    phi = rng.uniform(-np.pi, np.pi, n)
    sin = np.sqrt(np.maximum(1.0 - cos**2, 0.0))
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1) * p_star[:, None]
    e1 = np.broadcast_to(np.sqrt(p_star**2 + np.square(m1)), (n,))
    e2 = np.broadcast_to(np.sqrt(p_star**2 + np.square(m2)), (n,))
    first = np.concatenate([e1[:, None], direction], axis=1)
    second = np.concatenate([e2[:, None], -direction], axis=1)
    return boost_to_lab(first, parent), boost_to_lab(second, parent)


def system(
    rng: np.random.Generator, mass: np.ndarray, pt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A produced system of given masses and pT: random azimuth, Gaussian rapidity narrowing
    with the mass (sigma 0.38 ln(sqrt(s)/m), within 0.9 of the kinematic limit); p4 and phi."""
    n = len(mass)
    phi = rng.uniform(-np.pi, np.pi, n)
    limit = np.log(SQRT_S / mass)
    rapidity = np.clip(rng.normal(0.0, 1.0, n) * 0.38 * limit, -0.9 * limit, 0.9 * limit)
    return p4_from_pt_y_phi_m(pt, rapidity, phi, mass), phi


def boson_pt(rng: np.random.Generator, mass: np.ndarray) -> np.ndarray:
    """pT of a colour-singlet system from q qbar: a soft core and a radiation tail,
    slowly harder with the mass (mean ~11 GeV at the Z)."""
    n = len(mass)
    core = rng.gamma(1.3, 5.0, n)
    tail = 4.0 + rng.exponential(22.0, n)
    scale = 1.0 + 0.25 * np.log(np.maximum(mass, 40.0) / Z_MASS)
    return np.where(rng.random(n) < 0.75, core, tail) * scale


def _w_mass(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, W_MASS, W_WIDTH, n, 60.0, 100.0)


def _z_mass(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, Z_MASS, Z_WIDTH, n, 66.0, 116.0)


def _top_mass(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, TOP_MASS, TOP_WIDTH, n, 155.0, 190.0)


def _light_flavours(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, 11, 13)


class _Lepton(NamedTuple):
    """One lepton slot: four-momentum (n, 4), flavour, charge, origin, valid (each (n,))."""

    p4: np.ndarray
    flavour: np.ndarray | int
    charge: np.ndarray | int
    origin: np.ndarray | int = PROMPT
    valid: np.ndarray | bool = True


def _leptons(slots: list[_Lepton]) -> TruthLeptons:
    n = len(slots[0].p4)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in TruthLeptons._fields}
    for slot in slots:
        pt, eta, phi, _ = pt_eta_phi_e(slot.p4)
        columns["pt"].append(pt)
        columns["eta"].append(eta)
        columns["phi"].append(phi)
        for name in ("flavour", "charge", "origin", "valid"):
            columns[name].append(np.broadcast_to(getattr(slot, name), (n,)))
    return TruthLeptons(**{k: np.stack(v, axis=1) for k, v in columns.items()})


_Jets = tuple
"""Jet columns ``(pt, eta, phi, mass, flavour, pileup, valid)``, each (n,) or (n, k)."""


def _jet(p4: np.ndarray, flavour: np.ndarray | int, valid: np.ndarray | bool = True) -> _Jets:
    """A jet from a quark's four-momentum (its mass kept)."""
    n = len(p4)
    pt, eta, phi, _ = pt_eta_phi_e(p4)
    return (
        pt,
        eta,
        phi,
        np.maximum(invariant_mass(p4), 0.0),
        np.broadcast_to(flavour, (n,)),
        np.zeros(n, bool),
        np.broadcast_to(valid, (n,)),
    )


def _recoil_jet(rng: np.random.Generator, system_pt: np.ndarray, system_phi: np.ndarray) -> _Jets:
    """The jet balancing a system's pT (when above 15 GeV): light, 5% charm, 1% bottom."""
    n = len(system_pt)
    pt = system_pt * np.clip(rng.normal(1.0, 0.2, n), 0.2, None)
    u = rng.random(n)
    return (
        pt,
        np.clip(rng.normal(0.0, 2.0, n), -4.5, 4.5),
        wrap_phi(system_phi + np.pi + rng.normal(0.0, 0.3, n)),
        0.12 * pt,
        np.where(u < 0.01, 5, np.where(u < 0.06, 4, 0)),
        np.zeros(n, bool),
        system_pt > 15.0,
    )


def _radiation_jets(rng: np.random.Generator, n: int, mean: float, max_jets: int = 3) -> _Jets:
    """Initial-state radiation: Poisson multiplicity, falling pT; light, 4% charm, 1% bottom."""
    shape = (n, max_jets)
    count = np.minimum(rng.poisson(mean, n), max_jets)
    pt = 15.0 + rng.exponential(20.0, shape)
    u = rng.random(shape)
    return (
        pt,
        np.clip(rng.normal(0.0, 2.2, shape), -4.5, 4.5),
        rng.uniform(-np.pi, np.pi, shape),
        0.12 * pt,
        np.where(u < 0.01, 5, np.where(u < 0.05, 4, 0)),
        np.zeros(shape, bool),
        np.arange(max_jets)[None, :] < count[:, None],
    )


def _pileup_jet(rng: np.random.Generator, n: int, probability: float = 0.15) -> _Jets:
    """At most one soft jet from a pileup vertex, anywhere in eta."""
    pt = 15.0 + rng.exponential(6.0, n)
    return (
        pt,
        rng.uniform(-4.5, 4.5, n),
        rng.uniform(-np.pi, np.pi, n),
        0.1 * pt,
        np.zeros(n, int),
        np.ones(n, bool),
        rng.random(n) < probability,
    )


def _jets(columns: list[_Jets]) -> TruthJets:
    fields = []
    for i in range(len(TruthJets._fields)):
        parts = [np.asarray(c[i]) for c in columns]
        fields.append(np.concatenate([p[:, None] if p.ndim == 1 else p for p in parts], axis=1))
    return TruthJets(*fields)


def _truth(leptons: list[_Lepton], jets: list[_Jets], invisible: list[np.ndarray]) -> TruthEvents:
    """Truth events from lepton slots, jet columns and invisible four-momenta (n, 4)."""
    n = len(leptons[0].p4)
    px = np.sum([p[:, 1] for p in invisible], axis=0) if invisible else np.zeros(n)
    py = np.sum([p[:, 2] for p in invisible], axis=0) if invisible else np.zeros(n)
    return TruthEvents(_leptons(leptons), _jets(jets), px, py)


def _w_to_lepton(
    rng: np.random.Generator, w: np.ndarray, charge: np.ndarray | int
) -> tuple[_Lepton, np.ndarray]:
    """W -> l nu (e or mu, equal shares), isotropic: the lepton slot and the neutrino."""
    flavour = _light_flavours(rng, len(w))
    mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
    lepton, neutrino = decay(rng, w, mass, 0.0)
    return _Lepton(lepton, flavour, charge), neutrino


def _tau_decays(
    rng: np.random.Generator, taus: list[tuple[np.ndarray, int]]
) -> tuple[list[_Lepton], list[np.ndarray]]:
    """tau -> l nu nu (e or mu by their branching fractions), collinear: the charged lepton
    carries a fraction x of the tau's momentum (unpolarized spectrum), the neutrinos the rest."""
    slots, invisible = [], []
    electron_share = TAU_TO_ELECTRON / (TAU_TO_ELECTRON + TAU_TO_MUON)
    for p4, charge in taus:
        n = len(p4)
        flavour = np.where(rng.random(n) < electron_share, 11, 13)
        x = sample_from_table(rng, _TAU_X, _TAU_DENSITY, n)
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
        slots.append(
            _Lepton(p4_from_pt_eta_phi_m(x * pt, eta, phi, mass), flavour, charge, FROM_TAU)
        )
        invisible.append((1.0 - x)[:, None] * p4)
    return slots, invisible


# -- Standard Model processes ------------------------------------------------------------------------


def generate_drell_yan(
    rng: np.random.Generator, n: int, flavour: int, low: float, high: float
) -> TruthEvents:
    """q qbar -> gamma*/Z -> l l (flavour 11, 13 or 15) with low < m_ll < high GeV.

    Taus decay leptonically only (the sample's cross-section includes BR(tau tau -> l l)).
    """
    mass = sample_drell_yan_mass(rng, n, low, high)
    pt = boson_pt(rng, mass)
    boson, phi = system(rng, mass, pt)
    lepton_mass = kinematics.LEPTON_MASSES[flavour]
    minus, plus = decay(rng, boson, lepton_mass, lepton_mass, cos_theta(rng, n, VECTOR))
    if flavour == 15:
        leptons, invisible = _tau_decays(rng, [(minus, -1), (plus, 1)])
    else:
        leptons, invisible = [_Lepton(minus, flavour, -1), _Lepton(plus, flavour, 1)], []
    jets = [_recoil_jet(rng, pt, phi), _radiation_jets(rng, n, 0.3), _pileup_jet(rng, n)]
    return _truth(leptons, jets, invisible)


def generate_ttbar(rng: np.random.Generator, n: int) -> TruthEvents:
    """t tbar -> W+ b W- bbar -> l+ nu b l- nu bbar (e, mu): two b jets and real MET."""
    top_masses = _top_mass(rng, n), _top_mass(rng, n)
    pair_mass = top_masses[0] + top_masses[1] + rng.gamma(1.6, 90.0, n)
    pair, _ = system(rng, pair_mass, rng.gamma(1.5, 25.0, n))
    tops = decay(rng, pair, *top_masses)
    leptons, jets, invisible = [], [], []
    for top, charge in zip(tops, (1, -1), strict=True):
        w, b = decay(rng, top, _w_mass(rng, n), B_MASS)
        lepton, neutrino = _w_to_lepton(rng, w, charge)
        leptons.append(lepton)
        invisible.append(neutrino)
        jets.append(_jet(b, 5))
    jets += [_radiation_jets(rng, n, 0.8), _pileup_jet(rng, n)]
    return _truth(leptons, jets, invisible)


def generate_wt(rng: np.random.Generator, n: int) -> TruthEvents:
    """Single top W t (t W- and tbar W+ alike), both W -> l nu (e, mu): one b jet."""
    top_mass, w_mass = _top_mass(rng, n), _w_mass(rng, n)
    pair, _ = system(rng, top_mass + w_mass + rng.gamma(1.5, 70.0, n), rng.gamma(1.5, 20.0, n))
    top, w = decay(rng, pair, top_mass, w_mass)
    sign = np.where(rng.random(n) < 0.5, 1, -1)
    w_top, b = decay(rng, top, _w_mass(rng, n), B_MASS)
    from_top, neutrino1 = _w_to_lepton(rng, w_top, sign)
    associated, neutrino2 = _w_to_lepton(rng, w, -sign)
    jets = [_jet(b, 5), _radiation_jets(rng, n, 0.5), _pileup_jet(rng, n)]
    return _truth([from_top, associated], jets, [neutrino1, neutrino2])


def _diboson(
    rng: np.random.Generator, masses: tuple[np.ndarray, np.ndarray], tail: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A V V pair above threshold (mass - threshold ~ Gamma(1.3, tail)): V1, V2, pT, phi."""
    n = len(masses[0])
    pt = rng.gamma(1.4, 15.0, n)
    pair, phi = system(rng, masses[0] + masses[1] + rng.gamma(1.3, tail, n), pt)
    v1, v2 = decay(rng, pair, *masses)
    return v1, v2, pt, phi


def _z_to_leptons(
    rng: np.random.Generator, z: np.ndarray, valid: np.ndarray | bool = True
) -> list[_Lepton]:
    flavour = _light_flavours(rng, len(z))
    mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
    minus, plus = decay(rng, z, mass, mass)
    return [_Lepton(minus, flavour, -1, PROMPT, valid), _Lepton(plus, flavour, 1, PROMPT, valid)]


def generate_ww(rng: np.random.Generator, n: int) -> TruthEvents:
    """q qbar -> W+ W- -> l+ nu l- nu (e, mu)."""
    w1, w2, pt, phi = _diboson(rng, (_w_mass(rng, n), _w_mass(rng, n)), 90.0)
    lepton1, neutrino1 = _w_to_lepton(rng, w1, 1)
    lepton2, neutrino2 = _w_to_lepton(rng, w2, -1)
    jets = [_recoil_jet(rng, pt, phi), _radiation_jets(rng, n, 0.3), _pileup_jet(rng, n)]
    return _truth([lepton1, lepton2], jets, [neutrino1, neutrino2])


WZ_LEPTONIC_SHARE = 0.2134 / (0.2134 + 0.6741)
"""Share of W -> l nu (e, mu) among the W decays of the WZ sample (the rest: W -> q q')."""


def generate_wz(rng: np.random.Generator, n: int) -> TruthEvents:
    """W Z -> (l nu | q q') l l (e, mu): three leptons (the third often lost) or two and two jets.

    The W is W+ in 60% of events; a hadronic W gives one charm jet in half of them.
    """
    w, z, pt, phi = _diboson(rng, (_w_mass(rng, n), _z_mass(rng, n)), 100.0)
    charge = np.where(rng.random(n) < 0.6, 1, -1)
    leptonic = rng.random(n) < WZ_LEPTONIC_SHARE
    w_lepton, neutrino = _w_to_lepton(rng, w, charge)
    w_lepton = w_lepton._replace(valid=leptonic)
    neutrino = neutrino * leptonic[:, None]
    quark1, quark2 = decay(rng, w, 0.0, 0.0)
    charm = np.where(rng.random(n) < 0.5, 4, 0)
    jets = [
        _jet(quark1, charm, ~leptonic),
        _jet(quark2, 0, ~leptonic),
        _recoil_jet(rng, pt, phi),
        _radiation_jets(rng, n, 0.3),
        _pileup_jet(rng, n),
    ]
    return _truth([*_z_to_leptons(rng, z), w_lepton], jets, [neutrino])


ZZ_FOUR_LEPTON_SHARE = 0.0673**2 / (0.0673**2 + 2.0 * 0.0673 * 0.2)
"""Share of Z Z -> 4l among the ZZ sample's decays (the rest: l l nu nu; l = e, mu)."""


def generate_zz(rng: np.random.Generator, n: int) -> TruthEvents:
    """Z Z -> l l nu nu (86%) or l l l' l' (14%), l = e, mu."""
    z1, z2, pt, phi = _diboson(rng, (_z_mass(rng, n), _z_mass(rng, n)), 90.0)
    four = rng.random(n) < ZZ_FOUR_LEPTON_SHARE
    leptons = _z_to_leptons(rng, z1) + _z_to_leptons(rng, z2, four)
    jets = [_recoil_jet(rng, pt, phi), _radiation_jets(rng, n, 0.3), _pileup_jet(rng, n)]
    return _truth(leptons, jets, [z2 * ~four[:, None]])


WJETS_HEAVY_FLAVOUR_SHARE = 0.4
"""Share of W+jets' non-prompt candidates from b/c decays (half b, half c); the rest are
light-hadron fakes."""


def generate_wjets(rng: np.random.Generator, n: int) -> TruthEvents:
    """W -> l nu + a jet holding a non-prompt lepton candidate (pT = 10 GeV + Exp(9 GeV)).

    The candidate (random flavour and charge: same- and opposite-sign pairs alike) takes a
    fraction Beta(2, 3) of its jet's pT; the W recoils against the jet. Candidates from
    b/c decays come with a neutrino along the jet; the detector gives them worse
    isolation and larger impact parameters than prompt leptons.
    """
    candidate_pt = 10.0 + rng.exponential(9.0, n)
    jet_pt = candidate_pt / np.clip(rng.beta(2.0, 3.0, n), 0.1, 0.9)
    jet_eta = np.clip(rng.normal(0.0, 1.5, n), -4.0, 4.0)
    jet_phi = rng.uniform(-np.pi, np.pi, n)
    heavy = rng.random(n) < WJETS_HEAVY_FLAVOUR_SHARE
    jet_flavour = np.where(heavy, np.where(rng.random(n) < 0.5, 5, 4), 0)
    w_pt = np.hypot(jet_pt + rng.normal(0.0, 6.0, n), rng.normal(0.0, 6.0, n))
    w_mass = _w_mass(rng, n)
    limit = np.log(SQRT_S / w_mass)
    rapidity = np.clip(rng.normal(0.0, 0.38 * limit, n), -0.9 * limit, 0.9 * limit)
    w = p4_from_pt_y_phi_m(w_pt, rapidity, wrap_phi(jet_phi + np.pi), w_mass)
    prompt, neutrino = _w_to_lepton(rng, w, np.where(rng.random(n) < 0.58, 1, -1))
    flavour = _light_flavours(rng, n)
    candidate = p4_from_pt_eta_phi_m(
        candidate_pt,
        jet_eta + rng.normal(0.0, 0.04, n),
        wrap_phi(jet_phi + rng.normal(0.0, 0.04, n)),
        np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS),
    )
    non_prompt = _Lepton(
        candidate,
        flavour,
        np.where(rng.random(n) < 0.5, 1, -1),
        np.where(heavy, HEAVY_FLAVOUR, LIGHT_FAKE),
    )
    semileptonic = p4_from_pt_eta_phi_m(
        np.where(heavy, candidate_pt * rng.uniform(0.2, 1.0, n), 0.0), jet_eta, jet_phi, 0.0
    )
    jet = (
        jet_pt,
        jet_eta,
        jet_phi,
        0.12 * jet_pt,
        jet_flavour,
        np.zeros(n, bool),
        np.ones(n, bool),
    )
    jets = [jet, _radiation_jets(rng, n, 0.4), _pileup_jet(rng, n)]
    return _truth([prompt, non_prompt], jets, [neutrino, semileptonic])


# -- signals ----------------------------------------------------------------------------------------


def generate_resonance(
    rng: np.random.Generator,
    n: int,
    mass: float,
    width_fraction: float,
    flavours: tuple[int, ...],
    angles: np.ndarray,
) -> TruthEvents:
    """A narrow resonance -> l l (a flavour of ``flavours`` per event, equal shares).

    Breit-Wigner of width ``width_fraction x mass`` within 0.6-1.4 x mass; decay angle
    from ``angles`` (:data:`VECTOR` for a Z', :data:`GRAVITON`); Drell-Yan-like pT.
    """
    masses = sample_breit_wigner(rng, mass, width_fraction * mass, n, 0.6 * mass, 1.4 * mass)
    pt = boson_pt(rng, masses)
    boson, phi = system(rng, masses, pt)
    flavour = np.asarray(flavours)[rng.integers(0, len(flavours), n)]
    lepton_mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
    minus, plus = decay(rng, boson, lepton_mass, lepton_mass, cos_theta(rng, n, angles))
    jets = [_recoil_jet(rng, pt, phi), _radiation_jets(rng, n, 0.4), _pileup_jet(rng, n)]
    return _truth([_Lepton(minus, flavour, -1), _Lepton(plus, flavour, 1)], jets, [])


def generate_zprime(rng: np.random.Generator, n: int, mass: float) -> TruthEvents:
    """q qbar -> Z' -> e e, mu mu (equal shares): width 3%, 1 + cos^2 theta*."""
    return generate_resonance(rng, n, mass, 0.03, (11, 13), VECTOR)


def generate_graviton(rng: np.random.Generator, n: int, mass: float) -> TruthEvents:
    """g g -> G -> e e (spin 2, Randall-Sundrum-like): width 1.5%, 1 - cos^4 theta*."""
    return generate_resonance(rng, n, mass, 0.015, (11,), GRAVITON)


SLEPTON_MASS = 450.0
NEUTRALINO_MASS = 100.0


def generate_sleptons(
    rng: np.random.Generator,
    n: int,
    slepton_mass: float = SLEPTON_MASS,
    neutralino_mass: float = NEUTRALINO_MASS,
) -> TruthEvents:
    """q qbar -> slepton+ slepton- (selectrons or smuons, equal shares), each -> l chi0.

    Two same-flavour opposite-sign leptons and two invisible neutralinos: large MET, and
    mT2 (massless hypothesis) up to (m_sl^2 - m_chi^2) / m_sl = 428 GeV. The pair mass
    sits above threshold by Gamma(2.5, 90 GeV) (p-wave); the scalars decay isotropically.
    """
    pair_mass = 2.0 * slepton_mass + rng.gamma(2.5, 90.0, n)
    pair, phi = system(rng, pair_mass, rng.gamma(1.5, 20.0, n))
    minus_slepton, plus_slepton = decay(rng, pair, slepton_mass, slepton_mass)
    flavour = _light_flavours(rng, n)
    lepton_mass = np.where(flavour == 11, kinematics.ELECTRON_MASS, kinematics.MUON_MASS)
    minus, chi1 = decay(rng, minus_slepton, lepton_mass, neutralino_mass)
    plus, chi2 = decay(rng, plus_slepton, lepton_mass, neutralino_mass)
    jets = [_radiation_jets(rng, n, 0.4), _pileup_jet(rng, n)]
    return _truth([_Lepton(minus, flavour, -1), _Lepton(plus, flavour, 1)], jets, [chi1, chi2])
