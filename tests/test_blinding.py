"""Blinding: a run of a definition with a ``blinding`` block shows no data of its hidden
bins (S/B > threshold) in any output, and fits only the Asimov data set; ``--unblind``
shows everything.

One blinded and one unblinded ``liberica process`` of the small hzz4l sample (an
overlay adding ``blinding:``) are shared by the module: the unblinded run gives the
values that must not appear in the blinded run's files and printed lines.
"""

from __future__ import annotations

import json
import pathlib
import re

import hist
import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from liberica.cli import main
from liberica.core import definition as definition_module
from liberica.fits import blinding as rule
from liberica.orchestration import blinding as orchestration
from liberica.orchestration.outputs import read_pickle

DATA = "data"
DATA_SAMPLE = "data"  # the hzz4l generator's data sample in its fileset


def _definition(folder: pathlib.Path, block: str = "{threshold: 0.3}") -> pathlib.Path:
    path = folder / "blinded.yaml"
    path.write_text(f"extends: hzz4l\nblinding: {block}\n")
    return path


def _process(definition: pathlib.Path, fileset, out: pathlib.Path, *extra: str):
    done = CliRunner().invoke(
        main,
        [
            "process", str(definition), "--fileset", str(fileset), "--out", str(out),
            "--executor", "iterative", "--no-systematics", *extra,
        ],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return done.output


@pytest.fixture(scope="module")
def runs(small_sample, tmp_path_factory):
    """The blinded and the unblinded run of the same inputs: folders and printed lines."""
    folder = tmp_path_factory.mktemp("blinding")
    definition = _definition(folder)
    blinded, unblinded = folder / "blinded", folder / "unblinded"
    return {
        "definition": definition,
        "blinded": blinded,
        "unblinded": unblinded,
        "blinded_output": _process(definition, small_sample, blinded),
        "unblinded_output": _process(definition, small_sample, unblinded, "--unblind"),
    }


def _json(folder: pathlib.Path, name: str):
    return json.loads((folder / name).read_text())


def _hidden(summary: dict) -> dict[str, np.ndarray]:
    """Flow-bin indices of each region's hidden bins, from blinding.json."""
    return {
        region: np.array([entry["index"][0] for entry in content["hidden_bins"]], dtype=int)
        for region, content in summary["regions"].items()
        if content["n_hidden"]
    }


def _data(folder: pathlib.Path, key: str = "histograms") -> dict[str, np.ndarray]:
    histograms = read_pickle(folder / "histograms.pkl")[key]
    return {r: h[..., DATA, "nominal"].values(flow=True) for r, h in histograms.items()}


def _secrets(runs) -> dict[str, int]:
    """Data numbers a blinded run must not show: each blinded region's data in its hidden
    bins, and the data totals (the cutflow's last step) of every withheld region."""
    summary = _json(runs["blinded"], "blinding.json")
    counts = _data(runs["unblinded"], "counts")
    cutflow = _json(runs["unblinded"], "cutflow.json")[DATA_SAMPLE]
    secrets = {}
    for region, index in _hidden(summary).items():
        secrets[f"{region} hidden bins"] = int(counts[region][index].sum())
    for region in summary["withheld_totals"]:
        secrets[f"{region} total"] = int(list(cutflow[region].values())[-1]["raw"])
    return secrets


def test_the_higgs_peak_is_hidden_by_mc_alone(runs):
    summary = _json(runs["blinded"], "blinding.json")
    assert summary["unblinded"] is False and summary["threshold"] == 0.3
    assert summary["signal"] == ["ggH", "VBFH"]
    high = summary["regions"]["sr_4l_high"]["hidden_bins"]
    assert high, "sr_4l_high has S/B > 0.3 around 125 GeV"
    for entry in high:
        low, up = entry["edges"][0]
        assert 110.0 <= low and up <= 140.0
        assert entry["s_over_b"] > 0.3
        assert entry["signal"] / entry["background"] == pytest.approx(entry["s_over_b"])
    # only MC decides: the unblinded run hides the same bins (by the rule; the blinded
    # run also hides the whole of its selections' regions without a hidden bin)
    whole = set(summary["wholly_hidden"])
    unblinded = _json(runs["unblinded"], "blinding.json")
    assert {r: c for r, c in unblinded["regions"].items() if r not in whole} == {
        r: c for r, c in summary["regions"].items() if r not in whole
    }
    assert unblinded["wholly_hidden"] == [] and whole <= set(summary["withheld_totals"])
    assert _json(runs["blinded"], "metrics.json")["blinding"] == summary
    # the selection of the hidden bins is withheld whole; the baseline's is not
    assert (
        "sr_4l_low" in summary["withheld_totals"] and "baseline" not in summary["withheld_totals"]
    )


def test_histograms_hold_no_hidden_data(runs):
    summary = _json(runs["blinded"], "blinding.json")
    hidden = _hidden(summary)
    blinded_pkl = read_pickle(runs["blinded"] / "histograms.pkl")
    open_pkl = read_pickle(runs["unblinded"] / "histograms.pkl")
    with uproot.open(runs["blinded"] / "histograms.root") as root_file:
        for region, index in hidden.items():
            for key in ("histograms", "counts"):
                shown = blinded_pkl[key][region][:, DATA, "nominal"]
                full = open_pkl[key][region][:, DATA, "nominal"]
                assert np.all(shown.values(flow=True)[index] == 0)
                if shown.variances() is not None:  # the raw counts have none
                    assert np.all(shown.variances(flow=True)[index] == 0)
                visible = np.ones(len(shown.values(flow=True)), dtype=bool)
                visible[index] = False
                np.testing.assert_array_equal(
                    shown.values(flow=True)[visible], full.values(flow=True)[visible]
                )
            th1 = root_file[f"{region}_{DATA}_nominal"]
            assert np.all(th1.values(flow=True)[index] == 0)
            assert np.all(th1.variances(flow=True)[index] == 0)
            # MC untouched
            for process in ("ggH", "ZZ"):
                np.testing.assert_array_equal(
                    blinded_pkl["histograms"][region][:, process, "nominal"].values(flow=True),
                    open_pkl["histograms"][region][:, process, "nominal"].values(flow=True),
                )
    # the hidden bins did hold data: the check above could fail
    assert sum(_data(runs["unblinded"])[r][i].sum() for r, i in hidden.items()) > 0


def test_no_region_of_a_blinded_selection_gives_the_hidden_bins_back(runs):
    """The attack: one region's data total less another's visible bins of the same
    selection would be the second one's hidden bins."""
    summary = _json(runs["blinded"], "blinding.json")
    loaded = definition_module.load(runs["definition"])
    shown = {r: v.sum() for r, v in _data(runs["blinded"], "counts").items()}
    full = _data(runs["unblinded"], "counts")
    hidden = _hidden(summary)
    attacked = 0
    for region, index in hidden.items():
        if region in summary["wholly_hidden"]:
            continue
        content = int(full[region][index].sum())
        siblings = [
            r
            for r, v in loaded.regions.items()
            if v.selection == loaded.regions[region].selection and r != region
        ]
        for sibling in siblings:
            assert shown[sibling] - shown[region] != content, (sibling, region)
            attacked += 1
    assert attacked > 0
    for region in summary["wholly_hidden"]:
        assert shown[region] == 0 and full[region].sum() > 0


def test_the_count_of_scored_rows_holds_no_data(runs):
    blinded = _json(runs["blinded"], "metrics.json")["classifier"]
    unblinded = _json(runs["unblinded"], "metrics.json")["classifier"]
    assert "data_rows_scored" not in blinded and unblinded["data_rows_scored"] > 0
    assert blinded["rows_scored"] == unblinded["rows_scored"] > 0  # MC rows only


def test_stages_that_read_every_bin_refuse_a_blinded_run(runs):
    from liberica import api
    from liberica.orchestration.blinding import BlindingError

    with pytest.raises(BlindingError, match="bump hunt.*--unblind"):
        api.bumphunt(runs["blinded"])
    with pytest.raises(BlindingError, match="liberica search"):
        api.search(runs["blinded"])


def test_data_cutflows_of_blinded_selections_are_withheld(runs):
    summary = _json(runs["blinded"], "blinding.json")
    blinded = _json(runs["blinded"], "cutflow.json")
    full = _json(runs["unblinded"], "cutflow.json")
    for region in summary["withheld_totals"]:
        assert blinded[DATA_SAMPLE][region] == rule.BLINDED
        assert isinstance(full[DATA_SAMPLE][region], dict)
    assert blinded[DATA_SAMPLE]["baseline"] == full[DATA_SAMPLE]["baseline"]
    mc = [s for s in full if s != DATA_SAMPLE]
    assert mc and all(blinded[s] == full[s] for s in mc)


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    return [float(value)]


def _printed(number: int) -> re.Pattern:
    """A count as the console prints it (``1,502``) or a log line (``1502``)."""
    return re.compile(rf"(?<![\d.,]){re.escape(f'{number:,}')}(?![\d,]|\.\d)")


def test_no_output_of_a_blinded_run_reveals_hidden_data(runs):
    """Withheld totals: searched in every JSON file and every printed line. Hidden-bin
    sums (small numbers that MC counts may equal by chance): in the data-derived parts,
    the data cutflow and the data's flow report."""
    secrets = _secrets(runs)
    assert secrets and all(v > 0 for v in secrets.values())
    blinded_json = [_json(runs["blinded"], p.name) for p in runs["blinded"].glob("*.json")]
    open_json = [_json(runs["unblinded"], p.name) for p in runs["unblinded"].glob("*.json")]
    blinded_numbers = {x for content in blinded_json for x in _numbers(content)}
    open_numbers = {x for content in open_json for x in _numbers(content)}
    totals = {k: v for k, v in secrets.items() if k.endswith("total")}
    for name, value in totals.items():
        # the unblinded run shows it (the search can find it), the blinded one does not
        assert float(value) in open_numbers, name
        assert float(value) not in blinded_numbers, name
        assert _printed(value).search(runs["unblinded_output"]), name
        assert not _printed(value).search(runs["blinded_output"]), name
    metrics = _json(runs["blinded"], "metrics.json")
    data_parts = [_json(runs["blinded"], "cutflow.json")[DATA_SAMPLE]]
    data_parts += [flow.get(DATA, {}) for flow in metrics["flow"].values()]
    data_numbers = {x for part in data_parts for x in _numbers(part)}
    for name, value in secrets.items():
        assert float(value) not in data_numbers, name
    assert "blinded" in runs["blinded_output"]


def test_unblind_shows_the_data(runs):
    summary = _json(runs["unblinded"], "blinding.json")
    assert summary["unblinded"] is True and summary["withheld_totals"] == []
    hidden = _hidden(summary)
    full = _data(runs["unblinded"])
    assert sum(full[r][i].sum() for r, i in hidden.items()) > 0
    assert "blinded" not in json.dumps(_json(runs["unblinded"], "cutflow.json"))


def test_checkpoint_is_refused_on_a_blinded_definition(runs, small_sample, tmp_path):
    done = CliRunner().invoke(
        main,
        [
            "process", str(runs["definition"]), "--fileset", str(small_sample),
            "--out", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "chunks"),
        ],
    )  # fmt: skip
    assert done.exit_code == 2
    assert "--checkpoint" in done.output and "--unblind" in done.output
    assert not (tmp_path / "chunks").exists()


