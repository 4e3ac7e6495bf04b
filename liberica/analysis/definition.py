"""Moved to :mod:`liberica.core.definition`; this name stays for analyses written against it."""

import sys
import warnings

from liberica.core import definition as _moved

warnings.warn(
    "liberica.analysis.definition moved to liberica.core.definition",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
