"""tth2lss1tau's processes at generator level: top quarks, W/Z/H decays, taus, radiation (GeV).

Each ``generate_*`` function draws ``n`` events in two steps. First the discrete choices
(:class:`_Config`: every W, Z, Higgs and tau decay mode, the number and flavours of
radiated jets), drawn from biased probabilities (:data:`W_BIASED` instead of
:data:`W_DECAYS`, ``Z_BIASED``, ``H_BIASED``, ``TAU_BIASED``, Poisson radiation of a larger
mean) with the weight true / drawn probability, a product over the choices. Only events
with two light leptons (e, mu, from W, Z or tau decays, or ttbar's non-prompt one) of the
same charge are kept, and of those without a hadronic tau a process-dependent share
(weight divided by it). Then the kinematics, for the kept events only. The result
(:class:`Drawn`) holds every drawn event's weight, so the generator's normalization
counts the dropped ones: the weights' mean over drawn events is 1 (the forced
probability for ttbar).

ttbar (the fakes): a b (or bbar) hadron decays semileptonically to a non-prompt e or mu
(BR 0.22 per b quark for e or mu, direct or cascade). Only the isolated ones (a fraction
:data:`ISOLATED_NON_PROMPT` of them, where the lepton takes nearly all the momentum; the
detector sees a prompt-like isolation and a small displacement, origin ``FROM_TAU``) can
pass a tight selection: they are forced in every event, the weight being their
probability (:attr:`Drawn.forced`); the non-isolated ones, in their jet, are not
generated (their selection efficiency in the detector model is ~5% of the isolated ones').
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from liberica.samples.detector import (
    ELECTRON,
    FROM_TAU,
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
W_BIASED = {E: 0.18, MU: 0.18, TAU_E: 0.03, TAU_MU: 0.03, TAU_HAD: 0.2, HADRONIC: 0.38}
"""The probabilities the W decays are drawn with (weights restore :data:`W_DECAYS`)."""
Z_DECAYS = {E: 0.03363, MU: 0.03366, TAUTAU: 0.03370, INVISIBLE: 0.2000, HADRONIC: 0.6991}
Z_BIASED = {E: 0.2, MU: 0.2, TAUTAU: 0.2, INVISIBLE: 0.1, HADRONIC: 0.3}
H_DECAYS = {WW: 0.2152, TAUTAU: 0.0627, ZZ: 0.0264}
"""The Higgs decays of the ttH sample (its cross-section is sigma(ttH) x their sum, 0.3043)."""
H_BIASED = {WW: 0.45, TAUTAU: 0.45, ZZ: 0.10}
TAU_DECAYS = {E: 0.1782, MU: 0.1739, TAU_HAD: 0.6479}
TAU_BIASED = {E: 0.3, MU: 0.3, TAU_HAD: 0.4}
ISR_FLAVOURS = (0.94, 0.05, 0.01)
"""Radiated jets' flavours: light, c, b."""
VV_ISR_FLAVOURS = (0.8, 0.15, 0.05)
"""The flavours VV's radiated jets are drawn with (its SR needs a b-tag)."""

B_TO_LEPTON = 0.22
"""BR of a b hadron to e or mu (direct or cascade), per b quark."""
ISOLATED_NON_PROMPT = 0.0086
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


