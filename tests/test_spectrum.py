"""Spectrum fits: the two costs, Wilks' significance, its null distribution, and controls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from liberica.fits import merit
from liberica.fits.shapes import background_shape, bin_integrals, dijet
from liberica.fits.spectrum import (
    Spectrum,
    SpectrumError,
    data_mc_chi2,
    fit_background,
    fit_search,
    fit_signal,
    poisson_deviance,
    weighted_chi2,
)

EDGES = np.linspace(500.0, 2000.0, 31)
DIJET = (1.4e-5, 12.0, 4.5, 0.0)  # events per GeV: 800 per bin at 0.5 TeV, 24 at 1 TeV


def _expected_background(scale: float = 1.0) -> np.ndarray:
    return scale * bin_integrals(lambda m: dijet(m, *DIJET), EDGES)


def _signal(mass: float = 1000.0, sigma: float = 35.0, n: int = 20_000, seed: int = 1):
    rng = np.random.default_rng(seed)
    counts, _ = np.histogram(rng.normal(mass, sigma, n), EDGES)
    weights = np.full(len(counts), 0.01)  # a weighted MC: 20k events of weight 0.01
    return Spectrum.of(EDGES, counts * weights, counts * weights**2)


def test_the_weighted_chi2_is_the_sum_over_bins_with_weights():
    rng = np.random.default_rng(3)
    weights = [rng.uniform(-0.2, 1.0, k) for k in (5, 0, 8, 3)]  # one empty bin, negative w
    values = np.array([w.sum() for w in weights])
    variances = np.array([np.sum(w**2) for w in weights])
    spectrum = Spectrum.of([0, 1, 2, 3, 4], values, variances)
    expected = np.array([2.0, 0.5, 3.0, 1.0])
    used = variances > 0
    direct = np.sum((values[used] - expected[used]) ** 2 / variances[used])
    chi2, bins = weighted_chi2(spectrum, expected)
    assert chi2 == pytest.approx(direct, rel=1e-12) and bins == 3  # the empty bin is left out
    # a fit says how many bins it used, and counts its degrees of freedom from them
    fit = fit_background(spectrum, "polynomial0", "chi2")
    assert fit.bins == 3 and fit.ndf == 2 and len(fit.expected) == 4
    # data against a weighted MC prediction: variance n + sum w^2
    data = np.array([3.0, 1.0, 4.0, 2.0])
    chi2, bins = data_mc_chi2(data, spectrum)
    assert chi2 == pytest.approx(np.sum((data - values) ** 2 / (data + variances)), rel=1e-12)
    assert bins == 4


def test_the_poisson_deviance_of_counts_and_of_weighted_bins():
    counts = np.array([4.0, 0.0, 9.0])
    expected = np.array([5.0, 1.5, 8.0])
    deviance, _ = poisson_deviance(Spectrum.of([0, 1, 2, 3], counts), expected)
    direct = 2 * np.sum(expected - counts + counts * np.log(np.maximum(counts, 1) / expected))
    assert deviance == pytest.approx(direct, rel=1e-12)
    # a weighted bin (sum w, sum w^2) is the Poisson of the effective count
    w = Spectrum.of([0, 1], [6.0], [3.0])
    n_eff, mu_eff = 12.0, 2.0 * 5.0
    assert poisson_deviance(w, np.array([5.0]))[0] == pytest.approx(
        2 * (mu_eff - n_eff + n_eff * math.log(n_eff / mu_eff)), rel=1e-12
    )


@pytest.mark.parametrize("s, b", [(10.0, 100.0), (3.0, 0.5), (50.0, 2000.0)])
def test_one_bin_asimov_wilks_z_is_the_asimov_formula(s, b):
    spectrum = Spectrum.of([900.0, 1100.0], [s + b])  # Asimov data n = s + b
    signal = fit_signal(
        Spectrum.of(
            np.linspace(900, 1100, 41),
            np.histogram(
                np.random.default_rng(0).normal(1000, 10, 5000), np.linspace(900, 1100, 41)
            )[0],
        )
    )
    fit = fit_search(spectrum, signal, "polynomial0", "poisson", fixed={"p0": b / 200.0})
    assert fit.signal_yield == pytest.approx(s, rel=1e-3)
    assert fit.z == pytest.approx(math.sqrt(2 * ((s + b) * math.log1p(s / b) - s)), abs=1e-6)
    assert fit.z == pytest.approx(merit.asimov_z(s, b), abs=1e-6)


@pytest.mark.parametrize("s, b, sigma_b", [(10.0, 100.0, 10.0), (5.0, 20.0, 1.0), (30, 400, 80)])
def test_on_off_profile_likelihood_z_is_cowans_formula(s, b, sigma_b):
    tau = b / sigma_b**2
    z = merit.on_off_z(s + b, tau * b, tau)  # Asimov on and off counts
    assert z == pytest.approx(merit.asimov_z(s, b, sigma_b), rel=1e-9)
    # the uncertainty costs significance, and vanishes as sigma_b -> 0
    assert z < merit.asimov_z(s, b)
    assert merit.asimov_z(s, b, 1e-6 * b) == pytest.approx(merit.asimov_z(s, b), rel=1e-6)


def test_the_signal_gaussian_sits_at_the_mass_within_its_width():
    signal = fit_signal(_signal(1000.0, 35.0))
    assert abs(signal.mean - 1000.0) < signal.sigma
    assert signal.sigma == pytest.approx(35.0, rel=0.05)
    assert signal.window(2.0) == pytest.approx((1000 - 70, 1000 + 70), abs=5)
    assert signal.fit.p_value > 0.001
    crystal = fit_signal(_signal(1000.0, 35.0), "crystal_ball")
    assert abs(crystal.mean - 1000.0) < crystal.sigma


def _null_toys(cost: str, n_toys: int, seed: int):
    """Background-only pseudo-spectra: Poisson counts for ``poisson``, Gaussian sum w with
    the bin's sum w^2 for ``chi2`` (weights of 0.5: 4 entries per unit)."""
    rng = np.random.default_rng(seed)
    signal = fit_signal(_signal())
    mean = _expected_background(10.0)  # 8,000 to 30 events per bin at 0.5-1.5 TeV
    zs, s_hats = [], []
    for _ in range(n_toys):
        if cost == "poisson":
            spectrum = Spectrum.of(EDGES, rng.poisson(mean).astype(float))
        else:
            variance = 0.5 * mean
            spectrum = Spectrum.of(EDGES, rng.normal(mean, np.sqrt(variance)), variance)
        fit = fit_search(spectrum, signal, "dijet", cost, fit_range=(500.0, 1500.0))
        zs.append(fit.z)
        s_hats.append(fit.signal_yield)
    return np.array(zs), np.array(s_hats), mean


