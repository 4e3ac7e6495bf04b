"""Load and validate analysis definitions (YAML) into typed containers.

A definition names the registered analysis it is for (``analysis: NAME``):
that analysis brings its processor, the schema of the definition's ``cuts``
block, its selections, per-row variables, categories and feature sets, and its
sample generator (``analysis/registry.py``). Everything else is the same for
every analysis: processes, luminosity, observables (regular bins or explicit
edges), regions, systematics (their kinds from ``processors/systematics.py``),
classifiers and the fit.

Validation runs before any work: the core schema (``schemas/analysis.json``),
the analysis's cut schema, each systematic's options against its kind's schema,
then cross-references. Every error names the offending key, e.g.
``regions.sr_4l.observable``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
from importlib import metadata, resources
from typing import Any, NamedTuple

import numpy as np
import yaml

from liberica.core import registry, systematic_kinds
from liberica.core.errors import LibericaError
from liberica.core.schema_errors import first_error, locate

log = logging.getLogger(__name__)

SCORE = "score"
"""The observable variable of a classifier's score (the region names the classifier)."""


class AnalysisDefinitionError(LibericaError, ValueError):
    """An analysis definition that cannot be used, with the offending key."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: invalid analysis definition at '{key}': {reason}")


class Process(NamedTuple):
    """A physics process: a sum of samples with one histogram per variation.

    Attributes:
        name: process name, as in histogram names
        kind: ``signal`` or ``background``
        label: legend label
        color: plot colour
        xsec_uncertainty: relative cross-section normalization uncertainty
        allow_negative_sumw: whether its samples may have a negative sum of
            generator weights (refused otherwise: it flips the sign of the yield)
    """

    name: str
    kind: str
    label: str
    color: str | None
    xsec_uncertainty: float | None
    allow_negative_sumw: bool = False


class Observable(NamedTuple):
    """A histogrammed observable (GeV): regular bins, or explicit edges.

    ``variable`` is the per-row quantity it bins; it defaults to the name, so
    one quantity can have several binnings (e.g. a narrower mass range for a
    sparse region). ``score`` bins the score of the region's classifier.
    ``log`` spaces the regular bins evenly in log (``low`` > 0).
    """

    name: str
    label: str
    bins: int
    low: float
    high: float
    variable: str = ""
    edges: tuple[float, ...] = ()
    log: bool = False

    def bin_edges(self) -> tuple[float, ...]:
        """The bin edges, explicit or regular (in log where the observable says so)."""
        if self.edges:
            return self.edges
        if self.log:
            return tuple(float(x) for x in np.geomspace(self.low, self.high, self.bins + 1))
        step = (self.high - self.low) / self.bins
        return tuple(self.low + k * step for k in range(self.bins)) + (self.high,)


class Binning(NamedTuple):
    """A region's final bins, derived after processing from the MC of its fine observable
    bins (``fits/binning.py``); the fit keeps them (``fits/templates.py`` merges no bin).

    Attributes:
        kind: ``equal_population``: bins of (as nearly as the fine bins allow) equal MC yield
        bins: bins asked for; fewer are made where the minimum-statistics rule needs it
        of: ``background`` or ``signal``: whose MC yield the bins share
        processes: the MC processes whose yield counts (every process of kind ``of``
            unless the definition names them)
        min_mc_yield: least background MC per bin; None: the fit's template rule
        max_mc_stat_error: largest relative MC-statistics error of the background per
            bin; None: the fit's template rule
    """

    kind: str
    bins: int
    of: str = "background"
    processes: tuple[str, ...] = ()
    min_mc_yield: float | None = None
    max_mc_stat_error: float | None = None


class Discriminant(NamedTuple):
    """The score a region takes from a multiclass classifier.

    One class's probability (``numerator`` of one class, no ``denominator``), or
    the ratio of the summed probabilities of the ``numerator`` classes to those of
    the ``denominator`` classes (e.g. p(ttH) / (p(ttH) + p(ttW))).
    """

    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How the discriminant is written: ``ttH`` or ``(ttH)/(ttH+ttW)``."""
        if not self.denominator:
            return "+".join(self.numerator)
        return f"({'+'.join(self.numerator)})/({'+'.join(self.denominator)})"


class Region(NamedTuple):
    """A region: a selection, the categories it keeps, a score cut, and its observable.

    Attributes:
        name: region name, as in histogram names
        selection: the analysis's selection whose rows it takes
        observable: the observable it histograms
        categories: per category of the selection (e.g. ``channel``), the values kept
        classifier: the classifier whose score it cuts on or histograms
        score: keep rows with score in [low, high) (a top edge at 1 inclusive)
        versus: a second observable: the region is a 2-D histogram (observable x
            versus) of the nominal variation, to choose cuts from; it is never fitted
        binning: final bins made after processing from the observable's fine ones, or
            None (the observable's bins are the region's)
        output: of a multiclass classifier, the output the region's score is (its
            score cut and a ``score`` observable take it); None: the first output
    """

    name: str
    selection: str
    observable: str
    categories: dict[str, tuple[str, ...]] = {}
    classifier: str | None = None
    score: tuple[float, float] | None = None
    versus: str | None = None
    binning: Binning | None = None
    output: Discriminant | None = None


class ClassifierConfig(NamedTuple):
    """An event classifier of an analysis.

    Attributes:
        name: its name in the definition
        models: ONNX files, one per fold; a bare name is looked for next to the
            definition, then among the analysis's shipped models
        selection: the selection whose rows it scores
        feature_set: the registered feature set it takes
        source_dir: folder of the definition file that set ``models``, for relative
            model paths
        signal: processes of the signal class, for training
        background: processes of the background class, for training
        output: what its output means
        negative_weights: how training takes negative event weights (``clip``, ``abs``)
        kind: ``classifier`` (signal against background), ``autoencoder`` (trained
            on the background only; its output is the reconstruction error) or
            ``multiclass`` (one softmax output per class)
        scaling: an autoencoder's input scaling inside its graph (``standard``, ``minmax``)
        classes: a multiclass classifier's classes in output order, each with the
            processes it takes
        training_selection: the selection whose MC rows train it (default: ``selection``)
        architecture: a multiclass classifier's network (``ft_transformer``, ``mlp``)
    """

    name: str
    models: tuple[str, ...]
    selection: str
    feature_set: str
    source_dir: str | None = None
    signal: tuple[str, ...] = ()
    background: tuple[str, ...] = ()
    output: str = ""
    negative_weights: str = "clip"
    kind: str = "classifier"
    scaling: str = "standard"
    classes: dict[str, tuple[str, ...]] = {}
    training_selection: str = ""
    architecture: str = "ft_transformer"

    @property
    def trained_on(self) -> str:
        """The selection whose rows train the classifier."""
        return self.training_selection or self.selection


