"""H -> ZZ* -> 4l at 125 GeV: the flagship analysis, registered as ``hzz4l``.

Importing this package registers nothing and imports none of the analysis's
code: the entry point ``liberica.analyses: hzz4l`` points at :data:`ANALYSIS`,
whose processor, cuts, features and generator are import paths resolved when
used. The folder holds the definition (``definition.yaml``), the schema of its
``cuts`` block (``cuts.json``), the shipped classifier models (``models/``)
and the reference yields of the default sample.
"""

from __future__ import annotations

from liberica.core.registry import Analysis, FeatureSet

FEATURE_NAMES: tuple[str, ...] = (
    "m12",
    "m34",
    "pt4l",
    "y4l",
    "cos_theta_star",
    "lep1_pt",
    "lep2_pt",
    "lep3_pt",
    "lep4_pt",
    "lep1_abs_eta",
    "lep2_abs_eta",
    "lep3_abs_eta",
    "lep4_abs_eta",
    "delta_r_z1",
    "delta_r_z2",
)
"""Classifier features, in the column order of the models' input (``features.py``)."""

FEATURE_SET = "hzz4l-v1"
"""Identifies the feature function; a model records the set it was trained with."""

CHANNEL_CODES = {"4e": 0, "4mu": 1, "2e2mu": 2}
"""The final states of a Z1/Z2 pairing, as the selections code them."""

ANALYSIS = Analysis(
    name="hzz4l",
    package="liberica.analysis.hzz4l",
    processor="liberica.analysis.hzz4l.processor:HZZ4lProcessor",
    cuts="liberica.analysis.hzz4l.cuts:parse",
    selections=("agc_baseline", "hzz4l"),
    variables=("m4l", "m12", "m34", "pt4l"),
    categories={"channel": CHANNEL_CODES},
    feature_sets={
        FEATURE_SET: FeatureSet(
            FEATURE_SET, FEATURE_NAMES, "liberica.analysis.hzz4l.features:feature_matrix"
        )
    },
    generate="liberica.analysis.hzz4l.generator:generate_hzz4l",
    default_events=2_000_000,
)
