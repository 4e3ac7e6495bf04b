"""X -> ZZ -> l l J at 0.7, 1 and 1.5 TeV: the boosted resonance search, registered as ``hllj``.

A heavy scalar decays to a leptonic Z and a hadronic Z reconstructed as one
large-R jet. The folder holds the definition (``definition.yaml``), the schema
of its ``cuts`` block (``cuts.json``), its processor (awkward and vector
objects, cuts in a coffea ``PackedSelection``), its generator and the shipped
classifier models (``models/``). As for every analysis, importing this package
imports none of its code: the entry point ``liberica.analyses: hllj`` points at
:data:`ANALYSIS`, and ``hllj_table`` at :data:`TABLE_ANALYSIS`, hllj on the seed
project's flat CSV tables (format ``daml_csv``).
"""

from __future__ import annotations

from liberica.core.registry import Analysis, FeatureSet

TABLE_VARIABLES: tuple[str, ...] = (
    "lep1_pt",
    "lep2_pt",
    "fatjet_pt",
    "fatjet_eta",
    "fatjet_D2",
    "Zll_mass",
    "Zll_pt",
    "MET",
)
"""The per-event variables of the seed project's tables other than ``reco_zv_mass`` (GeV).

The cut-based selection cuts only on these, and the classifier takes them in
this column order.
"""

FIT_OBSERVABLE = "reco_zv_mass"
"""The llJ mass, the spectrum the search fits."""

FEATURE_SET = "hllj-v1"
"""The classifier's input: the eight table variables."""

MASS_FEATURE_SET = "hllj-mass-v1"
"""The eight table variables and the llJ mass: for studying how a classifier sculpts it."""

CHANNEL_CODES = {"ee": 0, "mumu": 1}
"""The flavour of the Z -> l l candidate."""

ANALYSIS = Analysis(
    name="hllj",
    package="liberica.analysis.hllj",
    processor="liberica.analysis.hllj.processor:HlljProcessor",
    cuts="liberica.analysis.hllj.cuts:parse",
    selections=("preselection", "cut_based"),
    variables=(*TABLE_VARIABLES, FIT_OBSERVABLE, "fatjet_mass"),
    categories={"channel": CHANNEL_CODES},
    feature_sets={
        FEATURE_SET: FeatureSet(
            FEATURE_SET, TABLE_VARIABLES, "liberica.analysis.hllj.features:table_features"
        ),
        MASS_FEATURE_SET: FeatureSet(
            MASS_FEATURE_SET,
            (*TABLE_VARIABLES, FIT_OBSERVABLE),
            "liberica.analysis.hllj.features:table_and_mass_features",
        ),
    },
    generate="liberica.analysis.hllj.generator:generate_hllj",
    default_events=2_000_000,
    generators={"daml_csv": "liberica.analysis.hllj.daml_tables:generate_daml_tables"},
)

TABLE_ANALYSIS = Analysis(
    name="hllj_table",
    package="liberica.analysis.hllj",
    processor="liberica.analysis.hllj.table:HlljTableProcessor",
    definition="table.yaml",
    cuts="liberica.analysis.hllj.cuts:parse",
    selections=("preselection", "cut_based"),
    variables=(*TABLE_VARIABLES, FIT_OBSERVABLE),
    feature_sets={name: ANALYSIS.feature_sets[name] for name in (FEATURE_SET, MASS_FEATURE_SET)},
    generate="liberica.analysis.hllj.daml_tables:generate_daml_tables",
    default_events=250_000,
    input_format="daml_csv",
)
"""hllj on the seed project's flat CSV tables (``table.py``, ``table.yaml``): the same
cuts the columns allow, classifier models, regions, fit and search; ``default_events``
are table rows."""
