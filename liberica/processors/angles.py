"""Decay angles of two-body systems from flat momentum columns (GeV)."""

from __future__ import annotations

import numpy as np


def collins_soper_cos_theta(
    first: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """cos(theta*) of ``first`` in the Collins-Soper frame of the pair.

    cos(theta*) = sign(pz) 2 (p1+ p2- - p1- p2+) / (m sqrt(m^2 + pT^2)), with
    p+- = (E +- pz) / sqrt(2) and pz, m, pT those of the pair: the polar angle
    about the bisector of the beams in the pair's rest frame, oriented along
    the pair's longitudinal motion (the likelier quark direction). A dilepton
    analysis passes the negative lepton as ``first``. 0 where the pair is massless.

    Args:
        first, second: each ``(px, py, pz, E)`` in GeV
    """
    px1, py1, pz1, e1 = (np.asarray(a, dtype=np.float64) for a in first)
    px2, py2, pz2, e2 = (np.asarray(a, dtype=np.float64) for a in second)
    e, pz = e1 + e2, pz1 + pz2
    pt2 = (px1 + px2) ** 2 + (py1 + py2) ** 2
    m2 = np.maximum(e * e - pz * pz - pt2, 0.0)
    plus1, minus1 = (e1 + pz1) / np.sqrt(2.0), (e1 - pz1) / np.sqrt(2.0)
    plus2, minus2 = (e2 + pz2) / np.sqrt(2.0), (e2 - pz2) / np.sqrt(2.0)
    denominator = np.sqrt(m2) * np.sqrt(m2 + pt2)
    sign = np.where(pz < 0, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_theta = sign * 2.0 * (plus1 * minus2 - minus1 * plus2) / denominator
    return np.where(denominator > 0, np.clip(cos_theta, -1.0, 1.0), 0.0)
