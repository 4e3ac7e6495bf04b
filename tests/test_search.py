"""`liberica search`: cut-based against classifier on hllj's llJ spectrum."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from liberica.api import search
from liberica.cli import main
from liberica.core.definition import load
from liberica.fits import merit
from liberica.orchestration.pipeline import run_processor

ENTRY_KEYS = {
    "S", "B", "window", "s_over_sqrt_b", "s_over_sqrt_s_b_db2", "asimov_z", "punzi",
    "chi2_ndf_h0", "chi2_ndf_h1", "signal_yield", "mu", "wilks_z", "profile_likelihood_z",
}  # fmt: skip


@pytest.fixture(scope="module")
def hllj_run(hllj_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("hllj_search_run")
    run_processor("hllj", hllj_sample, executor="futures", workers=2, output_dir=out, status=False)
    return out


@pytest.fixture(scope="module")
def searched(hllj_run):
    return search(hllj_run, load("hllj")).content, hllj_run


def test_results_hold_every_figure_for_both_selections(searched):
    results, run = searched
    assert set(results["selections"]) == {"cut_based", "classifier"}
    for name, entry in results["selections"].items():
        assert ENTRY_KEYS <= set(entry), (name, ENTRY_KEYS - set(entry))
        assert set(entry["wilks_z"]) == {"expected", "observed"}
        assert set(entry["profile_likelihood_z"]) == {
            "expected", "observed", "expected_p0", "observed_p0"
        }  # fmt: skip
        for key in ("wilks_z", "profile_likelihood_z"):
            assert all(np.isfinite(v) for v in entry[key].values()), (name, key)
        for kind in ("expected", "observed"):  # the discovery Z is the signed one, floored at 0
            assert entry["wilks_z"][kind] == max(entry["wilks_z_signed"][kind], 0.0)
        # the injected signal is seen: a positive expected significance both ways
        assert entry["wilks_z"]["expected"] > 0 and entry["profile_likelihood_z"]["expected"] > 0
        assert set(entry["mu"]) == {"bestfit", "up", "down"}
        assert entry["S"] > 0 and entry["B"] > 0
    assert set(results["sculpting"]) == {"hllj_mlp", "cut_based"}
    on_disk = json.loads((run / "search" / "results.json").read_text())
    assert on_disk["selections"].keys() == results["selections"].keys()
    table = (run / "search" / "table.md").read_text()
    assert "Wilks Z expected" in table and "| cut_based | classifier |" in table
    for name in ("spectrum_cut_based", "spectrum_classifier", "sculpting"):
        assert (run / "search" / "figures" / f"{name}.png").exists()


def test_s_and_b_are_the_histogram_sums_in_the_window_around_the_fitted_peak(searched):
    results, run = searched
    with open(run / "histograms.pkl", "rb") as stream:
        histograms = pickle.load(stream)["histograms"]
    definition = load("hllj")
    backgrounds = [p.name for p in definition.processes.values() if p.kind == "background"]
    for entry in results["selections"].values():
        h = histograms[entry["region"]]
        centres = h.axes[0].centers
        low, high = entry["window"]
        inside = (centres > low) & (centres < high)
        signal = h[:, "X1000", "nominal"].values()[inside].sum()
        background = sum(h[:, p, "nominal"].values()[inside].sum() for p in backgrounds)
        assert entry["S"] == pytest.approx(signal, rel=1e-12)
        assert entry["B"] == pytest.approx(background, rel=1e-12)
        # the window is the fitted peak +- 2 sigma, snapped to whole bins
        shape = entry["signal_shape"]
        assert abs(shape["mean"] - 1000.0) < shape["sigma"]
        assert (
            low <= shape["mean"] - 2 * shape["sigma"] + 50
            and high >= shape["mean"] + 2 * shape["sigma"] - 50
        )
        # the figures take dB = 0.1 B, the definition's background_uncertainty
        assert entry["asimov_z"] == pytest.approx(
            merit.asimov_z(entry["S"], entry["B"], 0.1 * entry["B"]), rel=1e-12
        )
        assert entry["asimov_z"] < merit.asimov_z(entry["S"], entry["B"])


def test_nothing_fixed_on_mc_moves_when_the_data_change(searched, tmp_path):
    """Window, S, B, figures of merit and the expected Z come from MC only."""
    results, run = searched
    other = tmp_path / "run"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("search"))
    with open(other / "histograms.pkl", "rb") as stream:
        stored = pickle.load(stream)
    for h in stored["histograms"].values():
        view = h.view(flow=True)
        data = list(h.axes["process"]).index("data")
        for field in ("value", "variance"):
            view[field][:, data, :] *= 1.3  # a data excess everywhere
    with open(other / "histograms.pkl", "wb") as stream:
        pickle.dump(stored, stream)
    changed = search(other, load("hllj"), profile_likelihood=False, figures=False).content
    fixed = ("S", "B", "window", "s_over_sqrt_b", "asimov_z", "punzi", "chi2_ndf_h0")
    for name, entry in results["selections"].items():
        new = changed["selections"][name]
        for key in fixed:
            assert new[key] == entry[key], (name, key)
        assert new["wilks_z"]["expected"] == entry["wilks_z"]["expected"]
        assert new["signal_yield"] != entry["signal_yield"]  # the observed fit did see the data


def test_the_search_command_prints_the_table_and_refuses_a_definition_without_search(
    hllj_run, tmp_path
):
    result = CliRunner().invoke(main, ["search", str(hllj_run), "--no-profile-likelihood"])
    assert result.exit_code == 0, result.output
    assert "Wilks Z observed" in result.output and "KS distance" in result.output
    neither = tmp_path / "neither.yaml"
    neither.write_text("extends: hllj\nname: hllj_no_search\nsearch: ~\n")
    result = CliRunner().invoke(main, ["search", str(hllj_run), "--analysis", str(neither)])
    assert result.exit_code == 2
    assert "has no search or sculpting block" in result.output


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s["selections"].update(classifier="nope"),
         "at 'search.selections.classifier': unknown region 'nope'"),
        (lambda s: s.update(signal="X2000"), "at 'search.signal': unknown process 'X2000'"),
        (lambda s: s.update(background_shape="dijet7"), "at 'search.background_shape': unknown shape 'dijet7'"),
        (lambda s: s["profile_likelihood_regions"].update(other="sr_cut_based"),
         "at 'search.profile_likelihood_regions.other': unknown selection 'other'"),
        (lambda s: s["selections"].update(cut_based="sr_cut_based"),
         "at 'search': its regions histogram different observables"),
    ],
)  # fmt: skip
def test_a_bad_search_block_is_refused_naming_the_key(edit, message, tmp_path):
    import pathlib

    import yaml

    from liberica.core.definition import AnalysisDefinitionError

    path = pathlib.Path(__file__).parents[1] / "liberica" / "analysis" / "hllj" / "definition.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config["search"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(AnalysisDefinitionError) as refused:
        load(bad)
    assert message in str(refused.value)


def test_a_mass_aware_classifier_sculpts_the_background_into_a_peak(hllj_sample, tmp_path):
    """hllj:sculpting's second classifier sees m_llJ: allowed only on request, it turns the
    background into a peak at the signal mass."""
    from liberica.models.spec import ModelSpecError

    with pytest.raises(ModelSpecError, match="hllj_mass_mlp.*--allow-fit-observable"):
        run_processor("hllj:sculpting", hllj_sample, executor="iterative", status=False)
    run = tmp_path / "run"
    run_processor(
        "hllj:sculpting", hllj_sample, executor="futures", workers=2, output_dir=run,
        allow_fit_observable=True, status=False,
    )  # fmt: skip
    results = search(run, load("hllj:sculpting"), profile_likelihood=False, figures=False).content
    assert set(results["sculpting"]) == {"cut_based", "hllj_mlp", "hllj_mass_mlp"}
    mass, blind = results["sculpting"]["hllj_mass_mlp"], results["sculpting"]["hllj_mlp"]
    # the background after the mass-aware classifier: narrow, at the signal's 1 TeV
    assert mass["width_ratio"] < 0.4 < blind["width_ratio"]
    assert abs(mass["mean"][1] - 1000.0) < 50.0 and mass["ks_distance"] > blind["ks_distance"]
    # the background spectrum now peaks inside the signal's mass window, where after the
    # cut-based selection it falls (at the default 2M events the dijet fit to it has
    # chi2/ndf 11.8, p 4e-37, and the search flags it; this sample is too small for that)
    with open(run / "histograms.pkl", "rb") as stream:
        histograms = pickle.load(stream)["histograms"]
    for name, peaked in (("mass_classifier", True), ("cut_based", False)):
        entry = results["selections"][name]
        h = histograms[entry["region"]]
        background = sum(h[:, p, "nominal"].values() for p in ("Zjets", "ttbar", "diboson"))
        centre = h.axes[0].centers[np.argmax(background)]
        assert bool(entry["window"][0] < centre < entry["window"][1]) == peaked, (name, centre)
