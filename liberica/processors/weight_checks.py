"""The MC weight checks: rules applied to each sample's weight audit (``weight_audit.py``).

A sample whose weights are wrong (a cross-section or sum of weights that does
not belong to its files, a generator weight far off its siblings', a handful
of events carrying most of the yield) biases every histogram it fills without
any error. Each rule below turns that into a finding, with the numbers; the
findings are reported (``metrics.json`` ``weight_checks``), never acted on here.
Dropping is the definition's choice (``checks.weights.drop``): :meth:`WeightChecks.to_drop`
says what that choice removes.

The rules (w: the nominal event weight, mcWeight x scale factors x xsec x lumi / sumw):

(a) **sum of weights.** ``ratio = sum(mcWeight) / sumw``, the files' generator
    weights over the fileset's (or files') sum of weights, is 1 for a sample
    whose files are all there and whose sumw belongs to them; then the sum of
    its normalized weights is xsec x lumi x <scale factors>. It is flagged when
    ``|ratio - 1| > tolerance`` (default 0.1). Skimmed files (real open data:
    sumw counts the events before the skim) hold less, so with
    ``skimmed_inputs`` only ``ratio > 1 + tolerance`` is flagged: a file cannot
    hold more generator weight than the sample it was skimmed from. A sample
    whose files were partly skipped (``on_bad_file: skip``) is flagged too: its
    normalization is wrong. Not evaluated for a format that does not normalize
    (no sumw), nor where the audit saw other events than the run processed.
(b) **siblings.** ``scale = median|w| / (xsec x lumi / N)``, the typical event's
    weight in units of the mean weight of a sample of N events with unit
    generator weights (N: the sample's events), is about 1 whatever the
    cross-section or the events generated, so samples of one kind compare.
    Samples are grouped by the definition's ``siblings`` (group -> processes;
    a sample of a process in no group is then not compared), else by process. In a group of three or more, each scale is divided by the
    group's median; in a pair, by the other's (a pair cannot tell which one is
    off: both are flagged, and (a) usually tells). Flagged beyond a factor
    ``sibling_factor`` either way (default 3). Samples alone in their group,
    or of a format that does not normalize, are not compared. (hzz4l's
    generated samples: scales 0.96-1.08.)
(c) **large event weights.** Events with ``|w| > event_ratio x median|w|``
    (default 100; the median read from the |w| histogram) are listed
    from the top events kept, with their eventNumber, weight, and their share
    of the sample's sum of weights. When every kept top event is above the
    limit, more may be: the histogram's count above the limit is reported
    (``events_above``, to its bin width).
(d) **non-finite weights.** Any NaN or infinite nominal weight is a finding.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from liberica.core.definition import WeightChecksConfig
from liberica.processors.weight_audit import MAGNITUDE_EDGES, SampleWeights
from liberica.processors.weights import PB_PER_INVERSE_FB

log = logging.getLogger(__name__)

CHECKS = ("sum_of_weights", "siblings", "large_event_weights", "non_finite_weights")
"""The rules' names, (a) to (d) of the module doc."""


class SampleSummary(NamedTuple):
    """What the audit measured of one MC sample.

    Attributes:
        sample: the sample's name in the fileset
        process: its process
        events: events audited
        sum_generator_weights: sum of its files' generator weights
        sumw: its sum of weights from the fileset (or files), or None
        sumw_ratio: sum_generator_weights / sumw (rule a), or None
        sum_weights: sum of the nominal weights (the sample's expected events)
        sum_weights_squared: sum of their squares
        effective_events: sum_weights^2 / sum_weights_squared
        median_abs_weight: median |w| (from the |w| histogram)
        weight_scale: median|w| / (xsec x lumi / N) (rule b), or None
        negative_fraction: share of events of negative weight
        zero_weights: events of weight 0
        non_finite_weights: events of NaN or infinite weight
        complete: the audit saw every event the run processed of the sample
    """

    sample: str
    process: str
    events: int
    sum_generator_weights: float
    sumw: float | None
    sumw_ratio: float | None
    sum_weights: float
    sum_weights_squared: float
    effective_events: float
    median_abs_weight: float
    weight_scale: float | None
    negative_fraction: float
    zero_weights: int
    non_finite_weights: int
    complete: bool


class WeightFinding(NamedTuple):
    """One rule broken by one sample.

    Attributes:
        check: the rule (:data:`CHECKS`)
        sample: the sample
        value: what was measured (the ratio, the factor to the siblings, the
            limit's multiple of the largest event, the count)
        limit: the value it is not allowed past
        message: one line saying what is wrong, with the numbers
        events: (c): ``(eventNumber, weight)`` of the events listed, largest first
        share_of_sum_weights: (c): their sum of weights over the sample's
        events_above: (c): events above the limit: those listed, or where every kept
            top event is above it, the |w| histogram's count from the bin holding
            the limit up (an upper bound, to within that bin)
    """

    check: str
    sample: str
    value: float
    limit: float
    message: str
    events: tuple[tuple[int, float], ...] = ()
    share_of_sum_weights: float | None = None
    events_above: int | None = None