def _toy_histograms() -> dict[str, hist.Hist]:
    h = hist.Hist(
        hist.axis.Regular(4, 0.0, 4.0, name="m4l"),
        hist.axis.StrCategory(["ggH", "ZZ", DATA], name="process"),
        hist.axis.StrCategory(["nominal", "muon_sfUp"], name="variation"),
        storage=hist.storage.Weight(),
    )
    # S/B per bin (flow included): under 0/0, 0.1, 2, 0.1, 0.1, over 1/0
    h.fill(m4l=[1.5, 2.5, 2.5, 3.5, 9.0], process="ggH", variation="nominal")
    h.fill(m4l=[0.5] * 10 + [1.5] + [2.5] * 10, process="ZZ", variation="nominal")
    for variation in ("nominal", "muon_sfUp"):
        h.fill(m4l=[0.5, 1.5, 1.5, 2.5, 9.0], process=DATA, variation=variation)
    return {"sr_4l_high": h}


def test_hidden_bins_rule_and_hiding():
    definition = definition_module.load("hzz4l")._replace(
        blinding=definition_module.BlindingConfig(0.3, ("ggH", "VBFH"), ())
    )
    histograms = _toy_histograms()
    hidden = rule.hidden_bins(histograms, definition)
    # 1.5: S/B = 1; 3.5: S = 1, B = 0 (hidden); overflow: B = 0 < S; 0.5 and 2.5: 0.1
    np.testing.assert_array_equal(hidden["sr_4l_high"], [0, 0, 1, 0, 1, 1])
    shown = rule.hide_data(histograms, hidden)["sr_4l_high"]
    for variation in ("nominal", "muon_sfUp"):
        np.testing.assert_array_equal(
            shown[:, DATA, variation].values(flow=True), [0, 1, 0, 1, 0, 0]
        )
    np.testing.assert_array_equal(shown[:, "ZZ", "nominal"].values(flow=True), [0, 10, 1, 10, 0, 0])
    # the input is untouched
    assert histograms["sr_4l_high"][:, DATA, "nominal"].values(flow=True).sum() == 5