def _scatter(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """``values`` of the events ``index`` in an array of ``n`` events (zeros elsewhere)."""
    out = np.zeros((n, *values.shape[1:]), values.dtype)
    out[index] = values
    return out


def _decay_where(
    rng: np.random.Generator, parent: np.ndarray, m1, m2, where: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-body decays of the ``where`` events only (zero four-momenta elsewhere)."""
    index = np.flatnonzero(where)
    n = len(parent)

    def sub(mass):
        return mass[index] if np.ndim(mass) else mass

    first, second = two_body_decay(rng, parent[index], sub(m1), sub(m2))
    return _scatter(first, index, n), _scatter(second, index, n)


class _Builder:
    """Collects the slots of ``n`` events (leptons, jets, taus, invisibles) and their weight."""

    def __init__(self, rng: np.random.Generator, n: int, weight: np.ndarray | None = None) -> None:
        self.rng = rng
        self.n = n
        self.leptons: list[tuple] = []
        self.jets: list[tuple] = []
        self.taus: list[tuple] = []
        self.invisible = np.zeros((n, 4))
        self.weight = np.ones(n) if weight is None else weight

    def lepton(self, p4, flavour, charge, origin=PROMPT, valid=True) -> None:
        self.leptons.append((p4, flavour, charge, origin, valid))

    def jet(self, p4, flavour, valid=True) -> None:
        pt, eta, phi, _ = pt_eta_phi_e(p4)
        mass = invariant_mass(p4)
        self.jets.append((pt, eta, phi, mass, flavour, False, valid))

    def neutrino(self, p4, valid=True) -> None:
        self.invisible += np.where(np.asarray(valid)[..., None], p4, 0.0)

    def tau(self, p4, charge, mode, valid=True) -> None:
        """A tau decaying by ``mode``: leptonic (e, mu) or hadronic (visible part kept)."""
        self.tau_decay(p4, charge, mode, valid)

    def tau_decay(self, p4, charge, mode, valid=True) -> None:
        """Taus decaying by ``mode``; the kinematics computed for the valid ones only."""
        n = self.n
        valid = np.broadcast_to(valid, (n,))
        mode = np.broadcast_to(mode, (n,))
        index = np.flatnonzero(valid)
        m = len(index)
        sub_p4, sub_mode = p4[index], mode[index]
        pt, eta, phi, _ = pt_eta_phi_e(sub_p4)
        x = sample_from_table(self.rng, _TAU_X, _TAU_LEPTON_DENSITY, m)
        flavour = np.where(mode == E, ELECTRON, MUON)
        mass = np.where(sub_mode == E, ELECTRON_MASS, MUON_MASS)
        lepton = _scatter(p4_from_pt_eta_phi_m(x * pt, eta, phi, mass), index, n)
        leptonic = valid & (mode != TAU_HAD)
        self.lepton(lepton, flavour, charge, FROM_TAU, leptonic)
        self.neutrino(p4 - lepton, leptonic)
        visible, neutrinos, prongs = hadronic_decays(self.rng, sub_p4)
        hadronic = valid & (mode == TAU_HAD)
        vpt, veta, vphi, _ = pt_eta_phi_e(visible)
        self.taus.append(
            (
                _scatter(vpt, index, n),
                _scatter(veta, index, n),
                _scatter(vphi, index, n),
                _scatter(prongs, index, n),
                charge,
                hadronic,
            )
        )
        self.neutrino(_scatter(neutrinos, index, n), hadronic)

    def build(self) -> Truth:
        n = self.n

        def stack(rows: list[tuple], k: int) -> np.ndarray:
            columns = [np.asarray(r[k]) for r in rows]
            widths = [c.shape[1] if c.ndim == 2 else 1 for c in columns]
            # filled slot by slot as rows (contiguous writes), returned as (n, slots)
            out = np.empty((sum(widths), n), np.result_type(*columns))
            start = 0
            for column, width in zip(columns, widths, strict=True):
                out[start : start + width] = column.T if column.ndim == 2 else column
                start += width
            return out.T

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


class Drawn(NamedTuple):
    """A batch of drawn events: those kept at generator level, with every draw's weight.

    Attributes:
        truth: the kept events (kinematics built for these only)
        weight: per drawn event, the biasing weight (true over drawn probability)
        kept: indices of the kept events among the drawn ones
        boost: per kept event, the factor its weight takes for the prescaled ones dropped
        forced: the probability of the choice forced on every drawn event (the weights
            include it; the normalization divides it out)
    """

    truth: Truth
    weight: np.ndarray
    kept: np.ndarray
    boost: np.ndarray
    forced: float = 1.0


class _Config:
    """The discrete choices of ``n`` drawn events (decay modes, radiation), their biasing
    weight and the light leptons' charges, drawn before any kinematics."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng, self.n = rng, n
        self.weight = np.ones(n)
        self.plus = np.zeros(n, np.int64)
        self.minus = np.zeros(n, np.int64)
        self.hadronic_taus = np.zeros(n, np.int64)
        self.modes: dict[str, np.ndarray] = {}

    def draw(self, name: str, physical: dict, biased: dict, valid=True) -> np.ndarray:
        """Mode ``name`` per event from ``biased``; valid events' weights take physical /
        biased."""
        modes = np.array(list(biased))
        drawn = np.array([biased[m] for m in modes], dtype=float)
        drawn /= drawn.sum()
        true = np.array([physical.get(m, 0.0) for m in modes]) / sum(physical.values())
        index = np.searchsorted(np.cumsum(drawn), self.rng.random(self.n), "right")
        index = np.minimum(index, len(modes) - 1)
        self.weight *= np.where(valid, (true / drawn)[index], 1.0)
        self.modes[name] = modes[index]
        return self.modes[name]

    def count(self, charge, light, hadronic) -> None:
        """Book a light lepton (where ``light``) of ``charge`` and hadronic taus."""
        charge = np.broadcast_to(charge, (self.n,))
        self.plus += light & (charge > 0)
        self.minus += light & (charge < 0)
        self.hadronic_taus += hadronic

    def w(self, name: str, charge, valid=True) -> None:
        """A W of ``charge`` decaying by :data:`W_BIASED`."""
        mode = self.draw(name, W_DECAYS, W_BIASED, valid)
        light = valid & np.isin(mode, (E, MU, TAU_E, TAU_MU))
        self.count(charge, light, valid & (mode == TAU_HAD))

    def tau(self, name: str, charge, valid=True) -> None:
        """A tau of ``charge`` decaying by :data:`TAU_BIASED`."""
        mode = self.draw(name, TAU_DECAYS, TAU_BIASED, valid)
        self.count(charge, valid & (mode != TAU_HAD), valid & (mode == TAU_HAD))

    def z(self, name: str, valid=True) -> None:
        """A Z decaying by :data:`Z_BIASED` (its taus decayed)."""
        mode = self.draw(name, Z_DECAYS, Z_BIASED, valid)
        light = valid & ((mode == E) | (mode == MU))
        self.count(1, light, False)
        self.count(-1, light, False)
        self.tau(f"{name}_tau-", -1, valid & (mode == TAUTAU))
        self.tau(f"{name}_tau+", 1, valid & (mode == TAUTAU))

    def radiation(self, mean: float, biased_mean: float, max_jets: int = 5,
                  flavours: tuple[float, float, float] = ISR_FLAVOURS) -> None:  # fmt: skip
        """Radiated jets: Poisson(``mean``) (at most ``max_jets``) drawn from
        Poisson(``biased_mean``), flavours (light, c, b) :data:`ISR_FLAVOURS` drawn from
        ``flavours``, with the weights."""
        rng, n = self.rng, self.n
        count = np.minimum(rng.poisson(biased_mean, n), max_jets)
        self.weight *= (
            _truncated_poisson(mean, max_jets) / _truncated_poisson(biased_mean, max_jets)
        )[count]
        drawn = np.asarray(flavours) / np.sum(flavours)
        index = np.searchsorted(np.cumsum(drawn), rng.random((n, max_jets)), "right")
        index = np.minimum(index, 2)
        ratio = np.where(
            np.arange(max_jets) < count[:, None], (np.asarray(ISR_FLAVOURS) / drawn)[index], 1.0
        )
        self.weight *= ratio.prod(axis=1)
        self.modes["isr_count"] = count
        self.modes["isr_flavour"] = np.array([0, 4, 5])[index]

    def same_sign(self) -> np.ndarray:
        """Events with two light leptons of the same charge."""
        return (self.plus >= 2) | (self.minus >= 2)

    def kept(self, mask: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """The kept indices, their modes and weights."""
        index = np.flatnonzero(mask)
        return index, {k: v[index] for k, v in self.modes.items()}, self.weight[index]


# -- decays -----------------------------------------------------------------------------------


def _w_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, W_MASS, W_WIDTH, n, 60.0, 100.0)


def _z_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, Z_MASS, Z_WIDTH, n, 66.0, 116.0)


def _top_masses(rng: np.random.Generator, n: int) -> np.ndarray:
    return sample_breit_wigner(rng, TOP_MASS, TOP_WIDTH, n, 160.0, 185.0)


def w_decay(b: _Builder, w: np.ndarray, charge, mode: np.ndarray, valid=True) -> None:
    """W -> e nu, mu nu, tau nu (tau decayed) or q q' (one charm quark in half) by ``mode``."""
    rng, n = b.rng, b.n
    valid = np.broadcast_to(valid, (n,))
    charge = np.broadcast_to(charge, (n,))
    is_tau = (mode == TAU_E) | (mode == TAU_MU) | (mode == TAU_HAD)
    lepton_mass = np.where(mode == E, ELECTRON_MASS, np.where(mode == MU, MUON_MASS, TAU_MASS))
    charged, neutrino = _decay_where(rng, w, lepton_mass, 0.0, valid & (mode != HADRONIC))
    b.neutrino(neutrino, valid & (mode != HADRONIC))
    b.lepton(charged, np.where(mode == E, ELECTRON, MUON), charge, PROMPT,
             valid & ((mode == E) | (mode == MU)))  # fmt: skip
    tau_mode = np.select([mode == TAU_E, mode == TAU_MU], [E, MU], TAU_HAD)
    b.tau_decay(charged, charge, tau_mode, valid & is_tau)
    hadronic = valid & (mode == HADRONIC)
    quark1, quark2 = _decay_where(rng, w, 0.0, 0.0, hadronic)
    b.jet(quark1, np.where(rng.random(n) < 0.5, 4, 0), hadronic)
    b.jet(quark2, 0, hadronic)


def z_decay(b: _Builder, z: np.ndarray, modes: dict, name: str, valid=True) -> None:
    """Z -> e e, mu mu, tau tau (taus decayed), nu nu or q q (22% b quarks) by
    ``modes[name]``."""
    rng, n = b.rng, b.n
    valid = np.broadcast_to(valid, (n,))
    mode = modes[name]
    mass = np.where(mode == E, ELECTRON_MASS, np.where(mode == MU, MUON_MASS, TAU_MASS))
    charged = valid & ((mode == E) | (mode == MU) | (mode == TAUTAU))
    minus, plus = _decay_where(rng, z, mass, mass, charged)
    light = valid & ((mode == E) | (mode == MU))
    flavour = np.where(mode == E, ELECTRON, MUON)
    b.lepton(minus, flavour, -1, PROMPT, light)
    b.lepton(plus, flavour, 1, PROMPT, light)
    b.tau(minus, -1, modes[f"{name}_tau-"], valid & (mode == TAUTAU))
    b.tau(plus, 1, modes[f"{name}_tau+"], valid & (mode == TAUTAU))
    b.neutrino(z, valid & (mode == INVISIBLE))
    quark = np.where(rng.random(n) < 0.22, 5, np.where(rng.random(n) < 0.3, 4, 0))
    hadronic = valid & (mode == HADRONIC)
    quark_mass = np.where(quark == 5, B_MASS, 0.0)
    q1, q2 = _decay_where(rng, z, quark_mass, quark_mass, hadronic)
    b.jet(q1, quark, hadronic)
    b.jet(q2, quark, hadronic)


def top_decay(b: _Builder, top: np.ndarray, charge, mode: np.ndarray) -> np.ndarray:
    """t -> W b (W decayed by ``mode``); the b quark's four-momentum."""
    w, bottom = two_body_decay(b.rng, top, _w_masses(b.rng, b.n), B_MASS)
    w_decay(b, w, charge, mode)
    return bottom


def higgs_decay(b: _Builder, higgs: np.ndarray, modes: dict) -> None:
    """H -> W W* (each W decayed), tau tau or Z Z* by ``modes``."""
    rng, n = b.rng, b.n
    mode = modes["H"]
    # the on-shell boson from its Breit-Wigner, the off-shell one from the Breit-Wigner's
    # tail below what is left (peaking at the kinematic limit)
    is_w = mode == WW
    m1 = np.where(is_w, _w_masses(rng, n), _z_masses(rng, n))
    high = np.maximum(HIGGS_MASS - m1 - 0.5, 12.0)
    w2 = np.sqrt(BreitWigner(W_MASS, W_WIDTH).sample(rng, np.full(n, 100.0), high**2))
    z2 = np.sqrt(BreitWigner(Z_MASS, Z_WIDTH).sample(rng, np.full(n, 144.0), high**2))
    m2 = np.where(is_w, w2, z2)
    v1, v2 = two_body_decay(rng, higgs, m1, m2)
    plus = modes["H_plus"]
    w_decay(b, v1, plus, modes["HW1"], is_w)
    w_decay(b, v2, -plus, modes["HW2"], is_w)
    z_decay(b, v1, modes, "HZ1", mode == ZZ)
    z_decay(b, v2, modes, "HZ2", mode == ZZ)
    tau_minus, tau_plus = two_body_decay(rng, higgs, TAU_MASS, TAU_MASS)
    b.tau(tau_minus, -1, modes["Htau-"], mode == TAUTAU)
    b.tau(tau_plus, 1, modes["Htau+"], mode == TAUTAU)


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


def radiation(b: _Builder, modes: dict) -> None:
    """Initial-state radiation: the configuration's jets (pT 20 GeV + Exp(28 GeV)), and a
    pileup jet in 10% of events."""
    rng, n = b.rng, b.n
    count, flavours = modes["isr_count"], modes["isr_flavour"]
    slots = flavours.shape[1]
    pt = 20.0 + rng.exponential(28.0, (n, slots))
    eta = np.clip(rng.normal(0.0, 1.8, (n, slots)), -4.5, 4.5)
    phi = rng.uniform(-np.pi, np.pi, (n, slots))
    valid = np.arange(slots) < count[:, None]
    b.jets.append((pt, eta, phi, 0.1 * pt, flavours, np.zeros((n, slots), bool), valid))
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


def _top_pair(b: _Builder, tops: tuple[np.ndarray, np.ndarray], modes: dict) -> list:
    """Both tops decayed (W modes ``W+``, ``W-``); the b quarks' four-momenta."""
    return [
        top_decay(b, top, charge, modes[name])
        for top, charge, name in zip(tops, (1, -1), ("W+", "W-"), strict=True)
    ]


def _finish(config: _Config, mask: np.ndarray, build: Callable, tau_less_kept: float) -> Drawn:
    """Kinematics (``build(builder, modes)``) for the kept events of ``config``; those without
    a hadronic tau at generator level (their tau can only be a jet faking one) are kept
    with probability ``tau_less_kept``, their weight divided by it."""
    tau_less = config.hadronic_taus == 0
    prescaled = tau_less & (config.rng.random(config.n) >= tau_less_kept)
    index, modes, weight = config.kept(mask & ~prescaled)
    boost = np.where(tau_less[index], 1.0 / tau_less_kept, 1.0)
    b = _Builder(config.rng, len(index), weight * boost)
    build(b, modes)
    return Drawn(b.build(), config.weight, index, boost)


# -- processes ----------------------------------------------------------------------------------


def generate_tth(rng: np.random.Generator, n: int) -> Drawn:
    """t tbar H, H -> W W*, tau tau, Z Z*; tops -> W b; kept: a same-sign light pair."""
    c = _Config(rng, n)
    c.w("W+", 1)
    c.w("W-", -1)
    higgs = c.draw("H", H_DECAYS, H_BIASED)
    c.modes["H_plus"] = np.where(rng.random(n) < 0.5, 1, -1)
    c.w("HW1", c.modes["H_plus"], higgs == WW)
    c.w("HW2", -c.modes["H_plus"], higgs == WW)
    c.z("HZ1", higgs == ZZ)
    c.z("HZ2", higgs == ZZ)
    c.tau("Htau-", -1, higgs == TAUTAU)
    c.tau("Htau+", 1, higgs == TAUTAU)
    c.radiation(1.3, 2.0)

    def build(b: _Builder, modes: dict) -> None:
        m = b.n
        t1, t2, h = produce(
            b.rng, [_top_masses(b.rng, m), _top_masses(b.rng, m), np.full(m, HIGGS_MASS)],
            150.0, 45.0,
        )  # fmt: skip
        for bottom in _top_pair(b, (t1, t2), modes):
            b.jet(bottom, 5)
        higgs_decay(b, h, modes)
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 0.6)