class WeightChecks(NamedTuple):
    """The weight checks of a run.

    Attributes:
        rules: the rules' settings
        samples: sample -> :class:`SampleSummary`
        groups: sibling group -> its samples (rule b)
        findings: every rule broken, by sample then rule
    """

    rules: WeightChecksConfig
    samples: dict[str, SampleSummary]
    groups: dict[str, tuple[str, ...]]
    findings: tuple[WeightFinding, ...]

    def flagged(self, check: str | None = None) -> list[str]:
        """The samples with a finding (of ``check`` only, if given), sorted."""
        return sorted({f.sample for f in self.findings if check is None or f.check == check})

    def to_drop(self) -> dict[str, Any]:
        """What the rules' ``drop`` removes: ``samples`` (those broken by a rule on the
        whole sample: a, b, d) or ``events`` (sample -> eventNumbers listed by c)."""
        samples, events = [], {}
        if self.rules.drop == "samples":
            samples = sorted({f.sample for f in self.findings if f.check != "large_event_weights"})
        if self.rules.drop == "events":
            events = {
                f.sample: [number for number, _ in f.events]
                for f in self.findings
                if f.check == "large_event_weights"
            }
        return {"drop": self.rules.drop, "samples": samples, "events": events}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (metrics.json ``weight_checks``)."""
        rules = self.rules._asdict()
        rules["siblings"] = {k: list(v) for k, v in self.rules.siblings.items()}
        findings = []
        for finding in self.findings:
            entry = _json(finding._asdict())
            if finding.check == "large_event_weights":
                entry["events"] = [
                    {"eventNumber": number, "weight": weight} for number, weight in finding.events
                ]
            else:
                for key in ("events", "share_of_sum_weights", "events_above"):
                    del entry[key]
            findings.append(entry)
        return {
            "rules": rules,
            "samples": {name: _json(s._asdict()) for name, s in self.samples.items()},
            "groups": {name: list(samples) for name, samples in self.groups.items()},
            "flagged_samples": self.flagged(),
            "findings": findings,
            "would_drop": self.to_drop(),
        }


def _json(entry: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as None (JSON has neither)."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in entry.items()
    }


def summarize(
    sample: str, audit: SampleWeights, events_processed: int | None = None
) -> SampleSummary:
    """The measured quantities of one sample's audit (module doc, rules a and b)."""
    sum_generator = audit.sum_generator_weights
    sum_weights, squares = audit.sum_weights, audit.sum_weights_squared
    median = audit.median_abs_weight()
    ratio = sum_generator / audit.sumw if audit.sumw else None
    scale = None
    if audit.xsec is not None and audit.events > 0 and math.isfinite(median):
        mean_unit = audit.xsec * audit.lumi_fb * PB_PER_INVERSE_FB / audit.events
        scale = median / mean_unit
    return SampleSummary(
        sample=sample,
        process=audit.process,
        events=audit.events,
        sum_generator_weights=sum_generator,
        sumw=audit.sumw,
        sumw_ratio=ratio,
        sum_weights=sum_weights,
        sum_weights_squared=squares,
        effective_events=sum_weights**2 / squares if squares > 0 else float("nan"),
        median_abs_weight=median,
        weight_scale=scale,
        negative_fraction=audit.negative_weights / audit.events if audit.events else 0.0,
        zero_weights=audit.zero_weights,
        non_finite_weights=audit.non_finite_weights,
        complete=events_processed is None or events_processed == audit.events,
    )


def sibling_groups(
    summaries: Mapping[str, SampleSummary], rules: WeightChecksConfig
) -> dict[str, tuple[str, ...]]:
    """Group -> its samples (sorted): the rules' ``siblings``, else one group per process."""
    if rules.siblings:
        return {
            group: tuple(
                sorted(s for s, summary in summaries.items() if summary.process in processes)
            )
            for group, processes in rules.siblings.items()
        }
    groups: dict[str, list[str]] = {}
    for name, summary in sorted(summaries.items()):
        groups.setdefault(summary.process, []).append(name)
    return {process: tuple(names) for process, names in groups.items()}


def _sum_of_weights(summary: SampleSummary, rules: WeightChecksConfig) -> WeightFinding | None:
    """Rule (a)."""
    ratio = summary.sumw_ratio
    if ratio is None or not summary.complete:
        return None
    high = ratio > 1 + rules.tolerance
    low = ratio < 1 - rules.tolerance and not rules.skimmed_inputs
    if not (high or low) and math.isfinite(ratio):
        return None
    return WeightFinding(
        check="sum_of_weights",
        sample=summary.sample,
        value=ratio,
        limit=1 + rules.tolerance if high else 1 - rules.tolerance,
        message=(
            f"{summary.sample}: its files' generator weights sum to {summary.sum_generator_weights:.6g}, "
            f"{ratio:.4g} times its sumw {summary.sumw:.6g} (allowed: 1 +- {rules.tolerance:g}"
            + (", skims below 1" if rules.skimmed_inputs else "")
            + ")"
        ),
    )


