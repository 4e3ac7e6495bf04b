"""The classifier's features: the selection's per-event observables, missing ones coded.

Every feature is an observable of ``processor.py`` (GeV). Where a quantity does
not exist in an event (no tau in the extended training set, no second tau,
fewer than four jets) the observable is NaN, and the feature takes the
ntuples' missing-value code :data:`MISSING` that a network replaces by a
learned value (``models/ft_transformer.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.analysis.tth2lss1tau import FEATURE_NAMES, MISSING


def feature_matrix(result: Any, rows: np.ndarray) -> np.ndarray:
    """``(len(rows), F)`` float32 features of ``rows``, in :data:`FEATURE_NAMES` order."""
    observables = result.observables
    matrix = np.empty((len(rows), len(FEATURE_NAMES)), dtype=np.float32)
    for k, name in enumerate(FEATURE_NAMES):
        values = observables[name][rows]
        matrix[:, k] = np.where(np.isfinite(values), values, MISSING)
    return matrix