class Systematic(NamedTuple):
    """A systematic variation.

    Attributes:
        name: name; histograms carry ``{name}Up`` and ``{name}Down``
        kind: a registered systematic kind (``processors/systematics.py``)
        options: the kind's settings as written in the definition
    """

    name: str
    kind: str
    options: dict[str, Any]

    @property
    def category(self) -> str:
        """``weight``, ``object`` or ``sample``."""
        return systematic_kinds.get(self.kind).category


class SearchConfig(NamedTuple):
    """A resonance search on one spectrum, its selections compared (``liberica search``).

    Attributes:
        signal: the signal process searched for
        preselection: the region of the spectrum before the selections
        selections: selection name -> the region holding its spectrum
        profile_likelihood_regions: selection name -> the region of its template
            fit (mu and the profile-likelihood Z)
        signal_shape, background_shape: shape names (``fits/shapes.py``)
        fit_range: [low, high] GeV, or None for every bin
        window_sigma: the mass window is the fitted peak +- this many sigma
        background_uncertainty: delta_rel of dB = delta_rel x B
        punzi_a: Punzi's a
    """

    signal: str
    preselection: str
    selections: dict[str, str]
    profile_likelihood_regions: dict[str, str] = {}
    signal_shape: str = "gaussian"
    background_shape: str = "dijet"
    fit_range: tuple[float, float] | None = None
    window_sigma: float = 2.0
    background_uncertainty: float = 0.1
    punzi_a: float = 5.0


class BumpHuntConfig(NamedTuple):
    """The anomaly regions of a score and the bump hunt of their spectra (``liberica bumphunt``).

    Attributes:
        scan: the 2-D region (hunted observable x anomaly score) the regions come from
        efficiencies: the background-MC efficiencies of the score cuts, loosest first
        background: ``mc`` (the background MC) or ``fit`` (a smooth fit of each
            region's data, refitted in every pseudo-experiment)
        background_shape: the fitted shape (``fits/shapes.py``)
        hunt_range: [low, high] of the hunted observable (bin edges), or None for all bins
        normalize_mc: scale the MC to the data of each region (its shape is hunted)
        min_width, max_width: the windows' widths in bins (None: half the spectrum)
        pseudo_experiments: background-only pseudo-experiments of the brute-force global p
        gross_vitells_width: the window of the fixed-width likelihood-ratio scan, bins
        gross_vitells_level: u0, the level whose upcrossings are counted
        gross_vitells_pseudo_experiments: background-only scans counting them
    """

    scan: str
    efficiencies: tuple[float, ...] = (0.1, 0.01, 0.001)
    background: str = "mc"
    background_shape: str = "exp_poly2"
    hunt_range: tuple[float, float] | None = None
    normalize_mc: bool = True
    min_width: int = 2
    max_width: int | None = None
    pseudo_experiments: int = 1000
    gross_vitells_width: int = 4
    gross_vitells_level: float = 1.0
    gross_vitells_pseudo_experiments: int = 300


class CwolaReferences(NamedTuple):
    """The references of a CWoLa hunt, in the true signal region.

    Attributes:
        signal_region: the benchmark signal region [low, high], GeV
        evaluation: labelled MC processes: the SIC curves' events and the supervised
            reference's (k-folded on them)
        background_only: MC processes of background-only signal-region events (the
            idealized reference trains the data's signal region against them)
        trainers: the references' classifiers (``trees``, ``mlp``)
        min_background: the SIC's floor: at least this many background events pass
    """

    signal_region: tuple[float, float]
    evaluation: tuple[str, ...] = ()
    background_only: tuple[str, ...] = ()
    trainers: tuple[str, ...] = ("trees", "mlp")
    min_background: int = 25


class CwolaConfig(NamedTuple):
    """CWoLa hunting in sliding mass windows (``liberica cwola``, ``orchestration/cwola.py``).

    Attributes:
        selection: the selection whose rows (every sample's, data too) the hunt takes
        table: the feature set written per event to ``features.parquet``
        features: the classifier inputs (columns of the table)
        mass: the hunted mass (a column of the table), GeV
        label: the truth label column (1 signal, 0 background, -1 none)
        mass_range: the range hunted and fitted, GeV
        anchor: one window's signal region [low, high], GeV: the log-spaced grid passes
            through it, and every signal region has its high/low ratio
        step_ratio: a window's low edge over the previous one's (None: half a width)
        bins_per_window: histogram bins per signal region
        efficiencies: the selection ladder, loosest first
        folds: k of the k-fold (by eventNumber, the row index)
        trainer: ``trees`` (HistGradientBoosting ensembles) or ``mlp``
        members: trees per ensemble
        background_shape: the masked fit's shape (``fits/shapes.py``)
        pseudo_experiments: of the global significance
        references: the supervised and idealized references, or None
    """

    selection: str
    table: str
    features: tuple[str, ...]
    mass: str
    label: str = "label"
    mass_range: tuple[float, float] = (2600.0, 6000.0)
    anchor: tuple[float, float] = (3300.0, 3700.0)
    step_ratio: float | None = None
    bins_per_window: int = 4
    efficiencies: tuple[float, ...] = (0.1, 0.01, 0.002)
    folds: int = 5
    trainer: str = "trees"
    members: int = 5
    background_shape: str = "dijet"
    pseudo_experiments: int = 200
    references: CwolaReferences | None = None


class SculptingConfig(NamedTuple):
    """Which selections' background spectra are compared with a reference (``fits/sculpting.py``).

    Attributes:
        reference: the region of the spectrum before the selections
        selections: name -> region of the spectrum after the selection
        processes: the background processes measured (empty: every background)
        range: [low, high], bin edges of every region's spectrum, or None for
            every bin (the regions must then have the same bins)
    """

    reference: str
    selections: dict[str, str]
    processes: tuple[str, ...] = ()
    range: tuple[float, float] | None = None


class FeatureAgreementConfig(NamedTuple):
    """Which regions' data are compared with MC, and the rule that flags a feature
    (``fits/agreement.py``).

    Attributes:
        regions: the regions compared, one feature each
        measure: ``chi2_ndf`` or ``max_pull``, the value compared with the threshold
        threshold: a feature is flagged above it; None: the measure's default
        shape_only: MC normalized to data first (a region's normalization is
            shared by all the features filled from its events)
        min_expected: bins expecting fewer MC events are merged with a neighbour
        mc_relative_uncertainty: a relative MC uncertainty per bin added in
            quadrature to the statistical ones (0: statistics only)
        processes: the MC processes summed (empty: every background)
        drop_flagged: whether the analysis drops the flagged features
    """

    regions: tuple[str, ...]
    measure: str = "chi2_ndf"
    threshold: float | None = None
    shape_only: bool = True
    min_expected: float = 5.0
    mc_relative_uncertainty: float = 0.0
    processes: tuple[str, ...] = ()
    drop_flagged: bool = False


