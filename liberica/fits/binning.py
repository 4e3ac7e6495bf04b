"""Equal-population binning of a discriminant, and the rebinning of every template to it.

A classifier's output (p(ttH), say) is filled in fine regular bins; after the
merge its final bins are chosen from the MC alone, so that each holds the same
MC yield of the processes counted (the background, as a rule). A flat
background spends no bin on the low-score bulk and keeps the few high-score
bins where the signal sits populated. The edges are a subset of the fine
edges, so that every template (data, each process's nominal and every
variation, weighted values, variances and raw counts) is a sum of fine bins.

1. **Edges.** The k-th of the N - 1 inner edges is the fine edge whose
   cumulative MC yield is nearest to k/N of the total (the first crossing of the
   running maximum, then the nearer of its two edges, so that a few negative
   weights cannot send it back). Each bin's yield is then within one fine
   bin's content of total/N. Two targets landing on the same fine edge make
   one bin (a fine bin holding more than total/N): fewer bins than asked.
2. **Minimum statistics.** The fit keeps these edges (``fits/templates.py``
   merges none of them), so they carry its rule: every bin holds at least
   ``min_mc_yield`` of background MC with a relative MC-statistics error of at
   most ``max_mc_stat_error``. While a bin breaks it, the highest such bin is
   merged with the one below it (the lowest bin with the one above): the
   high-score bins, where MC is scarce, merge first, and the rest keep their
   equal yields. Fewer bins than asked are allowed and reported.
3. **Flow bins.** The population and the rule count the fine bins inside the
   observable's range only. The edges span the whole fine range, so nothing in
   range is lost; the under- and overflow bins are carried unchanged into the
   coarse histogram's flow bins, outside the fit range as before.

Deterministic: the same MC gives the same edges, whatever the data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np

from liberica.core.errors import LibericaError

log = logging.getLogger(__name__)


class BinningError(LibericaError, ValueError):
    """Edges that cannot rebin a histogram (not a subset of its fine edges)."""


def _passes(yields: np.ndarray, variances: np.ndarray, min_yield: float, max_error: float):
    """Per bin: the yield is at least ``min_yield`` (and positive) and its relative MC-stat
    error at most ``max_error``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.sqrt(np.maximum(variances, 0.0)) / yields
    return (yields >= min_yield) & (yields > 0) & (error <= max_error)


def _sums(values: np.ndarray, cuts: list[int]) -> np.ndarray:
    """Sums of ``values`` between consecutive fine-edge indices ``cuts``."""
    return np.add.reduceat(values, cuts[:-1]) if len(values) else np.zeros(0)


