"""tth2lss1tau's processes at generator level: top quarks, W/Z/H decays, taus, radiation (GeV).

Each ``generate_*`` function draws ``n`` events as a :class:`Truth`: the leptons, jets and
invisible momentum the detector model takes, the hadronic taus, and a per-event
*biasing weight*. Rare decay modes are drawn more often than nature does and the
weight (true probability / drawn probability, a product over every biased choice)
restores the physical mixture: each W decays by :data:`W_BIASED` instead of
:data:`W_DECAYS`, each Z by ``Z_BIASED``, the Higgs by ``H_BIASED``, and the number
of radiated jets from a Poisson of a larger mean. The weights' mean is 1 over all
drawn events, so the sample's normalization is unchanged; they make the rare
2lSS+1tau topologies common in the MC, which balances its statistics.

ttbar (the fakes): a b (or bbar) hadron decays semileptonically to a non-prompt e or mu
(BR 0.22 per b quark for e or mu, direct or cascade), carrying a fraction Beta(2, 3.5)
of the b's momentum, the rest staying a b jet. In a fraction
:data:`ISOLATED_NON_PROMPT` of them the lepton takes nearly all the momentum and is
isolated: the detector then sees a prompt-like isolation and a small displacement
(origin ``FROM_TAU`` of the detector model); the others sit in their jet (origin
``HEAVY_FLAVOUR``: poor isolation, large d0 significance). These are forced (drawn
in 80% of events; isolated in half of those) with the matching weights.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from liberica.samples.detector import (
    ELECTRON,
    FROM_TAU,
    HEAVY_FLAVOUR,
    MUON,
    PROMPT,
    TruthEvents,
    TruthJets,
    TruthLeptons,
)
from liberica.samples.kinematics import (
    B_MASS,
    ELECTRON_MASS,
    MUON_MASS,
    TAU_MASS,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    Z_MASS,
    Z_WIDTH,
    BreitWigner,
    invariant_mass,
    p4_from_pt_eta_phi_m,
    p4_from_pt_y_phi_m,
    pt_eta_phi_e,
    sample_breit_wigner,
    sample_from_table,
    two_body_decay,
)
from liberica.samples.taus import TruthTaus, hadronic_decays

SQRT_S = 13_000.0
HIGGS_MASS = 125.0

# decay modes
E, MU, TAU_E, TAU_MU, TAU_HAD, HADRONIC, INVISIBLE, TAUTAU, WW, ZZ = range(10)

W_DECAYS = {E: 0.1071, MU: 0.1063, TAU_E: 0.1138 * 0.1782, TAU_MU: 0.1138 * 0.1739,
            TAU_HAD: 0.1138 * 0.6479, HADRONIC: 0.6741}  # fmt: skip
"""W decay modes and their branching fractions (PDG; tau decays folded in)."""
W_BIASED = {E: 0.19, MU: 0.19, TAU_E: 0.03, TAU_MU: 0.03, TAU_HAD: 0.26, HADRONIC: 0.30}
"""The probabilities the W decays are drawn with (weights restore :data:`W_DECAYS`)."""
Z_DECAYS = {E: 0.03363, MU: 0.03366, TAUTAU: 0.03370, INVISIBLE: 0.2000, HADRONIC: 0.6991}
Z_BIASED = {E: 0.25, MU: 0.25, TAUTAU: 0.25, INVISIBLE: 0.05, HADRONIC: 0.20}
H_DECAYS = {WW: 0.2152, TAUTAU: 0.0627, ZZ: 0.0264}
"""The Higgs decays of the ttH sample (its cross-section is sigma(ttH) x their sum, 0.3043)."""
H_BIASED = {WW: 0.45, TAUTAU: 0.45, ZZ: 0.10}
TAU_DECAYS = {E: 0.1782, MU: 0.1739, TAU_HAD: 0.6479}

B_TO_LEPTON = 0.22
"""BR of a b hadron to e or mu (direct or cascade), per b quark."""
ISOLATED_NON_PROMPT = 0.012
"""Share of non-prompt leptons from b decays that are isolated (the ones a tight selection
keeps); tuned so that ttbar's 2lSS+1tau yield is the reference's fake total (22.4)."""

_TAU_X = np.linspace(0.0, 1.0, 401)
_TAU_LEPTON_DENSITY = (5.0 - 9.0 * _TAU_X**2 + 4.0 * _TAU_X**3) / 3.0
"""Energy fraction of the charged lepton in tau -> l nu nu (unpolarized)."""


class Truth(NamedTuple):
    """Generated events: the detector's input, hadronic taus, and the biasing weight.

    Attributes:
        events: leptons, jets and invisible momentum
        taus: hadronic taus (visible part)
        weight: per event, true over drawn probability of its biased choices
    """

    events: TruthEvents
    taus: TruthTaus
    weight: np.ndarray


class _Builder:
    """Collects the slots of ``n`` events (leptons, jets, taus, invisibles) and their weight."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.n = n
        self.leptons: list[tuple] = []
        self.jets: list[tuple] = []
        self.taus: list[tuple] = []
        self.invisible = np.zeros((n, 4))
        self.weight = np.ones(n)

    def choose(
        self, physical: dict[int, float], biased: dict[int, float], valid=True
    ) -> np.ndarray:
        """A mode per event drawn from ``biased``; the weight of valid events takes
        physical / biased."""
        modes = np.array(list(biased))
        drawn = np.array([biased[m] for m in modes])
        true = np.array([physical.get(m, 0.0) for m in modes]) / sum(physical.values())
        index = np.searchsorted(np.cumsum(drawn) / drawn.sum(), self.rng.random(self.n), "right")
        self.weight *= np.where(valid, (true / (drawn / drawn.sum()))[index], 1.0)
        return modes[index]

    def lepton(self, p4, flavour, charge, origin=PROMPT, valid=True) -> None:
        self.leptons.append((p4, flavour, charge, origin, valid))

    def jet(self, p4, flavour, valid=True) -> None:
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        mass = invariant_mass(p4)
        self.jets.append((pt, eta, phi, mass, flavour, False, valid))

    def neutrino(self, p4, valid=True) -> None:
        self.invisible += np.where(np.asarray(valid)[..., None], p4, 0.0)

    def tau(self, p4, charge, valid=True) -> None:
        """A tau: leptonic (e, mu, physical shares) or hadronic (visible part kept)."""
        mode = _choose_plain(self.rng, TAU_DECAYS, self.n)
        self.tau_decay(p4, charge, mode, valid)

    def tau_decay(self, p4, charge, mode, valid=True) -> None:
        valid = np.broadcast_to(valid, (self.n,))
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        x = sample_from_table(self.rng, _TAU_X, _TAU_LEPTON_DENSITY, self.n)
        flavour = np.where(mode == E, ELECTRON, MUON)
        mass = np.where(flavour == ELECTRON, ELECTRON_MASS, MUON_MASS)
        lepton = p4_from_pt_eta_phi_m(x * pt, eta, phi, mass)
        leptonic = valid & (mode != TAU_HAD)
        self.lepton(lepton, flavour, charge, FROM_TAU, leptonic)
        self.neutrino(p4 - lepton, leptonic)
        visible, neutrinos, prongs = hadronic_decays(self.rng, p4)
        hadronic = valid & (mode == TAU_HAD)
        vpt, veta, vphi, _ = pt_eta_phi_e(visible)
        self.taus.append((vpt, veta, vphi, prongs, charge, hadronic))
        self.neutrino(neutrinos, hadronic)

    def build(self) -> Truth:
        n = self.n

        def stack(rows: list[tuple], k: int) -> np.ndarray:
            return np.stack([np.broadcast_to(np.asarray(r[k]), (n,)) for r in rows], axis=1)

        pts, etas, phis = [], [], []
        for p4, *_ in self.leptons:
            pt, eta, phi, _ = pt_eta_phi_e(p4)
            pts.append(pt)
            etas.append(eta)
            phis.append(phi)
        leptons = TruthLeptons(
            np.stack(pts, axis=1),
            np.stack(etas, axis=1),
            np.stack(phis, axis=1),
            stack(self.leptons, 1),
            stack(self.leptons, 2),
            stack(self.leptons, 3),
            stack(self.leptons, 4),
        )
        jets = TruthJets(*(stack(self.jets, k) for k in range(7)))
        if self.taus:
            taus = TruthTaus(*(stack(self.taus, k) for k in range(6)))
        else:
            zeros = np.zeros((n, 1))
            taus = TruthTaus(zeros, zeros, zeros, zeros.astype(int), zeros.astype(int), zeros > 0)
        events = TruthEvents(leptons, jets, self.invisible[:, 1], self.invisible[:, 2])
        return Truth(events, taus, self.weight)