@pytest.mark.parametrize("cost", ["poisson", "chi2"])
def test_the_signed_z_of_background_only_spectra_is_standard_normal(cost):
    zs, s_hats, mean = _null_toys(cost, 300, seed={"poisson": 11, "chi2": 12}[cost])
    fit_bins = EDGES[1:] <= 1500.0
    assert mean[fit_bins].min() >= 25
    assert stats.kstest(zs, "norm").pvalue > 0.01
    below = np.mean(s_hats <= 0)
    assert abs(below - 0.5) < 3 * math.sqrt(0.25 / len(s_hats)), below
    # and the KS check can fail: Z scaled by 1.5 is not standard normal
    assert stats.kstest(1.5 * zs, "norm").pvalue < 0.01


def test_a_one_parameter_exponential_is_rejected_on_a_dijet_background():
    mean = _expected_background(10.0)
    spectrum = Spectrum.of(EDGES, mean, mean)  # Asimov, with Poisson-like variances
    stiff = fit_background(spectrum, "exponential", "chi2")
    assert stiff.p_value < 1e-6, stiff
    good = fit_background(spectrum, "dijet", "chi2")
    assert good.p_value > 0.5 and good.chi2_ndf < 0.1


def test_z_grows_with_the_injected_signal():
    rng = np.random.default_rng(5)
    signal = fit_signal(_signal())
    background = _expected_background()
    shape = signal.shape.integrals(signal.parameters, EDGES)
    noise = rng.poisson(background).astype(float)
    zs = []
    for injected in (0.0, 30.0, 80.0, 160.0):
        counts = noise + rng.poisson(injected * shape)
        fit = fit_search(Spectrum.of(EDGES, counts), signal, "dijet", "poisson")
        zs.append(fit.z_discovery)
        if injected:
            assert fit.signal_yield == pytest.approx(injected, abs=4 * fit.signal_yield_error)
    assert zs[1] < zs[2] < zs[3] and zs[3] > 5


