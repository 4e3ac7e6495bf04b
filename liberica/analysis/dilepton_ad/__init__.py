"""A model-independent search on 2-lepton events, registered as ``dilepton_ad``.

An autoencoder trained on the Standard Model prediction only (background MC)
scores every event by how badly it reconstructs it; anomaly regions are cuts
on that score at fixed background efficiency, and the dilepton mass spectrum
of each is hunted for bumps, with the look-elsewhere effect (reference:
an autoencoder search on the ATLAS Open Data 13 TeV 2-lepton samples). The
folder holds the definition (``definition.yaml``), the schema of its ``cuts``
block (``cuts.json``), the processor (flat lepton columns, two good leptons,
the reference's features), the sample generator and the shipped autoencoders
(``models/``). Importing this package imports none of its code: the entry
point ``liberica.analyses: dilepton_ad`` points at :data:`ANALYSIS`.
"""

from __future__ import annotations

from liberica.core.registry import Analysis, FeatureSet

EVENT_FEATURES: tuple[str, ...] = (
    "njet20",
    "njet60",
    "nbjet60",
    "nbjet70",
    "nbjet77",
    "nbjet85",
    "isOS",
    "isSF",
    "mll",
    "mt2",
    "met_et",
    "met_phi",
    "costhstar",
)
"""The event-level features of the reference's table I (GeV, radians)."""

LEPTON_FIELDS: tuple[str, ...] = (
    "flav",
    "pt",
    "eta",
    "phi",
    "E",
    "ptcone30",
    "etcone20",
    "d0",
    "d0sig",
    "isTightID",
    "z0",
)
"""Each lepton's features, as ``lep1_<field>`` (the leading) and ``lep2_<field>``."""

LEPTON_FEATURES: tuple[str, ...] = tuple(
    f"lep{k}_{field}" for k in (1, 2) for field in LEPTON_FIELDS
)

FIT_OBSERVABLE = "mll"
"""The dilepton mass: the spectrum the bump hunt scans."""

FEATURES: tuple[str, ...] = (*EVENT_FEATURES, *LEPTON_FEATURES)
"""Every feature, in column order: the data/MC check takes each."""

FEATURE_SET = "dilepton_ad-v1"
"""The autoencoder's default input: every feature but the hunted mll."""

MASS_FEATURE_SET = "dilepton_ad-mll-v1"
"""Every feature, mll included: only through ``uses_fit_observable`` and ``--allow-fit-observable``."""

CHANNEL_CODES = {"ee": 0, "mumu": 1, "emu": 2}
"""The flavours of the two leptons."""

DEFAULT_LUMI_FB = 0.4
"""The embedded sample's luminosity (fb^-1): its pseudo-data hold about 0.9M events, most
of them at the Z peak (1.1 nb per flavour after the generator filter; ``generator.py``)."""

ANALYSIS = Analysis(
    name="dilepton_ad",
    package="liberica.analysis.dilepton_ad",
    processor="liberica.analysis.dilepton_ad.processor:DileptonProcessor",
    cuts="liberica.analysis.dilepton_ad.cuts:parse",
    selections=("two_leptons",),
    variables=FEATURES,
    categories={"channel": CHANNEL_CODES},
    feature_sets={
        FEATURE_SET: FeatureSet(
            FEATURE_SET,
            tuple(f for f in FEATURES if f != FIT_OBSERVABLE),
            "liberica.analysis.dilepton_ad.features:without_mass",
        ),
        MASS_FEATURE_SET: FeatureSet(
            MASS_FEATURE_SET, FEATURES, "liberica.analysis.dilepton_ad.features:with_mass"
        ),
    },
    generate="liberica.analysis.dilepton_ad.generator:generate_dilepton_ad",
    default_events=1_200_000,
    default_lumi_fb=DEFAULT_LUMI_FB,
)