def _choose_plain(rng: np.random.Generator, probabilities: dict[int, float], n: int) -> np.ndarray:
    modes = np.array(list(probabilities))
    p = np.array(list(probabilities.values()))
    return modes[np.searchsorted(np.cumsum(p) / p.sum(), rng.random(n), "right")]


# -- decays -----------------------------------------------------------------------------------


def _w_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, W_MASS, W_WIDTH, n, 60.0, 100.0)


def _z_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, Z_MASS, Z_WIDTH, n, 66.0, 116.0)


def _top_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, TOP_MASS, TOP_WIDTH, n, 160.0, 185.0)


def w_decay(b: _Builder, w: np.ndarray, charge, valid=True) -> np.ndarray:
    """W -> e nu, mu nu, tau nu (tau decayed) or q q' (one charm quark in half); the modes."""
    rng, n = b.rng, b.n
    valid = np.broadcast_to(valid, (n,))
    mode = b.choose(W_DECAYS, W_BIASED, valid)
    charge = np.broadcast_to(charge, (n,))
    is_tau = (mode == TAU_E) | (mode == TAU_MU) | (mode == TAU_HAD)
    lepton_mass = np.where(mode == E, ELECTRON_MASS, np.where(mode == MU, MUON_MASS, TAU_MASS))
    charged, neutrino = two_body_decay(rng, w, lepton_mass, 0.0)
    b.neutrino(neutrino, valid & (mode != HADRONIC))
    b.lepton(charged, np.where(mode == E, ELECTRON, MUON), charge, PROMPT,
             valid & ((mode == E) | (mode == MU)))  # fmt: skip
    tau_mode = np.select([mode == TAU_E, mode == TAU_MU], [E, MU], TAU_HAD)
    b.tau_decay(charged, charge, tau_mode, valid & is_tau)
    quark1, quark2 = two_body_decay(rng, w, 0.0, 0.0)
    hadronic = valid & (mode == HADRONIC)
    b.jet(quark1, np.where(rng.random(n) < 0.5, 4, 0), hadronic)
    b.jet(quark2, 0, hadronic)
    return mode