def generate_ttw(
    rng: np.random.Generator, n: int, pt_scale: float = 45.0, radiation_mean: float = 1.3
) -> Drawn:
    """t tbar W (W+ twice as often as W-), every W decayed; kept: a same-sign light pair."""
    c = _Config(rng, n)
    c.w("W+", 1)
    c.w("W-", -1)
    c.modes["W_charge"] = np.where(rng.random(n) < 2.0 / 3.0, 1, -1)
    c.w("W", c.modes["W_charge"])
    c.radiation(radiation_mean, radiation_mean + 1.2)

    def build(b: _Builder, modes: dict) -> None:
        m = b.n
        t1, t2, w = produce(
            b.rng, [_top_masses(b.rng, m), _top_masses(b.rng, m), _w_masses(b.rng, m)],
            150.0, pt_scale,
        )  # fmt: skip
        for bottom in _top_pair(b, (t1, t2), modes):
            b.jet(bottom, 5)
        w_decay(b, w, modes["W_charge"], modes["W"])
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 1.0)


def generate_ttw_alternative(rng: np.random.Generator, n: int) -> Drawn:
    """The alternative ttW model (``ttw_modelling``): a 10% harder system pT, more radiation."""
    return generate_ttw(rng, n, pt_scale=49.5, radiation_mean=1.6)