def test_blind_output_drops_data_rows_and_leaves_unblinded_alone():
    definition = definition_module.load("hzz4l")._replace(
        blinding=definition_module.BlindingConfig(0.3, ("ggH", "VBFH"), ("sr_4l_high",))
    )
    rows = np.array([("ggH", 1.0), (DATA, 2.0)], dtype=[("process", "U16"), ("x", "f8")])

    def output():
        histograms = _toy_histograms()
        cutflow = {"data": {r: {"all": {"raw": 5}} for r in definition.regions}}
        return {"histograms": histograms, "counts": histograms, "cutflow": cutflow,
                "features": [rows.copy()]}  # fmt: skip

    blinded = output()
    summary = orchestration.blind_output(blinded, definition, ["data"], unblind=False)
    assert list(summary["regions"]) == ["sr_4l_high"]
    assert [list(r["process"]) for r in blinded["features"]] == [["ggH"]]
    assert blinded["cutflow"]["data"]["sr_4l_low"] == rule.BLINDED
    assert blinded["cutflow"]["data"]["baseline"] == {"all": {"raw": 5}}
    shown = output()
    summary = orchestration.blind_output(shown, definition, ["data"], unblind=True)
    assert summary["unblinded"] is True and len(shown["features"][0]) == 2
    assert shown["cutflow"]["data"]["sr_4l_low"] == {"all": {"raw": 5}}
    none = output()
    plain = definition._replace(blinding=None)
    assert orchestration.blind_output(none, plain, ["data"], unblind=False) is None
    assert none["histograms"]["sr_4l_high"] is not blinded["histograms"]["sr_4l_high"]


