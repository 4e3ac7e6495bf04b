"""mu's uncertainty split into statistics, systematics and groups of nuisance parameters.

The stat-only and total MINOS errors of ``fits/measurement.py`` give the
systematic part in quadrature, ``syst = sqrt(total^2 - stat^2)``, on each side.

A grouped impact asks how much of the total a group of nuisance parameters
(experimental, modelling, MC statistics, luminosity, normalizations) makes:
its parameters are fixed at their best-fit values, mu is refitted with MINOS,
and ``impact = sqrt(total^2 - without^2)``, up and down. In a linear Gaussian
model whose groups are uncorrelated post-fit the squares add up exactly:
``stat^2 + sum_g impact_g^2 = total^2``. Groups that the data correlate
(a control region constraining a combination of parameters of two groups)
do not close, and the relative difference of the quadrature sum from the total
is reported as ``non_closure``, as the collaborations do, rather than hidden.

Groups are fnmatch patterns on pyhf's parameter labels (``muon_sf``,
``staterror_sr[3]``, ``luminosity``, ``xsec_ttbar``): a pattern matches a
label itself, or the name of its parameter set (``staterror_sr`` or
``staterror_*`` match every bin's gamma). Floating parameters no group names
form the group ``ungrouped``; a parameter two groups name is an error.
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from cabinetry.fit.results_containers import FitResults

from liberica.core.definition import UNGROUPED
from liberica.core.errors import LibericaError
from liberica.fits.config import POI
from liberica.fits.likelihood import Likelihood
from liberica.fits.measurement import SignalStrength

log = logging.getLogger(__name__)

IMPACTS_SECONDS = 600.0
"""Budget of the grouped impacts' refits (one per group, with HESSE and MINOS on mu): about
0.1-1 s each on hzz4l's samples here."""

LUMINOSITY = "luminosity"
"""The luminosity normsys's name (``fits/config.py``); pyhf's ``lumi`` modifiers join it."""

CROSS_SECTION_PREFIX = "xsec_"
"""Cross-section normsys modifiers are named ``xsec_<process>`` (``fits/config.py``)."""


class ImpactGroupError(LibericaError, ValueError):
    """Impact groups that cannot be used on a model (a parameter named by two groups)."""


