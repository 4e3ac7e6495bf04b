"""Massive large-radius dijets: QCD 2 -> 2 scattering and a resonance decaying to two
boosted two-prong particles, as two jets with mass and N-subjettiness (GeV, numpy).

Events are :class:`Dijets`: per event two jets (arrays ``(n, 2)``) of pT, rapidity,
azimuth, mass and tau1, tau2, tau3 (N-subjettiness with beta = 1, normalized by
pT x R, so each in (0, 1) and tau3 < tau2 < tau1). Every function works on whole
arrays; nothing loops over events in Python.

QCD (:func:`qcd_dijets`), leading order with a parametrized parton luminosity:

- The hard scattering is drawn in (pT, |Delta y|) from
  ``f(m) (1 + 1/chi^2) |d(m, chi)/d(pT, Delta y)|`` with ``m = 2 pT cosh(Delta y / 2)``
  and ``chi = exp|Delta y|``: ``f`` a dijet-function luminosity in ``x = m / sqrt(s)``
  (:class:`PartonLuminosity`), ``1 + 1/chi^2`` the t- plus u-channel gluon exchange at
  fixed mass (flat in chi: Rutherford scattering). At fixed pT the density falls with
  |Delta y| (a larger Delta y needs a larger m); at fixed m it rises toward large
  Delta y, which the leading-jet pT threshold of a trigger then removes. Drawing pT
  from its falling spectrum directly (above a floor below the trigger) wastes no
  events on pT the trigger never keeps.
- The boost ``y_b`` is Gaussian of width 0.4 ln(sqrt(s) / m) (narrower for heavier
  systems); jets beyond |y| = 2.5 are outside the calorimeter and the event is dropped.
- Radiation: an initial-state kick (Rayleigh, shared by the jets) and out-of-cone
  final-state losses per jet (mostly a few percent; a hard wide-angle emission now
  and then), larger for gluon jets. Quark or gluon per jet, with the gluon share
  falling with the mass (valence quarks at large x).
- Jet mass from the leading-log Sudakov form factor of rho = m^2 / (pT R)^2
  (:func:`sudakov_mass`), with a running coupling at ``0.1 pT R`` and a
  non-perturbative m^2 shift proportional to pT R: a peak well below pT R, a long
  tail up to rho = 1/4, larger for gluons (C_A / C_F = 9/4), and m rising with pT.
- Substructure of a one-prong jet (:func:`one_prong_substructure`): tau1 ~ sqrt(rho)
  (broadening-like); tau21 = tau2/tau1 from the momentum share z of the splitting that
  made the mass (:func:`splitting_z`, the splitting function at fixed rho): a soft
  splitting leaves one prong (tau21 ~0.75), a hard one two (~0.45), so tau21 falls
  with m/pT and massive QCD jets (m/pT > 0.3, 9% of them at 1.7 TeV) look two-pronged
  (tau21 0.35-0.77, mean 0.57), as in a parton shower; tau32 around 0.78.

Resonance (:func:`resonance_dijets`): a narrow Breit-Wigner of small pT decays
isotropically to X Y; X and Y each decay isotropically to two massless quarks. An
anti-kT jet of radius R holds both quarks when they are closer than R (mass = the
particle's, less out-of-cone radiation, smeared); otherwise it is the harder quark
alone (a one-prong quark jet): the low tail of the jet mass. A quark's radiation
reaches about 0.1 R around it (:func:`softer_prong_share`): a softer quark near the
inside of the edge leaks part of its energy out (the mass pulled low: the X of a
3.5 TeV W', its quarks 0.57 apart, has a median 465 GeV and 26% below 400 GeV), one
just outside puts part in (lone-quark masses between QCD's and the particle's). A
contained decay has tau1 = z Delta R / R (the softer prong's pT share times its
distance from the harder, plus soft radiation) and a broad tau21 (10-90%: 0.17-0.65,
median 0.4) (:func:`two_prong_substructure`).

Detector: the jet pT smeared with ``detector.jet_energy_resolution`` (5% at a TeV) and a
3% large-R calibration term in quadrature (:func:`large_r_resolution`), the mass with
8% and an angular term in quadrature (:func:`jet_mass_resolution`: 8% for a 500 GeV
jet of 1.7 TeV, 11% for a 100 GeV one).

These choices make the W' signal about as hard to separate from QCD as in the LHC
Olympics R&D set: supervised trees on the two jet masses and tau21 reach a peak SIC of
18-21 in 3.3-3.7 TeV (R&D set: ~16.5-17), where a narrow tau21 and a thin low tail of
QCD's tau21 gave 48 (tau21 alone: 26, now about 5).

Both generators return events as recorded (:class:`Generated`): the leading jet above
the trigger's pT threshold, both jets within |y| < 2.5 and, for a QCD sample of a
dijet-mass window, the mass inside it, jet 0 the leading. They generate in batches
and stop at exactly ``n`` events; a QCD event's cheap kinematics decide the trigger
before its jet masses are drawn, and only the kept events get substructure, so one
event passing costs about four generated hard scatterings' worth of cheap arithmetic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from liberica.core.errors import LibericaError
from liberica.samples import detector
from liberica.samples.kinematics import (
    BreitWigner,
    delta_phi,
    invariant_mass,
    p4_from_pt_y_phi_m,
    pt_eta_phi_e,
    two_body_decay,
    wrap_phi,
)

SQRT_S = 13_000.0
"""Centre-of-mass energy, GeV."""
JET_RADIUS = 1.0
"""Large-R jet radius R."""
MAX_ABS_RAPIDITY = 2.5
"""Jets beyond this |y| are outside the calorimeter (the event is dropped)."""

Z_MASS = 91.1876
ALPHA_S_MZ = 0.118
_B0 = (33.0 - 2.0 * 5) / (12.0 * np.pi)
C_F = 4.0 / 3.0
C_A = 3.0
B_QUARK = -3.0 / 4.0
B_GLUON = -(11.0 * C_A - 2.0 * 5) / (12.0 * C_A)
"""Hard-collinear coefficients of the Sudakov exponent (n_f = 5)."""
RHO_MAX = 0.25
"""Largest rho = m^2 / (pT R)^2 of a jet: two hard prongs at the jet's edge."""
NON_PERTURBATIVE_GEV = 1.0
"""Mean non-perturbative shift of m^2 per GeV of pT R (hadronization)."""