def test_a_region_of_a_blinded_selection_without_hidden_bins_shows_no_data():
    """sr_4l (the same selection as sr_4l_high, no bin above the threshold) would show the
    selection's data total, and with it sr_4l_high's hidden bins: it shows none."""
    definition = definition_module.load("hzz4l")._replace(
        blinding=definition_module.BlindingConfig(0.3, ("ggH", "VBFH"), ())
    )
    histograms = _toy_histograms()
    quiet = histograms["sr_4l_high"].copy()
    quiet.reset()
    quiet.fill(m4l=[0.5, 1.5, 2.5], process="ZZ", variation="nominal")
    quiet.fill(m4l=[0.5, 1.5, 1.5], process=DATA, variation="nominal")
    histograms["sr_4l"] = quiet
    output = {"histograms": histograms, "counts": histograms, "cutflow": {}}
    summary = orchestration.blind_output(output, definition, ["data"], unblind=False)
    assert summary["wholly_hidden"] == ["sr_4l"]
    assert summary["regions"]["sr_4l"]["n_hidden"] == 6  # every bin, flow included
    assert output["histograms"]["sr_4l"][:, DATA, "nominal"].values(flow=True).sum() == 0
    assert output["histograms"]["sr_4l"][:, "ZZ", "nominal"].values(flow=True).sum() == 3
    json.dumps(summary, allow_nan=False)  # S/B of empty bins is null, not NaN


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ("{threshold: 0}", "blinding.threshold"),
        ("{signal: [WH]}", "blinding.signal[0]"),
        ("{regions: [sr_4l, sr_9l]}", "blinding.regions[1]"),
        ("{signal: [ggH, VBFH, ZZ, Zjets, ttbar]}", "blinding.signal"),
        ("{cut: 0.3}", "blinding.cut"),
    ],
)
def test_bad_blinding_blocks_name_the_key(tmp_path, block, key):
    with pytest.raises(definition_module.AnalysisDefinitionError, match=re.escape(f"'{key}'")):
        definition_module.load(_definition(tmp_path, block))


def test_asimov_observations_replace_the_data(tiny_workspace):
    blinded = rule.asimov_observations(tiny_workspace)
    # signal + background, every modifier nominal, mu = 1
    np.testing.assert_allclose(blinded["observations"][0]["data"], [55.0, 64.0, 51.0])
    assert tiny_workspace["observations"][0]["data"] == [57.0, 66.0, 50.0]  # untouched


def test_blinded_results_json_has_no_observed_number():
    from liberica.fits.results import _blind

    content = {
        "mu": {"bestfit": 1.2}, "expected": {"bestfit": 1.0}, "asimov": True,
        "significance": {"observed": 3.0, "expected": 2.0, "observed_p0": 1e-3,
                         "expected_p0": 0.02},
        "upper_limit": {"observed": 2.1, "expected": [1.0] * 5},
        "goodness_of_fit": {"p_value": 0.4},
    }  # fmt: skip
    _blind(content)
    assert content["blinded"] is True and content["data"] == "asimov"
    assert "mu" not in content and "goodness_of_fit" not in content
    assert content["significance"] == {"expected": 2.0, "expected_p0": 0.02}
    assert content["upper_limit"] == {"expected": [1.0] * 5}


