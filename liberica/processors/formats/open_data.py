"""ATLAS Open Data 13 TeV ntuples (tree ``mini``; MeV; one entry per event).

MC samples are normalized by ``XSection`` (pb) and ``SumWeights``, which the
files repeat on every entry; a fileset's ``xsec`` and ``sumw`` metadata take
precedence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from liberica.processors import weights
from liberica.processors.formats import InputFormat, register
from liberica.processors.schema import OpenDataSchema


def nominal_weight(events: Any, metadata: dict, lumi_fb: float) -> np.ndarray:
    """mcWeight x scale factors x xsec x lumi / sumw, per event (``processors/weights.py``)."""
    return weights.nominal_weight(events, float(metadata["xsec"]), float(metadata["sumw"]), lumi_fb)


OPEN_DATA = register(
    InputFormat(
        name="open_data",
        schema=OpenDataSchema,
        normalization_keys=("xsec", "sumw"),
        normalization_branches={"xsec": "XSection", "sumw": "SumWeights"},
        nominal_weight=nominal_weight,
        event_number="eventNumber",
        sample_number="channelNumber",
        generator_weight="mcWeight",
        base_columns=("eventNumber", "channelNumber", "mcWeight", *weights.SCALE_FACTOR_BRANCHES),
    )
)
