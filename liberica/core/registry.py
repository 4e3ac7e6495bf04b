"""The analysis registry: each analysis is one registered object, found by name.

An analysis package declares an :class:`Analysis` and registers it in the
``liberica.analyses`` entry-point group of its distribution::

    [project.entry-points."liberica.analyses"]
    hzz4l = "liberica.analysis.hzz4l:ANALYSIS"

liberica's own analyses register the same way as a user's package. The
object names its processor, definition, cut schema, feature sets and sample
generator by import path, so that listing the analyses (the CLI's choices)
imports none of their code. :func:`register` adds one by hand, for a notebook
or a test.

This module and the analyses' own folders are the only places that name an
analysis.
"""

from __future__ import annotations

import importlib
import json
import logging
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from liberica.core.entry_points import load_group
from liberica.core.errors import LibericaError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "liberica.analyses"
DEFAULT_ANALYSIS = "hzz4l"
"""What a bare ``liberica run`` runs."""
DEFAULT_LUMI_FB = 140.0
"""The pseudo-data's integrated luminosity, fb^-1, of an analysis that states no other."""


class AnalysisNotFound(LibericaError, LookupError):
    """No analysis of that name is registered."""


class FeatureSet:
    """A classifier's input: named features in column order, computed by one function.

    Args:
        name: identifier stored in the models' metadata, e.g. ``hzz4l-v1``
        features: feature names in input column order
        function: import path ``module:function`` of ``f(result, rows) -> (n, F) float32``
        categorical: the features that are categories (flavours, charges, track
            counts), which a network embeds instead of scaling
        missing: the value a feature takes where it does not exist (e.g. no second
            tau), or None if every feature always exists
    """

    def __init__(
        self,
        name: str,
        features: tuple[str, ...],
        function: str,
        categorical: tuple[str, ...] = (),
        missing: float | None = None,
    ) -> None:
        unknown = sorted(set(categorical) - set(features))
        if unknown:
            raise ValueError(f"feature set {name}: categorical {unknown} are not features")
        self.name = name
        self.features = tuple(features)
        self.function = function
        self.categorical = tuple(categorical)
        self.missing = missing

    def compute(self, result: Any, rows: Any) -> Any:
        """The feature matrix of ``rows`` of a selection result."""
        return resolve(self.function)(result, rows)

    def __repr__(self) -> str:
        return f"FeatureSet({self.name!r}, {len(self.features)} features)"


@dataclass(frozen=True)
class Analysis:
    """One analysis: what liberica needs to run it.

    Attributes:
        name: the name commands take
        package: the analysis's package (its definition and models are package data)
        processor: import path ``module:Class`` of its ``AnalysisProcessor``
        definition: file name of its definition in the package
        cuts_schema: file name of the JSON-schema fragment of its ``cuts`` block
        cuts: import path of ``f(cuts: dict, source: str)`` returning the typed
            cuts (raising ``AnalysisDefinitionError`` naming the key), or None
            to keep the dictionary
        selections: the selection names its regions may use
        variables: the per-row observables its selections provide
        categories: per category (e.g. ``channel``), its values and their codes
        feature_sets: its classifier inputs by name
        generate: import path of its sample generator,
            ``f(out_dir, *, events, lumi_fb, mu_inject, seed, events_per_file)``
        default_events: MC events of its default embedded sample
        input_format: the input format of its files
        generators: other input formats its sample can be written in: format name
            -> import path of a generator of the same signature (``liberica
            generate NAME --format FORMAT``)
        fit: the default fit (``template``: cabinetry/pyhf)
        models: folder of the package holding its shipped models
        default_lumi_fb: the luminosity of its embedded sample's pseudo-data and MC
            where none is asked for, fb^-1
    """

    name: str
    package: str
    processor: str
    definition: str = "definition.yaml"
    cuts_schema: str = "cuts.json"
    cuts: str | None = None
    selections: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    feature_sets: dict[str, FeatureSet] = field(default_factory=dict)
    generate: str | None = None
    default_events: int = 1_000_000
    input_format: str = "open_data"
    generators: dict[str, str] = field(default_factory=dict)
    fit: str = "template"
    models: str = "models"
    default_lumi_fb: float = DEFAULT_LUMI_FB

    def folder(self) -> pathlib.Path:
        """The package's folder (definition, schema fragment, models)."""
        return pathlib.Path(str(resources.files(self.package)))

    def definition_path(self) -> pathlib.Path:
        """The shipped definition."""
        return self.folder() / self.definition

    def cut_schema(self) -> dict:
        """The JSON schema of the definition's ``cuts`` block."""
        return json.loads((self.folder() / self.cuts_schema).read_text())

    def processor_class(self) -> type:
        """The processor class (imports the analysis's code)."""
        return resolve(self.processor)

    def sample_formats(self) -> list[str]:
        """The input formats its sample can be generated in, its own first."""
        own = [self.input_format] if self.generate is not None else []
        return own + [f for f in self.generators if f != self.input_format]

    def generator(self, input_format: str | None = None) -> Callable[..., Any]:
        """The sample generator, of its own input format or of ``input_format``.

        Raises:
            AnalysisNotFound: if the analysis ships none (for that format)
        """
        if input_format is not None and input_format != self.input_format:
            if input_format not in self.generators:
                known = ", ".join(self.sample_formats()) or "none"
                raise AnalysisNotFound(
                    f"analysis {self.name!r} generates no {input_format} sample "
                    f"(its formats: {known})"
                )
            return resolve(self.generators[input_format])
        if self.generate is None:
            raise AnalysisNotFound(f"analysis {self.name!r} has no sample generator")
        return resolve(self.generate)

    def parse_cuts(self, cuts: dict, source: str) -> Any:
        """The definition's ``cuts`` block as the analysis's typed cuts."""
        return cuts if self.cuts is None else resolve(self.cuts)(cuts, source)

    def models_folder(self) -> pathlib.Path:
        """Where its shipped models are."""
        return self.folder() / self.models


def resolve(path: str) -> Any:
    """The object at ``module:attribute``."""
    module, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


_REGISTERED: dict[str, Analysis] = {}
_DISCOVERED = False


def register(analysis: Analysis) -> Analysis:
    """Register an analysis by hand (entry points register the installed ones)."""
    existing = _REGISTERED.get(analysis.name)
    if existing is not None and existing != analysis:
        raise ValueError(f"analysis {analysis.name!r} is registered twice ({existing.package})")
    _REGISTERED[analysis.name] = analysis
    return analysis


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for name, analysis in load_group(ENTRY_POINT_GROUP, "analysis"):
        if not isinstance(analysis, Analysis):
            log.warning("entry point %s is not a liberica Analysis (%r)", name, analysis)
            continue
        register(analysis)


def names() -> list[str]:
    """The registered analyses, sorted."""
    _discover()
    return sorted(_REGISTERED)


def get(name: str) -> Analysis:
    """The registered analysis ``name``.

    Raises:
        AnalysisNotFound: naming the registered ones
    """
    _discover()
    try:
        return _REGISTERED[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTERED)) or "none"
        raise AnalysisNotFound(
            f"no analysis named {name!r} is registered (registered: {known}); an analysis "
            f"package registers one in the {ENTRY_POINT_GROUP!r} entry-point group"
        ) from None
