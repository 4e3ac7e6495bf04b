"""The DAML tables (format ``daml_csv``) and hllj on them (``hllj_table``): the same
histograms as the same events in ROOT, one-line errors, units, folds and the cache."""

from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from conftest import assert_same_histograms, constant_model

from liberica.analysis.hllj import FEATURE_SET, TABLE_VARIABLES
from liberica.cli import main
from liberica.core.definition import AnalysisDefinitionError, load
from liberica.orchestration.fileset import FilesetError
from liberica.orchestration.pipeline import run_processor
from liberica.processors.formats import FormatFileError
from liberica.processors.formats.daml_csv import COLUMNS, convert

TABLE_PROCESSES = ("X1000", "Zjets", "ttbar", "diboson", "data")


def _root_fileset(daml_tables: pathlib.Path) -> pathlib.Path:
    return daml_tables.parent / "root" / "fileset.json"


def _table(daml_tables: pathlib.Path, sample: str) -> pathlib.Path:
    return pathlib.Path(json.loads(daml_tables.read_text())[sample]["files"][0])


@pytest.fixture(scope="module")
def table_run(daml_tables):
    return run_processor(
        "hllj_table", daml_tables, executor="iterative", chunksize=3_000, status=False
    )


@pytest.fixture(scope="module")
def root_run(daml_tables):
    return run_processor(
        "hllj", _root_fileset(daml_tables), executor="iterative", systematics=False, status=False
    )


def test_the_tables_have_the_daml_columns_and_the_seed_proportions(daml_tables):
    fileset = json.loads(daml_tables.read_text())
    assert list(fileset) == ["X1000", "Zjets", "ttbar", "diboson", "pseudo_data"]
    assert fileset["pseudo_data"]["metadata"]["pseudo_data"] is True
    for sample in fileset:
        header = _table(daml_tables, sample).read_text().split("\n", 1)[0]
        assert header == ",".join((*COLUMNS, "eventNumber"))  # eventNumber: asked for here
    rows = json.loads((daml_tables.parent / "generation.json").read_text())["samples"]
    mc = sum(rows[p] for p in ("X1000", "Zjets", "ttbar", "diboson"))
    assert abs(mc - 20_000) < 0.05 * 20_000
    assert 0.4 < rows["X1000"] / mc / (50_000 / 6_850_000) < 1.6


def test_a_table_gives_the_histograms_of_the_same_events_in_root(table_run, root_run):
    """Every nominal histogram of every region: raw counts identical, sums and sum w^2 to 1e-12."""
    assert set(table_run.histograms) == set(load("hllj_table").regions)
    scored = 0
    for region, h in table_run.histograms.items():
        for process in TABLE_PROCESSES:
            ours = h[:, process, "nominal"]
            theirs = root_run.histograms[region][:, process, "nominal"]
            np.testing.assert_array_equal(
                table_run.counts[region][:, process, "nominal"].values(flow=True),
                root_run.counts[region][:, process, "nominal"].values(flow=True),
            )
            for field in ("value", "variance"):
                np.testing.assert_allclose(
                    ours.view(flow=True)[field], theirs.view(flow=True)[field], rtol=1e-12, atol=0
                )
            if region == "sr_classifier":
                scored += int(table_run.counts[region][:, process, "nominal"].sum(flow=True))
    assert scored > 100  # the classifier region is not empty
    # every table row is an event the ROOT run preselected
    for sample in ("X1000", "Zjets", "diboson"):
        table_rows = table_run.cutflow[sample]["presel_mass"]
        root_rows = root_run.cutflow[sample]["presel_mass"]
        assert table_rows["large_r_jet"]["raw"] == root_rows["large_r_jet"]["raw"]
        assert table_rows["all_events"]["raw"] == root_rows["large_r_jet"]["raw"]


def test_the_futures_executor_and_other_chunks_give_identical_histograms(daml_tables, table_run):
    run = run_processor(
        "hllj_table", daml_tables, executor="futures", workers=2, chunksize=1_100, status=False
    )
    assert run.metrics["chunks"] != table_run.metrics["chunks"]
    assert_same_histograms(run, table_run)