def z_decay(b: _Builder, z: np.ndarray, valid=True) -> None:
    """Z -> e e, mu mu, tau tau (taus decayed), nu nu or q q (22% b quarks)."""
    rng, n = b.rng, b.n
    valid = np.broadcast_to(valid, (n,))
    mode = b.choose(Z_DECAYS, Z_BIASED, valid)
    mass = np.where(mode == E, ELECTRON_MASS, np.where(mode == MU, MUON_MASS, TAU_MASS))
    minus, plus = two_body_decay(rng, z, mass, mass)
    light = valid & ((mode == E) | (mode == MU))
    flavour = np.where(mode == E, ELECTRON, MUON)
    b.lepton(minus, flavour, -1, PROMPT, light)
    b.lepton(plus, flavour, 1, PROMPT, light)
    b.tau(minus, -1, valid & (mode == TAUTAU))
    b.tau(plus, 1, valid & (mode == TAUTAU))
    b.neutrino(z, valid & (mode == INVISIBLE))
    quark = np.where(rng.random(n) < 0.22, 5, np.where(rng.random(n) < 0.3, 4, 0))
    hadronic = valid & (mode == HADRONIC)
    q1, q2 = two_body_decay(
        rng, z, np.where(quark == 5, B_MASS, 0.0), np.where(quark == 5, B_MASS, 0.0)
    )
    b.jet(q1, quark, hadronic)
    b.jet(q2, quark, hadronic)


def top_decay(b: _Builder, top: np.ndarray, charge: int) -> tuple[np.ndarray, np.ndarray]:
    """t -> W b (W decayed); the b quark's four-momentum and the W's mode."""
    w, bottom = two_body_decay(b.rng, top, _w_masses(b.rng, b.n), B_MASS)
    mode = w_decay(b, w, charge)
    return bottom, mode


