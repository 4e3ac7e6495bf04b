"""Templates a fit can use: bins merged to a minimum MC content, negative bins floored.

A modest MC sample gives fit-region bins that MIGRAD cannot handle: bins with
no MC at all (with data in them the likelihood is zero), bins whose MC is one
or two events with large weights of both signs, so that the MC-statistics
gamma of the bin has a relative width above one, and per-sample bins that are
negative from negative generator weights. The remedies are the field's
standard ones, applied to the pyhf workspace that cabinetry builds, so the
processed histograms stay as they are:

1. **Merging.** In each fit region, adjacent bins are merged, from the low edge
   up, until each merged bin holds at least ``min_mc_yield`` events of
   background MC and the relative MC-statistics error of that background is at
   most ``max_mc_stat_error``; a last group short of that joins the one before
   it. The background is every sample without the parameter of interest: a
   bin that only signal MC fills predicts nothing at mu = 0, and the
   background-only fits of the significance and the limit met zero
   predictions (and NaN derivatives) there. The rule reads the nominal MC
   only, never data, and the same grouping is applied to data, to every
   sample's nominal and to every variation. On the default sample it merges
   two bins of the low-score region (115-125 GeV, 50% MC-statistics error).
2. **Floor.** A per-sample bin still negative after merging (nominal or a
   variation template) is set to ``negative_floor``, logged with its content.
3. **Emptied variations.** A variation that leaves a sample no MC in a region
   (a sample of one or two selected events whose jets a scale pushes out) has
   a normalization factor of zero and a shape cabinetry divides by zero,
   which put NaN in the model. Such a side is replaced by the other side
   mirrored around nominal (factor 1/k, bins 2 x nominal - other); where
   both sides are empty, or the sample has no nominal MC in the region (its
   factors are 0/0), the modifier is dropped for that sample. Each is logged
   and listed (``emptied``).
4. **Normalization ranges.** pyhf bounds normsys parameters at +-5. On a small
   sample with a strong signal, the background-only fits of the significance
   and the CLs limit pushed a background normalization (Z+jets, whose few MC
   events put a spike under the peak) against +5, where MIGRAD cannot converge
   and q0 would be cut short. Their range is ``nuisance_bound`` (10) instead: a
   normsys factor is exponential in its parameter, positive at any value.
   histosys parameters keep +-5: their linear extrapolation makes bins
   negative far out, and at +-10 the fits met NaN there.

The rule lives in the analysis definition (``fit_templates``); what it did is
logged and returned, for ``results.json``.

A region whose edges are final (an equal-population ``binning``,
``fits/binning.py``) is not merged: its binning applied the minimum-statistics
rule already, and its edges are the ones a run recorded and another reuses.
The report lists it under ``kept`` with its edges; the floor, the emptied
variations and the ranges apply to it as to every region.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection
from typing import Any, NamedTuple

import numpy as np

log = logging.getLogger(__name__)


class TemplateRules(NamedTuple):
    """How fit-region templates are made usable (the definition's ``fit_templates``).

    Attributes:
        min_mc_yield: least background MC (weighted events) in a merged bin
        max_mc_stat_error: largest relative MC-statistics error of the background
            in a merged bin. A
            bin's gamma has a Gaussian constraint of that width; at 0.5-0.6 a
            gamma reached its lower bound (the bin's MC switched off) for 4-6
            units of -2 ln L, and the background-only fits failed there
        negative_floor: the content a negative per-sample bin is set to
        nuisance_bound: the range +-bound of normsys parameters
    """

    min_mc_yield: float = 0.5
    max_mc_stat_error: float = 0.4
    negative_floor: float = 1e-6
    nuisance_bound: float = 10.0


def _background_mc(channel: dict[str, Any], poi: str) -> tuple[np.ndarray, np.ndarray]:
    """Nominal background MC per bin and its MC-statistics variance (staterror modifiers).

    The background is every sample that the parameter of interest does not scale.
    """
    n_bins = len(channel["samples"][0]["data"])
    total, variance = np.zeros(n_bins), np.zeros(n_bins)
    for sample in channel["samples"]:
        if any(m["name"] == poi for m in sample["modifiers"]):
            continue
        total += np.asarray(sample["data"], dtype=float)
        for modifier in sample["modifiers"]:
            if modifier["type"] == "staterror":
                variance += np.asarray(modifier["data"], dtype=float) ** 2
    return total, variance


def bin_groups(total: np.ndarray, variance: np.ndarray, rules: TemplateRules) -> list[list[int]]:
    """Groups of adjacent bins, low edge first, each meeting the rule (see the module doc)."""

    def enough(group: list[int]) -> bool:
        content = float(total[group].sum())
        if content < rules.min_mc_yield or content <= 0:
            return False
        return float(np.sqrt(variance[group].sum())) <= rules.max_mc_stat_error * content

    groups: list[list[int]] = []
    current: list[int] = []
    for index in range(len(total)):
        current.append(index)
        if enough(current):
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)  # the whole region is short of the rule: one bin
    return groups


def _merge(values: list[float], groups: list[list[int]], quadrature: bool = False) -> list[float]:
    array = np.asarray(values, dtype=float)
    if quadrature:
        return [float(np.sqrt(np.sum(array[g] ** 2))) for g in groups]
    return [float(np.sum(array[g])) for g in groups]


def _merge_channel(channel: dict[str, Any], groups: list[list[int]]) -> None:
    for sample in channel["samples"]:
        sample["data"] = _merge(sample["data"], groups)
        for modifier in sample["modifiers"]:
            kind, data = modifier["type"], modifier["data"]
            if kind == "histosys":
                data["hi_data"] = _merge(data["hi_data"], groups)
                data["lo_data"] = _merge(data["lo_data"], groups)
            elif kind in ("staterror", "shapesys"):
                modifier["data"] = _merge(data, groups, quadrature=True)
            elif kind == "shapefactor":
                raise ValueError(f"cannot merge the bins of shapefactor {modifier['name']}")


def _floor(values: list[float], floor: float) -> tuple[list[float], list[int]]:
    array = np.asarray(values, dtype=float)
    negative = np.flatnonzero(array < 0)
    array[negative] = floor
    return array.tolist(), negative.tolist()


def _usable_factor(value: float) -> bool:
    return bool(np.isfinite(value) and value > 0)


def _repair_emptied(channel: dict[str, Any], report: dict[str, Any]) -> None:
    """Mirror (or drop) the variation sides that leave a sample no MC (see the module doc)."""
    for sample in channel["samples"]:
        nominal = np.asarray(sample["data"], dtype=float)
        modifiers = sample["modifiers"]
        by_name: dict[str, dict[str, dict]] = {}
        for modifier in modifiers:
            by_name.setdefault(modifier["name"], {})[modifier["type"]] = modifier
        dropped = set()
        for name, kinds in by_name.items():
            norm, shape = kinds.get("normsys"), kinds.get("histosys")
            if norm is None:
                continue
            hi, lo = float(norm["data"]["hi"]), float(norm["data"]["lo"])
            good = {"hi": _usable_factor(hi), "lo": _usable_factor(lo)}
            if all(good.values()):
                continue
            where = f"{channel['name']}/{sample['name']}/{name}"
            if not any(good.values()):
                dropped.add(name)
                why = "both sides empty" if nominal.sum() > 0 else "no nominal MC in the region"
                report["emptied"].append(f"{where}: {why}, dropped")
                continue
            kept, empty = ("hi", "lo") if good["hi"] else ("lo", "hi")
            norm["data"][empty] = 1.0 / float(norm["data"][kept])
            if shape is not None:
                other = np.asarray(shape["data"][f"{kept}_data"], dtype=float)
                shape["data"][f"{empty}_data"] = (2.0 * nominal - other).tolist()
            side = "Up" if empty == "hi" else "Down"
            report["emptied"].append(f"{where}{side}: empty, the other side mirrored")
        if dropped:
            sample["modifiers"] = [m for m in modifiers if m["name"] not in dropped]


def _widen_nuisance_bounds(workspace: dict[str, Any], bound: float, report: dict) -> None:
    """Give every normsys parameter the range +-bound, unless the config sets one.

    A parameter that is also a histosys elsewhere (NormPlusShape) keeps pyhf's range.
    """
    kinds: dict[str, set[str]] = {}
    for channel in workspace["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                kinds.setdefault(modifier["name"], set()).add(modifier["type"])
    names = sorted(name for name, types in kinds.items() if types == {"normsys"})
    report["nuisance_bound"] = bound
    for measurement in workspace["measurements"]:
        parameters = measurement["config"].setdefault("parameters", [])
        given = {p["name"]: p for p in parameters}
        for name in names:
            entry = given.get(name)
            if entry is None:
                parameters.append({"name": name, "bounds": [[-bound, bound]]})
            elif "bounds" not in entry:
                entry["bounds"] = [[-bound, bound]]


def apply(
    workspace: dict[str, Any],
    rules: TemplateRules,
    edges: dict[str, np.ndarray] | None = None,
    final_regions: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workspace with the rules applied, and a report of what changed.

    Args:
        workspace: a pyhf workspace (not modified)
        rules: the merging and floor rules
        edges: bin edges per region, to name merged bins by their range
        final_regions: regions whose edges are final (equal-population binning):
            their bins are not merged

    Returns:
        tuple: the new workspace, and ``{"merged": {region: [...]}, "kept": {region:
        why}, "floored": [...], "emptied": [...], "edges": {region: edges}}`` (``edges``:
        the regions merged or kept)
    """
    workspace = copy.deepcopy(workspace)
    observations = {o["name"]: o for o in workspace["observations"]}
    report: dict[str, Any] = {
        "rules": rules._asdict(),
        "merged": {},
        "kept": {},
        "floored": [],
        "emptied": [],
        "edges": {},
    }
    poi = workspace["measurements"][0]["config"]["poi"]
    for channel in workspace["channels"]:
        name = channel["name"]
        _repair_emptied(channel, report)
        total, variance = _background_mc(channel, poi)
        region_edges = None if edges is None else np.asarray(edges.get(name), dtype=float)
        if name in final_regions:
            groups = [[index] for index in range(len(total))]
            report["kept"][name] = "equal-population edges are final: no bin merged"
            if region_edges is not None and region_edges.ndim == 1:
                report["edges"][name] = [float(x) for x in region_edges]
            log.info("fit region %s: its %d final bins kept", name, len(total))
        else:
            groups = bin_groups(total, variance, rules)
        if len(groups) < len(total):
            merged = []
            for group in (g for g in groups if len(g) > 1):
                content = {
                    s["name"]: float(np.sum(np.asarray(s["data"], dtype=float)[group]))
                    for s in channel["samples"]
                }
                where = f"bins {group[0]}-{group[-1]}"
                if region_edges is not None and region_edges.ndim == 1:
                    where += f" [{region_edges[group[0]]:g}, {region_edges[group[-1] + 1]:g})"
                merged.append({"bins": group, "range": where, "mc_per_sample": content})
                log.info(
                    "fit region %s: %s merged into one bin (background MC %.3g, its MC-stat "
                    "error %.0f%%; per sample: %s)",
                    name,
                    where,
                    total[group].sum(),
                    100 * np.sqrt(variance[group].sum()) / max(total[group].sum(), 1e-300),
                    ", ".join(f"{k} {v:.3g}" for k, v in content.items()),
                )
            _merge_channel(channel, groups)
            observations[name]["data"] = _merge(observations[name]["data"], groups)
            report["merged"][name] = merged
            if region_edges is not None and region_edges.ndim == 1:
                report["edges"][name] = [float(region_edges[g[0]]) for g in groups] + [
                    float(region_edges[groups[-1][-1] + 1])
                ]
        for sample in channel["samples"]:
            sample["data"], negative = _floor(sample["data"], rules.negative_floor)
            for index in negative:
                report["floored"].append(f"{name}/{sample['name']}/nominal bin {index}")
            for modifier in sample["modifiers"]:
                if modifier["type"] != "histosys":
                    continue
                for key in ("hi_data", "lo_data"):
                    modifier["data"][key], negative = _floor(
                        modifier["data"][key], rules.negative_floor
                    )
                    for index in negative:
                        side = "Up" if key == "hi_data" else "Down"
                        report["floored"].append(
                            f"{name}/{sample['name']}/{modifier['name']}{side} bin {index}"
                        )
    _widen_nuisance_bounds(workspace, rules.nuisance_bound, report)
    if report["emptied"]:
        log.warning(
            "%d variation(s) left a sample no MC in a fit region: %s",
            len(report["emptied"]),
            "; ".join(report["emptied"]),
        )
    if report["floored"]:
        log.warning(
            "%d negative per-sample bin(s) set to %g: %s",
            len(report["floored"]),
            rules.negative_floor,
            ", ".join(report["floored"][:10]) + (" ..." if len(report["floored"]) > 10 else ""),
        )
    return workspace, report
