import json

import pytest
import yaml
from click.testing import CliRunner

from liberica.cli import main


def test_process_writes_outputs_and_summary(small_sample, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            "process",
            "hzz4l",
            "--fileset",
            str(small_sample),
            "--out",
            str(out),
            "--executor",
            "iterative",
            "--no-systematics",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Nominal yields" in result.output and "events/s" in result.output
    for name in ("histograms.root", "histograms.pkl", "cutflow.json", "metrics.json"):
        assert (out / name).exists()
    assert json.loads((out / "metrics.json").read_text())["executor"] == "iterative"


def test_bad_definition_exits_with_the_key(small_sample, tmp_path):
    from importlib import resources

    config = yaml.safe_load(
        resources.files("liberica.analysis.hzz4l").joinpath("definition.yaml").read_text()
    )
    config["regions"]["sr_4l"]["observable"] = "mjj"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(
        main, ["process", str(path), "--fileset", str(small_sample), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert "regions.sr_4l.observable" in result.output


def test_missing_file_exits_naming_it(tmp_path):
    fileset = tmp_path / "fileset.json"
    fileset.write_text(
        json.dumps({"data": {"files": {"gone.root": "mini"}, "metadata": {"is_data": True}}})
    )
    result = CliRunner().invoke(
        main, ["process", "hzz4l", "--fileset", str(fileset), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2
    assert "gone.root does not exist" in result.output


def _run(*arguments: str):
    return CliRunner().invoke(main, ["run", *arguments], catch_exceptions=False)


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_run_at_another_luminosity_fits_the_injected_mu(tmp_path):
    """MC normalized to --lumi and the pseudo-data made at it: mu comes out as injected."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    result = _run(
        "--lumi", "10", "--events", "200000", "--no-systematics", "--executor", "iterative",
        "--out", str(out), "--cache", str(cache),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sample = json.loads((cache / "hzz4l-200000-seed42-lumi10" / "fileset.json").read_text())
    assert sample["data"]["metadata"]["lumi_fb"] == 10.0
    assert json.loads((out / "metrics.json").read_text())["lumi_fb"] == 10.0
    results = json.loads((out / "fit" / "results.json").read_text())
    mu, injected = results["mu"], results["injected_mu"]
    error = mu["up"] if mu["bestfit"] < injected else -mu["down"]
    assert abs(mu["bestfit"] - injected) < 3 * error, mu


@pytest.mark.slow
def test_run_keeps_one_cached_sample_per_luminosity(tmp_path):
    """The default luminosity runs from the cache made at it (nothing regenerated), and
    another luminosity gets its own sample, whose data MC matches."""
    cache = tmp_path / "cache"
    common = ("--events", "20000", "--no-fit", "--no-systematics", "--executor", "iterative")
    common += ("--cache", str(cache))
    assert _run(*common, "--out", str(tmp_path / "first")).exit_code == 0
    default = cache / "hzz4l-20000-seed42"
    made = _mtimes(default)
    assert default / "fileset.json" in made
    again = _run(*common, "--lumi", "140", "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    assert _mtimes(default) == made
    other = _run(*common, "--lumi", "10", "--out", str(tmp_path / "lumi10"))
    assert other.exit_code == 0, other.output
    assert _mtimes(default) == made
    metrics = json.loads((tmp_path / "lumi10" / "metrics.json").read_text())
    assert metrics["lumi_fb"] == 10.0
    fileset = json.loads((cache / "hzz4l-20000-seed42-lumi10" / "fileset.json").read_text())
    assert fileset["data"]["metadata"]["lumi_fb"] == 10.0
    # MC and data at the same luminosity: comparable yields (at 140 against 10: 14 times)
    import pickle

    counts = pickle.loads((tmp_path / "lumi10" / "histograms.pkl").read_bytes())["histograms"]
    sr = counts["sr_4l"][:, :, "nominal"]
    data = sr[:, "data"].sum(flow=True).value
    mc = sum(sr[:, p].sum(flow=True).value for p in sr.axes["process"] if p != "data")
    assert 0.8 < data / mc < 1.25, (data, mc)
