"""The LHC Olympics 2020 dijet anomaly hunt, registered as ``lhco``.

A W' -> X Y resonance (X, Y -> q q, each one large-R jet) hidden in QCD dijets,
hunted without being told what it is: CWoLa hunting in sliding windows of the
dijet mass, with k-folded tree ensembles trained on the data's own jet
substructure (reference: the LHC Olympics 2020 challenge paper and its R&D
set). The inputs are the challenge's high-level-features HDF5 files, read
unchanged (format ``lhco_h5``). The folder holds the definition
(``definition.yaml``), the schema of its ``cuts`` block (``cuts.json``), the
processor (the two jets, mjj and the substructure features) and the sample
generator. Importing this package imports none of its code: the entry point
``liberica.analyses: lhco`` points at :data:`ANALYSIS`.
"""

from __future__ import annotations

from liberica.core.registry import Analysis, FeatureSet

HUNT_FEATURES: tuple[str, ...] = ("mj_min", "delta_mj", "tau21_j1", "tau21_j2")
"""The classifier inputs of the standard set-up (CATHODE's data preparation): the lighter
jet's mass, the heavier's minus the lighter's, and each jet's tau2/tau1 (j1 the lighter
jet, j2 the heavier; GeV)."""

MASS = "mjj"
"""The dijet mass: the hunted spectrum (GeV)."""

LABEL = "label"
"""The truth label of a labelled file (1 signal, 0 background), -1 where a file has none."""

VARIABLES: tuple[str, ...] = (
    *HUNT_FEATURES,
    MASS,
    "mj_max",
    "pt_j1",
    "pt_j2",
    "eta_j1",
    "eta_j2",
    "delta_eta",
    "tau32_j1",
    "tau32_j2",
    LABEL,
)
"""Every per-event observable of the selection (GeV)."""

FEATURE_SET = "lhco-v1"
"""The four classifier inputs."""

TABLE_FEATURE_SET = "lhco-events-v1"
"""The per-event table of a run: the classifier inputs, mjj and the label."""

ANALYSIS = Analysis(
    name="lhco",
    package="liberica.analysis.lhco",
    processor="liberica.analysis.lhco.processor:DijetProcessor",
    cuts="liberica.analysis.lhco.cuts:parse",
    selections=("dijet",),
    variables=VARIABLES,
    feature_sets={
        FEATURE_SET: FeatureSet(
            FEATURE_SET, HUNT_FEATURES, "liberica.analysis.lhco.features:hunt_features"
        ),
        TABLE_FEATURE_SET: FeatureSet(
            TABLE_FEATURE_SET,
            (*HUNT_FEATURES, MASS, LABEL),
            "liberica.analysis.lhco.features:event_table",
        ),
    },
    generate="liberica.analysis.lhco.generator:generate_lhco",
    default_events=1_000_000,
    input_format="lhco_h5",
)
