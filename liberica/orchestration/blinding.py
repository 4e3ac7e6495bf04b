"""Blinding a run's merged output before anything of it is written, printed or fitted.

``fits/blinding.py`` says which bins are hidden; this module takes the data of
those bins out of everything a run keeps: the data process's hidden bins are
zeroed in the weighted histograms and the raw counts (the flow report and the
data/MC checks read them afterwards), the data cutflows of every region of a
selection that has a hidden bin are withheld (a total of one region of the
selection, less the visible bins of another, would give the hidden bins back),
and the data rows of the per-event table are dropped. Chunk checkpoints would
hold the unblinded data on disk, so a blinded run refuses them.

Every other region of such a selection shows no data at all: the sum of a
region with no hidden bin (its flow bins included) is the selection's data
total, and that total less the visible bins of the region with hidden bins
would give them back exactly. What is left open: two regions of one selection
that both have hidden bins show their visible bins; their difference tells
the difference of their hidden contents, not either one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import numpy as np

from liberica.core.definition import AnalysisDefinition
from liberica.core.errors import LibericaError
from liberica.fits import blinding as rule
from liberica.processors.histograms import DATA_PROCESS

log = logging.getLogger(__name__)


class BlindingError(LibericaError, ValueError):
    """An option that would put a blinded run's hidden data on disk, named in one line."""


def check_options(definition: AnalysisDefinition, *, unblind: bool, checkpoint: Any = None) -> None:
    """Refuse what would store hidden data before any chunk runs.

    Raises:
        BlindingError: ``--checkpoint`` on a blinded definition without ``--unblind``
            (each chunk's saved output holds its data unblinded)
    """
    if definition.blinding is None or unblind or checkpoint is None:
        return
    raise BlindingError(
        f"--checkpoint saves every chunk's data unblinded: the definition "
        f"{definition.source} blinds (its blinding block), so checkpoint only with --unblind"
    )


def is_blinded(metrics: dict[str, Any]) -> bool:
    """Whether a run's data are blinded: its metrics record a blinding not unblinded."""
    blinding = metrics.get("blinding")
    return blinding is not None and not blinding.get("unblinded", False)


def refuse_blinded(metrics: dict[str, Any], what: str) -> None:
    """Refuse a stage that reads the data of every bin on a blinded run.

    Raises:
        BlindingError: naming the stage, when the run's data are blinded
    """
    if is_blinded(metrics):
        raise BlindingError(
            f"{what} reads the data of every bin, and this run is blinded (blinding.json): "
            "process it with --unblind first"
        )


def withheld_regions(summary: dict[str, Any], definition: AnalysisDefinition) -> list[str]:
    """The regions whose data totals a blinded run withholds: every region of a selection
    that has a region with a hidden bin."""
    selections = {
        definition.regions[r].selection
        for r, content in summary["regions"].items()
        if content["n_hidden"] and r in definition.regions
    }
    return [name for name, r in definition.regions.items() if r.selection in selections]


def blind_output(
    output: dict[str, Any],
    definition: AnalysisDefinition,
    data_samples: Collection[str],
    *,
    unblind: bool,
) -> dict[str, Any] | None:
    """Hide the data of a merged processor output's hidden bins, in place.

    Args:
        output: the merged output: ``histograms``, ``counts``, ``cutflow`` and
            (with a dump) ``features``, in their final binning
        definition: the analysis definition; without a ``blinding`` block nothing changes
        data_samples: the fileset's data samples (their cutflows are withheld)
        unblind: show the data anyway (the summary then says ``unblinded: true``)

    Returns:
        the blinding's summary (blinding.json; ``withheld_totals`` lists the regions whose
        data cutflows are withheld), or None without a ``blinding`` block
    """
    if definition.blinding is None:
        return None
    histograms = output["histograms"]
    blindings = rule.region_blinding(histograms, definition)
    summary = rule.summary(histograms, definition, blindings, unblinded=unblind)
    withheld = withheld_regions(summary, definition)
    whole = [
        r
        for r in withheld
        if r in histograms and (r not in blindings or not blindings[r].hidden.any())
    ]
    if not unblind and whole:
        # a blinded selection's region without a hidden bin would show its data total
        for region in whole:
            ruled = rule.region_rule(histograms[region], definition)
            blindings[region] = ruled._replace(hidden=np.ones_like(ruled.hidden))
        summary = rule.summary(histograms, definition, blindings, unblinded=unblind)
    summary["withheld_totals"] = [] if unblind else withheld
    summary["wholly_hidden"] = [] if unblind else whole
    n_hidden = sum(content["n_hidden"] for content in summary["regions"].values())
    if unblind:
        log.warning(
            "--unblind: the data of %d bin(s) with S/B above the threshold are shown", n_hidden
        )
        return summary
    hidden = {region: b.hidden for region, b in blindings.items()}
    output["histograms"] = rule.hide_data(histograms, hidden)
    output["counts"] = rule.hide_data(output["counts"], hidden)
    for sample in data_samples:
        for region in withheld:
            if region in output["cutflow"].get(sample, {}):
                output["cutflow"][sample][region] = rule.BLINDED
    # the count of data rows scored, less the MC totals, is the selection's data total
    output.get("inference", {}).pop("data_rows_scored", None)
    features = output.get("features")
    if features:
        kept = [rows[rows["process"] != DATA_PROCESS] for rows in features]
        output["features"] = [rows for rows in kept if len(rows)]
    log.info(
        "blinded: %d bin(s) with S/B > %g hidden in %d region(s); data cutflows withheld in %s",
        n_hidden,
        summary["threshold"],
        sum(1 for content in summary["regions"].values() if content["n_hidden"]),
        ", ".join(withheld) or "none",
    )
    return summary


def hidden_regions(summary: dict[str, Any] | None) -> list[str]:
    """The regions of a blinded run with at least one hidden bin (none when unblinded)."""
    if summary is None or summary.get("unblinded", False):
        return []
    return [r for r, content in summary["regions"].items() if content["n_hidden"]]


def hidden_mask(summary: dict[str, Any], region: str, edges: np.ndarray) -> np.ndarray | None:
    """The hidden bins of a blinded run's ``region`` over ``edges`` (its fit binning), or None
    where nothing is hidden there."""
    if region not in hidden_regions(summary):
        return None
    return rule.hidden_in(edges, rule.hidden_intervals(summary)[region])
