"""Per-event classifier features of hzz4l: the one function training and inference share.

Features are computed from the dense four-lepton arrays of the events a
selection kept, with no padding. Units: GeV. The ``m4l`` mass itself is left
out on purpose: the fit uses m4l as its observable in each score region, so a
score built from the other kinematics adds information instead of repeating it.
"""

from __future__ import annotations

import numpy as np

from liberica.processors.quadruplets import FourLeptons, ZPairing, sum_over_leptons

FEATURE_NAMES: tuple[str, ...] = (
    "m12",
    "m34",
    "pt4l",
    "y4l",
    "cos_theta_star",
    "lep1_pt",
    "lep2_pt",
    "lep3_pt",
    "lep4_pt",
    "lep1_abs_eta",
    "lep2_abs_eta",
    "lep3_abs_eta",
    "lep4_abs_eta",
    "delta_r_z1",
    "delta_r_z2",
)
"""Feature names, in the column order of the classifier's input."""

FEATURE_SET = "hzz4l-v1"
"""Identifies this feature function; a model records the set it was trained with."""


def _pair_sum(component: np.ndarray, pair: np.ndarray) -> np.ndarray:
    rows = np.arange(len(component))
    return component[rows, pair[:, 0]] + component[rows, pair[:, 1]]


def _delta_r(eta: np.ndarray, phi: np.ndarray, pair: np.ndarray) -> np.ndarray:
    rows = np.arange(len(eta))
    deta = eta[rows, pair[:, 0]] - eta[rows, pair[:, 1]]
    dphi = np.angle(np.exp(1j * (phi[rows, pair[:, 0]] - phi[rows, pair[:, 1]])))
    return np.hypot(deta, dphi)


def hzz4l_features(quad: FourLeptons, pairing: ZPairing, rows: np.ndarray) -> np.ndarray:
    """The ``(len(rows), len(FEATURE_NAMES))`` float32 feature matrix.

    Args:
        quad: dense four-lepton events (leptons ordered by pT)
        pairing: their Z1/Z2 pairing
        rows: indices into ``quad`` of the events to compute (paired events only)
    """
    pt, eta, phi, energy = quad.pt[rows], quad.eta[rows], quad.phi[rows], quad.energy[rows]
    z1, z2 = pairing.z1_leptons[rows], pairing.z2_leptons[rows]
    px, py, pz = quad.px[rows], quad.py[rows], quad.pz[rows]
    total = [sum_over_leptons(c) for c in (energy, px, py, pz)]
    e4, px4, py4, pz4 = total
    pt4l = np.hypot(px4, py4)
    y4l = 0.5 * np.log((e4 + pz4) / np.maximum(e4 - pz4, 1e-12))
    # cos(theta*): Z1 direction in the 4l rest frame against the 4l flight direction
    beta = np.stack([px4, py4, pz4], axis=1) / e4[:, None]
    z1_p4 = np.stack([_pair_sum(c, z1) for c in (energy, px, py, pz)], axis=1)
    z1_rest = _boost(z1_p4, -beta)
    direction = np.stack([px4, py4, pz4], axis=1)
    norm = np.linalg.norm(direction, axis=1) * np.linalg.norm(z1_rest[:, 1:], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_theta_star = np.where(
            norm > 0, np.einsum("ij,ij->i", direction, z1_rest[:, 1:]) / norm, 0.0
        )
    columns = [
        pairing.z1_mass[rows],
        pairing.z2_mass[rows],
        pt4l,
        y4l,
        cos_theta_star,
        *(pt[:, k] for k in range(4)),
        *(np.abs(eta[:, k]) for k in range(4)),
        _delta_r(eta, phi, z1),
        _delta_r(eta, phi, z2),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def _boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz boost of ``(n, 4)`` (E, px, py, pz) by velocity ``beta`` ``(n, 3)``."""
    b2 = np.einsum("ij,ij->i", beta, beta)
    gamma = 1.0 / np.sqrt(np.maximum(1.0 - b2, 1e-12))
    bp = np.einsum("ij,ij->i", beta, p4[:, 1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    energy = gamma * (p4[:, 0] + bp)
    momentum = p4[:, 1:] + (factor * bp + gamma * p4[:, 0])[:, None] * beta
    return np.concatenate([energy[:, None], momentum], axis=1)