def _siblings(
    summaries: Mapping[str, SampleSummary],
    groups: Mapping[str, tuple[str, ...]],
    rules: WeightChecksConfig,
) -> list[WeightFinding]:
    """Rule (b), group by group."""
    findings = []
    for group, members in groups.items():
        scales = {
            s: summaries[s].weight_scale
            for s in members
            if summaries[s].weight_scale is not None and summaries[s].weight_scale > 0
        }
        if len(scales) < 2:
            continue
        for sample, scale in scales.items():
            others = [v for s, v in scales.items() if s != sample]
            reference = others[0] if len(scales) == 2 else float(np.median(list(scales.values())))
            factor = scale / reference
            if 1 / rules.sibling_factor <= factor <= rules.sibling_factor:
                continue
            findings.append(
                WeightFinding(
                    check="siblings",
                    sample=sample,
                    value=factor,
                    limit=rules.sibling_factor if factor > 1 else 1 / rules.sibling_factor,
                    message=(
                        f"{sample}: its weight scale (median |w| over xsec x lumi / N) "
                        f"{scale:.4g} is {factor:.3g} times its siblings' "
                        f"{'(the other of a pair) ' if len(scales) == 2 else '(median) '}"
                        f"{reference:.4g} in group {group} (allowed: a factor "
                        f"{rules.sibling_factor:g})"
                    ),
                )
            )
    return findings


def _large_events(
    sample: str, audit: SampleWeights, summary: SampleSummary, rules: WeightChecksConfig
) -> WeightFinding | None:
    """Rule (c)."""
    if not math.isfinite(summary.median_abs_weight):
        return None
    limit = rules.event_ratio * summary.median_abs_weight
    above = audit.top[np.abs(audit.top["weight"]) > limit]
    if len(above) == 0:
        return None
    listed = tuple(
        (int(n), float(w)) for n, w in zip(above["eventNumber"], above["weight"], strict=True)
    )
    events_above = len(above)
    if len(above) == len(audit.top) == audit.k:  # more may be beyond the top events kept
        first_bin = int(np.searchsorted(MAGNITUDE_EDGES, limit, side="right"))
        events_above = max(events_above, int(audit.magnitude_counts[first_bin:].sum()))
    share = math.fsum(w for _, w in listed) / summary.sum_weights if summary.sum_weights else None
    largest = float(np.max(np.abs(above["weight"])))
    return WeightFinding(
        check="large_event_weights",
        sample=sample,
        value=largest / summary.median_abs_weight,
        limit=rules.event_ratio,
        message=(
            f"{sample}: {events_above} event(s) with |w| above {rules.event_ratio:g} times the "
            f"median |w| {summary.median_abs_weight:.4g} (largest {largest:.4g}), "
            f"{len(listed)} listed"
            + (f", {share:.3g} of the sample's sum of weights" if share is not None else "")
        ),
        events=listed,
        share_of_sum_weights=share,
        events_above=events_above,
    )


def evaluate(
    audits: Mapping[str, SampleWeights],
    rules: WeightChecksConfig | None = None,
    events_processed: Mapping[str, int] | None = None,
) -> WeightChecks:
    """Apply the rules (module doc) to each MC sample's audit.

    Args:
        audits: sample -> its merged audit (a run's ``weight_audit`` output)
        rules: the rules' settings (the definition's ``checks.weights``; None: the defaults)
        events_processed: sample -> events the run processed; a sample whose
            audit saw other events (chunks from an older checkpoint) is not
            checked by rule (a)

    Returns:
        WeightChecks: per sample the measured quantities, and the findings
    """
    rules = WeightChecksConfig() if rules is None else rules
    processed = events_processed or {}
    summaries = {
        name: summarize(name, audit, processed.get(name)) for name, audit in sorted(audits.items())
    }
    groups = sibling_groups(summaries, rules)
    findings: list[WeightFinding] = []
    for name, summary in summaries.items():
        if summary.non_finite_weights:
            findings.append(
                WeightFinding(
                    check="non_finite_weights",
                    sample=name,
                    value=float(summary.non_finite_weights),
                    limit=0.0,
                    message=f"{name}: {summary.non_finite_weights} event(s) of NaN or infinite weight",
                )
            )
        found = _sum_of_weights(summary, rules)
        findings += [found] if found else []
        found = _large_events(name, audits[name], summary, rules)
        findings += [found] if found else []
    findings += _siblings(summaries, groups, rules)
    order = {check: index for index, check in enumerate(CHECKS)}
    findings.sort(key=lambda f: (f.sample, order[f.check]))
    for finding in findings:
        log.warning("weight check %s: %s", finding.check, finding.message)
    return WeightChecks(rules=rules, samples=summaries, groups=groups, findings=tuple(findings))
