"""The MC weight audit (processors/weight_audit.py), its rules (processors/weight_checks.py)
and its wiring into the base processor and metrics.json."""

from __future__ import annotations

import functools
import json
import operator

import numpy as np
import pytest
from coffea import processor

from liberica.core.definition import WeightChecksConfig
from liberica.processors.weight_audit import (
    MAGNITUDE_BINS,
    MAGNITUDE_EDGES,
    TOP_EVENTS,
    SampleWeights,
    magnitude_histogram,
)
from liberica.processors.weight_checks import evaluate

LUMI_FB = 10.0


def generator_weights(rng, n: int, negative: float = 0.03) -> np.ndarray:
    """mcWeight as the generators give it: +-|w|, |w| spread by 5%."""
    return rng.lognormal(0.0, 0.05, n) * np.where(rng.random(n) < negative, -1.0, 1.0)


def chunks_of(
    event_number, mc_weight, *, xsec, sumw, process, n_chunks=5, scale_factor=None
) -> list[SampleWeights]:
    """The audits of a sample's chunks (uneven sizes), nominal weight as open data's."""
    nominal = mc_weight * (1.0 if scale_factor is None else scale_factor)
    nominal = nominal * xsec * LUMI_FB * 1e3 / sumw
    cuts = np.sort(np.random.default_rng(len(event_number)).choice(len(event_number), n_chunks - 1))
    return [
        SampleWeights.of_chunk(
            event_number[part],
            mc_weight[part],
            nominal[part],
            process=process,
            xsec=xsec,
            sumw=sumw,
            lumi_fb=LUMI_FB,
        )
        for part in np.split(np.arange(len(event_number)), cuts)
    ]


def merged(parts):
    return functools.reduce(operator.add, parts)


def sample(rng, n, *, xsec, process, sumw=None, weights=None, first_event=0, scale_factor=None):
    """One sample's merged audit; sumw defaults to the sum of its generator weights."""
    numbers = first_event + rng.permutation(n).astype(np.int64) * 7
    mc_weight = generator_weights(rng, n) if weights is None else weights
    sumw = float(np.sum(mc_weight)) if sumw is None else sumw
    return merged(
        chunks_of(
            numbers, mc_weight, xsec=xsec, sumw=sumw, process=process, scale_factor=scale_factor
        )
    )


@pytest.fixture(scope="module")
def clean_samples():
    """Five clean samples: a Z+jets triplet, a ZZ pair and a lone ttbar."""
    rng = np.random.default_rng(5)
    return {
        "Zee": sample(rng, 20_000, xsec=2000.0, process="Zjets"),
        "Zmumu": sample(rng, 20_000, xsec=2000.0, process="Zjets"),
        "Ztautau": sample(rng, 12_000, xsec=1900.0, process="Zjets"),
        "ZZ": sample(rng, 8_000, xsec=1.26, process="ZZ"),
        "ZZ_alt": sample(rng, 4_000, xsec=1.26, process="ZZ"),
        "ttbar": sample(rng, 9_000, xsec=450.0, process="ttbar"),
    }


def test_merging_is_exact_and_independent_of_the_order():
    rng = np.random.default_rng(1)
    numbers = rng.permutation(10**6)[:50_000].astype(np.int64)
    weights = generator_weights(rng, 50_000)
    parts = chunks_of(numbers, weights, xsec=3.0, sumw=5e4, process="p", n_chunks=7)
    reference = merged(parts)
    for seed in range(20):
        order = np.random.default_rng(seed).permutation(len(parts))
        assert merged([parts[i] for i in order]) == reference
    # a tree of merges, as a distributed executor may do
    assert (parts[0] + parts[1]) + ((parts[2] + parts[3]) + (parts[4] + (parts[5] + parts[6]))) == (
        reference
    )
    # coffea's own accumulation of chunk outputs, samples interleaved
    other = chunks_of(numbers, np.ones(50_000), xsec=1.0, sumw=50_000.0, process="q", n_chunks=3)
    outputs = [{"weight_audit": {"p": part}} for part in parts] + [
        {"weight_audit": {"q": part}} for part in other
    ]
    forward = processor.accumulate(outputs)
    backward = processor.accumulate(outputs[::-1])
    assert forward == backward and forward["weight_audit"]["p"] == reference
    assert reference.events == 50_000 and len(reference.top) == TOP_EVENTS
    # the top events are the largest |w| of the whole sample, whatever the chunking
    whole = merged(chunks_of(numbers, weights, xsec=3.0, sumw=5e4, process="p", n_chunks=1))
    np.testing.assert_array_equal(whole.top, reference.top)
    assert whole.sum_weights == pytest.approx(reference.sum_weights, rel=1e-13)