LARGE_R_CALIBRATION = 0.03
"""Constant term added in quadrature to the jet energy resolution of a large-R jet."""
JET_MASS_RESOLUTION = 0.08
"""Relative jet mass resolution from the constituents' energies (the scale term)."""
ANGULAR_RESOLUTION = 0.01
"""Resolution of the angle between a jet's prongs (calorimeter granularity), rad: a
jet's mass m ~ pT theta / 2 is known to ANGULAR_RESOLUTION / theta relatively, so
light, narrow jets' masses are the worst measured (:func:`jet_mass_resolution`)."""
PRONG_SPREAD = 0.1
"""Angular reach of a quark's own radiation, in units of R: a prong within this of
the cone's edge leaks part of itself out, one just outside still puts part in."""


class Dijets(NamedTuple):
    """Two jets per event, each field ``(n, 2)`` (GeV; tau normalized by pT x R).

    Attributes:
        pt, rapidity, phi, mass: the jets' kinematics
        tau1, tau2, tau3: N-subjettiness (beta = 1), 1 > tau1 > tau2 > tau3 > 0
        gluon: whether a jet is a gluon jet (the resonance's: False)
        prongs: 1 for a one-prong jet, 2 for a contained two-prong decay
    """

    pt: np.ndarray
    rapidity: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    tau1: np.ndarray
    tau2: np.ndarray
    tau3: np.ndarray
    gluon: np.ndarray
    prongs: np.ndarray


def select(jets: Dijets, index: np.ndarray | slice) -> Dijets:
    """The events at ``index`` (an index array, a boolean mask or a slice)."""
    return Dijets(*(field[index] for field in jets))


def concatenate(parts: list[Dijets]) -> Dijets:
    """Events of several :class:`Dijets` one after the other."""
    return Dijets(*(np.concatenate(fields) for fields in zip(*parts, strict=True)))


def pt_ordered(jets: Dijets) -> Dijets:
    """The same events with jet 0 the leading-pT jet."""
    swap = jets.pt[:, 1] > jets.pt[:, 0]
    order = np.where(swap[:, None], [1, 0], [0, 1])
    return Dijets(*(np.take_along_axis(field, order, axis=1) for field in jets))


def four_momenta(jets: Dijets) -> np.ndarray:
    """The jets' four-momenta ``(n, 2, 4)``, ``(E, px, py, pz)``."""
    return p4_from_pt_y_phi_m(jets.pt, jets.rapidity, jets.phi, jets.mass)


