"""ttH in 2lSS+1tau: a multi-class measurement, registered as ``tth2lss1tau``.

Two same-sign light leptons, one hadronic tau, four jets of which one is
b-tagged: the signal region of the master's thesis (reference 004). A
multi-class network (an FT-Transformer, with multi-class and binary MLPs as
baselines) separates ttH from ttW, ttZ, the ttbar fakes, dibosons and the
rest; the template fit takes p(ttH) in bins of equal background, with the bins
of S/B above 0.3 blinded. Importing this package imports none of the
analysis's code: the entry point ``liberica.analyses: tth2lss1tau`` points at
:data:`ANALYSIS`.
"""

from __future__ import annotations

from liberica.core.registry import Analysis, FeatureSet

CONTINUOUS_FEATURES: tuple[str, ...] = (
    "lep1_pt",
    "lep1_eta",
    "lep2_pt",
    "lep2_eta",
    "tau_pt",
    "tau_eta",
    "tau2_pt",
    "jet1_pt",
    "jet2_pt",
    "jet3_pt",
    "jet4_pt",
    "n_jets",
    "n_bjets",
    "ht_jets",
    "met",
    "mt_lep1_met",
    "m_ll",
    "pt_ll",
    "dr_ll",
    "m_l1tau",
    "m_l2tau",
    "dr_l1tau",
    "dr_l2tau",
    "min_dr_lep_jet",
    "m_jj_lead",
    "dr_jj_lead",
    "max_abs_eta",
)
"""Kinematic features (GeV), after the categorical ones in the models' input."""

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "lep1_flavour",
    "lep2_flavour",
    "total_charge",
    "tau_charge",
    "tau_n_tracks",
)
"""Features that are categories: lepton types (11, 13), the pair's charge (+-2), the
tau's charge and track count; a network embeds them."""

FEATURE_NAMES: tuple[str, ...] = CATEGORICAL_FEATURES + CONTINUOUS_FEATURES
"""Classifier features, in the column order of the models' input (``features.py``)."""

MISSING = -999.0
"""The value of a feature that does not exist in an event (the ntuples' code)."""

FEATURE_SET = "tth2lss1tau-v1"

CHANNEL_CODES = {"ee": 0, "emu": 1, "mumu": 2}
"""The flavours of the same-sign pair."""

ANALYSIS = Analysis(
    name="tth2lss1tau",
    package="liberica.analysis.tth2lss1tau",
    processor="liberica.analysis.tth2lss1tau.processor:TthProcessor",
    cuts="liberica.analysis.tth2lss1tau.cuts:parse",
    selections=("sr", "preselection"),
    variables=FEATURE_NAMES,
    categories={"channel": CHANNEL_CODES},
    feature_sets={
        FEATURE_SET: FeatureSet(
            FEATURE_SET,
            FEATURE_NAMES,
            "liberica.analysis.tth2lss1tau.features:feature_matrix",
            categorical=CATEGORICAL_FEATURES,
            missing=MISSING,
        )
    },
    generate="liberica.analysis.tth2lss1tau.generator:generate_tth2lss1tau",
    default_events=600_000,
)
