"""Equal-population binning (fits/binning.py) and the run's final binning
(orchestration/binning.py): equal MC yields, the minimum-statistics rule, rebinning that
conserves every sum, the same edges on other pseudo-data, and reuse by definition digest."""

from __future__ import annotations

import json
import logging
import pathlib

import hist
import numpy as np
import pytest
import yaml

from liberica.core.definition import AnalysisDefinitionError, load
from liberica.fits.binning import BinningError, equal_population_edges, final_edges, rebin
from liberica.fits.run import observable_edges
from liberica.fits.templates import TemplateRules, apply
from liberica.orchestration.binning import BinningReuseError, final_binning

LAX = (0.0, 10.0)  # a rule every bin with MC passes


def _falling(n_events: int = 40_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Values and variances in 200 fine bins of a steeply falling score (weights 0.5-1.5)."""
    rng = np.random.default_rng(seed)
    score = rng.beta(1.0, 5.0, n_events)
    weight = rng.uniform(0.5, 1.5, n_events)
    edges = np.linspace(0.0, 1.0, 201)
    values, _ = np.histogram(score, edges, weights=weight)
    variances, _ = np.histogram(score, edges, weights=weight**2)
    return values, variances


def test_bins_hold_equal_yields_within_one_fine_bin():
    values, variances = _falling()
    fine = np.linspace(0.0, 1.0, 201)
    edges = equal_population_edges(values, variances, fine, 8, *LAX)
    assert len(edges) == 9
    assert edges[0] == 0.0 and edges[-1] == 1.0
    assert np.all(np.isin(edges, fine))  # a subset of the fine edges
    cuts = np.searchsorted(fine, edges)
    yields = np.add.reduceat(values, cuts[:-1])
    # the tolerance the fine bins allow: each boundary is the nearer fine edge to its target
    assert np.all(np.abs(yields - values.sum() / 8) <= values.max())
    assert yields.sum() == pytest.approx(values.sum())
    # deterministic
    assert np.array_equal(edges, equal_population_edges(values, variances, fine, 8, *LAX))


def test_the_minimum_statistics_rule_merges_the_highest_bins_down():
    values, variances = _falling()
    fine = np.linspace(0.0, 1.0, 201)
    # a few heavy events in the tail: high-score bins with a large MC-statistics error
    tail = fine[:-1] > 0.45
    variances = np.where(tail, variances * 400.0, variances)
    free = equal_population_edges(values, variances, fine, 8, *LAX)
    ruled = equal_population_edges(values, variances, fine, 8, 10.0, 0.12)
    assert len(ruled) < len(free)
    cuts = np.searchsorted(fine, ruled)
    yields = np.add.reduceat(values, cuts[:-1])
    errors = np.sqrt(np.add.reduceat(variances, cuts[:-1])) / yields
    assert np.all(yields >= 10.0) and np.all(errors <= 0.12)
    # the merging comes from the top: the low bins keep the free edges
    assert np.array_equal(ruled[:-1], free[: len(ruled) - 1])


def test_the_rule_reads_its_own_yields_and_a_fine_bin_above_total_over_n_is_one_bin():
    fine = np.linspace(0.0, 1.0, 11)
    signal = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 6], dtype=float)
    background = np.array([50, 30, 20, 10, 5, 3, 2, 1, 0.4, 0.3])
    # signal population alone: three bins of the four asked (one fine bin holds 6 of 10)
    alone = equal_population_edges(signal, signal, fine, 4, *LAX)
    assert list(alone) == pytest.approx([0.0, 0.8, 0.9, 1.0])
    # the rule reads the background: its top two bins (0.4 and 0.3 events) merge into one
    ruled = equal_population_edges(
        signal, signal, fine, 4, 0.5, 10.0, rule_values=background, rule_variances=background
    )
    assert list(ruled) == pytest.approx([0.0, 0.8, 1.0])


def test_a_region_short_of_the_rule_is_one_bin_and_empty_mc_too():
    fine = np.linspace(0.0, 1.0, 5)
    assert list(equal_population_edges([0.1] * 4, [0.01] * 4, fine, 3, 1.0, 0.4)) == [0.0, 1.0]
    assert list(equal_population_edges([0.0] * 4, [0.0] * 4, fine, 3, 0.5, 0.4)) == [0.0, 1.0]


def _templates(storage) -> hist.Hist:
    """(score, process, variation) with flow entries, filled differently per cell."""
    h = hist.Hist(
        hist.axis.Regular(50, 0.0, 1.0, name="score", label="score"),
        hist.axis.StrCategory(["ttH", "ttW", "data"], name="process"),
        hist.axis.StrCategory(["nominal", "jesUp", "jesDown"], name="variation"),
        storage=storage,
    )
    rng = np.random.default_rng(5)
    for process in ("ttH", "ttW", "data"):
        for variation in ("nominal", "jesUp", "jesDown"):
            x = np.concatenate([rng.uniform(-0.2, 1.2, 3000), [1.0, -1.0]])
            weight = rng.normal(1.0, 0.5, len(x))  # a few negative weights
            if storage == hist.storage.Weight():
                h.fill(score=x, process=process, variation=variation, weight=weight)
            else:
                h.fill(score=x, process=process, variation=variation)
    return h


@pytest.mark.parametrize("storage", [hist.storage.Weight(), hist.storage.Int64()])
def test_rebin_conserves_every_sum_per_process_and_variation(storage):
    h = _templates(storage)
    edges = h.axes[0].edges[[0, 7, 20, 21, 44, 50]]
    coarse = rebin(h, edges)
    assert isinstance(coarse.axes[0], hist.axis.Variable)
    assert coarse.axes[0].name == "score" and coarse.axes[0].label == "score"
    assert np.array_equal(coarse.axes[0].edges, edges)
    assert list(coarse.axes["process"]) == ["ttH", "ttW", "data"]
    fine_view, coarse_view = h.view(flow=True), coarse.view(flow=True)
    fields = fine_view.dtype.names or (None,)
    for field in fields:
        fine_part = fine_view if field is None else fine_view[field]
        coarse_part = coarse_view if field is None else coarse_view[field]
        # every process and variation: totals, flow bins, and each bin a sum of fine bins
        np.testing.assert_allclose(coarse_part.sum(axis=0), fine_part.sum(axis=0), rtol=1e-12)
        assert np.array_equal(coarse_part[0], fine_part[0])
        assert np.array_equal(coarse_part[-1], fine_part[-1])
        np.testing.assert_allclose(coarse_part[3], fine_part[1 + 20 : 1 + 21].sum(axis=0))
        np.testing.assert_allclose(coarse_part[2], fine_part[1 + 7 : 1 + 20].sum(axis=0))
    if storage == hist.storage.Int64():
        assert coarse.view().dtype == h.view().dtype


def test_rebin_refuses_edges_that_are_not_fine_edges():
    h = _templates(hist.storage.Weight())
    with pytest.raises(BinningError, match="region 'sr'.*0.33"):
        rebin(h, [0.0, 0.33, 1.0], "region 'sr'")
    with pytest.raises(BinningError, match="do not span"):
        rebin(h, [0.0, 0.5], "region 'sr'")


# -- the definition ------------------------------------------------------------------------------

OVERLAY = {
    "extends": "hzz4l",
    "observables": {
        "score_fine": {"variable": "score", "label": "score", "bins": 1000, "range": [0.0, 1.0]},
        "m4l_fine": {"variable": "m4l", "label": "m4l [GeV]", "bins": 170, "range": [80, 250]},
    },
    "regions": {
        "sr_score_bins": {
            "selection": "hzz4l",
            "categories": {"channel": ["4e", "4mu", "2e2mu"]},
            "observable": "score_fine",
            "classifier": "hzz4l_mlp",
            "binning": {"kind": "equal_population", "bins": 4, "of": "signal"},
        },
        "sr_m4l_bins": {
            "selection": "hzz4l",
            "categories": {"channel": ["4e", "4mu", "2e2mu"]},
            "observable": "m4l_fine",
            "binning": {"kind": "equal_population", "bins": 8},
        },
    },
}


def _write(folder: pathlib.Path, overlay: dict, name: str = "binned.yaml") -> pathlib.Path:
    path = folder / name
    path.write_text(yaml.safe_dump(overlay))
    return path


def _with_binning(binning: dict) -> dict:
    regions = {**OVERLAY["regions"]}
    regions["sr_m4l_bins"] = {**regions["sr_m4l_bins"], "binning": binning}
    return {**OVERLAY, "regions": regions}


def test_the_definition_carries_the_binning_with_its_processes(tmp_path):
    definition = load(_write(tmp_path, OVERLAY))
    score = definition.regions["sr_score_bins"].binning
    assert (score.kind, score.bins, score.of, score.processes) == (
        "equal_population",
        4,
        "signal",
        ("ggH", "VBFH"),
    )
    assert definition.regions["sr_m4l_bins"].binning.processes == ("ZZ", "Zjets", "ttbar")
    assert definition.regions["sr_4l"].binning is None


@pytest.mark.parametrize(
    ("binning", "key", "reason"),
    [
        ({"kind": "equal_population", "bins": 171}, "regions.sr_m4l_bins.binning.bins", "170"),
        ({"kind": "equal_population", "bins": 0}, "regions.sr_m4l_bins.binning.bins", None),
        ({"kind": "flat", "bins": 4}, "regions.sr_m4l_bins.binning.kind", None),
        (
            {"kind": "equal_population", "bins": 4, "processes": ["ggH"]},
            "regions.sr_m4l_bins.binning.processes[0]",
            "not a background",
        ),
        (
            {"kind": "equal_population", "bins": 4, "processes": ["WW"]},
            "regions.sr_m4l_bins.binning.processes[0]",
            "unknown process 'WW'",
        ),
        (
            {"kind": "equal_population", "bins": 4, "max_mc_stat_error": 0},
            "regions.sr_m4l_bins.binning.max_mc_stat_error",
            None,
        ),
    ],
)
def test_a_bad_binning_names_its_key(tmp_path, binning, key, reason):
    with pytest.raises(AnalysisDefinitionError, match=reason) as caught:
        load(_write(tmp_path, _with_binning(binning)))
    assert caught.value.key == key


# -- the fit keeps the final edges ---------------------------------------------------------------


def test_the_template_rules_keep_final_edges(tiny_workspace):
    tiny_workspace["channels"][0]["samples"][1]["data"] = [0.2, 52.0, 48.0]
    edges = {"sr": np.array([0.0, 0.4, 0.7, 1.0])}
    merged = apply(tiny_workspace, TemplateRules(), edges)[1]
    assert merged["merged"]["sr"]  # the rule would merge bin 0
    workspace, report = apply(tiny_workspace, TemplateRules(), edges, final_regions=("sr",))
    assert report["merged"] == {}
    assert "final" in report["kept"]["sr"]
    assert report["edges"]["sr"] == [0.0, 0.4, 0.7, 1.0]
    assert len(workspace["channels"][0]["samples"][1]["data"]) == 3


def test_observable_edges_take_a_runs_final_edges(tmp_path):
    definition = load(_write(tmp_path, OVERLAY))
    record = {"sr_m4l_bins": {"edges": [80.0, 120.0, 250.0]}}
    edges = observable_edges(definition, final_edges(record))
    assert list(edges["sr_m4l_bins"]) == [80.0, 120.0, 250.0]
    assert len(edges["sr_score_bins"]) == 1001
    assert len(observable_edges(definition)["sr_m4l_bins"]) == 171


# -- reuse, without processing -------------------------------------------------------------------


def _fine_run(definition) -> tuple[dict, dict]:
    """Booked histograms of the definition with a falling MC spectrum in sr_m4l_bins."""
    from liberica.processors.histograms import book

    histograms, counts = book(definition, systematics=False)
    h, c = histograms["sr_m4l_bins"], counts["sr_m4l_bins"]
    rng = np.random.default_rng(11)
    for process in ("ZZ", "Zjets", "ttbar", "ggH", "data"):
        m4l = 80.0 + rng.exponential(40.0, 5000)
        h.fill(m4l, process, "nominal", weight=np.full(5000, 0.1))
        c.fill(m4l, process, "nominal")
    return histograms, counts


MC_FILESET = {"ZZ": {"files": {}, "metadata": {"process": "ZZ", "is_data": False}}}


def test_edges_are_reused_from_binning_json_and_another_definition_is_refused(tmp_path, caplog):
    definition = load(_write(tmp_path, OVERLAY))
    fine = _fine_run(definition)
    _, _, report = final_binning(definition, *fine, MC_FILESET)
    entry = report["sr_m4l_bins"]
    assert entry["bins_made"] == 8 and entry["reused_from"] is None
    # the edges of an earlier run, shifted by one fine bin to see that they are the ones taken
    stored = json.loads(json.dumps(report))
    stored["sr_m4l_bins"]["edges"][1] += 1.0
    stored["sr_score_bins"] = {"edges": [0.0, 1.0], "key": entry["key"]}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "binning.json").write_text(json.dumps(stored))
    other_mc = {"ZZ": {"files": {}, "metadata": {"process": "ZZ", "is_data": False, "x": 1}}}
    with caplog.at_level(logging.WARNING):
        histograms, counts, again = final_binning(
            definition, *fine, other_mc, reuse=tmp_path / "run"
        )
    assert again["sr_m4l_bins"]["edges"] == stored["sr_m4l_bins"]["edges"]
    assert again["sr_m4l_bins"]["reused_from"].endswith("binning.json")
    assert list(histograms["sr_m4l_bins"].axes[0].edges) == stored["sr_m4l_bins"]["edges"]
    assert "other MC" in caplog.text
    # a definition that differs: one line naming the file and the digests
    changed = load(_write(tmp_path, _with_binning({"kind": "equal_population", "bins": 7})))
    with pytest.raises(BinningReuseError, match=r"binning.json: region 'sr_\w+' was binned under"):
        final_binning(changed, *_fine_run(changed), MC_FILESET, reuse=tmp_path / "run")


# -- a run: other pseudo-data, the same edges; the fit keeps them --------------------------------


@pytest.fixture(scope="module")
def other_pseudo_data(small_sample, tmp_path_factory) -> pathlib.Path:
    """small_sample's MC (same events, seed and luminosity) with pseudo-data at mu = 0."""
    from liberica.analysis.hzz4l.generator import generate_hzz4l

    out = tmp_path_factory.mktemp("hzz4l_small_mu0")
    return generate_hzz4l(out, events=60_000, lumi_fb=20.0, seed=7, mu_inject=0.0).fileset_path


@pytest.mark.slow
def test_other_pseudo_data_of_the_same_mc_gives_the_same_edges(
    small_sample, other_pseudo_data, tmp_path
):
    from liberica.api.processing import load_run
    from liberica.orchestration.pipeline import run_processor

    definition = _write(tmp_path, OVERLAY)
    options = {"executor": "iterative", "systematics": False, "status": False}
    first = run_processor(definition, small_sample, output_dir=tmp_path / "first", **options)
    second = run_processor(definition, other_pseudo_data, **options)
    data = [r.histograms["sr_m4l_bins"][:, "data", "nominal"].values() for r in (first, second)]
    assert data[0].sum() != data[1].sum()  # other pseudo-data
    for region in ("sr_score_bins", "sr_m4l_bins"):
        one, two = first.metrics["binning"][region], second.metrics["binning"][region]
        assert one["edges"] == two["edges"] and one["key"] == two["key"]
        assert list(first.histograms[region].axes[0].edges) == one["edges"]
        assert list(first.counts[region].axes[0].edges) == one["edges"]
    m4l = first.metrics["binning"]["sr_m4l_bins"]
    assert m4l["bins_made"] == 8
    fine = np.linspace(80.0, 250.0, 171)
    widest = max(np.diff(np.searchsorted(fine, m4l["edges"])))
    assert widest > 1  # really merged fine bins
    # the signal-population score bins: the rule on the background merged the top ones
    score = first.metrics["binning"]["sr_score_bins"]
    assert score["bins_made"] < score["bins_asked"]
    assert min(score["background_yields"]) >= score["rule"]["min_mc_yield"]
    assert max(score["background_mc_stat_error"]) <= score["rule"]["max_mc_stat_error"]
    # the run folder: binning.json, and the rebinned histograms read back
    written = json.loads((tmp_path / "first" / "binning.json").read_text())
    assert written == json.loads(json.dumps(first.metrics["binning"]))
    back = load_run(tmp_path / "first")
    assert list(back.histograms["sr_m4l_bins"].axes[0].edges) == m4l["edges"]
    # the edges reused on the other pseudo-data: the same histograms as derived there
    reused = run_processor(
        definition, other_pseudo_data, binning=tmp_path / "first" / "binning.json", **options
    )
    assert reused.metrics["binning"]["sr_m4l_bins"]["reused_from"].endswith("binning.json")
    for region in ("sr_score_bins", "sr_m4l_bins"):
        assert np.array_equal(reused.histograms[region].view(), second.histograms[region].view())


@pytest.mark.slow
def test_a_fit_of_the_run_folder_keeps_the_final_edges(small_sample, tmp_path):
    from liberica.api.fitting import fit
    from liberica.orchestration.pipeline import run_processor

    definition = _write(tmp_path, OVERLAY)
    run = run_processor(
        definition,
        small_sample,
        executor="iterative",
        systematics=False,
        status=False,
        output_dir=tmp_path / "run",
    )
    result = fit(tmp_path / "run", regions="sr_m4l_bins,sr_score_bins", ranking=False)
    for region in ("sr_m4l_bins", "sr_score_bins"):
        assert list(result.edges[region]) == run.metrics["binning"][region]["edges"]
        assert "final" in result.templates["kept"][region]
    assert result.templates["merged"] == {}
    assert np.isfinite(result.mu.bestfit)
