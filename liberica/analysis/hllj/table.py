"""hllj on the seed project's flat tables (format ``daml_csv``): the analysis ``hllj_table``.

A table row is one event that the table's maker already preselected, with
its table variables and llJ mass as columns (GeV once read): there are no
objects to build. The processor takes the columns as its observables and
applies the cuts of hllj's definition that the columns allow:

- preselection: the leading lepton pT, the Z -> l l mass window, the large-R
  jet pT and |eta| (``leading_lepton_pt``, ``zll_mass``, ``large_r_jet``);
- ``cut_based``: the same square cuts on the table variables.

The cuts a table cannot apply are the triggers, the lepton quality, |eta| and
isolation cuts, exactly two same-flavour opposite-charge leptons, and the
choice of the leading large-R jet among several: they belong to whoever made
the table. With no lepton flavour there is no channel category, and with no
objects and no scale factors no object or scale-factor systematic: the
histograms carry the nominal only (and sample variations, where a fileset
gives an alternative table), and the fit adds the normalizations
(luminosity, cross-sections).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from coffea.analysis_tools import PackedSelection

from liberica.analysis.hllj import FIT_OBSERVABLE, TABLE_VARIABLES
from liberica.analysis.hllj.cuts import Cuts
from liberica.analysis.hllj.processor import JET_STEPS, Result
from liberica.core.definition import AnalysisDefinition, AnalysisDefinitionError
from liberica.processors.base import AnalysisProcessor

log = logging.getLogger(__name__)

TABLE_COLUMNS: tuple[str, ...] = (*TABLE_VARIABLES, FIT_OBSERVABLE)
"""The columns the processor reads besides the format's (weight, event number)."""

PRESELECTION_STEPS: tuple[str, ...] = ("leading_lepton_pt", "zll_mass", *JET_STEPS)
"""The preselection steps a table allows, in hllj's order."""

NOT_APPLICABLE: tuple[str, ...] = (
    "trigger",
    "lepton quality, |eta| and isolation",
    "two_leptons",
    "same_flavour_opposite_charge",
    "leading large-R jet choice",
)
"""hllj's cuts a table cannot apply (its maker did)."""


class TableRows(NamedTuple):
    """The chunk's rows: each table column (GeV) as a float64 array."""

    columns: dict[str, np.ndarray]


class TableSelections:
    """``preselection`` and ``cut_based`` on the rows of one chunk.

    Args:
        names: the selections the definition's regions and classifiers use
        cuts: the definition's cuts (hllj's)
        rows: the chunk's columns
    """

    def __init__(self, names: set[str], cuts: Cuts, rows: TableRows) -> None:
        self.names, self.cuts, self.rows = names, cuts, rows

    def nominal(self) -> dict[str, Result]:
        """The selections on the table's values."""
        observables = dict(self.rows.columns)
        events = self.cuts.events
        low, high = events.zll_mass_window
        selection = PackedSelection()
        with np.errstate(invalid="ignore"):
            selection.add(
                "leading_lepton_pt", observables["lep1_pt"] > events.leading_lepton_min_pt
            )
            mass = observables["Zll_mass"]
            selection.add("zll_mass", (mass > low) & (mass < high))
            selection.add(
                "large_r_jet",
                (observables["fatjet_pt"] > events.fatjet_min_pt)
                & (np.abs(observables["fatjet_eta"]) < events.fatjet_max_abs_eta),
            )
            square = []
            for cut in self.cuts.cut_based:
                name = f"{cut.variable}_cut"
                values = observables[cut.variable]
                selection.add(name, (values > cut.low) & (values < cut.high))
                square.append(name)
        steps = {
            "preselection": PRESELECTION_STEPS,
            "cut_based": (*PRESELECTION_STEPS, *square),
        }
        n = len(observables["lep1_pt"])
        return {
            name: Result(
                event_steps=tuple((step, selection.all(step)) for step in steps[name]),
                steps=(),
                passed=selection.all(*steps[name]),
                observables=observables,
                event_index=np.arange(n),
                categories={},
                weight_objects={},
            )
            for name in sorted(self.names)
        }

    def varied(self, objects: TableRows) -> dict[str, Result]:
        """A table has no objects to vary."""
        raise NotImplementedError("a table has no objects: no object systematic applies")


class HlljTableProcessor(AnalysisProcessor):
    """hllj's histograms and cutflows from DAML tables (see the module doc and the base)."""

    input_format = "daml_csv"

    def __init__(self, definition: AnalysisDefinition, *args, **kwargs) -> None:
        for systematic in definition.systematics.values():
            if systematic.category != "sample":
                raise AnalysisDefinitionError(
                    definition.source,
                    f"systematics.{systematic.name}.kind",
                    f"a {systematic.category} systematic ({systematic.kind}) needs what a table "
                    "does not hold (objects, scale factors); a table's systematics are "
                    "alternative samples, and the fit's normalizations",
                )
        super().__init__(definition, *args, **kwargs)

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The table variables and the llJ mass, and the format's weight and event number."""
        return cls.format_columns() + TABLE_COLUMNS

    def objects(self, events) -> tuple[TableRows, dict[str, int]]:
        """The table columns as float64 arrays (nothing is dropped)."""
        columns = {name: np.asarray(events[name], dtype=np.float64) for name in TABLE_COLUMNS}
        return TableRows(columns), {}

    def selections(self, events, objects: TableRows) -> TableSelections:
        """The regions' selections (and the classifiers') on the chunk."""
        names = {region.selection for region in self.definition.regions.values()}
        names |= {c.selection for c in self.definition.classifiers.values()}
        if self.dump_features is not None:
            names.add(self.dump_features.selection)
        return TableSelections(names, self.definition.cuts, objects)