def higgs_decay(b: _Builder, higgs: np.ndarray) -> None:
    """H -> W W* (each W decayed), tau tau or Z Z* (SM shares, :data:`H_DECAYS`)."""
    rng, n = b.rng, b.n
    mode = b.choose(H_DECAYS, H_BIASED)
    # the on-shell boson from its Breit-Wigner, the off-shell one from the Breit-Wigner's
    # tail below what is left (peaking at the kinematic limit)
    is_w = mode == WW
    m1 = np.where(is_w, _w_masses(rng, n), _z_masses(rng, n))
    high = np.maximum(HIGGS_MASS - m1 - 0.5, 12.0)
    w2 = np.sqrt(BreitWigner(W_MASS, W_WIDTH).sample(rng, np.full(n, 100.0), high**2))
    z2 = np.sqrt(BreitWigner(Z_MASS, Z_WIDTH).sample(rng, np.full(n, 144.0), high**2))
    m2 = np.where(is_w, w2, z2)
    v1, v2 = two_body_decay(rng, higgs, m1, m2)
    plus = np.where(rng.random(n) < 0.5, 1, -1)
    w_decay(b, v1, plus, is_w)
    w_decay(b, v2, -plus, is_w)
    z_decay(b, v1, mode == ZZ)
    z_decay(b, v2, mode == ZZ)
    tau_minus, tau_plus = two_body_decay(rng, higgs, TAU_MASS, TAU_MASS)
    b.tau(tau_minus, -1, mode == TAUTAU)
    b.tau(tau_plus, 1, mode == TAUTAU)


# -- production and radiation -------------------------------------------------------------------


def produce(
    rng: np.random.Generator, masses: list[np.ndarray], excess: float, pt_scale: float
) -> list[np.ndarray]:
    """A system of particles of ``masses`` (each (n,)): its mass above threshold ~
    Gamma(1.6, excess), its pT ~ Gamma(1.5, pt_scale), its rapidity narrowing with the mass;
    split by successive isotropic two-body decays. The particles' lab four-momenta."""
    n = len(masses[0])
    above = rng.gamma(1.6, excess, n)
    total = np.sum(masses, axis=0) + above
    limit = np.log(SQRT_S / total)
    rapidity = np.clip(rng.normal(0.0, 0.38, n) * limit, -0.9 * limit, 0.9 * limit)
    parent = p4_from_pt_y_phi_m(
        rng.gamma(1.5, pt_scale, n), rapidity, rng.uniform(-np.pi, np.pi, n), total
    )
    out = []
    for index in range(len(masses) - 1):
        rest = np.sum(masses[index + 1 :], axis=0)
        above = above * rng.beta(1.0, 2.0, n) if index < len(masses) - 2 else np.zeros(n)
        first, parent = two_body_decay(rng, parent, masses[index], rest + above)
        out.append(first)
    out.append(parent)
    return out


def radiation(b: _Builder, mean: float, biased_mean: float, max_jets: int = 5) -> None:
    """Initial-state radiation: Poisson(``mean``) jets (at most ``max_jets``) of pT 20 GeV +
    Exp(28 GeV), drawn from Poisson(``biased_mean``) with the weight; light, 5% c, 1% b;
    and a pileup jet in 10% of events."""
    rng, n = b.rng, b.n
    count = np.minimum(rng.poisson(biased_mean, n), max_jets)
    true = _truncated_poisson(mean, max_jets)
    drawn = _truncated_poisson(biased_mean, max_jets)
    b.weight *= (true / drawn)[count]
    for slot in range(max_jets):
        pt = 20.0 + rng.exponential(28.0, n)
        eta = np.clip(rng.normal(0.0, 1.8, n), -4.5, 4.5)
        u = rng.random(n)
        p4 = p4_from_pt_eta_phi_m(pt, eta, rng.uniform(-np.pi, np.pi, n), 0.1 * pt)
        b.jet(p4, np.where(u < 0.01, 5, np.where(u < 0.06, 4, 0)), slot < count)
    pt = 15.0 + rng.exponential(6.0, n)
    pileup = rng.random(n) < 0.1
    b.jets.append((pt, rng.uniform(-4.5, 4.5, n), rng.uniform(-np.pi, np.pi, n), 0.1 * pt,
                   0, True, pileup))  # fmt: skip


def _truncated_poisson(mean: float, cap: int) -> np.ndarray:
    k = np.arange(cap + 1)
    log_factorial = np.cumsum(np.log(np.maximum(k, 1)))
    pmf = np.exp(k * np.log(mean) - mean - log_factorial)
    pmf[cap] = 1.0 - pmf[:cap].sum()
    return pmf


