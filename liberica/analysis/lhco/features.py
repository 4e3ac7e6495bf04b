"""lhco's per-event features: the hunt's classifier inputs and the run's event table."""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.analysis.lhco import HUNT_FEATURES, LABEL, MASS


def _columns(result: Any, rows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    observables = result.observables
    return np.stack([observables[name][rows] for name in names], axis=1).astype(np.float32)


def hunt_features(result: Any, rows: np.ndarray) -> np.ndarray:
    """mj_min, delta_mj (GeV), tau21 of the lighter and the heavier jet: (n, 4) float32."""
    return _columns(result, rows, HUNT_FEATURES)


def event_table(result: Any, rows: np.ndarray) -> np.ndarray:
    """The classifier inputs, mjj (GeV) and the label: (n, 6) float32."""
    return _columns(result, rows, (*HUNT_FEATURES, MASS, LABEL))