def test_only_normalization_systematics_apply_and_the_outputs_say_so(table_run):
    assert table_run.metrics["systematics_applied"] == {
        "weight": [],
        "object": [],
        "sample": [],
        "normalization": ["luminosity", "xsec_Zjets", "xsec_ttbar", "xsec_diboson"],
    }
    assert all(list(h.axes["variation"]) == ["nominal"] for h in table_run.histograms.values())


def test_an_object_systematic_on_a_table_is_refused_naming_the_key(daml_tables, tmp_path):
    definition = tmp_path / "with_jes.yaml"
    definition.write_text(
        yaml.safe_dump(
            {
                "extends": "hllj_table",
                "systematics": {
                    "jes": {"kind": "large_r_jet_energy_scale", "relative_shift": 0.02}
                },
            }
        )
    )
    with pytest.raises(AnalysisDefinitionError, match=r"systematics\.jes\.kind.*a table"):
        run_processor(definition, daml_tables, executor="iterative", status=False)


def test_mev_become_gev_at_the_format(daml_tables):
    """The Z -> l l mass of Z+jets peaks at 91 GeV (91,000 MeV in the table)."""
    table = _table(daml_tables, "Zjets")
    mev = np.genfromtxt(table, delimiter=",", names=True, max_rows=2_000)["Zll_mass"]
    converted = pq.read_table(convert(table).path).column("Zll_mass").to_numpy()
    counts, edges = np.histogram(converted, np.arange(80.0, 100.5, 1.0))
    assert 89.0 < edges[np.argmax(counts)] < 93.0
    assert 89_000 < np.median(mev) < 93_000
    signal = pq.read_table(convert(_table(daml_tables, "X1000")).path)
    assert 900.0 < np.median(signal.column("reco_zv_mass").to_numpy()) < 1100.0
    # unitless columns are left as they are
    d2 = pq.read_table(convert(table).path).column("fatjet_D2").to_numpy()[:5]
    np.testing.assert_array_equal(
        d2, np.genfromtxt(table, delimiter=",", names=True, max_rows=5)["fatjet_D2"]
    )


def _fileset_with(daml_tables, tmp_path, sample: str, table: pathlib.Path) -> pathlib.Path:
    fileset = json.loads(daml_tables.read_text())
    fileset[sample]["files"] = [str(table)]
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    return path


def _edited(daml_tables, tmp_path, edit) -> pathlib.Path:
    lines = _table(daml_tables, "diboson").read_text().split("\n")
    path = tmp_path / "diboson.csv"
    path.write_text("\n".join(edit(lines)))
    return path


def _without_column(lines: list[str], column: str) -> list[str]:
    index = lines[0].split(",").index(column)
    return [",".join(v for k, v in enumerate(line.split(",")) if k != index) for line in lines]


def _set_value(lines: list[str], line: int, column: str, value: str) -> list[str]:
    index = lines[0].split(",").index(column)
    values = lines[line - 1].split(",")
    values[index] = value
    return [*lines[: line - 1], ",".join(values), *lines[line:]]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: _without_column(lines, "fatjet_D2"), r"diboson\.csv: no column 'fatjet_D2'"),
        (
            lambda lines: _set_value(lines, 7, "MET", "abc"),
            r"diboson\.csv: column 'MET' holds a value that is not a number at line 7 \('abc'\)",
        ),
        (
            lambda lines: _set_value(lines, 5, "Zll_pt", ""),
            r"diboson\.csv: column 'Zll_pt' has an empty value at line 5",
        ),
        (lambda lines: ["\n".join(lines).rstrip("\n")], r"the last line has no newline"),
    ],
    ids=["missing column", "not a number", "empty value", "cut short"],
)
def test_a_bad_table_is_refused_in_one_line_naming_file_and_column(
    daml_tables, tmp_path, edit, message
):
    path = _fileset_with(daml_tables, tmp_path, "diboson", _edited(daml_tables, tmp_path, edit))
    with pytest.raises(FilesetError, match=message) as refused:
        run_processor("hllj_table", path, executor="iterative", status=False)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("sample 'diboson': ")


