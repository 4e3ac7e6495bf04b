"""Load and validate analysis definitions (YAML) into typed containers.

Validation runs before any work: first against ``schemas/analysis.json``, then
cross-references (a region's observable, a systematic's process). Every error
names the offending key, e.g. ``regions.sr_4l.observable``.
"""

from __future__ import annotations

import json
import logging
import pathlib
from importlib import resources
from typing import Any, NamedTuple

import yaml

from liberica.analysis.schema_errors import first_error, locate

log = logging.getLogger(__name__)

CHANNELS = ("4e", "4mu", "2e2mu")
"""Final states of the H -> ZZ* -> 4l selection."""


class AnalysisDefinitionError(ValueError):
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


class FlavourCuts(NamedTuple):
    """Per-flavour lepton cuts (GeV, dimensionless significance)."""

    min_pt: float
    max_abs_eta: float
    max_abs_d0_significance: float


class LeptonSelection(NamedTuple):
    """Lepton quality, kinematic, isolation and impact-parameter cuts (GeV, mm)."""

    min_pt: float
    max_abs_eta: float
    require_tight_id: bool
    max_ptcone30_over_pt: float
    max_etcone20_over_pt: float
    max_abs_z0_sin_theta: float
    electron: FlavourCuts
    muon: FlavourCuts


class EventSelection(NamedTuple):
    """Event-level H -> ZZ* -> 4l cuts (GeV)."""

    triggers: tuple[str, ...]
    lepton_pt_thresholds: tuple[float, ...]
    z_mass: float
    z1_mass_window: tuple[float, float]
    z2_mass_window: tuple[float, float]


OBSERVABLE_VARIABLES = ("m4l", "m12", "m34", "pt4l", "score")
"""Per-event quantities an observable can bin."""


class Observable(NamedTuple):
    """A histogrammed observable with regular binning (GeV).

    ``variable`` is the per-event quantity it bins (``m4l``, ``m12``, ``m34``,
    ``pt4l`` or ``score``); it defaults to the name, so one quantity can have
    several binnings (e.g. a narrower m4l range for a sparse region).
    """

    name: str
    label: str
    bins: int
    low: float
    high: float
    variable: str = ""


class Region(NamedTuple):
    """A region: a named selection, its channels and its fit observable."""

    name: str
    selection: str
    channels: tuple[str, ...]
    observable: str
    score: tuple[float, float] | None = None


class ClassifierConfig(NamedTuple):
    """The event classifier of an analysis.

    Attributes:
        models: ONNX files, one per eventNumber parity; a bare name is looked up
            among liberica's shipped models, a relative path next to the definition
        selection: the selection whose events are scored
        source_dir: folder of the definition file, for relative model paths
    """

    models: tuple[str, ...]
    selection: str
    source_dir: str | None = None


class Systematic(NamedTuple):
    """A systematic variation.

    Attributes:
        name: name; histograms carry ``{name}Up`` and ``{name}Down``
        kind: one of ``lepton_scale_factor``, ``pileup_weight`` (weight variations),
            ``lepton_momentum_scale``, ``lepton_resolution`` (object variations),
            ``alternative_sample`` (sample variation)
        options: the kind's settings as written in the definition
    """

    name: str
    kind: str
    options: dict[str, Any]

    @property
    def category(self) -> str:
        """``weight``, ``object`` or ``sample``."""
        return _SYSTEMATIC_CATEGORIES[self.kind]


_SYSTEMATIC_CATEGORIES = {
    "lepton_scale_factor": "weight",
    "pileup_weight": "weight",
    "lepton_momentum_scale": "object",
    "lepton_resolution": "object",
    "alternative_sample": "sample",
}


class AnalysisDefinition(NamedTuple):
    """A validated analysis definition.

    Attributes:
        name: analysis name
        description: one line
        tree: tree name in the input files
        luminosity_fb: integrated luminosity in fb^-1
        luminosity_uncertainty: relative luminosity uncertainty
        processes: MC processes by name (data is the process ``data``)
        lepton_selection: lepton cuts
        event_selection: event cuts
        observables: observables by name
        regions: regions by name
        systematics: systematics by name
        fit_regions: regions the fit uses (default: every region)
        classifier: the event classifier, if any
        fit_region_sets: other named sets of fit regions (``liberica fit --regions``)
        fit_templates: the template rules of the fit (``fits.templates.TemplateRules``
            fields; defaults where absent)
    """

    name: str
    description: str
    tree: str
    luminosity_fb: float
    luminosity_uncertainty: float
    processes: dict[str, Process]
    lepton_selection: LeptonSelection
    event_selection: EventSelection
    observables: dict[str, Observable]
    regions: dict[str, Region]
    systematics: dict[str, Systematic]
    fit_regions: tuple[str, ...] = ()
    classifier: ClassifierConfig | None = None
    fit_region_sets: dict[str, tuple[str, ...]] = {}
    fit_templates: dict[str, float] = {}

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