def generate_ttz(rng: np.random.Generator, n: int) -> Drawn:
    """t tbar Z, Z -> l l, tau tau, nu nu, q q; kept: a same-sign light pair."""
    c = _Config(rng, n)
    c.w("W+", 1)
    c.w("W-", -1)
    c.z("Z")
    c.radiation(1.3, 2.0)

    def build(b: _Builder, modes: dict) -> None:
        m = b.n
        t1, t2, z = produce(
            b.rng, [_top_masses(b.rng, m), _top_masses(b.rng, m), _z_masses(b.rng, m)],
            150.0, 45.0,
        )  # fmt: skip
        for bottom in _top_pair(b, (t1, t2), modes):
            b.jet(bottom, 5)
        z_decay(b, z, modes, "Z")
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 0.2)


def generate_ttbar(
    rng: np.random.Generator, n: int, radiation_mean: float = 1.1, np_fraction_scale: float = 1.0
) -> Drawn:
    """t tbar with an isolated non-prompt lepton from a b decay (see the module docstring);
    kept: a same-sign light pair."""
    c = _Config(rng, n)
    c.w("W+", 1)
    c.w("W-", -1)
    # one b quark decays to an isolated lepton: probability of the event p_np x iso
    forced = (1.0 - (1.0 - B_TO_LEPTON) ** 2) * ISOLATED_NON_PROMPT
    c.weight *= forced
    c.modes["np_from_top"] = rng.random(n) < 0.5  # the b (of the top) or the bbar
    c.modes["np_direct"] = rng.random(n) < 0.6  # b -> l- (direct) or b -> c -> l+ (cascade)
    quark_charge = np.where(c.modes["np_from_top"], -1, 1)
    c.modes["np_charge"] = np.where(c.modes["np_direct"], quark_charge, -quark_charge)
    c.count(c.modes["np_charge"], True, False)
    c.radiation(radiation_mean, radiation_mean + 1.0)

    def build(b: _Builder, modes: dict) -> None:
        m, r = b.n, b.rng
        t1, t2 = produce(r, [_top_masses(r, m), _top_masses(r, m)], 120.0, 30.0)
        bottoms = _top_pair(b, (t1, t2), modes)
        fraction = np.maximum(r.beta(2.0, 3.5, m) * np_fraction_scale, r.uniform(0.6, 0.95, m))
        fraction = np.minimum(fraction, 0.95)
        for index, bottom in enumerate(bottoms):
            mine = modes["np_from_top"] == (index == 0)
            pt, eta, phi, _ = pt_eta_phi_e(bottom)
            flavour = np.where(r.random(m) < 0.5, ELECTRON, MUON)
            mass = np.where(flavour == ELECTRON, ELECTRON_MASS, MUON_MASS)
            lepton = p4_from_pt_eta_phi_m(fraction * pt, eta + r.normal(0, 0.02, m), phi, mass)
            b.lepton(lepton, flavour, modes["np_charge"], FROM_TAU, mine)
            remaining = np.where(mine, 1.0 - fraction, 1.0)
            b.jet(p4_from_pt_eta_phi_m(remaining * pt, eta, phi, B_MASS), 5)
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 1.0)._replace(forced=forced)


