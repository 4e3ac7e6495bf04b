"""dilepton_ad's features: per-event columns of the selection (GeV), 0 where an object is absent."""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.analysis.dilepton_ad import FEATURES, FIT_OBSERVABLE

_WITHOUT_MASS = tuple(f for f in FEATURES if f != FIT_OBSERVABLE)


def _columns(result: Any, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    observables = result.observables
    return np.stack([observables[name][rows] for name in names], axis=1).astype(np.float32)


def without_mass(result: Any, rows: np.ndarray) -> np.ndarray:
    """Every feature but mll, of ``rows`` (feature set ``dilepton_ad-v1``), (n, 34) float32."""
    return _columns(result, rows, _WITHOUT_MASS)


def with_mass(result: Any, rows: np.ndarray) -> np.ndarray:
    """Every feature, mll included (feature set ``dilepton_ad-mll-v1``), (n, 35) float32."""
    return _columns(result, rows, FEATURES)