class WeightChecksConfig(NamedTuple):
    """The rules of the MC weight checks (``processors/weight_checks.py``).

    Attributes:
        tolerance: (a) the sum of a sample's generator weights over its ``sumw``
            may differ from 1 by this much
        sibling_factor: (b) a sample's weight scale may differ from its siblings'
            by this factor
        event_ratio: (c) events with |w| above this many times their sample's
            median |w| are listed
        siblings: group name -> the processes whose samples (b) compares; empty:
            the samples of each process
        skimmed_inputs: the files are skims of their samples, so (a) flags only
            a ratio above 1 + tolerance
        drop: what the analysis drops of the findings: ``none``, ``events`` or
            ``samples``
    """

    tolerance: float = 0.1
    sibling_factor: float = 3.0
    event_ratio: float = 100.0
    siblings: dict[str, tuple[str, ...]] = {}
    skimmed_inputs: bool = False
    drop: str = "none"


class ChecksConfig(NamedTuple):
    """The definition's ``checks`` block: the feature agreement (None: not asked for)
    and the weight checks' rules (every run audits the MC weights)."""

    feature_agreement: FeatureAgreementConfig | None = None
    weights: WeightChecksConfig = WeightChecksConfig()


class AnalysisDefinition(NamedTuple):
    """A validated analysis definition.

    Attributes:
        analysis: the registered analysis it is for
        name: the definition's name
        description: one line
        tree: tree name in the input files
        luminosity_fb: integrated luminosity in fb^-1
        luminosity_uncertainty: relative luminosity uncertainty
        processes: MC processes by name (data is the process ``data``)
        cuts: the analysis's own cuts, as its ``parse_cuts`` makes them
        observables: observables by name
        regions: regions by name
        systematics: systematics by name
        fit_regions: regions the fit uses (default: every region)
        classifiers: event classifiers by name
        fit_region_sets: other named sets of fit regions (``liberica fit --regions``)
        fit_templates: the template rules of the fit (``fits.templates.TemplateRules``
            fields; defaults where absent)
        fit_signal: the processes mu scales (default: every signal process)
        source: the shipped name or the path the definition was loaded from
        search: the resonance search's settings, or None
        bumphunt: the anomaly regions' and bump hunt's settings, or None
        cwola: the CWoLa hunt's settings, or None
        stages: what ``liberica run`` does after processing, in order: ``fit``
            (a definition with a ``fit`` block), ``bumphunt`` (with a ``bumphunt`` block)
            and ``cwola`` (with a ``cwola`` block)
        sculpting: the sculpting measure's settings, or None (``liberica search``
            then measures the search's selections against its preselection)
        checks: the data/MC feature agreement and MC weight checks' settings
        digest: SHA-256 of the merged, validated YAML content (provenance: two runs
            with the same digest had the same definition)
    """

    analysis: str
    name: str
    description: str
    tree: str
    luminosity_fb: float
    luminosity_uncertainty: float
    processes: dict[str, Process]
    cuts: Any
    observables: dict[str, Observable]
    regions: dict[str, Region]
    systematics: dict[str, Systematic]
    fit_regions: tuple[str, ...] = ()
    classifiers: dict[str, ClassifierConfig] = {}
    fit_region_sets: dict[str, tuple[str, ...]] = {}
    fit_templates: dict[str, float] = {}
    fit_signal: tuple[str, ...] = ()
    source: str = ""
    search: SearchConfig | None = None
    sculpting: SculptingConfig | None = None
    digest: str = ""
    bumphunt: BumpHuntConfig | None = None
    stages: tuple[str, ...] = ("fit",)
    checks: ChecksConfig = ChecksConfig()
    cwola: CwolaConfig | None = None

    def systematics_of(self, category: str) -> list[Systematic]:
        """The systematics of one category (``weight``, ``object``, ``sample``)."""
        return [s for s in self.systematics.values() if s.category == category]

    @property
    def variations(self) -> list[str]:
        """Every histogram variation: ``nominal`` then ``{name}Up``/``{name}Down``."""
        names = ["nominal"]
        for systematic in self.systematics.values():
            names += [f"{systematic.name}Up", f"{systematic.name}Down"]
        return names

    def registered(self) -> registry.Analysis:
        """The registered analysis this definition is for."""
        return registry.get(self.analysis)


def _schema() -> dict:
    text = resources.files("liberica.core").joinpath("schemas/analysis.json").read_text()
    return json.loads(text)


def _check_schema(schema: dict, value: Any, source: str, prefix: list[Any]) -> None:
    error = first_error(schema, value)
    if error is not None:
        key, reason = locate(error)
        key = key if key != "<top level>" else ""
        full = ".".join(str(p) for p in prefix) + ("." + key if key and prefix else key)
        raise AnalysisDefinitionError(source, full or "<top level>", reason)


def _fail(source: str, key: str, reason: str) -> None:
    raise AnalysisDefinitionError(source, key, reason)


def _known(what: str, names) -> str:
    return f"(known {what}: {', '.join(sorted(names)) or 'none'})"