def test_bad_spectra_and_ranges_are_refused_with_a_reason():
    with pytest.raises(SpectrumError, match="not a bin edge"):
        Spectrum.of(EDGES, np.ones(30)).within(510.0, 1500.0)
    with pytest.raises(SpectrumError, match="finite"):
        Spectrum.of([0, 1], [np.nan])
    with pytest.raises(SpectrumError, match="n \\+ 1 edges"):
        Spectrum.of([0, 1, 2], [1.0])
    with pytest.raises(KeyError, match="unknown background shape 'dijet5'"):
        background_shape("dijet5", 0, 1)
    with pytest.raises(SpectrumError, match="unknown cost 'chi3'"):
        fit_background(Spectrum.of(EDGES, _expected_background()), "dijet", "chi3")


def test_figures_of_merit_at_reference_values():
    # s = 10, b = 100: S/sqrt(B) = 1, and the Asimov Z is a little below it
    assert merit.s_over_sqrt_b(10, 100) == 1.0
    assert merit.asimov_z(10, 100) == pytest.approx(0.983992, abs=1e-6)
    # with sigma_b = 10 (dB = 0.1 B): Cowan's formula
    assert merit.asimov_z(10, 100, 10) == pytest.approx(0.690196, abs=1e-6)
    assert merit.s_over_sqrt_s_b_db2(10, 100, 0.1) == pytest.approx(10 / math.sqrt(210))
    assert merit.punzi(0.3, 100) == pytest.approx(0.3 / 12.5)
    assert merit.asimov_z(0, 100) == 0.0 and math.isnan(merit.asimov_z(1, 0))


def test_a_prediction_at_or_below_zero_has_no_poisson_likelihood():
    spectrum = Spectrum.of([0, 1, 2], [0.0, 5.0])
    assert poisson_deviance(spectrum, np.array([-0.5, 5.0]))[0] >= 1e30
    assert poisson_deviance(spectrum, np.array([0.5, 5.0]))[0] == pytest.approx(1.0)
    # sparse counts: the fitted prediction stays positive in every bin
    rng = np.random.default_rng(2)
    counts = rng.poisson(_expected_background(0.02)).astype(float)
    fit = fit_background(Spectrum.of(EDGES, counts), "polynomial3", "poisson")
    assert fit.expected.min() > 0 and fit.cost < 1e30


def test_an_empty_weighted_bin_counts_at_the_spectrum_effective_scale():
    from liberica.fits.spectrum import poisson_scales

    # weights of 0.01: 100 effective counts per unit, the empty bin too
    spectrum = Spectrum.of([0, 1, 2, 3], [1.0, 0.0, 2.0], [0.01, 0.0, 0.02])
    np.testing.assert_allclose(poisson_scales(spectrum), [100.0, 100.0, 100.0])
    deviance, _ = poisson_deviance(spectrum, np.array([1.0, 0.05, 2.0]))
    assert deviance == pytest.approx(2 * 100 * 0.05)  # 2 x the effective expected count


def test_a_large_weighted_signal_is_fitted_inside_the_yield_range():
    signal = fit_signal(_signal())
    template = signal.shape.integrals(signal.parameters, EDGES)
    background = _expected_background()
    values = background + 200_000 * template
    spectrum = Spectrum.of(EDGES, values, values * 0.001)  # events of weight 0.001
    fit = fit_search(spectrum, signal, "dijet", "chi2")
    assert fit.signal_yield == pytest.approx(200_000, rel=1e-3)
    assert fit.h1.valid and fit.h1.at_limit == ()
    # H0 cannot describe a 200k-event peak: where it runs to a limit, it says so
    assert all(w.startswith("the H0 fit") for w in fit.warnings)


# -- fits with a masked signal region ---------------------------------------------------

MASKED_EDGES = 3300 * (3700 / 3300) ** (np.arange(-8, 21) / 4)  # 4 bins per 11.5% SR
MASK = (float(MASKED_EDGES[8]), float(MASKED_EDGES[12]))  # 3300-3700 GeV


