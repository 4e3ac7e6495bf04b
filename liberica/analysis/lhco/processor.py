"""lhco's processor: the two large-R jets of a high-level-features row, mjj and substructure.

A row of the LHC Olympics features file is one event: two jets, each with its
momentum (px, py, pz), mass and N-subjettiness tau1, tau2, tau3 (GeV). The
processor builds the jets as vector four-momenta, the dijet mass, and the
standard hunt's features: the lighter jet's mass ``mj_min``, the mass
difference ``delta_mj = mj_max - mj_min``, and ``tau21 = tau2 / tau1`` of the
lighter (``_j1``) and the heavier (``_j2``) jet. A jet with tau1 = 0 (a single
constituent) gets tau21 = 0 and tau32 = 0, counted under ``unphysical_objects``.

The selection ``dijet``: the trigger (the leading jet's pT above the cut, as the
R&D set's single-jet trigger), each jet's |eta| where the definition cuts it,
and the hunted mjj range. Each selected row of every sample, data included,
goes to the run's event table (``features.parquet``), the CWoLa hunt's input.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import numpy as np
import vector
from coffea.analysis_tools import PackedSelection

from liberica.analysis.lhco import LABEL
from liberica.core.definition import AnalysisDefinition
from liberica.processors.base import AnalysisProcessor

JET_FIELDS: tuple[str, ...] = ("px", "py", "pz", "m", "tau1", "tau2", "tau3")
"""Each jet's fields; the file's columns are ``{field}j1`` and ``{field}j2``."""

JET_COLUMNS: tuple[str, ...] = tuple(f"{f}j{k}" for k in (1, 2) for f in JET_FIELDS)
"""The columns the processor reads besides the format's."""

STEPS: tuple[str, ...] = ("trigger", "jet_eta", "mjj_range")
"""The cutflow of ``dijet``."""


class Result(NamedTuple):
    """One selection's rows (one per event of the chunk), as the base processor reads them."""

    event_steps: tuple[tuple[str, np.ndarray], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    passed: np.ndarray
    observables: dict[str, np.ndarray]
    event_index: np.ndarray
    categories: dict[str, np.ndarray]
    weight_objects: dict[str, np.ndarray]


class Dijets(NamedTuple):
    """The chunk's observables (GeV), one float64 array each (``lhco.VARIABLES``)."""

    observables: dict[str, np.ndarray]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def dijet_observables(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every per-event observable of :data:`VARIABLES` from the file's columns (GeV)."""
    jets = [
        vector.array(
            {
                "px": columns[f"pxj{k}"],
                "py": columns[f"pyj{k}"],
                "pz": columns[f"pzj{k}"],
                "M": columns[f"mj{k}"],
            }
        )
        for k in (1, 2)
    ]
    mjj = np.asarray((jets[0] + jets[1]).M, dtype=np.float64)
    mass = np.stack([columns["mj1"], columns["mj2"]])
    tau21 = np.stack([_ratio(columns[f"tau2j{k}"], columns[f"tau1j{k}"]) for k in (1, 2)])
    tau32 = np.stack([_ratio(columns[f"tau3j{k}"], columns[f"tau2j{k}"]) for k in (1, 2)])
    # j1 = the lighter jet, j2 = the heavier (ties: the file's first jet is j1)
    lighter = (mass[1] < mass[0]).astype(np.intp)
    heavier = 1 - lighter
    rows = np.arange(len(mjj))
    pt = np.stack([np.asarray(j.pt, dtype=np.float64) for j in jets])
    eta = np.stack([np.asarray(j.eta, dtype=np.float64) for j in jets])
    return {
        "mj_min": mass[lighter, rows],
        "delta_mj": mass[heavier, rows] - mass[lighter, rows],
        "tau21_j1": tau21[lighter, rows],
        "tau21_j2": tau21[heavier, rows],
        "mjj": mjj,
        "mj_max": mass[heavier, rows],
        "pt_j1": pt[lighter, rows],
        "pt_j2": pt[heavier, rows],
        "eta_j1": eta[lighter, rows],
        "eta_j2": eta[heavier, rows],
        "delta_eta": np.abs(eta[0] - eta[1]),
        "tau32_j1": tau32[lighter, rows],
        "tau32_j2": tau32[heavier, rows],
        LABEL: np.asarray(columns[LABEL], dtype=np.float64),
    }


class DijetSelections:
    """``dijet`` on the rows of one chunk.

    Args:
        names: the selections asked for
        cuts: the definition's cuts
        dijets: the chunk's observables
    """

    def __init__(self, names: set[str], cuts, dijets: Dijets) -> None:
        self.names, self.cuts, self.dijets = names, cuts, dijets

    def nominal(self) -> dict[str, Result]:
        """The selection on the rows' observables."""
        observables = self.dijets.observables
        low, high = self.cuts.mjj_range
        selection = PackedSelection()
        leading = np.maximum(observables["pt_j1"], observables["pt_j2"])
        selection.add("trigger", leading > self.cuts.leading_jet_min_pt)
        selection.add(
            "jet_eta",
            (np.abs(observables["eta_j1"]) < self.cuts.max_abs_eta)
            & (np.abs(observables["eta_j2"]) < self.cuts.max_abs_eta),
        )
        mjj = observables["mjj"]
        selection.add("mjj_range", (mjj >= low) & (mjj < high))
        n = len(mjj)
        return {
            name: Result(
                event_steps=tuple((step, selection.all(step)) for step in STEPS),
                steps=(),
                passed=selection.all(*STEPS),
                observables=observables,
                event_index=np.arange(n),
                categories={},
                weight_objects={},
            )
            for name in sorted(self.names)
        }

    def varied(self, objects: Dijets) -> dict[str, Result]:
        """The features file holds no objects to vary."""
        raise NotImplementedError("a features file has no objects: no object systematic applies")


class DijetProcessor(AnalysisProcessor):
    """lhco's histograms, cutflows and event table (see the module doc and the base)."""

    input_format = "lhco_h5"
    audit_weights: ClassVar[bool] = False  # every row weighs 1
    dump_data: ClassVar[bool] = True  # the hunt runs on the data's rows

    @classmethod
    def columns(cls, definition: AnalysisDefinition) -> tuple[str, ...]:
        """The jets' columns, the label, and the format's own."""
        wanted = (*cls.format_columns(), *JET_COLUMNS, LABEL)
        return tuple(dict.fromkeys(wanted))

    def objects(self, events) -> tuple[Dijets, dict[str, int]]:
        """The observables of every row; jets with tau1 = 0 counted, none dropped."""
        columns = {name: np.asarray(events[name], dtype=np.float64) for name in JET_COLUMNS}
        columns[LABEL] = np.asarray(events[LABEL], dtype=np.float64)
        unphysical = {f"tau1j{k}": int(np.count_nonzero(columns[f"tau1j{k}"] <= 0)) for k in (1, 2)}
        observables = dijet_observables(columns)
        return Dijets(observables), {k: v for k, v in unphysical.items() if v}

    def selections(self, events, objects: Dijets) -> DijetSelections:
        """The regions' selections (and the event table's) on the chunk."""
        names = {region.selection for region in self.definition.regions.values()}
        if self.dump_features is not None:
            names.add(self.dump_features.selection)
        return DijetSelections(names, self.definition.cuts, objects)