def validate(config: dict, source: str = "<analysis definition>") -> registry.Analysis:
    """Validate a definition dictionary; raise AnalysisDefinitionError naming the key.

    Args:
        config: the parsed YAML
        source: where it came from, for the message

    Returns:
        the registered analysis the definition is for
    """
    if not isinstance(config, dict):
        _fail(source, "<top level>", "expected a mapping")
    _check_schema(_schema(), config, source, [])
    try:
        analysis = registry.get(config["analysis"])
    except registry.AnalysisNotFound as err:
        raise AnalysisDefinitionError(source, "analysis", str(err)) from None
    cut_schema = analysis.cut_schema()
    if "cuts" not in config and cut_schema.get("required"):
        _fail(source, "cuts", f"required by analysis {analysis.name!r}")
    _check_schema(cut_schema, config.get("cuts", {}), source, ["cuts"])

    processes = config["processes"]
    variables = set(analysis.variables) | {SCORE}
    for name, observable in config["observables"].items():
        variable = observable.get("variable", name)
        if variable not in variables:
            _fail(
                source,
                f"observables.{name}" + (".variable" if "variable" in observable else ""),
                f"unknown variable '{variable}' {_known('variables', variables)}; "
                "name the observable after one or set 'variable'",
            )
        if "edges" in observable:
            if "bins" in observable or "range" in observable:
                _fail(
                    source, f"observables.{name}.edges", "give edges, or bins and range, not both"
                )
            edges = observable["edges"]
            if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                _fail(source, f"observables.{name}.edges", "must be increasing")
        else:
            for key in ("bins", "range"):
                if key not in observable:
                    _fail(
                        source,
                        f"observables.{name}.{key}",
                        "required key is missing (or give edges)",
                    )
            low, high = observable["range"]
            if not low < high:
                _fail(source, f"observables.{name}.range", f"lower edge {low} is not below {high}")
            if observable.get("log") and not low > 0:
                _fail(
                    source,
                    f"observables.{name}.range",
                    f"log bins need a lower edge > 0, not {low}",
                )
        if observable.get("log") and "edges" in observable:
            _fail(source, f"observables.{name}.log", "log spaces regular bins: give bins and range")

    classifiers = config.get("classifiers", {})
    for name, classifier in classifiers.items():
        key = f"classifiers.{name}"
        if classifier["selection"] not in analysis.selections:
            _fail(
                source,
                f"{key}.selection",
                f"unknown selection '{classifier['selection']}' "
                f"{_known('selections', analysis.selections)}",
            )
        if classifier["feature_set"] not in analysis.feature_sets:
            _fail(
                source,
                f"{key}.feature_set",
                f"unknown feature set '{classifier['feature_set']}' "
                f"{_known('feature sets', analysis.feature_sets)}",
            )
        for role in ("signal", "background"):
            for index, process in enumerate(classifier.get(role, [])):
                if process not in processes:
                    _fail(source, f"{key}.{role}[{index}]", f"unknown process '{process}'")
        _check_multiclass(classifier, key, processes, analysis, source)

    for name, region in config["regions"].items():
        key = f"regions.{name}"
        if region["selection"] not in analysis.selections:
            _fail(
                source,
                f"{key}.selection",
                f"unknown selection '{region['selection']}' {_known('selections', analysis.selections)}",
            )
        if region["observable"] not in config["observables"]:
            _fail(
                source,
                f"{key}.observable",
                f"unknown observable '{region['observable']}' "
                f"(defined: {', '.join(config['observables'])})",
            )
        for category, values in region.get("categories", {}).items():
            if category not in analysis.categories:
                _fail(
                    source,
                    f"{key}.categories.{category}",
                    f"unknown category {_known('categories', analysis.categories)}",
                )
            for index, value in enumerate(values):
                if value not in analysis.categories[category]:
                    _fail(
                        source,
                        f"{key}.categories.{category}[{index}]",
                        f"unknown value '{value}' {_known('values', analysis.categories[category])}",
                    )
        observable = config["observables"][region["observable"]]
        uses_score = "score" in region or observable.get("variable", region["observable"]) == SCORE
        if "versus" in region:
            if region["versus"] not in config["observables"]:
                _fail(
                    source,
                    f"{key}.versus",
                    f"unknown observable '{region['versus']}' "
                    f"(defined: {', '.join(config['observables'])})",
                )
            versus = config["observables"][region["versus"]]
            uses_score = uses_score or versus.get("variable", region["versus"]) == SCORE
        classifier_name = region.get("classifier")
        if uses_score and classifier_name is None:
            _fail(
                source,
                key,
                "uses a classifier score but names no classifier"
                + (
                    f" (defined: {', '.join(classifiers)})" if classifiers else " (none is defined)"
                ),
            )
        if classifier_name is not None:
            if classifier_name not in classifiers:
                _fail(
                    source,
                    f"{key}.classifier",
                    f"unknown classifier '{classifier_name}' {_known('classifiers', classifiers)}",
                )
            if region["selection"] != classifiers[classifier_name]["selection"]:
                _fail(
                    source,
                    f"{key}.selection",
                    f"classifier '{classifier_name}' scores "
                    f"'{classifiers[classifier_name]['selection']}' rows only",
                )
        if "score" in region and not region["score"][0] < region["score"][1]:
            _fail(source, f"{key}.score", "lower edge is not below the upper edge")
        if "binning" in region:
            _check_binning(config, name, source)
        if "output" in region:
            _check_output(region, key, classifiers, source)

    for name, systematic in config["systematics"].items():
        key = f"systematics.{name}"
        try:
            kind = systematic_kinds.get(systematic["kind"])
        except KeyError as err:
            raise AnalysisDefinitionError(source, f"{key}.kind", err.args[0]) from None
        options = {k: v for k, v in systematic.items() if k != "kind"}
        _check_schema(kind.options, options, source, ["systematics", name])
        for option, reason in kind.check(name, options):
            _fail(source, f"{key}.{option}", reason)
        if kind.category == "sample" and options["process"] not in processes:
            _fail(source, f"{key}.process", f"unknown process '{options['process']}'")

    fit = config.get("fit", {})
    for index, process in enumerate(fit.get("signal", [])):
        if process not in processes:
            _fail(source, f"fit.signal[{index}]", f"unknown process '{process}'")
    fitted = {f"fit.regions[{i}]": r for i, r in enumerate(fit.get("regions", []))}
    for set_name, names in fit.get("region_sets", {}).items():
        fitted |= {f"fit.region_sets.{set_name}[{i}]": r for i, r in enumerate(names)}
    for key, region in fitted.items():
        if region not in config["regions"]:
            _fail(source, key, f"unknown region '{region}'")
        if "versus" in config["regions"][region]:
            _fail(
                source, key, f"region '{region}' is 2-D (versus): it chooses cuts, it is not fitted"
            )
    if "search" in config:
        _check_search(config, source)
    if "bumphunt" in config:
        _check_bumphunt(config, source)
    if "cwola" in config:
        _check_cwola(config, source)
    if "sculpting" in config:
        _check_sculpting(config, source)
    if "checks" in config:
        _check_checks(config, source)
    return analysis


def _fine_bins(observable: dict) -> int:
    return len(observable["edges"]) - 1 if "edges" in observable else int(observable["bins"])


def _check_binning(config: dict, region_name: str, source: str) -> None:
    """A region's binning: 1-D, asking no more bins than its fine observable has, counting
    known MC processes of its kind ``of``."""
    region = config["regions"][region_name]
    binning = region["binning"]
    key = f"regions.{region_name}.binning"
    if "versus" in region:
        _fail(source, key, "a 2-D region (versus) is not rebinned: it is never fitted")
    fine = _fine_bins(config["observables"][region["observable"]])
    if binning["bins"] > fine:
        _fail(
            source,
            f"{key}.bins",
            f"{binning['bins']} bins asked of observable '{region['observable']}', "
            f"which has {fine} fine bins",
        )
    of = binning.get("of", "background")
    for index, process in enumerate(binning.get("processes", [])):
        if process not in config["processes"]:
            _fail(
                source,
                f"{key}.processes[{index}]",
                f"unknown process '{process}' {_known('processes', config['processes'])}",
            )
        if config["processes"][process]["kind"] != of:
            _fail(source, f"{key}.processes[{index}]", f"'{process}' is not a {of} process")
    if "processes" not in binning and not any(
        p["kind"] == of for p in config["processes"].values()
    ):
        _fail(source, f"{key}.of", f"the definition has no {of} process")