def _schema() -> dict:
    text = resources.files("liberica.analysis").joinpath("schemas/analysis.json").read_text()
    return json.loads(text)


def validate(config: dict, source: str = "<analysis definition>") -> None:
    """Validate a definition dictionary; raise AnalysisDefinitionError naming the key.

    Args:
        config: the parsed YAML
        source: where it came from, for the message
    """
    if not isinstance(config, dict):
        raise AnalysisDefinitionError(source, "<top level>", "expected a mapping")
    error = first_error(_schema(), config)
    if error is not None:
        raise AnalysisDefinitionError(source, *locate(error))

    for name, observable in config["observables"].items():
        variable = observable.get("variable", name)
        if variable not in OBSERVABLE_VARIABLES:
            raise AnalysisDefinitionError(
                source,
                f"observables.{name}" + (".variable" if "variable" in observable else ""),
                f"unknown variable '{variable}' (known: {', '.join(OBSERVABLE_VARIABLES)}); "
                "name the observable after one or set 'variable'",
            )
    for name, region in config["regions"].items():
        if region["observable"] not in config["observables"]:
            raise AnalysisDefinitionError(
                source,
                f"regions.{name}.observable",
                f"unknown observable '{region['observable']}' "
                f"(defined: {', '.join(config['observables'])})",
            )
        if region["selection"] == "hzz4l" and "channels" not in region:
            raise AnalysisDefinitionError(
                source, f"regions.{name}.channels", "required for selection 'hzz4l'"
            )
    for index, name in enumerate(config.get("fit_regions", [])):
        if name not in config["regions"]:
            raise AnalysisDefinitionError(
                source, f"fit_regions[{index}]", f"unknown region '{name}'"
            )
    for set_name, names in config.get("fit_region_sets", {}).items():
        for index, name in enumerate(names):
            if name not in config["regions"]:
                raise AnalysisDefinitionError(
                    source, f"fit_region_sets.{set_name}[{index}]", f"unknown region '{name}'"
                )
    classifier = config.get("classifier")
    for name, region in config["regions"].items():
        observable = config["observables"][region["observable"]]
        uses_score = (
            "score" in region or observable.get("variable", region["observable"]) == "score"
        )
        if uses_score and classifier is None:
            raise AnalysisDefinitionError(
                source,
                f"regions.{name}",
                "uses the classifier score but no 'classifier' is defined",
            )
        if uses_score and region["selection"] != classifier["selection"]:
            raise AnalysisDefinitionError(
                source,
                f"regions.{name}.selection",
                f"the classifier scores '{classifier['selection']}' events only",
            )
        if "score" in region and not region["score"][0] < region["score"][1]:
            raise AnalysisDefinitionError(
                source, f"regions.{name}.score", "lower edge is not below the upper edge"
            )
    for name, observable in config["observables"].items():
        low, high = observable["range"]
        if not low < high:
            raise AnalysisDefinitionError(
                source, f"observables.{name}.range", f"lower edge {low} is not below {high}"
            )
    for key in ("z1_mass_window", "z2_mass_window"):
        low, high = config["event_selection"][key]
        if not low < high:
            raise AnalysisDefinitionError(
                source, f"event_selection.{key}", f"lower edge {low} is not below {high}"
            )
    for name, systematic in config["systematics"].items():
        if systematic["kind"] == "lepton_scale_factor":
            edges, values = systematic["pt_edges"], systematic["relative_uncertainty"]
            if len(edges) != len(values):
                raise AnalysisDefinitionError(
                    source,
                    f"systematics.{name}.relative_uncertainty",
                    f"needs one value per pt_edges entry ({len(edges)}), got {len(values)}",
                )
            if list(edges) != sorted(edges):
                raise AnalysisDefinitionError(
                    source, f"systematics.{name}.pt_edges", "must be increasing"
                )
        if systematic["kind"] == "alternative_sample":
            if systematic["process"] not in config["processes"]:
                raise AnalysisDefinitionError(
                    source,
                    f"systematics.{name}.process",
                    f"unknown process '{systematic['process']}'",
                )


