"""Vectorized relativistic kinematics for the event generator (GeV, numpy).

Four-momenta are arrays whose last axis is ``(E, px, py, pz)``. Every function
works on whole arrays of events; nothing loops over events in Python.

Line shapes (:class:`BreitWigner`, :class:`PowerLaw`) are densities in the
squared mass ``s`` that can be integrated and sampled exactly on any range;
:func:`sample_pair_masses` uses them to draw the masses of the two vector
bosons of a ``X -> V1 V2`` decay by accept-reject.
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

ELECTRON_MASS = 0.000511
MUON_MASS = 0.1056584
TAU_MASS = 1.77686
Z_MASS = 91.1876
Z_WIDTH = 2.4952
W_MASS = 80.379
W_WIDTH = 2.085
TOP_MASS = 172.5
TOP_WIDTH = 1.42
B_MASS = 4.8

LEPTON_MASSES = {11: ELECTRON_MASS, 13: MUON_MASS, 15: TAU_MASS}
"""Lepton mass (GeV) by |pdg id|."""


# -- four-vectors ---------------------------------------------------------------


def p4_from_pt_eta_phi_m(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray | float
) -> np.ndarray:
    """Four-momenta ``(..., 4)`` from pT, pseudorapidity, azimuth and mass."""
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + np.square(mass))
    return np.stack([energy, px, py, pz], axis=-1)


def p4_from_pt_y_phi_m(
    pt: np.ndarray, rapidity: np.ndarray, phi: np.ndarray, mass: np.ndarray | float
) -> np.ndarray:
    """Four-momenta ``(..., 4)`` from pT, rapidity, azimuth and mass."""
    mt = np.sqrt(pt**2 + np.square(mass))
    return np.stack(
        [mt * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity)],
        axis=-1,
    )


def pt_eta_phi_e(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pT, pseudorapidity, azimuth and energy of four-momenta ``(..., 4)``."""
    pt = np.hypot(p4[..., 1], p4[..., 2])
    eta = np.arcsinh(np.divide(p4[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(p4[..., 2], p4[..., 1])
    return pt, eta, phi, p4[..., 0]


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass of four-momenta ``(..., 4)``; negative m^2 (rounding) gives 0."""
    m2 = p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2 - p4[..., 3] ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-momenta by velocity ``beta`` (``(..., 3)``, |beta| < 1).

    A particle at rest becomes one moving with velocity ``beta``.
    """
    b2 = np.sum(beta**2, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[..., 1:], axis=-1)
    gamma2 = np.divide(gamma - 1.0, b2, out=np.zeros_like(b2), where=b2 > 0)
    energy = gamma * (p4[..., 0] + bp)
    momentum = p4[..., 1:] + (gamma2 * bp + gamma * p4[..., 0])[..., None] * beta
    return np.concatenate([energy[..., None], momentum], axis=-1)


def boost_to_lab(p4_rest: np.ndarray, parent_p4: np.ndarray) -> np.ndarray:
    """Boost momenta given in the parent's rest frame to the frame of ``parent_p4``."""
    beta = parent_p4[..., 1:] / parent_p4[..., :1]
    return boost(p4_rest, beta)


def two_body_momentum(
    mass: np.ndarray, m1: np.ndarray | float, m2: np.ndarray | float
) -> np.ndarray:
    """Daughter momentum p* in the rest frame of a two-body decay (0 below threshold)."""
    mass = np.asarray(mass, dtype=np.float64)
    lam = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(lam, 0.0)) / (2.0 * mass)


def isotropic_directions(rng: np.random.Generator, size: int) -> np.ndarray:
    """Unit vectors ``(size, 3)`` distributed uniformly on the sphere."""
    cos_theta = rng.uniform(-1.0, 1.0, size)
    phi = rng.uniform(-np.pi, np.pi, size)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    return np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=-1)


def two_body_decay(
    rng: np.random.Generator,
    parent_p4: np.ndarray,
    m1: np.ndarray | float,
    m2: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decays of ``parent_p4`` ``(n, 4)``, boosted to the lab frame.

    Returns:
        tuple: the daughters' lab four-momenta, each ``(n, 4)``
    """
    n = len(parent_p4)
    mass = invariant_mass(parent_p4)
    p_star = two_body_momentum(mass, m1, m2)
    direction = isotropic_directions(rng, n) * p_star[:, None]
    e1 = np.sqrt(p_star**2 + np.square(m1))
    e2 = np.sqrt(p_star**2 + np.square(m2))
    d1 = np.concatenate([np.broadcast_to(e1, (n,))[:, None], direction], axis=1)
    d2 = np.concatenate([np.broadcast_to(e2, (n,))[:, None], -direction], axis=1)
    return boost_to_lab(d1, parent_p4), boost_to_lab(d2, parent_p4)


def delta_phi(phi1: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """phi1 - phi2 wrapped into [-pi, pi)."""
    return (phi1 - phi2 + np.pi) % (2.0 * np.pi) - np.pi


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuth wrapped into [-pi, pi)."""
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


# -- line shapes ------------------------------------------------------------------


class BreitWigner(NamedTuple):
    """Relativistic Breit-Wigner in s = m^2: (1/pi) M G / ((s - M^2)^2 + M^2 G^2).

    Normalized to 1 over all s; its integral over a range is its probability.
    """

    mass: float
    width: float

    def _angle(self, s: np.ndarray) -> np.ndarray:
        return np.arctan((s - self.mass**2) / (self.mass * self.width))

    def density(self, s: np.ndarray) -> np.ndarray:
        """The density at s."""
        mg = self.mass * self.width
        return mg / (np.pi * ((s - self.mass**2) ** 2 + mg**2))

    def integral(self, s_low: np.ndarray, s_high: np.ndarray) -> np.ndarray:
        """Integral of the density over [s_low, s_high]."""
        return (self._angle(s_high) - self._angle(s_low)) / np.pi

    def sample(self, rng: np.random.Generator, s_low: np.ndarray, s_high: np.ndarray) -> np.ndarray:
        """Draw s on [s_low, s_high] (arrays of one shape) by inverse CDF."""
        low, high = self._angle(s_low), self._angle(s_high)
        angle = low + (high - low) * rng.random(np.shape(low))
        return self.mass**2 + self.mass * self.width * np.tan(angle)


class PowerLaw(NamedTuple):
    """Density s^power in s = m^2 (power -1: a virtual photon, dN/dm ~ 1/m)."""

    power: float

    def density(self, s: np.ndarray) -> np.ndarray:
        """The density at s."""
        return s**self.power

    def integral(self, s_low: np.ndarray, s_high: np.ndarray) -> np.ndarray:
        """Integral of the density over [s_low, s_high]."""
        if self.power == -1.0:
            return np.log(s_high / s_low)
        k = self.power + 1.0
        return (s_high**k - s_low**k) / k

    def sample(self, rng: np.random.Generator, s_low: np.ndarray, s_high: np.ndarray) -> np.ndarray:
        """Draw s on [s_low, s_high] (arrays of one shape) by inverse CDF."""
        u = rng.random(np.shape(s_low))
        if self.power == -1.0:
            return s_low * (s_high / s_low) ** u
        k = self.power + 1.0
        return (s_low**k + u * (s_high**k - s_low**k)) ** (1.0 / k)


LineShape = BreitWigner | PowerLaw


def sample_breit_wigner(
    rng: np.random.Generator, mass: float, width: float, size: int, low: float, high: float
) -> np.ndarray:
    """Masses from a relativistic Breit-Wigner truncated to [low, high] GeV."""
    shape = BreitWigner(mass, width)
    s = shape.sample(rng, np.full(size, low**2), np.full(size, high**2))
    return np.sqrt(s)


def sample_from_table(
    rng: np.random.Generator, x: np.ndarray, density: np.ndarray, size: int
) -> np.ndarray:
    """Draw from a tabulated density (piecewise linear on the grid ``x``) by inverse CDF."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
    return np.interp(rng.random(size) * cdf[-1], cdf, x)


# -- X -> V1 V2 pair masses -------------------------------------------------------

_UNIFORM_FRACTION = 0.5
"""Share of m1 proposals drawn uniformly in m1 rather than from V1's line shape."""


def _pair_weight(mass: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Phase space x spin sum of a scalar X -> V1 V2 decay, at most 1.

    ``lambda^(1/2) (lambda + 12 x1 x2)`` with ``x_i = m_i^2 / M^2`` and
    ``lambda = (1 - x1 - x2)^2 - 4 x1 x2``: the two-body momentum factor
    p*(M; m1, m2) / (M / 2) times the sum over the bosons' polarizations.
    """
    x1 = (m1 / mass) ** 2
    x2 = (m2 / mass) ** 2
    lam = np.maximum((1.0 - x1 - x2) ** 2 - 4.0 * x1 * x2, 0.0)
    return np.sqrt(lam) * (lam + 12.0 * x1 * x2)


def _m2_high(mass: np.ndarray, m1: np.ndarray, ordered: bool) -> np.ndarray:
    return np.minimum(m1, mass - m1) if ordered else mass - m1


def _m1_importance(shape1: LineShape, mass: np.ndarray, m1: np.ndarray, m_low: float) -> np.ndarray:
    """rho1(s1) / q1(s1): line shape over the m1 proposal (a line-shape/uniform mixture)."""
    s1 = m1**2
    r1 = shape1.integral(np.full_like(mass, m_low**2), (mass - m_low) ** 2)
    rho = shape1.density(s1)
    uniform = 1.0 / (2.0 * m1 * np.maximum(mass - 2.0 * m_low, 1e-12))
    return rho / ((1.0 - _UNIFORM_FRACTION) * rho / r1 + _UNIFORM_FRACTION * uniform)


def _m2_normalization(
    shape2: LineShape, mass: np.ndarray, m1: np.ndarray, m_low: float, ordered: bool
) -> np.ndarray:
    high = np.maximum(_m2_high(mass, m1, ordered), m_low)
    return shape2.integral(np.full_like(high, m_low**2), high**2)


class PairTable(NamedTuple):
    """Tabulated properties of X -> V1 V2 as a function of the parent mass M.

    Attributes:
        mass: the grid of M (GeV)
        phase_space: Phi(M), the integral of rho1 rho2 x weight over the allowed (m1, m2)
        bound: an upper bound on the accept-reject weight at M
        acceptance: the mean accept probability at M
    """

    mass: np.ndarray
    phase_space: np.ndarray
    bound: np.ndarray
    acceptance: np.ndarray


def _quantiles(shape: LineShape, s_low: np.ndarray, s_high: np.ndarray, u: np.ndarray):
    """s at cumulative fractions ``u`` of ``shape`` on [s_low, s_high] (broadcast)."""
    if isinstance(shape, BreitWigner):
        low, high = shape._angle(s_low), shape._angle(s_high)
        return shape.mass**2 + shape.mass * shape.width * np.tan(low + (high - low) * u)
    if shape.power == -1.0:
        return s_low * (s_high / s_low) ** u
    k = shape.power + 1.0
    return (s_low**k + u * (s_high**k - s_low**k)) ** (1.0 / k)


@functools.lru_cache(maxsize=16)
def pair_table(
    shape1: LineShape, shape2: LineShape, m_low: float, ordered: bool, m_max: float = 3000.0
) -> PairTable:
    """Tabulate Phi(M), the weight bound and the acceptance of :func:`sample_pair_masses`.

    Deterministic quadrature in the line shapes' cumulative variables (no random
    numbers), cached per line-shape pair. The bound is the largest weight on a
    fine (m1, m2) grid, times a 1.15 safety factor.
    """
    grid = np.geomspace(2.0 * m_low + 0.05, m_max, 400)[:, None]
    n1, n2 = 256, 32
    u1 = ((np.arange(n1) + 0.5) / n1)[None, :]
    u2 = ((np.arange(n2) + 0.5) / n2)[None, None, :]
    s_low = np.full_like(grid, m_low**2)
    r1 = shape1.integral(s_low, (grid - m_low) ** 2)[:, 0]
    m1_quantiles = np.sqrt(_quantiles(shape1, s_low, (grid - m_low) ** 2, u1))
    m1_uniform = m_low + (grid - 2.0 * m_low) * u1
    phase_space = np.zeros(len(grid))
    bound = np.zeros(len(grid))
    for m1, is_quantile in ((m1_quantiles, True), (m1_uniform, False)):
        r2 = _m2_normalization(shape2, grid, m1, m_low, ordered)
        high = np.maximum(_m2_high(grid, m1, ordered), m_low)[..., None]
        m2 = np.sqrt(_quantiles(shape2, np.full_like(high, m_low**2), high**2, u2))
        m2_all = np.concatenate([np.full_like(high, m_low), m2, high], axis=-1)
        weight = _pair_weight(grid[..., None], m1[..., None], m2_all)
        if is_quantile:
            phase_space = r1 * np.mean(r2 * weight[..., 1:-1].mean(axis=-1), axis=-1)
        importance = _m1_importance(shape1, grid, m1, m_low)
        bound = np.maximum(bound, np.max(importance * r2 * weight.max(axis=-1), axis=-1))
    bound = np.maximum(bound * 1.15, 1e-300)
    acceptance = np.divide(phase_space, bound, out=np.zeros_like(phase_space), where=bound > 0)
    return PairTable(grid[:, 0], phase_space, bound, acceptance)


def _table_at(table: PairTable, values: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """The larger of the two grid values bracketing each mass (a safe bound)."""
    index = np.clip(np.searchsorted(table.mass, mass), 1, len(table.mass) - 1)
    return np.maximum(values[index - 1], values[index])


def sample_pair_masses(
    rng: np.random.Generator,
    mass: np.ndarray,
    shape1: LineShape,
    shape2: LineShape,
    *,
    m_low: float = 4.0,
    ordered: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Masses (m1, m2) of X -> V1 V2 for parents of mass ``mass``, by accept-reject.

    The target density in (m1^2, m2^2) is ``rho1(m1^2) rho2(m2^2) x w(M; m1, m2)``
    on ``m1, m2 > m_low``, ``m1 + m2 < M``, with ``w`` the two-body momentum
    factor times the polarization sum (:func:`_pair_weight`). m1 is proposed
    from a mixture of rho1 and a uniform distribution (so that far off-shell
    configurations are proposed often enough), m2 from rho2 truncated to what m1
    leaves. Each event keeps its M and is retried until accepted. With
    ``ordered`` (identical line shapes), m1 >= m2: m1 is the more on-shell boson.

    Args:
        rng: the random generator
        mass: parent masses, GeV
        shape1: line shape of V1 (in s = m^2)
        shape2: line shape of V2
        m_low: lowest pair mass, GeV
        ordered: whether to return m1 >= m2 (requires shape1 == shape2)

    Returns:
        tuple: m1 and m2, GeV, each of the shape of ``mass``
    """
    mass = np.asarray(mass, dtype=np.float64)
    n = len(mass)
    table = pair_table(shape1, shape2, float(m_low), bool(ordered))
    bound = _table_at(table, table.bound, mass)
    acceptance = np.maximum(np.interp(mass, table.mass, table.acceptance), 1e-3)
    m1_out = np.empty(n)
    m2_out = np.empty(n)
    pending = np.arange(n)
    exceeded = 0
    while len(pending):
        tries = np.clip(np.ceil(1.5 / acceptance[pending]), 1, 1000).astype(np.int64)
        index = np.repeat(pending, tries)
        size = len(index)
        parent = mass[index]
        low = np.full(size, m_low**2)
        from_shape = np.sqrt(shape1.sample(rng, low, (parent - m_low) ** 2))
        from_uniform = m_low + (parent - 2.0 * m_low) * rng.random(size)
        m1 = np.where(rng.random(size) < _UNIFORM_FRACTION, from_uniform, from_shape)
        high = _m2_high(parent, m1, ordered)
        possible = high > m_low
        high = np.maximum(high, m_low * (1.0 + 1e-9))
        m2 = np.sqrt(shape2.sample(rng, low, high**2))
        weight = (
            _m1_importance(shape1, parent, m1, m_low)
            * _m2_normalization(shape2, parent, m1, m_low, ordered)
            * _pair_weight(parent, m1, m2)
            * possible
        )
        ratio = weight / bound[index]
        exceeded += int(np.count_nonzero(ratio > 1.0))
        accepted = np.flatnonzero(rng.random(size) < ratio)
        first, position = np.unique(index[accepted], return_index=True)
        m1_out[first] = m1[accepted[position]]
        m2_out[first] = m2[accepted[position]]
        pending = np.setdiff1d(pending, first, assume_unique=True)
    if exceeded:
        log.warning("pair-mass sampling: %d proposals exceeded the weight bound", exceeded)
    return m1_out, m2_out


def sample_parent_mass(
    rng: np.random.Generator,
    table: PairTable,
    luminosity: np.ndarray,
    size: int,
) -> np.ndarray:
    """Parent masses from ``luminosity(M) x Phi(M)`` on the table's grid.

    Args:
        rng: the random generator
        table: the pair table of the decay (gives Phi(M) and the grid)
        luminosity: the production density (parton luminosity x partonic cross
            section, any normalization) evaluated on ``table.mass``
        size: how many masses
    """
    fine = np.geomspace(table.mass[0], table.mass[-1], 8 * len(table.mass))
    density = np.interp(fine, table.mass, luminosity * table.phase_space)
    return sample_from_table(rng, fine, density, size)