def _binning(block: dict | None, processes: dict[str, Process]) -> Binning | None:
    """A region's validated ``binning`` block, or None."""
    if block is None:
        return None
    of = block.get("of", "background")
    return Binning(
        kind=block["kind"],
        bins=int(block["bins"]),
        of=of,
        processes=tuple(block.get("processes", [n for n, p in processes.items() if p.kind == of])),
        min_mc_yield=float(block["min_mc_yield"]) if "min_mc_yield" in block else None,
        max_mc_stat_error=float(block["max_mc_stat_error"])
        if "max_mc_stat_error" in block
        else None,
    )


def _check_multiclass(
    classifier: dict, key: str, processes: dict, analysis: registry.Analysis, source: str
) -> None:
    """A multiclass classifier's classes, training selection and architecture."""
    multiclass = classifier.get("kind") == "multiclass"
    for field in ("classes", "architecture"):
        if field in classifier and not multiclass:
            _fail(source, f"{key}.{field}", "only a classifier of kind multiclass has it")
    if multiclass and "classes" not in classifier:
        _fail(source, f"{key}.classes", "a multiclass classifier names its classes")
    seen: dict[str, str] = {}
    for name, members in classifier.get("classes", {}).items():
        for index, process in enumerate(members):
            where = f"{key}.classes.{name}[{index}]"
            if process not in processes:
                _fail(source, where, f"unknown process '{process}'")
            if process in seen:
                _fail(source, where, f"process '{process}' is already in class '{seen[process]}'")
            seen[process] = name
    training = classifier.get("training_selection")
    if training is not None and training not in analysis.selections:
        _fail(
            source,
            f"{key}.training_selection",
            f"unknown selection '{training}' {_known('selections', analysis.selections)}",
        )


def _check_output(region: dict, key: str, classifiers: dict, source: str) -> None:
    """A region's ``output``: classes of its multiclass classifier."""
    name = region.get("classifier")
    if name is None or classifiers[name].get("kind") != "multiclass":
        _fail(source, f"{key}.output", "takes an output of the region's multiclass classifier")
    classes = classifiers[name]["classes"]
    output = region["output"]
    parts = {"": [output]} if isinstance(output, str) else output
    for part, names in parts.items():
        for index, value in enumerate(names):
            where = f"{key}.output" + (f".{part}[{index}]" if part else "")
            if value not in classes:
                _fail(source, where, f"unknown class '{value}' {_known('classes', classes)}")


def _discriminant(output: str | dict | None) -> Discriminant | None:
    if output is None:
        return None
    if isinstance(output, str):
        return Discriminant((output,))
    return Discriminant(tuple(output["numerator"]), tuple(output.get("denominator", ())))


def _check_checks(config: dict, source: str) -> None:
    """The checks block names known regions and processes."""
    agreement = config["checks"].get("feature_agreement", {})
    for index, region in enumerate(agreement.get("regions", [])):
        key = f"checks.feature_agreement.regions[{index}]"
        if region not in config["regions"]:
            _fail(source, key, f"unknown region '{region}' {_known('regions', config['regions'])}")
        if "versus" in config["regions"][region]:
            _fail(source, key, f"region '{region}' is 2-D (versus): a feature is one observable")
    named = {
        f"checks.feature_agreement.processes[{i}]": p
        for i, p in enumerate(agreement.get("processes", []))
    }
    for group, processes in config["checks"].get("weights", {}).get("siblings", {}).items():
        named |= {f"checks.weights.siblings.{group}[{i}]": p for i, p in enumerate(processes)}
    for key, process in named.items():
        if process not in config["processes"]:
            _fail(
                source,
                key,
                f"unknown process '{process}' {_known('processes', config['processes'])}",
            )


def _block_regions(config: dict, source: str, block: str, reference: str) -> list[str]:
    """A block's reference region and its selections' regions, each a known region."""
    keyed = {f"{block}.{reference}": config[block][reference]}
    keyed |= {f"{block}.selections.{k}": v for k, v in config[block]["selections"].items()}
    for key, region in keyed.items():
        if region not in config["regions"]:
            _fail(source, key, f"unknown region '{region}'")
        if "versus" in config["regions"][region]:
            _fail(source, key, f"region '{region}' is 2-D (versus): a spectrum must be 1-D")
    return list(keyed.values())


def _check_sculpting(config: dict, source: str) -> None:
    """The sculpting block names known regions on one variable and known backgrounds."""
    block = config["sculpting"]
    variables, edges = set(), {}
    for region in _block_regions(config, source, "sculpting", "reference"):
        name = config["regions"][region]["observable"]
        observable = config["observables"][name]
        variable = observable.get("variable", name)
        if variable == SCORE:
            variable = f"{SCORE} of {config['regions'][region].get('classifier')}"
        variables.add(variable)
        if "edges" in observable:
            edges[region] = np.asarray(observable["edges"], dtype=float)
        else:
            low, high = observable["range"]
            edges[region] = np.linspace(low, high, observable["bins"] + 1)
    if len(variables) > 1:
        _fail(source, "sculpting", f"its regions histogram different variables {sorted(variables)}")
    if "range" in block and block["range"][0] >= block["range"][1]:
        _fail(source, "sculpting.range", "low must be below high")
    _check_common_bins(source, edges, block.get("range"))
    backgrounds = [n for n, p in config["processes"].items() if p["kind"] == "background"]
    for index, process in enumerate(block.get("processes", [])):
        if process not in backgrounds:
            _fail(
                source,
                f"sculpting.processes[{index}]",
                f"'{process}' is not a background process {_known('backgrounds', backgrounds)}",
            )


def _check_common_bins(source: str, edges: dict[str, Any], value_range: list | None) -> None:
    """The regions' bins agree (within ``value_range``, whose ends are edges of each)."""
    common = None
    for region, region_edges in edges.items():
        if value_range is not None:
            ends = [
                np.flatnonzero(np.isclose(region_edges, x, rtol=1e-9, atol=0)) for x in value_range
            ]
            if any(len(e) != 1 for e in ends):
                _fail(
                    source,
                    "sculpting.range",
                    f"{value_range[0]:g}-{value_range[1]:g} does not start and end on bin edges "
                    f"of region {region!r}",
                )
            region_edges = region_edges[ends[0][0] : ends[1][0] + 1]
        if common is None:
            common = region_edges
        elif region_edges.shape != common.shape or not np.allclose(region_edges, common, rtol=1e-9):
            _fail(
                source,
                "sculpting.range" if value_range is not None else "sculpting",
                f"region {region!r} has other bins than {next(iter(edges))!r}"
                + ("" if value_range is not None else " (set a common range)"),
            )