def generate_ttbar_alternative(rng: np.random.Generator, n: int) -> Drawn:
    """The alternative ttbar model (``ttbar_modelling``): more radiation, 3% harder non-prompt
    leptons."""
    return generate_ttbar(rng, n, radiation_mean=1.25, np_fraction_scale=1.03)


def generate_vv(rng: np.random.Generator, n: int) -> Drawn:
    """W Z (74%) and Z Z (26%), every boson decayed; jets from radiation (biased towards many
    and heavy-flavour ones); kept: a same-sign light pair."""
    c = _Config(rng, n)
    is_wz = rng.random(n) < 47.0 / 63.9
    c.modes["is_wz"] = is_wz
    c.modes["W_charge"] = np.where(rng.random(n) < 0.6, 1, -1)
    c.w("W", c.modes["W_charge"], is_wz)
    c.z("Z1", ~is_wz)
    c.z("Z2")
    c.radiation(1.9, 2.6, max_jets=7, flavours=VV_ISR_FLAVOURS)

    def build(b: _Builder, modes: dict) -> None:
        m, r = b.n, b.rng
        wz = modes["is_wz"]
        v1, z = produce(r, [np.where(wz, _w_masses(r, m), _z_masses(r, m)), _z_masses(r, m)],
                        100.0, 20.0)  # fmt: skip
        w_decay(b, v1, modes["W_charge"], modes["W"], wz)
        z_decay(b, v1, modes, "Z1", ~wz)
        z_decay(b, z, modes, "Z2")
        radiation(b, modes)

    return _finish(c, c.same_sign() & (c.modes["isr_count"] >= 2), build, 0.4)