def test_a_changed_table_is_converted_again_and_a_copy_is_the_same_file(daml_tables, tmp_path):
    copy = tmp_path / "diboson.csv"
    shutil.copyfile(_table(daml_tables, "diboson"), copy)
    first = convert(copy)
    assert convert(copy) == first  # cached
    assert first.uuid == convert(_table(daml_tables, "diboson")).uuid
    lines = copy.read_text().split("\n")
    copy.write_text("\n".join(_set_value(lines, 2, "MET", "1000.0")))
    second = convert(copy)
    assert second.path != first.path and second.uuid != first.uuid
    assert pq.read_table(second.path).column("MET").to_numpy()[0] == 1.0  # GeV
    unchanged = tmp_path / "diboson_copy.csv"
    shutil.copyfile(_table(daml_tables, "diboson"), unchanged)
    fileset = json.loads(daml_tables.read_text())
    fileset["Zjets"]["files"].append(str(unchanged))
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(fileset))
    with pytest.raises(FilesetError, match=r"are the same file \(content digest"):
        run_processor("hllj_table", path, executor="iterative", status=False)


def test_normalization_keys_are_refused_for_tables(daml_tables, tmp_path):
    fileset = json.loads(daml_tables.read_text())
    fileset["Zjets"]["metadata"]["xsec"] = 1.2
    path = tmp_path / "xsec.json"
    path.write_text(json.dumps(fileset))
    with pytest.raises(FilesetError, match="metadata.xsec is given, but daml_csv MC does not"):
        run_processor("hllj_table", path, executor="iterative", status=False)


def test_without_an_event_number_the_folds_take_the_row_index(daml_tables, tmp_path):
    """Constant fold models: fold 0 scores odd rows (0.25), fold 1 even rows (0.75)."""
    table = _edited(daml_tables, tmp_path, lambda lines: _without_column(lines, "eventNumber"))
    fileset = json.loads(daml_tables.read_text())
    fileset = {"diboson": {**fileset["diboson"], "files": [str(table)]}}
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    models = []
    for parity, score in ((0, 0.25), (1, 0.75)):
        model = tmp_path / f"fold{parity}.onnx"
        model.write_bytes(constant_model(score, parity, TABLE_VARIABLES, feature_set=FEATURE_SET))
        models.append(str(model))
    run = run_processor(
        "hllj_table", path, executor="iterative", status=False, models=models, chunksize=500
    )
    rows = len(table.read_text().strip().split("\n")) - 1
    passed = pq.read_table(convert(table).path)
    assert passed.column("eventNumber").to_numpy().tolist() == list(range(rows))
    h = run.counts["sr_score"][:, "diboson", "nominal"]
    preselected = run.cutflow["diboson"]["sr_score"]["large_r_jet"]["raw"]
    assert preselected == rows  # every row of a generated table passes again
    low, high = h[0.25j], h[0.75j]
    assert (low, high) == (rows // 2, rows - rows // 2)


def test_generate_hllj_format_daml_csv_writes_the_tables(tmp_path):
    out = tmp_path / "tables"
    done = CliRunner().invoke(
        main,
        ["generate", "hllj", "--format", "daml-csv", "--out", str(out), "--events", "2000"],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    for name in ("X1000", "Zjets", "ttbar", "diboson", "pseudo_data"):
        assert (out / f"{name}.csv").read_text().split("\n", 1)[0] == ",".join(COLUMNS)
    fileset = json.loads((out / "fileset.json").read_text())
    assert fileset["pseudo_data"]["metadata"]["is_data"] is True
    refused = CliRunner().invoke(
        main, ["generate", "hzz4l", "--format", "daml-csv", "--out", str(out)]
    )
    assert refused.exit_code == 2 and "generates no daml_csv sample" in refused.output


def test_a_format_error_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(FormatFileError, match="empty.csv: empty file"):
        convert(path)
