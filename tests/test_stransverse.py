"""mT2 against a brute-force minimization, and its exact special cases."""

import numpy as np
from scipy.optimize import minimize

from liberica.processors.stransverse import mt2


def _brute_force(a: np.ndarray, b: np.ndarray, p: np.ndarray, rng) -> float:
    """min over q1 of max(mT^2(a, q1), mT^2(b, p - q1)), massless, by Nelder-Mead from many starts."""

    def objective(q):
        q2 = p - q
        first = 2 * (np.hypot(*a) * np.hypot(*q) - a @ q)
        second = 2 * (np.hypot(*b) * np.hypot(*q2) - b @ q2)
        return max(first, second)

    starts = [p / 2, np.zeros(2), p] + [rng.normal(0, 200, 2) for _ in range(6)]
    options = {"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000}
    best = min(minimize(objective, s, method="Nelder-Mead", options=options).fun for s in starts)
    return float(np.sqrt(max(best, 0.0)))


def test_mt2_equals_brute_force_minimization():
    rng = np.random.default_rng(11)
    n = 20
    pt1, pt2, met = rng.uniform(20, 300, n), rng.uniform(20, 300, n), rng.uniform(0, 400, n)
    phi1, phi2, met_phi = (rng.uniform(-np.pi, np.pi, n) for _ in range(3))
    got = mt2(pt1, phi1, pt2, phi2, met, met_phi)
    want = []
    for i in range(n):
        a = pt1[i] * np.array([np.cos(phi1[i]), np.sin(phi1[i])])
        b = pt2[i] * np.array([np.cos(phi2[i]), np.sin(phi2[i])])
        p = met[i] * np.array([np.cos(met_phi[i]), np.sin(met_phi[i])])
        want.append(_brute_force(a, b, p, rng))
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert (np.asarray(want) > 1.0).sum() > 5  # not only the trivial zeros


def test_mt2_special_cases():
    # no missing momentum: the invisibles can be at rest
    assert mt2([50.0], [0.3], [40.0], [2.0], [0.0], [0.0])[0] == 0.0
    # pT^miss between the two leptons: split along them, mT2 = 0
    assert mt2([50.0], [0.0], [40.0], [1.0], [30.0], [0.5])[0] < 1e-6
    # back-to-back leptons, pT^miss perpendicular: the infimum 0 is not attained, still 0
    assert mt2([50.0], [0.0], [50.0], [np.pi], [80.0], [np.pi / 2])[0] < 1e-3
    # two aligned leptons of 50 GeV along x, pT^miss 60 GeV along -x: the split is q1 = q2 =
    # (-30, 0), each mT^2 = 2 (50 * 30 + 50 * 30) = 6000 GeV^2
    value = mt2([50.0], [0.0], [50.0], [0.0], [60.0], [np.pi])[0]
    np.testing.assert_allclose(value, np.sqrt(6000.0), rtol=1e-6)


def test_mt2_symmetric_and_homogeneous():
    rng = np.random.default_rng(2)
    x = [rng.uniform(10, 200, 50), rng.uniform(-3, 3, 50)] * 3
    pt1, phi1, pt2, phi2, met, met_phi = x[0], x[1], x[2] * 0.7, x[3] + 1.0, x[4] * 1.3, x[5] - 2.0
    base = mt2(pt1, phi1, pt2, phi2, met, met_phi)
    np.testing.assert_allclose(mt2(pt2, phi2, pt1, phi1, met, met_phi), base, atol=1e-6)
    np.testing.assert_allclose(
        mt2(3 * pt1, phi1, 3 * pt2, phi2, 3 * met, met_phi), 3 * base, rtol=1e-6, atol=1e-6
    )
    # a common rotation changes nothing
    np.testing.assert_allclose(
        mt2(pt1, phi1 + 0.4, pt2, phi2 + 0.4, met, met_phi + 0.4), base, rtol=1e-6, atol=1e-6
    )