def _check_search(config: dict, source: str) -> None:
    """The search block names known processes, regions on one observable, known shapes."""
    search = config["search"]
    if search["signal"] not in config["processes"]:
        _fail(source, "search.signal", f"unknown process '{search['signal']}'")
    observables = {
        config["regions"][region]["observable"]
        for region in _block_regions(config, source, "search", "preselection")
    }
    if len(observables) > 1:
        _fail(
            source, "search", f"its regions histogram different observables {sorted(observables)}"
        )
    for selection, region in search.get("profile_likelihood_regions", {}).items():
        key = f"search.profile_likelihood_regions.{selection}"
        if selection not in search["selections"]:
            known = _known("selections", search["selections"])
            _fail(source, key, f"unknown selection '{selection}' {known}")
        if region not in config["regions"]:
            _fail(source, key, f"unknown region '{region}'")
    for key in ("signal_shape", "background_shape"):
        known = spectrum_shape_names(key.split("_")[0])
        if key in search and search[key] not in known:
            _fail(
                source, f"search.{key}", f"unknown shape '{search[key]}' {_known('shapes', known)}"
            )
    if "fit_range" in search and search["fit_range"][0] >= search["fit_range"][1]:
        _fail(source, "search.fit_range", "low must be below high")


SHAPES_ENTRY_POINT_GROUP = "liberica.spectrum_shapes"
"""Entry points naming the signal and background shape registries (``fits/shapes.py``)."""


def spectrum_shape_names(role: str) -> list[str]:
    """The names of the registered spectrum shapes of ``role`` (``signal``, ``background``),
    read through their entry points so that validation imports no fit code."""
    names: list[str] = []
    for entry in metadata.entry_points(group=SHAPES_ENTRY_POINT_GROUP, name=role):
        names += list(entry.load())
    return names


def _build(
    config: dict,
    analysis: registry.Analysis,
    source: str,
    source_dir: str | None,
    model_folders: dict[str, str] | None = None,
) -> AnalysisDefinition:
    fit = config.get("fit", {})
    processes = {
        name: Process(
            name=name,
            kind=p["kind"],
            label=p.get("label", name),
            color=p.get("color"),
            xsec_uncertainty=p.get("xsec_uncertainty"),
            allow_negative_sumw=bool(p.get("allow_negative_sumw", False)),
        )
        for name, p in config["processes"].items()
    }
    return AnalysisDefinition(
        analysis=analysis.name,
        name=config["name"],
        description=config.get("description", ""),
        tree=config["tree"],
        luminosity_fb=float(config["luminosity"]["value_fb"]),
        luminosity_uncertainty=float(config["luminosity"]["relative_uncertainty"]),
        processes=processes,
        cuts=analysis.parse_cuts(config.get("cuts", {}), source),
        observables={
            name: Observable(
                name=name,
                label=o.get("label", name),
                bins=len(o["edges"]) - 1 if "edges" in o else o["bins"],
                low=float(o["edges"][0] if "edges" in o else o["range"][0]),
                high=float(o["edges"][-1] if "edges" in o else o["range"][1]),
                variable=o.get("variable", name),
                edges=tuple(float(x) for x in o.get("edges", ())),
                log=bool(o.get("log", False)),
            )
            for name, o in config["observables"].items()
        },
        regions={
            name: Region(
                name=name,
                selection=r["selection"],
                observable=r["observable"],
                categories={k: tuple(v) for k, v in r.get("categories", {}).items()},
                classifier=r.get("classifier"),
                score=tuple(float(x) for x in r["score"]) if "score" in r else None,
                versus=r.get("versus"),
                binning=_binning(r.get("binning"), processes),
                output=_discriminant(r.get("output")),
            )
            for name, r in config["regions"].items()
        },
        systematics={
            name: Systematic(
                name=name, kind=s["kind"], options={k: v for k, v in s.items() if k != "kind"}
            )
            for name, s in config["systematics"].items()
        },
        fit_regions=tuple(
            fit.get("regions", [r for r, v in config["regions"].items() if "versus" not in v])
        ),
        classifiers={
            name: ClassifierConfig(
                name=name,
                models=tuple(c["models"]),
                selection=c["selection"],
                feature_set=c["feature_set"],
                source_dir=(model_folders or {}).get(name, source_dir),
                signal=tuple(
                    c.get("signal", [p for p, v in processes.items() if v.kind == "signal"])
                ),
                background=tuple(
                    c.get("background", [p for p, v in processes.items() if v.kind == "background"])
                ),
                output=c.get("output", ""),
                negative_weights=c.get("negative_weights", "clip"),
                kind=c.get("kind", "classifier"),
                scaling=c.get("scaling", "standard"),
                classes={k: tuple(v) for k, v in c.get("classes", {}).items()},
                training_selection=c.get("training_selection", ""),
                architecture=c.get("architecture", "ft_transformer"),
            )
            for name, c in config.get("classifiers", {}).items()
        },
        fit_region_sets={k: tuple(v) for k, v in fit.get("region_sets", {}).items()},
        fit_templates=dict(fit.get("templates", {})),
        fit_signal=tuple(
            fit.get("signal", [p for p, v in processes.items() if v.kind == "signal"])
        ),
        source=source,
        search=_search(config.get("search")),
        bumphunt=_bumphunt(config.get("bumphunt")),
        cwola=_cwola(config.get("cwola")),
        stages=tuple(stage for stage in ("fit", "bumphunt", "cwola") if stage in config),
        sculpting=_sculpting(config.get("sculpting")),
        checks=_checks(config.get("checks", {})),
    )