@pytest.mark.slow
def test_blinded_fit_is_asimov_only(tiny_workspace, tmp_path):
    from liberica.fits.run import measure, write

    result = measure(tiny_workspace, ranking=False, blinding={"unblinded": False, "regions": {}})
    write(result, tmp_path, figures=False)
    content = json.loads((tmp_path / "results.json").read_text())
    assert content["blinded"] is True and content["data"] == "asimov" and content["asimov"]
    assert "mu" not in content and "goodness_of_fit" not in content
    assert "observed" not in content["upper_limit"]
    assert not any("observed" in k for k in content["significance"])
    assert content["expected"]["bestfit"] == pytest.approx(1.0, abs=1e-3)
    observed = json.loads((tmp_path / "workspace.json").read_text())["observations"][0]["data"]
    np.testing.assert_allclose(observed, [55.0, 64.0, 51.0], rtol=1e-6)


def test_fit_unblind_of_a_blinded_run_is_refused(runs):
    from liberica.api import fitting

    definition = definition_module.load(runs["definition"])
    metrics = _json(runs["blinded"], "metrics.json")
    with pytest.raises(orchestration.BlindingError, match="--unblind"):
        fitting._blinding(definition, metrics, unblind=True)
    assert fitting._blinding(definition, metrics, unblind=False) == metrics["blinding"]
    opened = _json(runs["unblinded"], "metrics.json")
    assert fitting._blinding(definition, opened, unblind=True) is None
    # a data fit needs --unblind at both steps
    assert fitting._blinding(definition, opened, unblind=False) is not None


@pytest.mark.slow
def test_liberica_fit_and_toys_of_a_blinded_run(runs):
    run_dir = runs["blinded"]
    done = CliRunner().invoke(main, ["fit", str(run_dir), "--no-ranking"])
    assert done.exit_code == 0, done.output
    content = _json(run_dir / "fit", "results.json")
    assert content["blinded"] and content["data"] == "asimov" and "mu" not in content
    assert "Asimov" in done.output and "goodness of fit" not in done.output
    assert "observed" not in done.output.replace("mu_observed", "")  # a timing step's name
    done = CliRunner().invoke(
        main, ["toys", str(run_dir), "--ntoys", "4", "--mu", "1", "--workers", "1"]
    )
    assert done.exit_code == 0, done.output
    toys = _json(run_dir / "fit" / "toys", "results.json")
    assert toys["conditioned_on"] == "asimov"


def test_plots_hatch_the_hidden_bins_without_data_points(monkeypatch):
    import cabinetry
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from liberica.fits import plots

    region = "sr_4l_high"  # 12 bins of 5 GeV in 100-160 GeV
    samples = [
        {"name": name, "data": [float(v)] * 12,
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}] if signal else []}
        for name, v, signal in (("ggH", 2.0, True), ("ZZ", 10.0, False))
    ]  # fmt: skip
    workspace = {
        "channels": [{"name": region, "samples": samples}],
        "observations": [{"name": region, "data": [12.0] * 12}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    model, _ = cabinetry.model_utils.model_and_data(workspace)
    figures = {}
    monkeypatch.setattr(
        plots, "save", lambda figure, folder, name: figures.update({name: figure}) or []
    )
    hidden = np.zeros(12, dtype=bool)
    hidden[[4, 5]] = True  # 120-130 GeV
    plots.data_mc(
        cabinetry.model_utils.prediction(model), [[12.0] * 12], definition_module.load("hzz4l"),
        pathlib.Path("."), "prefit", 140.0, hidden={region: hidden}, data_label="Asimov data",
    )  # fmt: skip
    figure = figures[f"{region}_prefit"]
    top = figure.axes[0]
    points = next(c for c in top.containers if isinstance(c, ErrorbarContainer))
    x, y = points.lines[0].get_data()
    shown = np.asarray(x)[np.isfinite(np.asarray(y, dtype=float))]
    assert not np.any((shown > 120.0) & (shown < 130.0)) and len(shown) == 10
    hatched = [p for p in top.patches if p.get_hatch() == "xx"]
    assert len(hatched) == 2
    legend = [t.get_text() for t in top.get_legend().get_texts()]
    assert plots.BLINDED_LABEL in legend and "Asimov data" in legend
    plt.close(figure)