def test_equal_weights_keep_the_lowest_event_numbers_in_any_chunking():
    numbers = np.random.default_rng(2).permutation(100_000).astype(np.int64)
    one = merged(chunks_of(numbers, np.ones(100_000), xsec=1.0, sumw=1e5, process="p", n_chunks=1))
    many = merged(chunks_of(numbers, np.ones(100_000), xsec=1.0, sumw=1e5, process="p", n_chunks=9))
    np.testing.assert_array_equal(one.top, many.top)
    np.testing.assert_array_equal(one.top["eventNumber"], np.arange(TOP_EVENTS))


def test_the_bit_shift_histogram_bins_as_its_stated_edges():
    rng = np.random.default_rng(4)
    values = np.concatenate(
        [10.0 ** rng.uniform(-14, 10, 100_000), MAGNITUDE_EDGES, np.nextafter(MAGNITUDE_EDGES, 0)]
    )
    by_edges = np.bincount(
        np.searchsorted(MAGNITUDE_EDGES, values, side="right"), minlength=MAGNITUDE_BINS + 2
    )
    np.testing.assert_array_equal(magnitude_histogram(values), by_edges)
    flows = magnitude_histogram(np.array([0.0, 1e-300, np.inf, np.nan, 1e300]))
    assert flows[0] == 2 and flows[-1] == 3 and flows.sum() == 5


def test_the_median_from_the_log_histogram_is_within_its_bin_width():
    rng = np.random.default_rng(3)
    weights = rng.lognormal(np.log(2e-3), 0.7, 40_000)
    audit = merged(chunks_of(np.arange(40_000), weights, xsec=1.0, sumw=1e4, process="p"))
    true = np.median(weights) * 1.0 * LUMI_FB * 1e3 / 1e4
    assert audit.median_abs_weight() == pytest.approx(true, rel=0.12)


def test_clean_samples_give_no_findings(clean_samples):
    checks = evaluate(clean_samples)
    assert checks.findings == ()
    assert checks.groups == {
        "Zjets": ("Zee", "Zmumu", "Ztautau"),
        "ZZ": ("ZZ", "ZZ_alt"),
        "ttbar": ("ttbar",),
    }
    for summary in checks.samples.values():
        assert summary.sumw_ratio == pytest.approx(1.0, rel=1e-12)
        assert summary.weight_scale == pytest.approx(1.0, abs=0.1)
        assert summary.sum_weights == pytest.approx(
            summary.sumw_ratio * clean_samples[summary.sample].xsec * LUMI_FB * 1e3, rel=1e-9
        )
    document = json.loads(json.dumps(checks.to_dict(), allow_nan=False))
    assert document["findings"] == [] and document["flagged_samples"] == []


def test_weights_fifty_times_too_large_are_flagged_by_the_sum_and_the_siblings(clean_samples):
    rng = np.random.default_rng(6)
    mc_weight = generator_weights(rng, 20_000)
    corrupt = sample(
        rng,
        20_000,
        xsec=2000.0,
        process="Zjets",
        weights=50 * mc_weight,
        sumw=float(mc_weight.sum()),
    )
    checks = evaluate({**clean_samples, "Zmumu": corrupt})
    assert checks.flagged() == ["Zmumu"]
    found = {f.check: f for f in checks.findings}
    assert set(found) == {"sum_of_weights", "siblings"}
    assert found["sum_of_weights"].value == pytest.approx(50.0, rel=1e-9)
    assert found["siblings"].value == pytest.approx(50.0, rel=0.15)
    assert "Zmumu" in found["siblings"].message and "group Zjets" in found["siblings"].message


def test_a_pair_cannot_tell_which_sibling_is_off(clean_samples):
    rng = np.random.default_rng(7)
    # scale factors of 10 (say, a per-mille unit read as a fraction): sumw is fine, so
    # (a) is clean, while each event weighs ten times its sibling's; (b) flags both of the pair
    heavy = sample(rng, 4_000, xsec=1.26, process="ZZ", scale_factor=10.0)
    checks = evaluate({**clean_samples, "ZZ_alt": heavy})
    assert checks.flagged("sum_of_weights") == []
    assert checks.flagged("siblings") == ["ZZ", "ZZ_alt"]
    # groups the definition gives replace the processes: ZZ_alt among the ZZ and Z+jets
    grouped = evaluate(
        {**clean_samples, "ZZ_alt": heavy},
        WeightChecksConfig(siblings={"dilepton": ("Zjets", "ZZ")}),
    )
    assert grouped.groups == {"dilepton": ("ZZ", "ZZ_alt", "Zee", "Zmumu", "Ztautau")}
    assert grouped.flagged("siblings") == ["ZZ_alt"]


def test_ten_huge_events_are_listed_with_their_event_numbers():
    rng = np.random.default_rng(8)
    n = 50_000
    numbers = rng.choice(10**7, n, replace=False).astype(np.int64)
    mc_weight = generator_weights(rng, n)
    huge = rng.choice(n, 10, replace=False)
    mc_weight[huge] *= 1e4
    audit = merged(
        chunks_of(numbers, mc_weight, xsec=5.0, sumw=float(mc_weight.sum()), process="p")
    )
    checks = evaluate({"sample": audit})
    (finding,) = checks.findings
    assert finding.check == "large_event_weights"
    assert sorted(number for number, _ in finding.events) == sorted(numbers[huge].tolist())
    assert finding.events_above == 10
    expected_share = mc_weight[huge].sum() / mc_weight.sum()
    assert finding.share_of_sum_weights == pytest.approx(expected_share, rel=1e-9)
    assert finding.value == pytest.approx(1e4, rel=0.3) and finding.limit == 100.0