def dijet_mass(jets: Dijets) -> np.ndarray:
    """The invariant mass of the two jets."""
    return invariant_mass(four_momenta(jets).sum(axis=1))


# -- jet mass and substructure ------------------------------------------------------------


def alpha_s(scale: np.ndarray) -> np.ndarray:
    """One-loop strong coupling at ``scale`` GeV (n_f = 5)."""
    return ALPHA_S_MZ / (1.0 + _B0 * ALPHA_S_MZ * np.log(np.square(scale / Z_MASS)))


def sudakov_mass(
    rng: np.random.Generator, pt: np.ndarray, gluon: np.ndarray, radius: float = JET_RADIUS
) -> np.ndarray:
    """Masses of one-prong QCD jets of transverse momentum ``pt``.

    rho = m^2 / (pT R)^2 from the leading-log cumulant
    ``Sigma(rho) = exp(-(alpha_s C / pi) (L^2/2 + B L - L0^2/2 - B L0))``, L = ln(1/rho),
    on rho <= :data:`RHO_MAX` (L >= L0), inverted exactly; alpha_s at 0.1 pT R; then a
    non-perturbative m^2 shift of ``NON_PERTURBATIVE_GEV x pT R`` (gamma, mean 1).
    """
    colour = np.where(gluon, C_A, C_F)
    hard = np.where(gluon, B_GLUON, B_QUARK)
    strength = alpha_s(0.1 * pt * radius) * colour / np.pi
    l0 = np.log(1.0 / RHO_MAX)
    offset = 0.5 * l0**2 + hard * l0
    target = offset - np.log(1.0 - rng.random(pt.shape)) / strength
    log_inverse_rho = -hard + np.sqrt(hard**2 + 2.0 * target)
    m2 = np.exp(-log_inverse_rho) * (pt * radius) ** 2
    m2 = m2 + NON_PERTURBATIVE_GEV * pt * radius * rng.gamma(2.0, 0.5, pt.shape)
    return np.sqrt(np.minimum(m2, RHO_MAX * (pt * radius) ** 2))


def _beta(rng: np.random.Generator, mean: np.ndarray, concentration: float) -> np.ndarray:
    mean = np.clip(mean, 0.05, 0.95)
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


def _taus(tau1: np.ndarray, tau21: np.ndarray, tau32: np.ndarray):
    tau1 = np.clip(tau1, 1e-4, 0.95)
    tau2 = np.clip(tau21, 1e-3, 0.999) * tau1
    tau3 = np.clip(tau32, 1e-3, 0.999) * tau2
    return tau1, tau2, tau3


def splitting_z(rng: np.random.Generator, rho: np.ndarray, gluon: np.ndarray) -> np.ndarray:
    """The softer prong's momentum share z of the splitting that gave a one-prong jet its
    ``rho = m^2 / (pT R)^2``.

    At fixed rho = z (1 - z) theta^2 / R^2 the splitting's z follows the splitting
    function, ``P(z) dz``, folded onto z <= 1/2, from the smallest z whose angle fits in
    the jet (theta <= R: z (1 - z) >= rho) to 1/2: q -> qg ``(1 + (1 - z)^2) / z`` for
    quarks, g -> gg ``1/z + 1/(1 - z) - 2 + z (1 - z)`` (both halves of the fold) for
    gluons. Drawn log-uniformly (the soft 1/z) and kept with the finite part's ratio.
    Light jets mostly come from soft splittings (small z); a jet with m/pT near R/2 can
    only have come from a hard one (z near 1/2).
    """
    rho = np.clip(np.asarray(rho, dtype=float), 1e-8, RHO_MAX)
    z_min = 0.5 * (1.0 - np.sqrt(1.0 - 4.0 * rho))
    z_min = np.minimum(np.maximum(z_min, 1e-8), 0.5)
    z = np.empty_like(rho)
    pending = np.arange(rho.size)
    flat_min, flat_gluon = z_min.ravel(), np.asarray(gluon, dtype=bool).ravel()
    out = z.ravel()
    while pending.size:
        low = flat_min[pending]
        trial = low * np.exp(rng.random(pending.size) * np.log(0.5 / low))
        # z P(z) over its largest value on (0, 1/2]: 2 for quarks (at z -> 0), 9/8
        # for gluons (at z = 1/2)
        quark_ratio = (1.0 + (1.0 - trial) ** 2) / 2.0
        other = 1.0 - trial
        gluon_ratio = (1.0 + trial / other - 2.0 * trial + trial**2 * other) / 1.125
        ratio = np.where(flat_gluon[pending], gluon_ratio, quark_ratio)
        accept = rng.random(pending.size) < ratio
        out[pending[accept]] = trial[accept]
        pending = pending[~accept]
    return out.reshape(rho.shape)


