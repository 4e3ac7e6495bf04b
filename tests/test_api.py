"""The public Python API: stages in memory, typed results, and the same numbers as the CLI."""

import json
import math
import os

import cabinetry
import numpy as np
import pytest
from click.testing import CliRunner

import liberica
from liberica.cli import main
from liberica.fits.results import FitResult


@pytest.fixture(scope="module")
def in_memory(small_sample, tmp_path_factory):
    """process -> fit -> ranking through the API alone, from inside an empty folder."""
    folder = tmp_path_factory.mktemp("api_cwd")
    before = os.getcwd()
    os.chdir(folder)
    try:
        run = liberica.process("hzz4l", small_sample, executor="iterative", progress=False)
        result = liberica.fit(run)
    finally:
        os.chdir(before)
    return folder, run, result


@pytest.fixture(scope="module")
def written_fit(in_memory, tmp_path_factory):
    """The same run written to disk, then ``liberica fit`` of its histograms.root."""
    from liberica.orchestration.pipeline import write_outputs

    _, run, _ = in_memory
    run_dir = write_outputs(run, tmp_path_factory.mktemp("api_run")).output_dir
    done = CliRunner().invoke(main, ["fit", str(run_dir), "--no-figures"])
    assert done.exit_code == 0, done.output
    return run_dir, json.loads((run_dir / "fit" / "results.json").read_text())


def test_the_api_is_at_the_top_of_the_package():
    for name in ("process", "fit", "search", "toys", "train", "load_run", "load_definition"):
        assert callable(getattr(liberica, name)), name
    assert "fit" in dir(liberica)
    # the package's lazy names are the API's (one list kept beside the other)
    assert set(liberica.__all__) - {"__version__"} == set(liberica.api.__all__) - {"DEFAULT_CACHE"}
    with pytest.raises(AttributeError):
        liberica.no_such_stage  # noqa: B018


def test_a_run_and_its_fit_in_memory_write_nothing(in_memory):
    folder, run, result = in_memory
    assert list(folder.iterdir()) == []
    assert run.output_dir is None and "sr_4l" in run.histograms
    assert isinstance(result, FitResult) and result.figures == []
    assert result.provenance["run"] == "in memory"
    assert result.ranking and all(i.valid for i in result.ranking)


def test_the_fit_in_memory_equals_the_fit_command_of_the_written_run(in_memory, written_fit):
    """The run in memory and its histograms.root make the same fit: mu, errors, Z and
    ranking to 1e-9."""
    _, _, result = in_memory
    run_dir, written = written_fit
    assert written["provenance"]["run"] == str(run_dir.resolve())
    for key, value in result.mu._asdict().items():
        assert value == pytest.approx(written["mu"][key], rel=1e-9, abs=1e-12), key
    assert result.significance.observed == pytest.approx(
        written["significance"]["observed"], rel=1e-9
    )
    assert [i.name for i in result.ranking] == [r["name"] for r in written["ranking"]]
    for impact, row in zip(result.ranking, written["ranking"], strict=True):
        for key in ("impact_up", "impact_down", "prefit_impact_up", "prefit_impact_down"):
            assert getattr(impact, key) == pytest.approx(row[key], rel=1e-9, abs=1e-12)
    for region, samples in result.postfit_yields.items():
        for sample, entry in samples.items():
            expected = written["postfit_yields"][region][sample]
            assert entry == pytest.approx(expected, rel=1e-9, abs=1e-12), (region, sample)