def equal_population_edges(
    values: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    fine_edges: Sequence[float] | np.ndarray,
    n_bins: int,
    min_mc_yield: float,
    max_mc_stat_error: float,
    *,
    rule_values: Sequence[float] | np.ndarray | None = None,
    rule_variances: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Edges of ``n_bins`` bins of equal MC yield under the minimum-statistics rule.

    See the module doc for the rule, its tolerance and the flow bins.

    Args:
        values: MC yield per fine bin (in range, no flow bins), of the processes counted
        variances: their MC-statistics variances (sum of squared weights)
        fine_edges: the fine bins' edges (``len(values) + 1``)
        n_bins: bins asked for
        min_mc_yield: least yield per bin of the rule
        max_mc_stat_error: largest relative MC-statistics error per bin of the rule
        rule_values: the yields the rule reads (default: ``values``), e.g. the whole
            background when only some processes set the population
        rule_variances: their variances (default: ``variances``)

    Returns:
        np.ndarray: increasing edges, a subset of ``fine_edges`` with its first and last
    """
    values = np.asarray(values, dtype=float)
    variances = np.asarray(variances, dtype=float)
    fine_edges = np.asarray(fine_edges, dtype=float)
    if fine_edges.shape != (len(values) + 1,) or variances.shape != values.shape:
        raise ValueError(
            f"{len(values)} values, {len(variances)} variances and {len(fine_edges)} edges: "
            "need n, n and n + 1"
        )
    if n_bins < 1:
        raise ValueError(f"n_bins is {n_bins}: at least one bin")
    rule_values = values if rule_values is None else np.asarray(rule_values, dtype=float)
    rule_variances = variances if rule_variances is None else np.asarray(rule_variances, float)
    n = len(values)
    cumulative = np.cumsum(values)
    total = float(cumulative[-1]) if n else 0.0
    cuts = [0]
    if total > 0:
        running = np.maximum.accumulate(cumulative)
        for k in range(1, n_bins):
            target = total * k / n_bins
            crossing = int(np.searchsorted(running, target, side="left"))
            crossing = min(crossing, n - 1)
            below = crossing - 1
            if below >= 0 and abs(cumulative[below] - target) <= abs(cumulative[crossing] - target):
                crossing = below
            cut = crossing + 1  # the edge after fine bin `crossing`
            if cuts[-1] < cut < n:
                cuts.append(cut)
    cuts.append(n)
    while len(cuts) > 2:
        passes = _passes(
            _sums(rule_values, cuts),
            _sums(rule_variances, cuts),
            min_mc_yield,
            max_mc_stat_error,
        )
        failing = np.flatnonzero(~passes)
        if not len(failing):
            break
        worst = int(failing[-1])
        del cuts[worst if worst > 0 else 1]  # its lower edge (bin 0: its upper edge)
    made = len(cuts) - 1
    if made < n_bins:
        log.info("equal-population binning: %d of the %d bins asked", made, n_bins)
    return fine_edges[cuts]


def _edge_indices(fine: np.ndarray, edges: np.ndarray, where: str) -> np.ndarray:
    """Indices of ``edges`` among the ``fine`` edges, which must hold them all."""
    indices = np.searchsorted(fine, edges)
    inside = indices < len(fine)
    close = np.zeros(len(edges), dtype=bool)
    close[inside] = np.isclose(fine[indices[inside]], edges[inside], rtol=1e-12, atol=1e-12)
    if not close.all() or np.any(np.diff(indices) <= 0):
        bad = ", ".join(f"{x:g}" for x in edges[~close]) or "(not increasing)"
        raise BinningError(f"{where}: edges {bad} are not edges of the fine bins")
    if indices[0] != 0 or indices[-1] != len(fine) - 1:
        raise BinningError(
            f"{where}: edges [{edges[0]:g}, {edges[-1]:g}] do not span the fine range "
            f"[{fine[0]:g}, {fine[-1]:g}]"
        )
    return indices


def rebin(h: hist.Hist, edges: Sequence[float] | np.ndarray, where: str = "histogram") -> hist.Hist:
    """``h`` with its first (observable) axis rebinned to ``edges``, a subset of its edges.

    Each coarse bin is the sum of its fine bins: weighted values and variances
    (Weight storage) or raw counts (Int64 storage), for every process and
    variation. The flow bins are carried unchanged. The new axis is a
    ``Variable`` axis with the old one's name and label.

    Args:
        h: a histogram (observable, ...) of Weight, Double or Int64 storage
        edges: the coarse edges (from :func:`equal_population_edges`)
        where: what ``h`` is, for the error message (e.g. the region)

    Raises:
        BinningError: for edges that are not a subset of the fine edges spanning them
    """
    axis = h.axes[0]
    fine = np.asarray(axis.edges, dtype=float)
    edges = np.asarray(edges, dtype=float)
    indices = _edge_indices(fine, edges, where)
    under, over = bool(axis.traits.underflow), bool(axis.traits.overflow)
    coarse_axis = hist.axis.Variable(
        edges, name=axis.name, label=axis.label, underflow=under, overflow=over
    )
    out = hist.Hist(coarse_axis, *h.axes[1:], storage=h.storage_type())
    source = h.view(flow=True)
    target = out.view(flow=True)
    start = 1 if under else 0
    inner = slice(start, start + len(fine) - 1)
    # the other axes' flow bins (categories have none by default) stay as they are
    fields = source.dtype.names or (None,)
    for field in fields:
        src = source if field is None else source[field]
        dst = target if field is None else target[field]
        summed = np.add.reduceat(src[inner], indices[:-1], axis=0)
        if under:
            dst[0] = src[0]
        if over:
            dst[-1] = src[-1]
        dst[start : start + len(edges) - 1] = summed
    return out


def final_edges(binning: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Each rebinned region's final edges, from a run's binning report (``binning.json``,
    ``metrics["binning"]``); empty for a run without one."""
    return {
        region: np.asarray(entry["edges"], dtype=float) for region, entry in (binning or {}).items()
    }
