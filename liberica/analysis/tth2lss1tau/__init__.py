"""ttH in two same-sign light leptons and one hadronic tau (2lSS+1tau), registered as
``tth2lss1tau`` (reference: a master's thesis with a multi-class FT-Transformer).

The folder holds the generator (``generator.py``, ``processes.py``); the processor, cuts,
features and definition are added beside them. Importing this package imports none of
its code: the entry point ``liberica.analyses: tth2lss1tau`` points at :data:`ANALYSIS`.
"""

from __future__ import annotations

from liberica.core.registry import Analysis

ANALYSIS = Analysis(
    name="tth2lss1tau",
    package="liberica.analysis.tth2lss1tau",
    processor="liberica.analysis.tth2lss1tau.processor:TthProcessor",
    cuts="liberica.analysis.tth2lss1tau.cuts:parse",
    selections=("preselection", "sr"),
    variables=(),
    feature_sets={},
    generate="liberica.analysis.tth2lss1tau.generator:generate_tth2lss1tau",
    default_events=600_000,
)