def test_cabinetry_fits_the_written_workspace_to_the_same_mu(default_run, default_fit):
    """cabinetry's own fit (its optimizer, its MINOS) of fit/workspace.json: the same minimum
    within MIGRAD's tolerance, a small fraction of the error."""
    _, written = default_fit
    workspace = json.loads((default_run.output_dir / "fit" / "workspace.json").read_text())
    model, data = cabinetry.model_utils.model_and_data(workspace)
    fit = cabinetry.fit.fit(model, data, minos=["mu"])
    index = fit.labels.index("mu")
    mu = written["mu"]
    assert fit.bestfit[index] == pytest.approx(mu["bestfit"], abs=0.01 * mu["up"])
    down, up = fit.minos_uncertainty["mu"]
    assert up == pytest.approx(mu["up"], rel=0.01) and down == pytest.approx(mu["down"], rel=0.01)
    # the saturated-model goodness of fit, as cabinetry computes it for its own minimum
    gof = written["goodness_of_fit"]
    assert gof["p_value"] == pytest.approx(
        cabinetry.fit._goodness_of_fit(model, data, fit.best_twice_nll), abs=0.01
    )
    assert 0.01 < gof["p_value"] < 1 and gof["ndof"] == sum(model.config.channel_nbins.values()) - 1


def test_results_json_has_one_convention(default_fit):
    _, results = default_fit
    assert results["schema_version"] == 2 and results["status"] == "ok"
    mu = results["mu"]
    assert mu["up"] > 0 > mu["down"] and mu["stat_up"] > 0 > mu["stat_down"]
    z = results["significance"]
    assert z["observed_p0"] == pytest.approx(0.5 * math.erfc(z["observed"] / math.sqrt(2)))
    yields = results["postfit_yields"]["sr_4l_low"]
    samples = [k for k in yields if k != "total"]
    assert yields["total"]["yield"] == pytest.approx(sum(yields[s]["yield"] for s in samples))
    # one name per parameter in JSON, console and figures: a gamma by its bin's range
    gammas = [r for r in results["ranking"] if r["name"].startswith("staterror_")]
    assert gammas and all(r["label"].startswith("MC stat. ") for r in gammas)
    assert all(r["label"].endswith(" GeV") for r in gammas if "sr_4l" in r["name"])
    systematics = [r for r in results["ranking"] if not r["name"].startswith("staterror_")]
    assert all(r["label"] == r["name"] for r in systematics)
    provenance = results["provenance"]
    assert provenance["liberica_version"] == liberica.__version__
    assert len(provenance["definition_digest"]) == 64
    assert provenance["processing"]["fileset_digest"]


@pytest.mark.slow
def test_fit_out_keeps_the_main_fit(default_run, default_fit, tmp_path):
    main_results = default_run.output_dir / "fit" / "results.json"
    before = main_results.read_bytes()
    out = tmp_path / "single"
    done = CliRunner().invoke(
        main,
        [
            "fit",
            str(default_run.output_dir),
            "--regions",
            "sr_4l_low",
            "--no-ranking",
            "--no-figures",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    assert main_results.read_bytes() == before
    single = json.loads((out / "results.json").read_text())
    assert list(single["postfit_yields"]) == ["sr_4l_low"]
    # cabinetry's own commands run on what the fit wrote: its config and templates
    config = cabinetry.configuration.load(out / "cabinetry.yaml")
    rebuilt = cabinetry.workspace.build(config)
    assert [c["name"] for c in rebuilt["channels"]] == ["sr_4l_low"]
    assert (out / "workspace.json").exists()


def test_metrics_name_their_times(default_run):
    metrics = default_run.metrics
    assert metrics["schema_version"] == 2
    assert metrics["total_time_s"] >= metrics["processing_wall_s"] > 0
    assert {"coffea_process_time_s", "chunk_time_sum_s"} <= set(metrics)
    assert "wall_time_s" not in metrics


def test_load_run_reads_back_the_written_run(default_run):
    loaded = liberica.load_run(default_run.output_dir)
    assert loaded.metrics["events_processed"] == default_run.metrics["events_processed"]
    np.testing.assert_array_equal(
        loaded.histograms["sr_4l"].values(), default_run.histograms["sr_4l"].values()
    )
    with pytest.raises(FileNotFoundError, match="no histograms.pkl"):
        liberica.load_run(default_run.output_dir / "fit")