def _masked_background(total: float) -> np.ndarray:
    shape = bin_integrals(lambda m: dijet(m, 1.0, 10.0, 5.0, 0.0), MASKED_EDGES)
    return total * shape / shape.sum()


def test_a_sideband_fit_is_not_pulled_by_a_bump_in_the_mask():
    from liberica.fits.signal_region import significance
    from liberica.fits.spectrum import fit_sidebands

    rng = np.random.default_rng(4)
    truth = _masked_background(20_000)
    bump, _ = np.histogram(rng.normal(3500, 100, 400), MASKED_EDGES)
    spectrum = Spectrum.of(MASKED_EDGES, rng.poisson(truth) + bump)
    masked = fit_sidebands(spectrum, MASK)
    assert masked.mask == pytest.approx(MASK) and masked.fit.valid
    assert masked.fit.bins == 24 and masked.fit.ndf == 20  # the 4 masked bins are not fitted
    assert len(masked.expected) == 28 and masked.masked.sum() == 4
    true_in_mask = truth[8:12].sum()
    # the fit interpolates the background, within its error, and leaves the bump on top
    assert abs(masked.expected_in_mask - true_in_mask) < 2.5 * masked.expected_in_mask_error
    assert masked.observed_in_mask - masked.expected_in_mask > 300
    z = significance(masked.observed_in_mask, masked.expected_in_mask,
                     masked.expected_in_mask_error)  # fmt: skip
    assert z > 5
    # the unmasked fit absorbs part of the bump: less left above it in the SR
    whole = fit_background(spectrum, "dijet", "poisson")
    assert whole.expected[8:12].sum() > masked.expected_in_mask + masked.expected_in_mask_error
    # a refit from the fit itself (its decorrelated parameters) finds the same minimum
    again = fit_sidebands(spectrum, MASK, start=masked.fit)
    assert again.expected_in_mask == pytest.approx(masked.expected_in_mask, rel=1e-4)
    assert again.expected_in_mask_error == pytest.approx(masked.expected_in_mask_error, rel=0.01)


@pytest.mark.parametrize("total", [300.0, 20_000.0])
def test_the_error_in_the_mask_is_the_fisher_information_one(total):
    """HESSE in the dijet parameters underestimated it by 2-10%: the fit decorrelates them."""
    from liberica.fits.shapes import background_shape
    from liberica.fits.spectrum import fit_sidebands

    expected = _masked_background(total)
    masked = fit_sidebands(Spectrum.of(MASKED_EDGES, expected), MASK)  # Asimov
    shape = background_shape("dijet", MASKED_EDGES[0], MASKED_EDGES[-1])
    theta = np.array(list(masked.fit.parameters.values()))
    jacobian = np.empty((28, 4))
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * max(abs(theta[i]), 1.0)
        up, down = (shape.integrals(theta + s, MASKED_EDGES) for s in (step, -step))
        jacobian[:, i] = (up - down) / (2 * step[i])
    outside = np.ones(28, dtype=bool)
    outside[8:12] = False
    fisher = (jacobian[outside].T / expected[outside]) @ jacobian[outside]
    gradient = jacobian[~outside].sum(axis=0)
    reference = np.sqrt(gradient @ np.linalg.solve(fisher, gradient))
    assert masked.expected_in_mask_error == pytest.approx(reference, rel=0.01)
    assert masked.fit.covariance.shape == (4, 4)


def test_a_mask_off_the_bin_edges_is_refused_with_a_reason():
    from liberica.fits.spectrum import fit_sidebands

    spectrum = Spectrum.of(MASKED_EDGES, np.round(_masked_background(5000)))
    with pytest.raises(SpectrumError, match="mask end 3350 GeV is not a bin edge"):
        fit_sidebands(spectrum, (3350.0, 3700.0))
    with pytest.raises(SpectrumError, match="empty signal-region mask"):
        fit_sidebands(spectrum, (3700.0, 3300.0))
    with pytest.raises(SpectrumError, match="leaves 3 bins"):
        fit_sidebands(spectrum, (MASKED_EDGES[3], MASKED_EDGES[-1]))
    with pytest.raises(SpectrumError, match="not a bin edge"):  # outside the fit range
        fit_sidebands(spectrum, MASK, fit_range=(MASKED_EDGES[12], MASKED_EDGES[-1]))