def _field_value(value: Any) -> Any:
    """A YAML value as a config field holds it: lists as tuples, numbers as floats."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):  # siblings: group -> processes
        return {key: tuple(names) for key, names in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _checks(block: dict) -> ChecksConfig:
    """The validated ``checks`` block; its keys are the fields, defaults where absent."""
    agreement = block.get("feature_agreement")
    weights = block.get("weights", {})
    return ChecksConfig(
        feature_agreement=None
        if agreement is None
        else FeatureAgreementConfig(**{k: _field_value(v) for k, v in agreement.items()}),
        weights=WeightChecksConfig(**{k: _field_value(v) for k, v in weights.items()}),
    )


def _sculpting(block: dict | None) -> SculptingConfig | None:
    """The validated ``sculpting`` block, or None."""
    if block is None:
        return None
    return SculptingConfig(
        reference=block["reference"],
        selections=dict(block["selections"]),
        processes=tuple(block.get("processes", ())),
        range=tuple(float(x) for x in block["range"]) if "range" in block else None,
    )


def _bumphunt(block: dict | None) -> BumpHuntConfig | None:
    if block is None:
        return None
    gv = block.get("gross_vitells", {})
    widths = block.get("widths", {})
    defaults = BumpHuntConfig(scan="")
    return BumpHuntConfig(
        scan=block["scan"],
        efficiencies=tuple(sorted((float(x) for x in block["efficiencies"]), reverse=True))
        if "efficiencies" in block
        else defaults.efficiencies,
        background=block.get("background", defaults.background),
        background_shape=block.get("background_shape", defaults.background_shape),
        hunt_range=tuple(float(x) for x in block["hunt_range"]) if "hunt_range" in block else None,
        normalize_mc=bool(block.get("normalize_mc", defaults.normalize_mc)),
        min_width=int(widths.get("min", defaults.min_width)),
        max_width=int(widths["max"]) if "max" in widths else None,
        pseudo_experiments=int(block.get("pseudo_experiments", defaults.pseudo_experiments)),
        gross_vitells_width=int(gv.get("width", defaults.gross_vitells_width)),
        gross_vitells_level=float(gv.get("level", defaults.gross_vitells_level)),
        gross_vitells_pseudo_experiments=int(
            gv.get("pseudo_experiments", defaults.gross_vitells_pseudo_experiments)
        ),
    )


def _check_bumphunt(config: dict, source: str) -> None:
    """The bumphunt block names a 2-D score region, a known shape, and sane numbers."""
    block = config["bumphunt"]
    scan = block["scan"]
    if scan not in config["regions"]:
        _fail(source, "bumphunt.scan", f"unknown region '{scan}'")
    region = config["regions"][scan]
    versus = region.get("versus")
    if versus is None or config["observables"][versus].get("variable", versus) != SCORE:
        _fail(
            source,
            "bumphunt.scan",
            f"region '{scan}' must be 2-D with the score second (versus: a score observable)",
        )
    if len(set(block.get("efficiencies", []))) != len(block.get("efficiencies", [])):
        _fail(source, "bumphunt.efficiencies", "efficiencies repeat")
    if "background_shape" in block:
        known = spectrum_shape_names("background")
        if block["background_shape"] not in known:
            _fail(
                source,
                "bumphunt.background_shape",
                f"unknown shape '{block['background_shape']}' {_known('shapes', known)}",
            )
    if "hunt_range" in block and block["hunt_range"][0] >= block["hunt_range"][1]:
        _fail(source, "bumphunt.hunt_range", "low must be below high")
    widths = block.get("widths", {})
    if "max" in widths and widths["max"] < widths.get("min", 2):
        _fail(source, "bumphunt.widths.max", "must be at least widths.min")


def _cwola(block: dict | None) -> CwolaConfig | None:
    """The validated ``cwola`` block, or None."""
    if block is None:
        return None
    windows = block.get("windows", {})
    defaults = CwolaConfig(selection="", table="", features=(), mass="")
    references = block.get("references")
    return CwolaConfig(
        selection=block["selection"],
        table=block["table"],
        features=tuple(block["features"]),
        mass=block["mass"],
        label=block.get("label", defaults.label),
        mass_range=tuple(float(x) for x in windows.get("range", defaults.mass_range)),
        anchor=tuple(float(x) for x in windows.get("signal_region", defaults.anchor)),
        step_ratio=float(windows["step_ratio"]) if "step_ratio" in windows else None,
        bins_per_window=int(windows.get("bins_per_window", defaults.bins_per_window)),
        efficiencies=tuple(sorted((float(x) for x in block["efficiencies"]), reverse=True))
        if "efficiencies" in block
        else defaults.efficiencies,
        folds=int(block.get("folds", defaults.folds)),
        trainer=block.get("trainer", defaults.trainer),
        members=int(block.get("members", defaults.members)),
        background_shape=block.get("background_shape", defaults.background_shape),
        pseudo_experiments=int(block.get("pseudo_experiments", defaults.pseudo_experiments)),
        references=None
        if references is None
        else CwolaReferences(
            signal_region=tuple(float(x) for x in references["signal_region"]),
            evaluation=tuple(references.get("evaluation", ())),
            background_only=tuple(references.get("background_only", ())),
            trainers=tuple(references.get("trainers", CwolaReferences((0, 0)).trainers)),
            min_background=int(references.get("min_background", 25)),
        ),
    )


def _check_cwola(config: dict, source: str) -> None:
    """The cwola block names a known selection, feature set, shape and processes."""
    block = config["cwola"]
    analysis = registry.get(config["analysis"])
    if block["selection"] not in analysis.selections:
        _fail(
            source,
            "cwola.selection",
            f"unknown selection '{block['selection']}' {_known('selections', analysis.selections)}",
        )
    feature_set = analysis.feature_sets.get(block["table"])
    if feature_set is None:
        _fail(
            source,
            "cwola.table",
            f"unknown feature set '{block['table']}' {_known('feature sets', analysis.feature_sets)}",
        )
    columns = set(feature_set.features)
    for index, name in enumerate(block["features"]):
        if name not in columns:
            _fail(
                source, f"cwola.features[{index}]", f"'{name}' is not a column of {block['table']}"
            )
    if len(set(block["features"])) != len(block["features"]):
        _fail(source, "cwola.features", "features repeat")
    for key, name in (("mass", block["mass"]), ("label", block.get("label", "label"))):
        if name not in columns:
            _fail(source, f"cwola.{key}", f"'{name}' is not a column of {block['table']}")
        if name in block["features"]:
            _fail(source, f"cwola.{key}", f"'{name}' must not be a classifier input")
    if len(set(block.get("efficiencies", []))) != len(block.get("efficiencies", [])):
        _fail(source, "cwola.efficiencies", "efficiencies repeat")
    if "background_shape" in block:
        known = spectrum_shape_names("background")
        if block["background_shape"] not in known:
            _fail(
                source,
                "cwola.background_shape",
                f"unknown shape '{block['background_shape']}' {_known('shapes', known)}",
            )
    windows = block.get("windows", {})
    for key in ("range", "signal_region"):
        if key in windows and windows[key][0] >= windows[key][1]:
            _fail(source, f"cwola.windows.{key}", "low must be below high")
    references = block.get("references")
    if references is None:
        return
    low, high = references["signal_region"]
    if low >= high:
        _fail(source, "cwola.references.signal_region", "low must be below high")
    for key in ("evaluation", "background_only"):
        for index, process in enumerate(references.get(key, [])):
            if process not in config["processes"]:
                _fail(source, f"cwola.references.{key}[{index}]", f"unknown process '{process}'")


def _search(search: dict | None) -> SearchConfig | None:
    if search is None:
        return None
    return SearchConfig(
        signal=search["signal"],
        preselection=search["preselection"],
        selections=dict(search["selections"]),
        profile_likelihood_regions={
            name: search.get("profile_likelihood_regions", {}).get(name, region)
            for name, region in search["selections"].items()
        },
        signal_shape=search.get("signal_shape", "gaussian"),
        background_shape=search.get("background_shape", "dijet"),
        fit_range=tuple(float(x) for x in search["fit_range"]) if "fit_range" in search else None,
        window_sigma=float(search.get("window_sigma", 2.0)),
        background_uncertainty=float(search.get("background_uncertainty", 0.1)),
        punzi_a=float(search.get("punzi_a", 5.0)),
    )


def applied_systematics(
    definition: AnalysisDefinition, systematics: bool, fileset: dict[str, Any]
) -> dict[str, list[str]]:
    """The systematics a run's histograms carry, by category, and the normalizations a fit adds.

    ``weight`` and ``object``: the definition's, when the run has systematics;
    ``sample``: those of them whose alternative sample is in the fileset;
    ``normalization``: the luminosity and each background cross-section with an
    uncertainty (the fit's normsys modifiers, applied to every input format).
    """
    if systematics:
        in_fileset = {e["metadata"].get("variation") for e in fileset.values()}
        templates = {
            category: [s.name for s in definition.systematics_of(category)]
            for category in ("weight", "object")
        }
        templates["sample"] = [
            s.name for s in definition.systematics_of("sample") if s.name in in_fileset
        ]
    else:
        templates = {"weight": [], "object": [], "sample": []}
    normalization = ["luminosity"] if definition.luminosity_uncertainty else []
    normalization += [
        f"xsec_{p.name}"
        for p in definition.processes.values()
        if p.kind == "background" and p.xsec_uncertainty
    ]
    return {**templates, "normalization": normalization}


def without_classifier(definition: AnalysisDefinition) -> AnalysisDefinition:
    """The definition minus its classifiers and every region that uses a score.

    This is what training runs on: the features come before any model exists.
    """
    regions = {name: r for name, r in definition.regions.items() if r.classifier is None}
    return definition._replace(
        classifiers={},
        regions=regions,
        fit_regions=tuple(r for r in definition.fit_regions if r in regions),
        fit_region_sets={
            k: v for k, v in definition.fit_region_sets.items() if all(r in regions for r in v)
        },
        search=None,
        sculpting=None,
        bumphunt=None,
        stages=tuple(s for s in definition.stages if s != "bumphunt"),
    )


def builtin_analyses() -> list[str]:
    """Names of the registered analyses (shipped and installed)."""
    return registry.names()


EXTENDS_DEPTH = 4
"""How many ``extends`` a definition may chain (a loop stops here)."""


def merged(base: dict, overlay: dict) -> dict:
    """``overlay`` on ``base``: mappings merged key by key, other values replaced.

    A key the overlay sets to null (``~``) is removed.
    """
    out = dict(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _locate(name_or_path: str | pathlib.Path, relative_to: str | None) -> tuple[str, pathlib.Path]:
    """The source name and file of a definition: a registered analysis's name
    (``hllj``), one of its package's variants (``hllj:sculpting`` is
    ``sculpting.yaml`` in its folder), or a YAML path (relative to ``relative_to``)."""
    text = str(name_or_path)
    path = pathlib.Path(name_or_path)
    if relative_to is not None and not path.is_absolute():
        path = pathlib.Path(relative_to) / path
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"analysis definition {path} does not exist")
        return str(path), path
    name, _, variant = text.partition(":")
    try:
        analysis = registry.get(name)
    except registry.AnalysisNotFound:
        raise FileNotFoundError(
            f"no analysis named '{name}' (registered: "
            f"{', '.join(registry.names()) or 'none'}); pass a path to a YAML definition instead"
        ) from None
    if not variant:
        return text, analysis.definition_path()
    shipped = analysis.folder() / f"{variant}.yaml"
    if not shipped.is_file():
        known = sorted(
            f"{name}:{p.stem}"
            for p in analysis.folder().glob("*.yaml")
            if p.name != analysis.definition
        )
        raise FileNotFoundError(
            f"analysis {name!r} ships no definition {variant!r} "
            f"(its variants: {', '.join(known) or 'none'})"
        )
    return text, shipped


def _model_folders(config: Any, folder: str) -> dict[str, str]:
    """Classifier -> the folder its ``models`` are relative to: the file that sets them."""
    classifiers = config.get("classifiers") if isinstance(config, dict) else None
    if not isinstance(classifiers, dict):
        return {}
    return {n: folder for n, c in classifiers.items() if isinstance(c, dict) and "models" in c}


def _read(
    name_or_path: str | pathlib.Path, relative_to: str | None, depth: int
) -> tuple[str, Any, dict[str, str]]:
    """A definition's parsed YAML with its ``extends`` chain merged in, a label naming
    the chain, and each classifier's model folder (``_model_folders``)."""
    source, path = _locate(name_or_path, relative_to)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise AnalysisDefinitionError(source, "<top level>", f"not valid YAML: {err}") from err
    except OSError as err:
        raise FileNotFoundError(f"analysis definition {path}: {err.strerror}") from None
    folder = str(path.resolve().parent)
    folders = _model_folders(config, folder)
    if not isinstance(config, dict) or "extends" not in config:
        return source, config, folders
    overlay = dict(config)
    parent = overlay.pop("extends")
    if not isinstance(parent, str) or not parent.strip():
        _fail(source, "extends", "expected the name or path of a definition")
    if depth >= EXTENDS_DEPTH:
        _fail(source, "extends", f"a chain of more than {EXTENDS_DEPTH} extends (a loop?)")
    try:
        parent_source, base, base_folders = _read(parent, folder, depth + 1)
    except FileNotFoundError as err:
        raise AnalysisDefinitionError(source, "extends", str(err)) from None
    if not isinstance(base, dict):
        _fail(parent_source, "<top level>", "expected a mapping")
    return f"{source} (extends {parent_source})", merged(base, overlay), base_folders | folders


def load(name_or_path: str | pathlib.Path) -> AnalysisDefinition:
    """Load and validate an analysis definition.

    A definition may start from another: ``extends: NAME`` merges it under the
    definition's own keys (``merged``).

    Args:
        name_or_path: a registered analysis's name (its shipped definition), a
            variant it ships (``ANALYSIS:VARIANT``), or the path of a YAML
            definition, which names its analysis

    Returns:
        AnalysisDefinition: the validated definition

    Raises:
        AnalysisDefinitionError: naming the offending key
        FileNotFoundError: for an unknown name or a missing file
    """
    source, path = _locate(name_or_path, None)
    label, config, model_folders = _read(name_or_path, None, 0)
    analysis = validate(config, label)
    log.debug("loaded analysis definition %s (analysis %s)", label, analysis.name)
    # the definition's source is what loads it again (a run's metrics.json keeps it)
    built = _build(config, analysis, source, str(path.resolve().parent), model_folders)
    return built._replace(digest=content_digest(config))


def content_digest(config: Any) -> str:
    """SHA-256 of a parsed YAML document, independent of key order and formatting."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
