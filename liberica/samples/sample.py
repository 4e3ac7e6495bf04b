"""What a sample generator returns, and the defaults every generator shares."""

from __future__ import annotations

import pathlib
from typing import NamedTuple

EVENTS_PER_FILE = 200_000
"""At most this many events per generated file (a chunk never spans two files)."""


class GeneratedSample(NamedTuple):
    """What a generator wrote.

    Attributes:
        fileset_path: ``DIR/fileset.json``
        samples: sample name -> number of events written (MC and data)
        mu_injected: signal strength injected into the pseudo-data
        lumi_fb: integrated luminosity of the pseudo-data, fb^-1
        seed: the seed everything was derived from
    """

    fileset_path: pathlib.Path
    samples: dict[str, int]
    mu_injected: float
    lumi_fb: float
    seed: int
