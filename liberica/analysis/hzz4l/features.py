"""Per-event classifier features of hzz4l: the one function training and inference share.

Features are computed from the dense four-lepton arrays of the events a
selection kept, with no padding. Units: GeV. The ``m4l`` mass itself is left
out on purpose: the fit uses m4l as its observable in each score region, so a
score built from the other kinematics adds information instead of repeating it.
"""

from __future__ import annotations

import numba
import numpy as np

from liberica.analysis.hzz4l import FEATURE_NAMES, FEATURE_SET
from liberica.analysis.hzz4l.quadruplets import FourLeptons, ZPairing
from liberica.processors import compiled

__all__ = ["FEATURE_NAMES", "FEATURE_SET", "feature_matrix", "hzz4l_features"]


def feature_matrix(result, rows: np.ndarray) -> np.ndarray:
    """The features of ``rows`` of a selection result (the registered feature set's function)."""
    return hzz4l_features(result.quad, result.pairing, rows)


def hzz4l_features(quad: FourLeptons, pairing: ZPairing, rows: np.ndarray) -> np.ndarray:
    """The ``(len(rows), len(FEATURE_NAMES))`` float32 feature matrix.

    Computed in float64 and rounded once to float32. A compiled loop (numba)
    does the arithmetic, in the order of the numpy expressions it replaced, so
    the features stayed bit for bit what the models were trained on. The
    logarithm and arctan2 are left to numpy: the C library's versions, which
    numba calls, differ from numpy's vectorized ones in the last bit.

    Args:
        quad: dense four-lepton events (leptons ordered by pT)
        pairing: their Z1/Z2 pairing
        rows: indices into ``quad`` of the events to compute (paired events only)
    """
    features, rapidity_ratio, delta_eta, sin_cos_delta_phi = _features_kernel(
        np.asarray(rows, dtype=np.int64),
        quad.pt,
        quad.eta,
        quad.phi,
        quad.energy,
        quad.px,
        quad.py,
        quad.pz,
        pairing.z1_leptons,
        pairing.z2_leptons,
        pairing.z1_mass,
        pairing.z2_mass,
    )
    features[:, _Y4L] = 0.5 * np.log(rapidity_ratio)
    # wrapped to (-pi, pi], as np.angle(np.exp(1j * delta_phi)), bit for bit
    delta_phi = np.arctan2(sin_cos_delta_phi[..., 0], sin_cos_delta_phi[..., 1])
    features[:, _DELTA_R_Z1 : _DELTA_R_Z2 + 1] = np.hypot(delta_eta, delta_phi)
    return features


_Y4L = FEATURE_NAMES.index("y4l")
_DELTA_R_Z1 = FEATURE_NAMES.index("delta_r_z1")
_DELTA_R_Z2 = FEATURE_NAMES.index("delta_r_z2")
assert _DELTA_R_Z2 == _DELTA_R_Z1 + 1


@numba.njit(inline="always")
def _dot(ax, ay, az, bx, by, bz):  # pragma: no cover - compiled
    """A three-vector dot product summed as (x + z) + y, the order of the numpy einsum it replaced."""
    return (ax * bx + az * bz) + ay * by


@compiled.loop
def _features_kernel(
    rows, pt, eta, phi, energy, px, py, pz, z1_leptons, z2_leptons, z1_mass, z2_mass
):  # pragma: no cover - compiled
    n = len(rows)
    features = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    rapidity_ratio = np.empty(n)
    delta_eta = np.empty((n, 2))
    sin_cos_delta_phi = np.empty((n, 2, 2))
    for out in range(n):
        row = rows[out]
        e4, px4 = compiled.sum_of_four(energy, row), compiled.sum_of_four(px, row)
        py4, pz4 = compiled.sum_of_four(py, row), compiled.sum_of_four(pz, row)
        rapidity_ratio[out] = (e4 + pz4) / compiled.at_least(e4 - pz4, 1e-12)
        # cos(theta*): the Z1 direction in the 4l rest frame against the 4l flight direction
        a, b = z1_leptons[row, 0], z1_leptons[row, 1]
        z1_e = energy[row, a] + energy[row, b]
        z1_x, z1_y, z1_z = px[row, a] + px[row, b], py[row, a] + py[row, b], pz[row, a] + pz[row, b]
        # boost into the 4l rest frame: velocity -p4l / E4l
        bx, by, bz = -(px4 / e4), -(py4 / e4), -(pz4 / e4)
        b2 = _dot(bx, by, bz, bx, by, bz)
        gamma = 1.0 / np.sqrt(compiled.at_least(1.0 - b2, 1e-12))
        bp = _dot(bx, by, bz, z1_x, z1_y, z1_z)
        factor = (gamma - 1.0) / b2 if b2 > 0 else 0.0
        along = factor * bp + gamma * z1_e
        rest_x, rest_y, rest_z = z1_x + along * bx, z1_y + along * by, z1_z + along * bz
        norm = np.sqrt((px4 * px4 + py4 * py4) + pz4 * pz4) * np.sqrt(
            (rest_x * rest_x + rest_y * rest_y) + rest_z * rest_z
        )
        cos_theta_star = 0.0
        if norm > 0:
            cos_theta_star = _dot(px4, py4, pz4, rest_x, rest_y, rest_z) / norm
        features[out, 0] = z1_mass[row]
        features[out, 1] = z2_mass[row]
        features[out, 2] = np.hypot(px4, py4)
        features[out, 4] = cos_theta_star
        for k in range(4):
            features[out, 5 + k] = pt[row, k]
            features[out, 9 + k] = abs(eta[row, k])
        for z, pair in enumerate((z1_leptons, z2_leptons)):
            a, b = pair[row, 0], pair[row, 1]
            delta_eta[out, z] = eta[row, a] - eta[row, b]
            delta_phi = phi[row, a] - phi[row, b]
            sin_cos_delta_phi[out, z, 0] = np.sin(delta_phi)
            sin_cos_delta_phi[out, z, 1] = np.cos(delta_phi)
    return features, rapidity_ratio, delta_eta, sin_cos_delta_phi
