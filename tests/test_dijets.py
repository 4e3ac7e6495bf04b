"""Massive large-R dijets (liberica.samples.dijets): jet masses, prong containment,
the selection, and the refusal of a selection nothing passes."""

from __future__ import annotations

import numpy as np
import pytest

from liberica.core.errors import LibericaError
from liberica.samples import dijets
from liberica.samples.dijets import ResonanceModel, SelectionError


def test_sudakov_masses_are_heavier_for_gluons_and_rise_with_pt():
    rng = np.random.default_rng(1)
    n = 20_000
    quark = dijets.sudakov_mass(rng, np.full(n, 1300.0), np.zeros(n, dtype=bool))
    gluon = dijets.sudakov_mass(rng, np.full(n, 1300.0), np.ones(n, dtype=bool))
    harder = dijets.sudakov_mass(rng, np.full(n, 2600.0), np.zeros(n, dtype=bool))
    # Casimir scaling: the gluon's Sudakov exponent is 9/4 the quark's
    assert np.median(gluon) > 1.8 * np.median(quark)
    assert 1.5 < np.median(harder) / np.median(quark) < 2.1
    for masses, pt in ((quark, 1300.0), (gluon, 1300.0), (harder, 2600.0)):
        assert np.all(masses <= np.sqrt(dijets.RHO_MAX) * pt * dijets.JET_RADIUS + 1e-9)
        assert np.median(masses) < 0.15 * pt  # a peak well below pT R


def test_qcd_events_pass_the_selection_they_were_asked_for():
    made = dijets.qcd_dijets(
        np.random.default_rng(2), 3_000, trigger_pt=1200.0, mjj_range=(3000.0, 3200.0)
    )
    jets = made.jets
    assert len(jets.pt) == 3_000
    assert np.all(jets.pt[:, 0] >= jets.pt[:, 1]) and np.all(jets.pt[:, 0] > 1200.0)
    assert np.all(np.abs(jets.rapidity) < dijets.MAX_ABS_RAPIDITY)
    masses = dijets.dijet_mass(jets)
    assert np.all((masses >= 3000.0) & (masses < 3200.0))
    assert 0.0 < made.efficiency < 1.0
    assert np.all(jets.prongs == 1)


def test_resonance_quarks_share_a_jet_when_closer_than_r():
    """X (500 GeV) from a 3.5 TeV resonance: its quarks are about 4 m / M = 0.57 apart,
    more when the split is asymmetric; Y (100 GeV) is nearly always contained."""
    made = dijets.resonance_dijets(
        np.random.default_rng(3), 10_000, ResonanceModel(3500.0, 500.0, 100.0), trigger_pt=1200.0
    )
    jets = made.jets
    contained = jets.prongs == 2
    assert 0.8 < contained.mean() < 0.95  # both jets: X 76%, Y 99%
    # a contained X has about its mass; a lone quark a QCD-like one, unless the other
    # quark's radiation reaches into its cone
    x_like = (jets.mass > 400.0) & (jets.mass < 600.0)
    assert np.mean(contained[x_like]) > 0.95
    assert np.median(jets.mass[~contained]) < 200.0
    assert np.mean(jets.mass[~contained] < 150.0) > 0.4
    heavier = jets.mass.max(axis=1)
    assert 430.0 < np.median(heavier) < 500.0  # pulled low by leaking prongs
    assert 0.15 < np.mean(heavier < 400.0) < 0.35  # the low tail
    ratios = jets.tau2 / jets.tau1
    assert np.median(ratios[contained]) < np.median(ratios[~contained]) - 0.2
    # broad, as for W jets
    assert np.quantile(ratios[contained], 0.1) < 0.22 and np.quantile(ratios[contained], 0.9) > 0.55


def test_softer_prong_share_is_continuous_at_the_cone_edge():
    share = dijets.softer_prong_share(np.array([0.2, 0.9, 1.0 - 1e-9, 1.0, 1.1, 1.8]))
    assert share[0] > 0.999 and share[-1] < 0.001
    assert np.all(np.diff(share) < 0)
    assert share[2] == pytest.approx(0.5) and share[3] == pytest.approx(0.5)


def test_massive_qcd_jets_come_from_hard_splittings_and_look_two_pronged():
    rng = np.random.default_rng(6)
    n = 20_000
    light, heavy = np.full(n, 0.003), np.full(n, 0.12)  # m/pT 0.055 and 0.35
    quark = np.zeros(n, dtype=bool)
    z_light, z_heavy = dijets.splitting_z(rng, light, quark), dijets.splitting_z(rng, heavy, quark)
    # theta <= R: z (1 - z) >= rho; z <= 1/2 (the softer prong)
    assert np.all(z_heavy * (1.0 - z_heavy) >= 0.12 - 1e-12) and np.all(z_heavy <= 0.5)
    assert np.median(z_light) < 0.1 < 0.2 < np.median(z_heavy)
    gluon_z = dijets.splitting_z(rng, light, np.ones(n, dtype=bool))
    assert np.all((gluon_z >= 0.0) & (gluon_z <= 0.5))
    tau1, tau2, _ = dijets.one_prong_substructure(rng, light, quark)
    light_ratio = tau2 / tau1
    tau1, tau2, _ = dijets.one_prong_substructure(rng, heavy, quark)
    heavy_ratio = tau2 / tau1
    assert 0.68 < light_ratio.mean() < 0.78
    assert 0.45 < heavy_ratio.mean() < 0.65
    assert np.quantile(heavy_ratio, 0.1) < 0.4  # some look like signal


def test_a_selection_nothing_passes_is_refused():
    with pytest.raises(SelectionError, match="pass the selection") as error:
        dijets.qcd_dijets(np.random.default_rng(4), 10, trigger_pt=7_000.0)
    assert isinstance(error.value, LibericaError)
