"""A run's final binning: the regions with a ``binning`` rebinned right after the merge.

The processor fills such a region's observable in its fine bins. Here, from
the merged MC (nominal only, never data), each gets its final edges
(``fits/binning.py``), or takes those of an earlier run, and every one of its
histograms (data, nominal, variations; weighted and raw counts) is rebinned to
them. What was done goes into ``binning.json`` and ``metrics["binning"]``:

    {region: {kind, of, processes, edges, fine_bins, bins_asked, bins_made,
              yields, background_yields, background_mc_stat_error, rule, key,
              reused_from}}

``key`` says what the edges depend on: the definition's content digest and a
digest of the MC part of the fileset (each MC sample's name and metadata, and
its files' names, sizes and entries; data is left out, so that other
pseudo-data of the same MC has the same key). An earlier run's edges are taken
(``binning=PATH``) only with the same definition digest; another MC digest is
a warning (the same definition on other MC, e.g. a larger sample).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Any

import hist
import numpy as np

from liberica.core.definition import AnalysisDefinition, Region
from liberica.core.errors import LibericaError
from liberica.fits.binning import equal_population_edges, rebin
from liberica.fits.templates import TemplateRules
from liberica.processors.histograms import NOMINAL

log = logging.getLogger(__name__)

BINNING_FILE = "binning.json"
"""The run folder's record of the final edges."""


class BinningReuseError(LibericaError, ValueError):
    """An earlier run's binning.json that this run cannot take, naming the file and why."""