def generate_tz(rng: np.random.Generator, n: int) -> Drawn:
    """t Z q (t-channel): a forward light jet; Z decayed; kept: a same-sign light pair."""
    c = _Config(rng, n)
    c.modes["t_charge"] = np.where(rng.random(n) < 0.65, 1, -1)
    c.w("W+", c.modes["t_charge"])
    c.z("Z")
    c.radiation(1.2, 3.0)

    def build(b: _Builder, modes: dict) -> None:
        m, r = b.n, b.rng
        top, z, quark = produce(r, [_top_masses(r, m), _z_masses(r, m), np.zeros(m)], 150.0, 30.0)
        b.jet(top_decay(b, top, modes["t_charge"], modes["W+"]), 5)
        pt, eta, phi, _ = pt_eta_phi_e(quark)
        b.jet(p4_from_pt_eta_phi_m(pt, eta + np.sign(eta) * r.uniform(0.5, 1.5, m), phi, 0.0), 0)
        z_decay(b, z, modes, "Z")
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 0.6)


def generate_tttt(rng: np.random.Generator, n: int) -> Drawn:
    """Four tops, each -> W b; kept: a same-sign light pair."""
    c = _Config(rng, n)
    names = ("W1", "W2", "W3", "W4")
    for name, charge in zip(names, (1, -1, 1, -1), strict=True):
        c.w(name, charge)
    c.radiation(1.0, 1.0)

    def build(b: _Builder, modes: dict) -> None:
        tops = produce(b.rng, [_top_masses(b.rng, b.n) for _ in range(4)], 200.0, 45.0)
        for top, charge, name in zip(tops, (1, -1, 1, -1), names, strict=True):
            b.jet(top_decay(b, top, charge, modes[name]), 5)
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 0.6)


def generate_other(rng: np.random.Generator, n: int) -> Drawn:
    """The small rest (tWZ, ttWW, tWH lumped): t W Z, every boson decayed; kept: a same-sign
    light pair."""
    c = _Config(rng, n)
    c.modes["t_charge"] = np.where(rng.random(n) < 0.5, 1, -1)
    c.w("W+", c.modes["t_charge"])
    c.w("W", -c.modes["t_charge"])
    c.z("Z")
    c.radiation(1.5, 3.0)

    def build(b: _Builder, modes: dict) -> None:
        m, r = b.n, b.rng
        top, w, z = produce(r, [_top_masses(r, m), _w_masses(r, m), _z_masses(r, m)], 150.0, 35.0)
        b.jet(top_decay(b, top, modes["t_charge"], modes["W+"]), 5)
        w_decay(b, w, -modes["t_charge"], modes["W"])
        z_decay(b, z, modes, "Z")
        radiation(b, modes)

    return _finish(c, c.same_sign(), build, 0.6)


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
