"""Embedded samples: physics event generation in the ATLAS Open Data ``mini`` format.

Each analysis registers its own generator (``liberica generate ANALYSIS``);
the building blocks here are shared: relativistic kinematics and decays
(``kinematics``), detector response (``detector``), the ROOT writer (``writer``)
and massive large-R dijets with substructure (``dijets``). :func:`cached_sample`
reuses an earlier generation with the same arguments.
"""

from liberica.samples.cache import cached_sample, sample_folder
from liberica.samples.sample import DEFAULT_LUMI_FB, EVENTS_PER_FILE, GeneratedSample

__all__ = [
    "DEFAULT_LUMI_FB",
    "EVENTS_PER_FILE",
    "GeneratedSample",
    "cached_sample",
    "sample_folder",
]
