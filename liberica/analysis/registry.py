"""Moved to :mod:`liberica.core.registry`; this name stays for analyses written against it."""

import sys
import warnings

from liberica.core import registry as _moved

warnings.warn(
    "liberica.analysis.registry moved to liberica.core.registry", DeprecationWarning, stacklevel=2
)
sys.modules[__name__] = _moved