def test_many_large_events_report_the_histogram_count_beyond_the_top_events():
    rng = np.random.default_rng(9)
    mc_weight = generator_weights(rng, 20_000)
    mc_weight[:500] *= 1e3
    audit = merged(chunks_of(np.arange(20_000), mc_weight, xsec=1.0, sumw=2e4, process="p"))
    (finding,) = [f for f in evaluate({"s": audit}).findings if f.check == "large_event_weights"]
    assert len(finding.events) == TOP_EVENTS and finding.events_above == 500


def test_skimmed_inputs_flag_only_a_ratio_above_one():
    rng = np.random.default_rng(10)
    mc_weight = generator_weights(rng, 10_000)
    skim = {
        "s": sample(rng, 10_000, xsec=1.0, process="p", weights=mc_weight, sumw=2 * mc_weight.sum())
    }
    assert evaluate(skim).flagged("sum_of_weights") == ["s"]
    assert evaluate(skim, WeightChecksConfig(skimmed_inputs=True)).findings == ()
    # a sample the audit did not see whole (an older checkpoint) is not judged by (a)
    assert evaluate(skim, events_processed={"s": 12_000}).findings == ()


def test_non_finite_weights_are_a_finding_and_stay_out_of_the_top_events():
    weights = np.ones(1_000)
    weights[17] = np.nan
    audit = merged(chunks_of(np.arange(1_000), weights, xsec=1.0, sumw=999.0, process="p"))
    checks = evaluate({"s": audit})
    assert [f.check for f in checks.findings] == ["sum_of_weights", "non_finite_weights"]
    assert 17 not in audit.top["eventNumber"]
    json.dumps(checks.to_dict(), allow_nan=False)


def test_drop_says_what_the_definition_s_choice_removes(clean_samples):
    rng = np.random.default_rng(11)
    mc_weight = generator_weights(rng, 20_000)
    mc_weight[:3] *= 1e4
    bad = sample(rng, 20_000, xsec=2000.0, process="Zjets", weights=mc_weight, first_event=10**8)
    samples = {**clean_samples, "Zmumu": bad}
    events = evaluate(samples, WeightChecksConfig(drop="events")).to_drop()
    assert events["samples"] == [] and len(events["events"]["Zmumu"]) == 3
    whole = evaluate(samples, WeightChecksConfig(drop="samples")).to_drop()
    assert whole["events"] == {} and whole["samples"] == []  # (c) alone drops no sample
    assert evaluate(samples).to_drop() == {"drop": "none", "samples": [], "events": {}}


def test_merging_different_samples_is_refused():
    one = SampleWeights.of_chunk(
        np.arange(3), np.ones(3), np.ones(3), process="a", xsec=1.0, sumw=3.0, lumi_fb=1.0
    )
    other = SampleWeights.of_chunk(
        np.arange(3), np.ones(3), np.ones(3), process="a", xsec=2.0, sumw=3.0, lumi_fb=1.0
    )
    with pytest.raises(ValueError, match="different samples"):
        one + other


def test_the_audit_leaves_the_histograms_bit_for_bit_and_reaches_metrics(small_sample, monkeypatch):
    from liberica.orchestration.pipeline import run_processor
    from liberica.processors.base import AnalysisProcessor

    audited = run_processor("hzz4l", small_sample, executor="iterative", status=False)
    monkeypatch.setattr(AnalysisProcessor, "audit_weights", False)
    plain = run_processor("hzz4l", small_sample, executor="iterative", status=False)
    for region, h in plain.histograms.items():
        for field in ("value", "variance"):
            np.testing.assert_array_equal(
                audited.histograms[region].view(flow=True)[field], h.view(flow=True)[field]
            )
        np.testing.assert_array_equal(
            audited.counts[region].view(flow=True), plain.counts[region].view(flow=True)
        )
    assert audited.cutflow == plain.cutflow

    checks = audited.weight_checks
    mc = {s for s, entry in audited.metrics["samples"].items() if entry["process"] != "data"}
    assert set(checks.samples) == mc and checks.findings == ()
    for name, summary in checks.samples.items():
        assert summary.events == audited.metrics["events_per_sample"][name]
        assert summary.sum_generator_weights == pytest.approx(
            audited.metrics["sum_mc_weights_processed"][name], rel=1e-12
        )
    stored = json.loads(json.dumps(audited.metrics["weight_checks"], allow_nan=False))
    assert stored["findings"] == [] and set(stored["samples"]) == mc
    assert plain.metrics["weight_checks"]["samples"] == {}