def _top_pair(b: _Builder, tops: tuple[np.ndarray, np.ndarray]) -> tuple[list, list]:
    """Both tops decayed; the b quarks' four-momenta and the W modes."""
    bottoms, modes = [], []
    for top, charge in zip(tops, (1, -1), strict=True):
        bottom, mode = top_decay(b, top, charge)
        bottoms.append(bottom)
        modes.append(mode)
    return bottoms, modes


# -- processes ----------------------------------------------------------------------------------


def generate_tth(rng: np.random.Generator, n: int) -> Truth:
    """t tbar H, H -> W W*, tau tau, Z Z*; tops -> W b."""
    b = _Builder(rng, n)
    t1, t2, higgs = produce(
        rng, [_top_masses(rng, n), _top_masses(rng, n), np.full(n, HIGGS_MASS)], 150.0, 45.0
    )
    bottoms, _ = _top_pair(b, (t1, t2))
    for bottom in bottoms:
        b.jet(bottom, 5)
    higgs_decay(b, higgs)
    radiation(b, 1.3, 2.0)
    return b.build()


def generate_ttw(
    rng: np.random.Generator, n: int, pt_scale: float = 45.0, radiation_mean: float = 1.3
) -> Truth:
    """t tbar W (W+ twice as often as W-), every W decayed."""
    b = _Builder(rng, n)
    t1, t2, w = produce(
        rng, [_top_masses(rng, n), _top_masses(rng, n), _w_masses(rng, n)], 150.0, pt_scale
    )
    bottoms, _ = _top_pair(b, (t1, t2))
    for bottom in bottoms:
        b.jet(bottom, 5)
    w_decay(b, w, np.where(rng.random(n) < 2.0 / 3.0, 1, -1))
    radiation(b, radiation_mean, radiation_mean + 0.7)
    return b.build()


def generate_ttw_alternative(rng: np.random.Generator, n: int) -> Truth:
    """The alternative ttW model (``ttw_modelling``): a 10% harder system pT, more radiation."""
    return generate_ttw(rng, n, pt_scale=49.5, radiation_mean=1.6)


def generate_ttz(rng: np.random.Generator, n: int) -> Truth:
    """t tbar Z, Z -> l l, tau tau, nu nu, q q."""
    b = _Builder(rng, n)
    t1, t2, z = produce(
        rng, [_top_masses(rng, n), _top_masses(rng, n), _z_masses(rng, n)], 150.0, 45.0
    )
    bottoms, _ = _top_pair(b, (t1, t2))
    for bottom in bottoms:
        b.jet(bottom, 5)
    z_decay(b, z)
    radiation(b, 1.3, 2.0)
    return b.build()


def generate_ttbar(
    rng: np.random.Generator, n: int, radiation_mean: float = 1.1, np_fraction_scale: float = 1.0
) -> Truth:
    """t tbar with a non-prompt lepton from a b decay (forced, see the module docstring)."""
    b = _Builder(rng, n)
    t1, t2 = produce(rng, [_top_masses(rng, n), _top_masses(rng, n)], 120.0, 30.0)
    bottoms, _ = _top_pair(b, (t1, t2))
    p_np = 1.0 - (1.0 - B_TO_LEPTON) ** 2
    has_np = rng.random(n) < 0.8
    b.weight *= np.where(has_np, p_np / 0.8, (1.0 - p_np) / 0.2)
    isolated = rng.random(n) < 0.5
    p_iso = ISOLATED_NON_PROMPT
    b.weight *= np.where(has_np, np.where(isolated, p_iso / 0.5, (1.0 - p_iso) / 0.5), 1.0)
    which = rng.random(n) < 0.5  # the b (of the top) or the bbar (of the antitop)
    direct = rng.random(n) < 0.6  # b -> l- (direct) or b -> c -> l+ (cascade)
    fraction = rng.beta(2.0, 3.5, n) * np_fraction_scale
    fraction = np.where(isolated, np.maximum(fraction, rng.uniform(0.6, 0.95, n)), fraction)
    fraction = np.minimum(fraction, 0.95)
    for index, (bottom, quark_charge) in enumerate(zip(bottoms, (-1, 1), strict=True)):
        mine = has_np & (which == (index == 0))
        pt, eta, phi, _ = pt_eta_phi_e(bottom)
        flavour = np.where(rng.random(n) < 0.5, ELECTRON, MUON)
        mass = np.where(flavour == ELECTRON, ELECTRON_MASS, MUON_MASS)
        lepton = p4_from_pt_eta_phi_m(fraction * pt, eta + rng.normal(0, 0.02, n), phi, mass)
        charge = np.where(direct, quark_charge, -quark_charge)
        b.lepton(lepton, flavour, charge, np.where(isolated, FROM_TAU, HEAVY_FLAVOUR), mine)
        remaining = np.where(mine, 1.0 - fraction, 1.0)
        jet = p4_from_pt_eta_phi_m(remaining * pt, eta, phi, B_MASS)
        b.jet(jet, 5)
    radiation(b, radiation_mean, radiation_mean + 1.0)
    return b.build()


