import json

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
