"""ATLAS Open Data 13 TeV ntuples (tree ``mini``; MeV; one entry per event).

MC samples are normalized by ``XSection`` (pb) and ``SumWeights``, which the
files repeat on every entry; a fileset's ``xsec`` and ``sumw`` metadata take
precedence.
"""

from __future__ import annotations

from liberica.processors.formats import InputFormat, register
from liberica.processors.schema import OpenDataSchema

OPEN_DATA = register(
    InputFormat(
        name="open_data",
        schema=OpenDataSchema,
        normalization_keys=("xsec", "sumw"),
        normalization_branches={"xsec": "XSection", "sumw": "SumWeights"},
    )
)