def generate_ttbar_alternative(rng: np.random.Generator, n: int) -> Truth:
    """The alternative ttbar model (``ttbar_modelling``): more radiation, 5% harder non-prompt
    leptons."""
    return generate_ttbar(rng, n, radiation_mean=1.35, np_fraction_scale=1.05)


def generate_vv(rng: np.random.Generator, n: int) -> Truth:
    """W Z (74%) and Z Z (26%), every boson decayed; jets from radiation."""
    b = _Builder(rng, n)
    is_wz = rng.random(n) < 47.0 / 63.9
    v1, z = produce(
        rng, [np.where(is_wz, _w_masses(rng, n), _z_masses(rng, n)), _z_masses(rng, n)], 100.0, 20.0
    )
    w_decay(b, v1, np.where(rng.random(n) < 0.6, 1, -1), is_wz)
    z_decay(b, v1, ~is_wz)
    z_decay(b, z)
    radiation(b, 1.0, 3.0, max_jets=6)
    return b.build()


def generate_tz(rng: np.random.Generator, n: int) -> Truth:
    """t Z q (t-channel): a forward light jet; Z decayed."""
    b = _Builder(rng, n)
    top, z, quark = produce(rng, [_top_masses(rng, n), _z_masses(rng, n), np.zeros(n)], 150.0, 30.0)
    bottom, _ = top_decay(b, top, np.where(rng.random(n) < 0.65, 1, -1))
    b.jet(bottom, 5)
    pt, eta, phi, _ = pt_eta_phi_e(quark)
    b.jet(p4_from_pt_eta_phi_m(pt, eta + np.sign(eta) * rng.uniform(0.5, 1.5, n), phi, 0.0), 0)
    z_decay(b, z)
    radiation(b, 1.2, 2.2)
    return b.build()


def generate_tttt(rng: np.random.Generator, n: int) -> Truth:
    """Four tops, each -> W b."""
    b = _Builder(rng, n)
    tops = produce(rng, [_top_masses(rng, n) for _ in range(4)], 200.0, 45.0)
    for top, charge in zip(tops, (1, -1, 1, -1), strict=True):
        bottom, _ = top_decay(b, top, charge)
        b.jet(bottom, 5)
    radiation(b, 1.0, 1.0)
    return b.build()


def generate_other(rng: np.random.Generator, n: int) -> Truth:
    """The small rest (tWZ, ttWW, tWH lumped): t W Z, every boson decayed."""
    b = _Builder(rng, n)
    top, w, z = produce(
        rng, [_top_masses(rng, n), _w_masses(rng, n), _z_masses(rng, n)], 150.0, 35.0
    )
    charge = np.where(rng.random(n) < 0.5, 1, -1)
    bottom, _ = top_decay(b, top, charge)
    b.jet(bottom, 5)
    w_decay(b, w, -charge)
    z_decay(b, z)
    radiation(b, 1.5, 2.5)
    return b.build()


def take(truth: Truth, index: np.ndarray) -> Truth:
    """The events ``index`` (a mask or indices) of ``truth``."""
    events = truth.events
    return Truth(
        TruthEvents(
            TruthLeptons(*(f[index] for f in events.leptons)),
            TruthJets(*(f[index] for f in events.jets)),
            events.neutrino_px[index],
            events.neutrino_py[index],
        ),
        TruthTaus(*(f[index] for f in truth.taus)),
        truth.weight[index],
    )


def with_jets_removed(truth: Truth, removed: np.ndarray) -> TruthEvents:
    """The detector's input with the jet slots ``removed`` (those that became taus) invalid."""
    jets = truth.events.jets._replace(valid=truth.events.jets.valid & ~removed)
    return truth.events._replace(jets=jets)