def _build(config: dict, source_dir: str | None = None) -> AnalysisDefinition:
    lepton = dict(config["lepton_selection"])
    lepton["electron"] = FlavourCuts(**lepton["electron"])
    lepton["muon"] = FlavourCuts(**lepton["muon"])
    events = dict(config["event_selection"])
    return AnalysisDefinition(
        name=config["name"],
        description=config.get("description", ""),
        tree=config["tree"],
        luminosity_fb=float(config["luminosity"]["value_fb"]),
        luminosity_uncertainty=float(config["luminosity"]["relative_uncertainty"]),
        processes={
            name: Process(
                name=name,
                kind=p["kind"],
                label=p.get("label", name),
                color=p.get("color"),
                xsec_uncertainty=p.get("xsec_uncertainty"),
                allow_negative_sumw=bool(p.get("allow_negative_sumw", False)),
            )
            for name, p in config["processes"].items()
        },
        lepton_selection=LeptonSelection(**lepton),
        event_selection=EventSelection(
            triggers=tuple(events["triggers"]),
            lepton_pt_thresholds=tuple(float(x) for x in events["lepton_pt_thresholds"]),
            z_mass=float(events["z_mass"]),
            z1_mass_window=tuple(events["z1_mass_window"]),
            z2_mass_window=tuple(events["z2_mass_window"]),
        ),
        observables={
            name: Observable(
                name=name,
                label=o.get("label", name),
                bins=o["bins"],
                low=float(o["range"][0]),
                high=float(o["range"][1]),
                variable=o.get("variable", name),
            )
            for name, o in config["observables"].items()
        },
        regions={
            name: Region(
                name=name,
                selection=r["selection"],
                channels=tuple(r.get("channels", CHANNELS)),
                observable=r["observable"],
                score=tuple(float(x) for x in r["score"]) if "score" in r else None,
            )
            for name, r in config["regions"].items()
        },
        systematics={
            name: Systematic(
                name=name,
                kind=s["kind"],
                options={k: v for k, v in s.items() if k != "kind"},
            )
            for name, s in config["systematics"].items()
        },
        fit_regions=tuple(config.get("fit_regions", config["regions"])),
        classifier=(
            ClassifierConfig(
                models=tuple(config["classifier"]["models"]),
                selection=config["classifier"]["selection"],
                source_dir=source_dir,
            )
            if "classifier" in config
            else None
        ),
        fit_region_sets={k: tuple(v) for k, v in config.get("fit_region_sets", {}).items()},
        fit_templates=dict(config.get("fit_templates", {})),
    )


def without_classifier(definition: AnalysisDefinition) -> AnalysisDefinition:
    """The definition minus its classifier and every region that uses the score.

    This is what training runs on: the features come before any model exists.
    """
    regions = {
        name: region
        for name, region in definition.regions.items()
        if region.score is None and region.observable != "score"
    }
    return definition._replace(
        classifier=None,
        regions=regions,
        fit_regions=tuple(r for r in definition.fit_regions if r in regions),
        fit_region_sets={
            k: v for k, v in definition.fit_region_sets.items() if all(r in regions for r in v)
        },
    )


def builtin_analyses() -> list[str]:
    """Names of the analysis definitions shipped with liberica."""
    folder = resources.files("liberica.analysis").joinpath("definitions")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load(name_or_path: str | pathlib.Path) -> AnalysisDefinition:
    """Load and validate an analysis definition.

    Args:
        name_or_path: a shipped analysis name (``hzz4l``) or a path to a YAML file

    Returns:
        AnalysisDefinition: the validated definition

    Raises:
        AnalysisDefinitionError: naming the offending key
        FileNotFoundError: for an unknown name or a missing file
    """
    text: str
    source_dir: str | None = None
    path = pathlib.Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"analysis definition {path} does not exist")
        source, text = str(path), path.read_text()
        source_dir = str(path.resolve().parent)
    else:
        if str(name_or_path) not in builtin_analyses():
            raise FileNotFoundError(
                f"no analysis named '{name_or_path}' (shipped: {', '.join(builtin_analyses())}); "
                "pass a path to a YAML definition instead"
            )
        resource = resources.files("liberica.analysis").joinpath(f"definitions/{name_or_path}.yaml")
        source, text = f"{name_or_path}.yaml", resource.read_text()
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise AnalysisDefinitionError(source, "<top level>", f"not valid YAML: {err}") from err
    validate(config, source)
    log.debug("loaded analysis definition %s", source)
    return _build(config, source_dir)
