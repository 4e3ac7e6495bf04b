"""hllj's classifier features: per-event variables of the selection, in GeV."""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.analysis.hllj import FIT_OBSERVABLE, TABLE_VARIABLES


def _columns(result: Any, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    observables = result.observables
    return np.stack([observables[name][rows] for name in names], axis=1).astype(np.float32)


def table_features(result: Any, rows: np.ndarray) -> np.ndarray:
    """The eight table variables of ``rows`` (feature set ``hllj-v1``), (n, 8) float32."""
    return _columns(result, rows, TABLE_VARIABLES)


def table_and_mass_features(result: Any, rows: np.ndarray) -> np.ndarray:
    """The table variables and the llJ mass (feature set ``hllj-mass-v1``), (n, 9) float32."""
    return _columns(result, rows, (*TABLE_VARIABLES, FIT_OBSERVABLE))
