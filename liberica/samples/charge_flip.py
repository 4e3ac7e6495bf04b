"""Electron charge mis-identification: opposite-sign prompt pairs that look same-sign.

An electron that radiates a hard photon which converts can be reconstructed with
the wrong track, and a stiff track's curvature is measured with the wrong sign; both
grow with the material crossed (|eta|) and with pT. The probability here is
``0.05% x (1 + pT / 100 GeV) x exp(1.4 |eta|)`` (capped at 5%): 0.07% at the centre
at 30 GeV, about 0.3% at |eta| = 1 and 1-2% in the endcaps. Muons (measured in the
inner detector and the spectrometer) never flip.

Applied to reconstructed leptons after the detector model, so that the detector's
own random stream (and every other analysis's sample) is unchanged.
"""

from __future__ import annotations

import numpy as np

from liberica.samples.detector import ELECTRON
from liberica.samples.writer import Objects

MAX_FLIP_PROBABILITY = 0.05


def charge_flip_probability(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Probability that an electron of ``pt`` (GeV) and ``eta`` has its charge mis-measured."""
    probability = 5.0e-4 * (1.0 + np.asarray(pt) / 100.0) * np.exp(1.4 * np.abs(eta))
    return np.minimum(probability, MAX_FLIP_PROBABILITY)


def flip_charges(rng: np.random.Generator, leptons: Objects) -> Objects:
    """The lepton collection with electron charges flipped with :func:`charge_flip_probability`."""
    fields = dict(leptons.fields)
    is_electron = fields["type"] == ELECTRON
    flip = is_electron & (
        rng.random(len(is_electron)) < charge_flip_probability(fields["pt"], fields["eta"])
    )
    fields["charge"] = np.where(flip, -fields["charge"], fields["charge"]).astype(
        fields["charge"].dtype
    )
    return Objects(leptons.counts, fields)