class UncertaintyBreakdown(NamedTuple):
    """mu's errors split in quadrature, signed as mu's: ``*_up`` >= 0, ``*_down`` <= 0.

    Attributes:
        stat_up, stat_down: every nuisance parameter fixed at its best fit
        syst_up, syst_down: ``sqrt(total^2 - stat^2)`` (0 where stat exceeds total)
        total_up, total_down: every parameter floating
    """

    stat_up: float
    stat_down: float
    syst_up: float
    syst_down: float
    total_up: float
    total_down: float

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{stat, syst, total: {up, down}}`` for results.json."""
        return {
            part: {"up": getattr(self, f"{part}_up"), "down": getattr(self, f"{part}_down")}
            for part in ("stat", "syst", "total")
        }


class GroupImpact(NamedTuple):
    """The impact of one group of nuisance parameters on mu.

    Attributes:
        name: the group, e.g. ``experimental`` (``ungrouped`` for the rest)
        members: the parameter labels fixed together
        up: ``sqrt(total_up^2 - up_without^2)`` (>= 0)
        down: likewise on the lower side (<= 0)
        up_without, down_without: mu's MINOS errors with the group fixed
        valid: False when its refit or MINOS did not converge
    """

    name: str
    members: tuple[str, ...]
    up: float
    down: float
    up_without: float
    down_without: float
    valid: bool = True


class GroupedImpacts(NamedTuple):
    """Grouped impacts on mu, their quadrature sum with the statistics, and its closure.

    Attributes:
        breakdown: stat, syst and total errors of mu
        groups: one impact per group, in the order given (``ungrouped`` last)
        quadrature_up: ``sqrt(stat_up^2 + sum_g up_g^2)``
        quadrature_down: likewise (negative)
        non_closure_up: ``quadrature_up / total_up - 1`` (0 for uncorrelated groups
            of a linear Gaussian model; groups correlated post-fit make it non-zero)
        non_closure_down: likewise on the lower side
        unmatched: patterns that matched no parameter of the model, per group
    """

    breakdown: UncertaintyBreakdown
    groups: list[GroupImpact]
    quadrature_up: float
    quadrature_down: float
    non_closure_up: float
    non_closure_down: float
    unmatched: dict[str, list[str]]

    @property
    def valid(self) -> bool:
        """Whether every group's refit converged."""
        return all(g.valid for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """The ``grouped_impacts`` of results.json (a number a failed refit left undefined
        is null)."""
        return {
            "groups": {
                g.name: {
                    "members": list(g.members),
                    "up": _finite(g.up),
                    "down": _finite(g.down),
                    "up_without": _finite(g.up_without),
                    "down_without": _finite(g.down_without),
                    "valid": g.valid,
                    "in_quadrature_sum": math.isfinite(g.up) and math.isfinite(g.down),
                }
                for g in self.groups
            },
            "stat": {"up": self.breakdown.stat_up, "down": self.breakdown.stat_down},
            "total": {"up": self.breakdown.total_up, "down": self.breakdown.total_down},
            "quadrature_sum": {"up": self.quadrature_up, "down": self.quadrature_down},
            "non_closure": {
                "up": _finite(self.non_closure_up),
                "down": _finite(self.non_closure_down),
            },
            "unmatched_patterns": self.unmatched,
            "method": "group fixed at its best fit, MINOS refit; impact^2 = total^2 - without^2",
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _in_quadrature_difference(total: float, part: float) -> float:
    """``sqrt(max(total^2 - part^2, 0))`` of magnitudes."""
    return math.sqrt(max(total * total - part * part, 0.0))


def uncertainty_breakdown(mu: SignalStrength) -> UncertaintyBreakdown:
    """The stat, syst and total errors of mu, from its total and stat-only MINOS errors."""
    return UncertaintyBreakdown(
        stat_up=mu.stat_up,
        stat_down=mu.stat_down,
        syst_up=_in_quadrature_difference(mu.up, mu.stat_up),
        syst_down=-_in_quadrature_difference(mu.down, mu.stat_down),
        total_up=mu.up,
        total_down=mu.down,
    )


def default_groups(model) -> dict[str, tuple[str, ...]]:
    """Groups for a model whose definition names none, by parameter set.

    ``mc_statistics``: the staterror gammas; ``luminosity``: the luminosity normsys and
    any ``lumi`` modifier; ``normalizations``: free normfactors other than mu and the
    cross-section normsys (``xsec_*``); ``systematics``: every other parameter. Empty
    groups are left out.
    """
    kinds = dict(model.config.modifiers)
    groups: dict[str, list[str]] = {
        "mc_statistics": [],
        "luminosity": [],
        "normalizations": [],
        "systematics": [],
    }
    for name in model.config.par_order:
        kind = kinds.get(name)
        if name == model.config.poi_name:
            continue
        if kind == "staterror":
            groups["mc_statistics"].append(name)
        elif kind == "lumi" or (kind == "normsys" and name == LUMINOSITY):
            groups["luminosity"].append(name)
        elif kind == "normfactor" or (kind == "normsys" and name.startswith(CROSS_SECTION_PREFIX)):
            groups["normalizations"].append(name)
        else:
            groups["systematics"].append(name)
    return {group: tuple(names) for group, names in groups.items() if names}


def _set_name(label: str) -> str:
    """``staterror_sr[3]`` -> ``staterror_sr``; a one-parameter set's label is its name."""
    return label.split("[", 1)[0] if label.endswith("]") else label


def _matches(label: str, pattern: str) -> bool:
    # a label's brackets are a character class to fnmatch: compare it as it is first
    return (
        label == pattern
        or fnmatch.fnmatchcase(label, pattern)
        or fnmatch.fnmatchcase(_set_name(label), pattern)
    )


def assign(
    labels: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
    """Each label's group: the groups' members (``ungrouped`` last, when any label is left),
    and the patterns that matched nothing.

    Args:
        labels: the parameters to group (the floating nuisance parameters)
        groups: group -> fnmatch patterns

    Raises:
        ImpactGroupError: if two groups match one parameter (naming both)
    """
    owner: dict[str, tuple[str, str]] = {}
    unmatched: dict[str, list[str]] = {}
    for group, patterns in groups.items():
        if group == UNGROUPED:
            raise ImpactGroupError(
                f"impact group '{UNGROUPED}' is reserved for the parameters no group names"
            )
        for pattern in patterns:
            matched = [label for label in labels if _matches(label, pattern)]
            if not matched:
                unmatched.setdefault(group, []).append(pattern)
            for label in matched:
                if label in owner and owner[label][0] != group:
                    other, other_pattern = owner[label]
                    raise ImpactGroupError(
                        f"parameter '{label}' is in impact groups '{other}' (pattern "
                        f"'{other_pattern}') and '{group}' (pattern '{pattern}')"
                    )
                owner.setdefault(label, (group, pattern))
    members = {
        group: tuple(label for label in labels if owner.get(label, ("",))[0] == group)
        for group in groups
    }
    rest = tuple(label for label in labels if label not in owner)
    if rest:
        members[UNGROUPED] = rest
    return members, unmatched


def grouped_impacts(
    likelihood: Likelihood,
    fit_results: FitResults,
    mu: SignalStrength,
    groups: Mapping[str, Sequence[str]] | None = None,
    seconds: float | None = None,
) -> GroupedImpacts:
    """The impact of each group of nuisance parameters on mu, and their quadrature closure.

    Args:
        likelihood: the compiled likelihood of the fitted workspace (and data)
        fit_results: the total fit, giving the best-fit values the groups are fixed at
        mu: mu with its total and stat-only MINOS errors (the reference of every impact)
        groups: group -> fnmatch patterns on the parameter labels [default:
            :func:`default_groups`]
        seconds: the budget of the refits [default: ``IMPACTS_SECONDS``]

    Raises:
        ImpactGroupError: if two groups match one parameter
        FitBudgetExceeded: if the refits take longer than their budget
    """
    poi = likelihood.poi_index
    floating = [
        label for i, label in enumerate(likelihood.labels) if i != poi and not likelihood.fixed[i]
    ]
    if groups is None:
        groups = default_groups(likelihood.model)
    members, unmatched = assign(floating, groups)
    for group, patterns in unmatched.items():
        log.warning("impact group %s: no parameter matches %s", group, ", ".join(patterns))
    bestfit = np.asarray(fit_results.bestfit, dtype=np.float64)
    index = {label: i for i, label in enumerate(likelihood.labels)}
    breakdown = uncertainty_breakdown(mu)
    impacts = []
    with likelihood.budget(
        "grouped impacts",
        IMPACTS_SECONDS if seconds is None else seconds,
        "liberica.fits.impacts.IMPACTS_SECONDS",
    ):
        for done, (group, labels) in enumerate(members.items()):
            likelihood.report("grouped impacts", done, len(members))
            if not labels:
                impacts.append(GroupImpact(group, (), 0.0, 0.0, mu.up, mu.down))
                continue
            minimum = likelihood.minimize(
                fixed={index[label]: bestfit[index[label]] for label in labels},
                init=bestfit,
                step=f"grouped impacts: {group} fixed",
                errors=True,
                minos=[POI],
                must_converge=False,
            )
            down_without, up_without = minimum.minos.get(POI, (math.nan, math.nan))
            valid = bool(minimum.status.valid and minimum.status.minos_valid)
            impacts.append(
                GroupImpact(
                    group,
                    labels,
                    _in_quadrature_difference(mu.up, up_without),
                    -_in_quadrature_difference(mu.down, down_without),
                    float(up_without),
                    float(down_without),
                    valid,
                )
            )
        likelihood.report("grouped impacts", len(members), len(members))
    # a group whose refit failed has no impact to add: it is left out of the sum (its
    # ``valid`` is false, and the fit's warnings name it)
    summed = [g for g in impacts if math.isfinite(g.up) and math.isfinite(g.down)]
    up = math.sqrt(mu.stat_up**2 + sum(g.up**2 for g in summed))
    down = -math.sqrt(mu.stat_down**2 + sum(g.down**2 for g in summed))
    result = GroupedImpacts(
        breakdown=breakdown,
        groups=impacts,
        quadrature_up=up,
        quadrature_down=down,
        non_closure_up=up / mu.up - 1.0 if mu.up else math.nan,
        non_closure_down=down / mu.down - 1.0 if mu.down else math.nan,
        unmatched=unmatched,
    )
    log.info(
        "grouped impacts: %d groups, quadrature sum over total %+.1f%% up, %+.1f%% down",
        len(impacts),
        100 * result.non_closure_up,
        100 * result.non_closure_down,
    )
    return result


def to_markdown(impacts: GroupedImpacts) -> str:
    """The grouped impacts as a markdown table: stat, each group, syst, quadrature sum, total."""
    b = impacts.breakdown
    rows = [("statistics", "", b.stat_up, b.stat_down)]
    rows += [(g.name, str(len(g.members)), g.up, g.down) for g in impacts.groups]
    rows += [
        ("syst (total - stat, in quadrature)", "", b.syst_up, b.syst_down),
        ("quadrature sum (stat and groups)", "", impacts.quadrature_up, impacts.quadrature_down),
        ("total", "", b.total_up, b.total_down),
    ]
    lines = [
        "| source | parameters | up | down |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {n} | {up:+.4f} | {down:+.4f} |" for name, n, up, down in rows),
        "",
        f"Non-closure of the quadrature sum: {100 * impacts.non_closure_up:+.2f}% up, "
        f"{100 * impacts.non_closure_down:+.2f}% down (groups correlated post-fit do not "
        "add in quadrature).",
    ]
    invalid = [g.name for g in impacts.groups if not g.valid]
    if invalid:
        lines.append(f"Refits that did not converge: {', '.join(invalid)}.")
    return "\n".join(lines) + "\n"
