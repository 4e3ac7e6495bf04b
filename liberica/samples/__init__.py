"""Embedded samples: physics event generation in the ATLAS Open Data ``mini`` format.

``generate_hzz4l`` writes the H -> ZZ* -> 4l MC samples and Poisson pseudo-data
with a known injected signal strength; ``cached_hzz4l`` reuses an earlier
generation with the same arguments.
"""

from liberica.samples.cache import cached_hzz4l
from liberica.samples.hzz4l import GeneratedSample, generate_hzz4l

__all__ = ["GeneratedSample", "cached_hzz4l", "generate_hzz4l"]