def mc_digest(fileset: dict[str, Any]) -> str:
    """SHA-256 of the MC part of a prepared fileset: each MC sample's name and metadata,
    and its files' names (not folders), sizes and entries. Data samples are left out."""
    samples = []
    for sample, entry in sorted(fileset.items()):
        metadata = entry["metadata"]
        if metadata.get("is_data"):
            continue
        entries = entry.get("num_entries", {})
        files = sorted(
            (pathlib.Path(name).name, _size(name), entries.get(name)) for name in entry["files"]
        )
        samples.append({"sample": sample, "metadata": metadata, "files": files})
    text = json.dumps(samples, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _size(name: str) -> int | None:
    try:
        return os.path.getsize(name)
    except OSError:  # a remote file: its name and entries only
        return None


def binning_key(definition: AnalysisDefinition, fileset: dict[str, Any]) -> dict[str, str]:
    """What a region's edges depend on: ``{"definition": digest, "mc": digest}``."""
    return {"definition": definition.digest, "mc": mc_digest(fileset)}


def read_binning(path: str | pathlib.Path) -> tuple[pathlib.Path, dict[str, Any]]:
    """An earlier run's binning.json (``path`` is the file or its run folder).

    Raises:
        BinningReuseError: for a missing or unreadable file
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / BINNING_FILE
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise BinningReuseError(f"{path}: no such binning file") from None
    except (OSError, ValueError) as err:
        raise BinningReuseError(f"{path}: cannot read it ({err})") from None
    if not isinstance(content, dict):
        raise BinningReuseError(f"{path}: not a binning file (expected regions)")
    return path, content


def _binned_regions(definition: AnalysisDefinition) -> list[str]:
    return [n for n, r in definition.regions.items() if r.binning is not None]


def check_reuse(
    reuse: str | pathlib.Path, definition: AnalysisDefinition
) -> tuple[pathlib.Path, dict[str, Any]]:
    """An earlier run's binning file, checked against the definition before any work:
    it holds edges for each region with a binning, made under the same definition digest.

    Raises:
        BinningReuseError: naming the file, the region and what differs
    """
    path, stored = read_binning(reuse)
    for name in _binned_regions(definition):
        entry = stored.get(name)
        if not isinstance(entry, dict) or "edges" not in entry:
            raise BinningReuseError(f"{path}: no edges for region '{name}'")
        made_by = entry.get("key") or {}
        if made_by.get("definition") != definition.digest:
            raise BinningReuseError(
                f"{path}: region '{name}' was binned under definition digest "
                f"{str(made_by.get('definition'))[:12]}, this run's is "
                f"{definition.digest[:12]} ({definition.source}): the definition differs "
                "(rerun without the binning file to derive new edges)"
            )
    return path, stored


def _reused(
    path: pathlib.Path, stored: dict[str, Any], names: list[str], key: dict[str, str]
) -> dict[str, np.ndarray]:
    """The stored edges of the regions ``names`` (checked by :func:`check_reuse`); another
    MC digest is a warning."""
    edges = {}
    for name in names:
        entry = stored[name]
        made_by = entry.get("key") or {}
        if made_by.get("mc") != key["mc"]:
            log.warning(
                "%s: region %s was binned on other MC (MC digest %s, this run's %s); "
                "its edges are taken as they are",
                path,
                name,
                str(made_by.get("mc"))[:12],
                key["mc"][:12],
            )
        edges[name] = np.asarray(entry["edges"], dtype=float)
    return edges


def _summed(h: hist.Hist, processes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Nominal in-range values and variances of ``processes`` summed."""
    view = h.view(flow=False)
    process_axis, variation = h.axes["process"], h.axes["variation"].index(NOMINAL)
    picked = [process_axis.index(p) for p in processes]
    values = view["value"][:, picked, variation].sum(axis=1)
    variances = view["variance"][:, picked, variation].sum(axis=1)
    return values, variances


def _rules(definition: AnalysisDefinition, region: Region) -> dict[str, Any]:
    fit = TemplateRules(**definition.fit_templates)
    binning = region.binning
    return {
        "min_mc_yield": fit.min_mc_yield if binning.min_mc_yield is None else binning.min_mc_yield,
        "max_mc_stat_error": fit.max_mc_stat_error
        if binning.max_mc_stat_error is None
        else binning.max_mc_stat_error,
        "on": "background",
    }


def final_binning(
    definition: AnalysisDefinition,
    histograms: dict[str, hist.Hist],
    counts: dict[str, hist.Hist],
    fileset: dict[str, Any],
    reuse: str | pathlib.Path | None = None,
) -> tuple[dict[str, hist.Hist], dict[str, hist.Hist], dict[str, Any]]:
    """The merged histograms with every region that has a ``binning`` rebinned to its final
    edges, and the record of them (empty without such regions).

    Args:
        definition: the analysis
        histograms: ``{region: weighted Hist}``, merged, in the fine bins
        counts: the raw-count twins
        fileset: the prepared fileset (for the MC digest)
        reuse: an earlier run's binning.json (or its folder) whose edges to take

    Returns:
        tuple: the histograms, the counts, and ``{region: record}`` (module doc)

    Raises:
        BinningReuseError: for a binning file of another definition, or without a region
        BinningError: for reused edges that are not edges of the fine bins
    """
    names = [n for n in _binned_regions(definition) if n in histograms]
    if not names:
        if reuse is not None:
            log.warning("%s: no region of this run has a binning; not used", reuse)
        return histograms, counts, {}
    key = binning_key(definition, fileset)
    path, given = None, {}
    if reuse is not None:
        path, stored = check_reuse(reuse, definition)
        given = _reused(path, stored, names, key)
    histograms, counts = dict(histograms), dict(counts)
    backgrounds = [p.name for p in definition.processes.values() if p.kind == "background"]
    report: dict[str, Any] = {}
    for name in names:
        region = definition.regions[name]
        binning = region.binning
        h = histograms[name]
        fine = np.asarray(h.axes[0].edges, dtype=float)
        values, variances = _summed(h, list(binning.processes))
        rule_values, rule_variances = _summed(h, backgrounds)
        rules = _rules(definition, region)
        if name in given:
            edges = given[name]
        else:
            edges = equal_population_edges(
                values,
                variances,
                fine,
                binning.bins,
                rules["min_mc_yield"],
                rules["max_mc_stat_error"],
                rule_values=rule_values,
                rule_variances=rule_variances,
            )
        where = f"region '{name}'" if path is None else f"{path}: region '{name}'"
        histograms[name] = rebin(h, edges, where)
        counts[name] = rebin(counts[name], edges, where)
        cuts = np.searchsorted(fine, edges)[:-1]
        yields = np.add.reduceat(values, cuts)
        background = np.add.reduceat(rule_values, cuts)
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.sqrt(np.maximum(np.add.reduceat(rule_variances, cuts), 0.0)) / background
        made = len(edges) - 1
        if made < binning.bins:
            log.warning(
                "region %s: %d of the %d equal-population bins asked (the minimum-statistics "
                "rule or the fine bins merged the others)",
                name,
                made,
                binning.bins,
            )
        report[name] = {
            "kind": binning.kind,
            "of": binning.of,
            "processes": list(binning.processes),
            "edges": [float(x) for x in edges],
            "fine_bins": len(fine) - 1,
            "bins_asked": binning.bins,
            "bins_made": made,
            "yields": [float(x) for x in yields],
            "background_yields": [float(x) for x in background],
            "background_mc_stat_error": [float(x) for x in error],
            "rule": rules,
            "key": key,
            "reused_from": None if path is None else str(path.resolve()),
        }
        log.info(
            "region %s: %d bins of %s MC yield %s (edges %s)",
            name,
            made,
            binning.of,
            ", ".join(f"{y:.3g}" for y in yields),
            ", ".join(f"{x:g}" for x in edges),
        )
    return histograms, counts, report