def one_prong_substructure(
    rng: np.random.Generator, rho: np.ndarray, gluon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tau1, tau2, tau3 of one-prong (QCD) jets of ``rho = m^2 / (pT R)^2``.

    tau1 = sqrt(rho) x lognormal (median 0.8, sigma 0.35) + 0.01 (soft wide-angle
    radiation). tau21 follows the hardness of the splitting that made the mass
    (:func:`splitting_z`): a soft splitting leaves one prong and its radiation (tau21
    ~0.76), a hard one (z -> 1/2) two prongs, with more radiation around them than a
    colour singlet's decay (tau21 ~0.42): tau21 ~ Beta with mean 0.76 - 0.68 z, + 0.03
    for gluons, concentration 11 (sd ~0.13). So tau21 falls with m/pT: massive QCD jets
    look two-pronged. tau32 ~ Beta with mean 0.79 - 0.15 (sqrt(rho) - 0.08),
    concentration 22.
    """
    root = np.sqrt(rho)
    z = splitting_z(rng, rho, gluon)
    tau1 = root * rng.lognormal(np.log(0.8), 0.35, rho.shape) + 0.01
    tau21 = _beta(rng, 0.76 - 0.68 * z + 0.03 * gluon, 11.0)
    tau32 = _beta(rng, 0.79 - 0.15 * (root - 0.08), 22.0)
    return _taus(tau1, tau21, tau32)


def two_prong_substructure(
    rng: np.random.Generator, z: np.ndarray, delta_r: np.ndarray, radius: float = JET_RADIUS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tau1, tau2, tau3 of contained two-prong decays.

    ``z``: the softer prong's pT share; ``delta_r``: the prongs' distance. tau1 =
    z Delta R / R + soft radiation (0.02 x lognormal); tau21 ~ Beta with mean
    ``0.30 + 0.3 (1 - 2 z)`` (an asymmetric split looks more like one prong; the prongs'
    own radiation, the underlying event and pile-up fill tau2 in), concentration 8
    (broad: 10-90% about 0.15-0.6, as for W jets); tau32 ~ Beta with mean 0.72,
    concentration 18.
    """
    tau1 = z * delta_r / radius + 0.02 * rng.lognormal(0.0, 0.4, z.shape)
    tau21 = _beta(rng, 0.28 + 0.3 * (1.0 - 2.0 * z), 8.0)
    tau32 = _beta(rng, np.full(z.shape, 0.72), 18.0)
    return _taus(tau1, tau21, tau32)


# -- radiation and detector ----------------------------------------------------------------


def final_state_loss(rng: np.random.Generator, gluon: np.ndarray) -> np.ndarray:
    """The fraction of a jet's pT radiated out of its cone: exponential (mean 1% for
    quarks, 2% for gluons), plus, for 5% of jets, a hard wide-angle emission of 10-30%."""
    shape = gluon.shape
    soft = rng.exponential(1.0, shape) * np.where(gluon, 0.02, 0.01)
    hard = np.where(rng.random(shape) < 0.05, rng.uniform(0.10, 0.30, shape), 0.0)
    return np.minimum(soft + hard, 0.6)


def large_r_resolution(pt: np.ndarray, rapidity: np.ndarray) -> np.ndarray:
    """Relative pT resolution of a large-R jet: ``detector.jet_energy_resolution`` of its
    (massless) energy, with :data:`LARGE_R_CALIBRATION` in quadrature (5.8% at 1.5 TeV)."""
    energy = pt * np.cosh(rapidity)
    return np.hypot(detector.jet_energy_resolution(energy), LARGE_R_CALIBRATION)


def jet_mass_resolution(mass: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Relative mass resolution of a large-R jet: :data:`JET_MASS_RESOLUTION` with the
    angular term ``ANGULAR_RESOLUTION / theta`` in quadrature, theta = 2 m / pT the
    opening of a symmetric splitting (8% for a 500 GeV jet of 1.7 TeV, 12% at 100 GeV)."""
    opening = 2.0 * np.maximum(mass, 1.0) / pt
    return np.hypot(JET_MASS_RESOLUTION, ANGULAR_RESOLUTION / opening)


def smear(rng: np.random.Generator, values: np.ndarray, relative: np.ndarray | float):
    """``values`` times a Gaussian response of width ``relative`` (floored at 0.3)."""
    return values * np.maximum(1.0 + relative * rng.standard_normal(values.shape), 0.3)


class Generated(NamedTuple):
    """Events as recorded, and the share of generated events that passed the selection.

    Attributes:
        jets: the events, jet 0 the leading-pT jet
        efficiency: selected / generated (trigger, acceptance and any dijet-mass window;
            for a QCD window sample, of the hard scatterings in the window's mass range)
    """

    jets: Dijets
    efficiency: float


class SelectionError(LibericaError, RuntimeError):
    """Too few generated events pass a selection to fill a sample (the message says which)."""


MIN_EFFICIENCY = 1e-4
"""A selection that keeps fewer than this share of 100,000 or more events is refused."""


def _accumulate(n: int, batch: int, make: Callable[[int], Dijets]) -> Generated:
    """The first ``n`` selected events of batches ``make(size)``, sized from the
    efficiency seen so far (the same batches, hence events, for the same ``n``).

    Raises:
        SelectionError: when fewer than :data:`MIN_EFFICIENCY` of 100,000 or more pass
    """
    parts, have, drawn = [], 0, 0
    efficiency = 0.25
    while have < n:
        if drawn >= 100_000 and have < MIN_EFFICIENCY * drawn:
            raise SelectionError(
                f"only {have} of {drawn:,} generated dijet events pass the selection "
                f"(trigger, acceptance, mass window): too few for {n:,}"
            )
        size = int(min(max(1.1 * (n - have) / efficiency + 256, 1024), batch))
        jets = make(size)
        parts.append(jets)
        have += len(jets.pt)
        drawn += size
        efficiency = max(have / drawn, 1e-3)
    jets = concatenate(parts) if len(parts) > 1 else parts[0]
    return Generated(pt_ordered(select(jets, slice(0, n))), have / drawn)


# -- QCD --------------------------------------------------------------------------------------


class PartonLuminosity(NamedTuple):
    """The mass dependence of QCD 2 -> 2 at fixed chi: ``(1 - x)^p1 / x^(p2 + p3 ln x)``,
    ``x = m / sqrt(s)`` (the dijet function's form)."""

    p1: float = 10.0
    p2: float = 5.0
    p3: float = 0.0

    def density(self, mass: np.ndarray) -> np.ndarray:
        """f(m) (zero at and beyond x = 1)."""
        x = np.clip(np.asarray(mass, dtype=float) / SQRT_S, 1e-12, 1.0 - 1e-12)
        log_x = np.log(x)
        value = np.exp(self.p1 * np.log1p(-x) - (self.p2 + self.p3 * log_x) * log_x)
        return np.where(np.asarray(mass) < SQRT_S, value, 0.0)


class _Table(NamedTuple):
    log_pt_edges: np.ndarray
    delta_y_edges: np.ndarray
    cdf: np.ndarray


@functools.lru_cache(maxsize=8)
def _hard_scattering_table(
    luminosity: PartonLuminosity,
    pt_min: float,
    max_delta_y: float,
    mass_range: tuple[float, float] | None,
) -> _Table:
    """The density of (pT, |Delta y|) tabulated on cells (log pT x Delta y), cumulated."""
    log_pt_edges = np.linspace(np.log(pt_min), np.log(SQRT_S / 2.0), 801)
    delta_y_edges = np.linspace(0.0, max_delta_y, 101)
    log_pt = 0.5 * (log_pt_edges[1:] + log_pt_edges[:-1])[:, None]
    delta_y = 0.5 * (delta_y_edges[1:] + delta_y_edges[:-1])[None, :]
    pt = np.exp(log_pt)
    mass = 2.0 * pt * np.cosh(0.5 * delta_y)
    chi = np.exp(delta_y)
    # dm dchi = 2 cosh(dy/2) chi dpT ddy, and dpT = pT dlog pT
    density = luminosity.density(mass) * (1.0 + chi**-2) * 2.0 * np.cosh(0.5 * delta_y) * chi * pt
    if mass_range is not None:
        density = np.where((mass >= mass_range[0]) & (mass < mass_range[1]), density, 0.0)
    cdf = np.cumsum(density.ravel())
    return _Table(log_pt_edges, delta_y_edges, cdf / cdf[-1])


def hard_scattering(
    rng: np.random.Generator,
    n: int,
    luminosity: PartonLuminosity,
    *,
    pt_min: float,
    max_delta_y: float = 2.0 * MAX_ABS_RAPIDITY,
    mass_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """pT and signed Delta y of ``n`` 2 -> 2 scatterings with pT > ``pt_min``.

    Drawn from the tabulated density (module docstring) by cell, then uniformly in
    log pT and Delta y within the cell (cells of 0.2% in pT and 0.05 in Delta y).
    With ``mass_range``, only cells whose centre's mass is in [low, high) GeV.
    """
    window = None if mass_range is None else (float(mass_range[0]), float(mass_range[1]))
    table = _hard_scattering_table(luminosity, float(pt_min), float(max_delta_y), window)
    cells = np.searchsorted(table.cdf, rng.random(n), side="right")
    cells = np.minimum(cells, len(table.cdf) - 1)
    row, column = np.divmod(cells, len(table.delta_y_edges) - 1)
    log_pt = table.log_pt_edges[row] + rng.random(n) * np.diff(table.log_pt_edges)[row]
    delta_y = table.delta_y_edges[column] + rng.random(n) * np.diff(table.delta_y_edges)[column]
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return np.exp(log_pt), sign * delta_y


def gluon_fraction(mass: np.ndarray) -> np.ndarray:
    """The share of gluon jets in QCD dijets of mass ``mass``: 0.5 at 2.6 TeV, falling
    with x (valence quarks dominate at large x), at least 0.15."""
    return np.clip(0.5 - 1.2 * (mass / SQRT_S - 0.2), 0.15, 0.6)


PARTON_WINDOW = (0.83, 1.62)
"""A dijet-mass window [low, high) is generated from hard scatterings of mass in
[0.83 low, 1.62 high): of 76,280 QCD events in 3.3-3.7 TeV generated without the
restriction, one came from outside (an upward fluctuation from below)."""


class _QCDSettings(NamedTuple):
    luminosity: PartonLuminosity
    trigger_pt: float
    mjj_range: tuple[float, float] | None
    pt_min: float
    isr_scale: float
    radius: float


def _qcd_batch(rng: np.random.Generator, size: int, settings: _QCDSettings) -> Dijets:
    """Generate ``size`` QCD events and keep those that pass: the cheap kinematics first,
    the masses for the triggered ones, the substructure for the kept ones."""
    mass_range = None
    if settings.mjj_range is not None:
        low, high = settings.mjj_range
        mass_range = (PARTON_WINDOW[0] * low, PARTON_WINDOW[1] * high)
    pt, delta_y = hard_scattering(
        rng, size, settings.luminosity, pt_min=settings.pt_min, mass_range=mass_range
    )
    mass = 2.0 * pt * np.cosh(0.5 * delta_y)
    boost_width = 0.4 * np.log(SQRT_S / mass)
    y_boost = boost_width * rng.standard_normal(size)
    rapidity = np.stack([y_boost + 0.5 * delta_y, y_boost - 0.5 * delta_y], axis=1)
    # the initial-state kick k (2-D Gaussian, |k| Rayleigh) in the frame where jet 0 is
    # along +x: the jets recoil against it, each by -k/2
    k_along = settings.isr_scale * rng.standard_normal(size)
    k_across = settings.isr_scale * rng.standard_normal(size)
    px = np.stack([pt - 0.5 * k_along, -pt - 0.5 * k_along], axis=1)
    py = np.broadcast_to(-0.5 * k_across[:, None], px.shape)
    gluon = rng.random((size, 2)) < gluon_fraction(mass)[:, None]
    particle_pt = np.hypot(px, py) * (1.0 - final_state_loss(rng, gluon))
    reco_pt = smear(rng, particle_pt, large_r_resolution(particle_pt, rapidity))
    keep = (reco_pt.max(axis=1) > settings.trigger_pt) & np.all(
        np.abs(rapidity) < MAX_ABS_RAPIDITY, axis=1
    )
    index = np.flatnonzero(keep)
    particle_pt, gluon, rapidity = particle_pt[index], gluon[index], rapidity[index]
    phi = wrap_phi(rng.uniform(-np.pi, np.pi, len(index))[:, None] + np.arctan2(py, px)[index])
    jet_mass = sudakov_mass(rng, particle_pt, gluon, settings.radius)
    reco_mass = smear(rng, jet_mass, jet_mass_resolution(jet_mass, particle_pt))
    nothing = np.zeros_like(jet_mass)
    prongs = np.ones(jet_mass.shape, dtype=np.int8)
    jets = Dijets(
        reco_pt[index], rapidity, phi, reco_mass, nothing, nothing, nothing, gluon, prongs
    )
    if settings.mjj_range is not None:
        mjj = dijet_mass(jets)
        inside = np.flatnonzero((mjj >= settings.mjj_range[0]) & (mjj < settings.mjj_range[1]))
        jets, jet_mass, particle_pt = select(jets, inside), jet_mass[inside], particle_pt[inside]
    rho = (jet_mass / (particle_pt * settings.radius)) ** 2
    tau1, tau2, tau3 = one_prong_substructure(rng, rho, jets.gluon)
    return jets._replace(tau1=tau1, tau2=tau2, tau3=tau3)


def qcd_dijets(
    rng: np.random.Generator,
    n: int,
    luminosity: PartonLuminosity | None = None,
    *,
    trigger_pt: float,
    mjj_range: tuple[float, float] | None = None,
    pt_min: float = 950.0,
    isr_scale: float = 40.0,
    radius: float = JET_RADIUS,
    batch: int = 200_000,
) -> Generated:
    """``n`` QCD dijet events as recorded: leading jet above ``trigger_pt``, both jets
    within |y| < 2.5, and, with ``mjj_range``, a dijet mass in [low, high) GeV.

    Args:
        rng: the random generator
        n: how many events
        luminosity: the mass dependence of the hard scattering [default:
            ``PartonLuminosity()``]
        trigger_pt: the trigger's leading-jet pT threshold, GeV
        mjj_range: keep only dijet masses in [low, high) GeV
        pt_min: the lowest pT of the hard scattering, GeV: far enough below the trigger
            that radiation and resolution (6%) cannot lift a jet from below it
        isr_scale: each component of the initial-state kick is Gaussian of this width, GeV
        radius: the jet radius R
        batch: at most this many events generated at once (memory)

    Returns:
        Generated: the events (jet 0 the leading) and the selection efficiency
    """
    window = None if mjj_range is None else (float(mjj_range[0]), float(mjj_range[1]))
    luminosity = PartonLuminosity() if luminosity is None else luminosity
    settings = _QCDSettings(luminosity, trigger_pt, window, pt_min, isr_scale, radius)
    return _accumulate(n, batch, lambda size: _qcd_batch(rng, size, settings))


# -- resonance ------------------------------------------------------------------------------


def _rapidity(p4: np.ndarray) -> np.ndarray:
    return 0.5 * np.log((p4[..., 0] + p4[..., 3]) / (p4[..., 0] - p4[..., 3]))


def softer_prong_share(delta_r: np.ndarray, radius: float = JET_RADIUS) -> np.ndarray:
    """The share of the softer quark's energy (itself and its radiation) in the harder
    quark's jet, at a distance ``delta_r`` between them: 1 - exp(-(R - dR) / w) / 2 inside
    the cone, exp(-(dR - R) / w) / 2 outside, w = :data:`PRONG_SPREAD` R (continuous at
    the edge, 1 well inside, 0 well outside)."""
    width = PRONG_SPREAD * radius
    inside = 1.0 - 0.5 * np.exp(-np.maximum(radius - delta_r, 0.0) / width)
    outside = 0.5 * np.exp(-np.maximum(delta_r - radius, 0.0) / width)
    return np.where(delta_r < radius, inside, outside)


def _decay_jet(
    rng: np.random.Generator, parent: np.ndarray, radius: float
) -> tuple[np.ndarray, ...]:
    """The jet of a particle decaying to two massless quarks, before the detector:
    (pT, y, phi, mass, tau1, tau2, tau3, prongs)."""
    n = len(parent)
    first, second = two_body_decay(rng, parent, 0.0, 0.0)
    pt1, eta1, phi1, _ = pt_eta_phi_e(first)
    pt2, eta2, phi2, _ = pt_eta_phi_e(second)
    delta_r = np.hypot(eta1 - eta2, delta_phi(phi1, phi2))
    contained = delta_r < radius
    z = np.minimum(pt1, pt2) / (pt1 + pt2)
    first_harder = pt1 >= pt2
    share = softer_prong_share(delta_r, radius)
    softer_pt = np.minimum(pt1, pt2)

    no_gluon = np.zeros(n, dtype=bool)
    loss = final_state_loss(rng, no_gluon)
    parent_pt, _, parent_phi, _ = pt_eta_phi_e(parent)
    # the harder quark when the other is outside the cone: a one-prong quark jet, with
    # what of the softer quark's radiation reaches into the cone
    quark_pt = np.maximum(pt1, pt2) * (1.0 - loss)
    quark_mass = sudakov_mass(rng, quark_pt, no_gluon, radius)
    one = one_prong_substructure(rng, (quark_mass / (quark_pt * radius)) ** 2, no_gluon)
    two = two_prong_substructure(rng, z, delta_r, radius)

    decay_mass = invariant_mass(parent)
    # m^2 = 2 p1 p2 (1 - cos dR) is linear in the softer prong's energy in the cone
    pt = np.where(
        contained,
        (parent_pt - (1.0 - share) * softer_pt) * (1.0 - loss),
        quark_pt + share * softer_pt * (1.0 - loss),
    )
    rapidity = np.where(contained, _rapidity(parent), np.where(first_harder, eta1, eta2))
    phi = np.where(contained, parent_phi, np.where(first_harder, phi1, phi2))
    # out-of-cone radiation lowers a contained decay's mass too
    mass = np.where(
        contained,
        decay_mass * np.sqrt(share) * (1.0 - 0.5 * loss),
        np.sqrt(quark_mass**2 + share * decay_mass**2),
    )
    taus = [np.where(contained, a, b) for a, b in zip(two, one, strict=True)]
    prongs = np.where(contained, 2, 1).astype(np.int8)
    return pt, rapidity, phi, mass, *taus, prongs


class ResonanceModel(NamedTuple):
    """A resonance decaying to X Y, X and Y each to two quarks.

    Attributes:
        mass: the resonance's mass, GeV
        x_mass, y_mass: the daughters' masses, GeV (narrow)
        relative_width: its width over its mass (Breit-Wigner, within +-15% of the mass)
        pt_scale: its pT is gamma(2, pt_scale) (initial-state radiation), GeV
        rapidity_width: its rapidity is Gaussian of this width, within |y| < 2
    """

    mass: float
    x_mass: float
    y_mass: float
    relative_width: float = 0.01
    pt_scale: float = 40.0
    rapidity_width: float = 0.55


def _resonance_batch(
    rng: np.random.Generator,
    size: int,
    model: ResonanceModel,
    trigger_pt: float,
    radius: float,
) -> Dijets:
    line = BreitWigner(model.mass, model.relative_width * model.mass)
    s = line.sample(
        rng, np.full(size, (0.85 * model.mass) ** 2), np.full(size, (1.15 * model.mass) ** 2)
    )
    pt = rng.gamma(2.0, model.pt_scale, size)
    rapidity = np.clip(model.rapidity_width * rng.standard_normal(size), -2.0, 2.0)
    phi = rng.uniform(-np.pi, np.pi, size)
    parent = p4_from_pt_y_phi_m(pt, rapidity, phi, np.sqrt(s))
    x_p4, y_p4 = two_body_decay(rng, parent, model.x_mass, model.y_mass)
    pairs = zip(*(_decay_jet(rng, p4, radius) for p4 in (x_p4, y_p4)), strict=True)
    fields = [np.stack(pair, axis=1) for pair in pairs]
    jets = Dijets(*fields[:7], np.zeros((size, 2), dtype=bool), fields[7])
    reco_pt = smear(rng, jets.pt, large_r_resolution(jets.pt, jets.rapidity))
    reco_mass = smear(rng, jets.mass, jet_mass_resolution(jets.mass, jets.pt))
    jets = jets._replace(pt=reco_pt, mass=reco_mass)
    keep = (reco_pt.max(axis=1) > trigger_pt) & np.all(
        np.abs(jets.rapidity) < MAX_ABS_RAPIDITY, axis=1
    )
    return select(jets, np.flatnonzero(keep))


def resonance_dijets(
    rng: np.random.Generator,
    n: int,
    model: ResonanceModel,
    *,
    trigger_pt: float,
    radius: float = JET_RADIUS,
    batch: int = 200_000,
) -> Generated:
    """``n`` resonance decays as recorded (leading jet above ``trigger_pt``, both jets
    within |y| < 2.5): the jets of X and Y, pT-ordered (``prongs`` says which were
    contained two-prong decays).

    Args:
        rng: the random generator
        n: how many events
        model: the resonance and its daughters
        trigger_pt: the trigger's leading-jet pT threshold, GeV
        radius: the jet radius R
        batch: at most this many events generated at once (memory)

    Returns:
        Generated: the events (jet 0 the leading) and the selection efficiency
    """
    return _accumulate(
        n, batch, lambda size: _resonance_batch(rng, size, model, trigger_pt, radius)
    )
