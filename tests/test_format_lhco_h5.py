"""The LHCO features tables (format ``lhco_h5``): files written by pandas itself, read
through the parquet conversion and coffea's Runner; the row-index event numbers, the
one-line errors and the conversion cache."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import vector
from coffea import processor
from coffea.nanoevents import BaseSchema

from liberica.orchestration import fileset
from liberica.processors.formats import FormatFileError, conversion, get
from liberica.processors.formats.lhco_h5 import (
    COLUMNS,
    LHCO_H5,
    NO_LABEL,
    MissingExtraError,
    convert,
)

ROWS = 3_000


def _frame(seed: int = 11, labelled: bool = True) -> pd.DataFrame:
    """Dijet events in GeV, with a shuffled pandas index (the format must ignore it)."""
    rng = np.random.default_rng(seed)
    columns = {}
    phi = rng.uniform(-np.pi, np.pi, ROWS)
    for jet, turn in (("j1", 0.0), ("j2", np.pi)):
        pt = rng.uniform(1200.0, 2000.0, ROWS)
        eta = rng.normal(0.0, 1.0, ROWS)
        columns[f"px{jet}"] = pt * np.cos(phi + turn + rng.normal(0, 0.1, ROWS))
        columns[f"py{jet}"] = pt * np.sin(phi + turn + rng.normal(0, 0.1, ROWS))
        columns[f"pz{jet}"] = pt * np.sinh(eta)
        columns[f"m{jet}"] = rng.uniform(20.0, 600.0, ROWS)
        tau1 = rng.uniform(0.1, 0.9, ROWS)
        columns[f"tau1{jet}"] = tau1
        columns[f"tau2{jet}"] = tau1 * rng.uniform(0.1, 1.0, ROWS)
        columns[f"tau3{jet}"] = columns[f"tau2{jet}"] * rng.uniform(0.1, 1.0, ROWS)
    frame = pd.DataFrame({name: columns[name] for name in COLUMNS})
    if labelled:
        frame["label"] = (rng.uniform(size=ROWS) < 0.1).astype(np.float64)
    frame.index = rng.permutation(ROWS) + 1000
    return frame


def _mjj(frame: pd.DataFrame) -> np.ndarray:
    """The dijet mass from the DataFrame with numpy."""
    energy = sum(
        np.sqrt(
            frame[f"px{j}"] ** 2 + frame[f"py{j}"] ** 2 + frame[f"pz{j}"] ** 2 + frame[f"m{j}"] ** 2
        )
        for j in ("j1", "j2")
    )
    momentum2 = sum((frame[f"{c}j1"] + frame[f"{c}j2"]) ** 2 for c in ("px", "py", "pz"))
    return np.sqrt(energy**2 - momentum2).to_numpy()


@pytest.fixture(autouse=True)
def table_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(conversion.CACHE_ENV, str(cache))
    return cache


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[tuple[str, bool], tuple]:
    """``{(layout, labelled): (path, frame)}``, each file written by pandas."""
    folder = tmp_path_factory.mktemp("lhco")
    written = {}
    for layout in ("fixed", "table"):
        for labelled in (True, False):
            frame = _frame(labelled=labelled)
            path = folder / f"{layout}-{'labelled' if labelled else 'blackbox'}.features.h5"
            frame.to_hdf(path, key="df", format=layout)
            written[layout, labelled] = (path, frame)
    return written


class DijetMass(processor.ProcessorABC):
    """mjj of each event from the two jets' columns, with its event number and label."""

    def process(self, events):
        jets = [
            vector.zip(
                {
                    "px": events[f"px{j}"],
                    "py": events[f"py{j}"],
                    "pz": events[f"pz{j}"],
                    "mass": events[f"m{j}"],
                }
            )
            for j in ("j1", "j2")
        ]
        weight = LHCO_H5.nominal_weight(events, events.metadata, 1.0)
        return {
            "chunks": 1,
            "mjj": [np.asarray((jets[0] + jets[1]).mass)],
            "eventNumber": [np.asarray(events.eventNumber)],
            "label": [np.asarray(events.label)],
            "sum_weight": float(np.sum(weight)),
            "sum_generator_weight": float(np.sum(np.asarray(events[LHCO_H5.generator_weight]))),
        }

    def postprocess(self, accumulator):
        return accumulator


@pytest.mark.parametrize("layout", ["fixed", "table"])
@pytest.mark.parametrize("labelled", [True, False], ids=["label", "no label"])
def test_the_conversion_keeps_every_column_and_numbers_the_rows(tables, layout, labelled, caplog):
    path, frame = tables[layout, labelled]
    with caplog.at_level(logging.INFO, logger="liberica.processors.formats.lhco_h5"):
        info = convert(path, key="df")
    assert (
        "eventNumber is each row's index in the file: the classifier folds take it" in caplog.text
    )
    assert ("has no label column: every row is labelled -1" in caplog.text) is not labelled
    table = pq.read_table(info.path)
    assert info.entries == ROWS
    assert set(table.column_names) == {*COLUMNS, "label", "eventNumber", "weight"}
    assert info.columns == frozenset(table.column_names)  # no pandas index
    for name in COLUMNS:
        assert str(table.schema.field(name).type) == "double"
        np.testing.assert_array_equal(table.column(name).to_numpy(), frame[name].to_numpy())
    assert str(table.schema.field("label").type) == "int64"
    labels = table.column("label").to_numpy()
    expected = frame["label"].to_numpy().astype(np.int64) if labelled else np.full(ROWS, NO_LABEL)
    np.testing.assert_array_equal(labels, expected)
    assert 0 < labels.sum() < ROWS if labelled else set(labels) == {NO_LABEL}
    # the row's position in the file, not the (shuffled) pandas index
    assert table.column("eventNumber").to_numpy().tolist() == list(range(ROWS))
    assert str(table.schema.field("eventNumber").type) == "int64"
    assert set(table.column("weight").to_numpy()) == {1.0}


@pytest.mark.parametrize("layout", ["fixed", "table"])
@pytest.mark.parametrize("labelled", [True, False], ids=["label", "no label"])
def test_coffea_reads_the_conversion_in_chunks_and_gives_mjj(tables, layout, labelled):
    path, frame = tables[layout, labelled]
    info = get("lhco_h5").open_file(str(path), LHCO_H5.base_columns, "df")
    runner = processor.Runner(
        executor=processor.IterativeExecutor(),
        schema=BaseSchema,
        format="parquet",
        chunksize=1_000,
    )
    out = runner({"sample": {"files": {info.path: "df"}}}, DijetMass(), treename="df")
    assert out["chunks"] >= 2
    order = np.argsort(np.concatenate(out["eventNumber"]))
    mjj = np.concatenate(out["mjj"])[order]
    assert np.concatenate(out["eventNumber"])[order].tolist() == list(range(ROWS))
    np.testing.assert_allclose(mjj, _mjj(frame), rtol=1e-9)
    assert 2_000 < np.median(mjj) < 6_000  # GeV as given: back-to-back TeV jets
    labels = np.concatenate(out["label"])[order]
    if labelled:
        np.testing.assert_array_equal(labels, frame["label"].to_numpy())
    else:
        assert set(labels) == {NO_LABEL}
    assert out["sum_weight"] == out["sum_generator_weight"] == ROWS


def _without_mj2(frame):
    return frame.drop(columns="mj2")


def _nan_at_17(frame):
    frame.iloc[17, frame.columns.get_loc("mj1")] = np.nan
    return frame


def _label_two(frame):
    frame.iloc[5, frame.columns.get_loc("label")] = 2.0
    return frame


def _text_column(frame):
    frame["tau1j2"] = "x"
    return frame


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (_without_mj2, "df", r"bad.h5: key 'df' has no column 'mj2' \(an LHCO table has pxj1"),
        (None, "events", r"bad.h5: no key 'events' \(pandas keys in the file: df\)$"),
        (_nan_at_17, "df", r"bad.h5: column 'mj1' holds nan at row 17 \(0-based\)"),
        (_label_two, "df", r"bad.h5: column 'label' holds 2 at row 5 \(0-based\)"),
        (_text_column, "df", r"bad.h5: column 'tau1j2' is not numeric"),
        ("not hdf5", "df", r"bad.h5: not an HDF5 file"),
    ],
    ids=["missing column", "wrong key", "nan", "bad label", "text column", "not hdf5"],
)
def test_a_bad_file_is_refused_in_one_line(tmp_path, edit, key, message):
    path = tmp_path / "bad.h5"
    if edit == "not hdf5":
        path.write_text("pxj1,pyj1\n1,2\n")
    else:
        frame = _frame(labelled=True)
        (edit(frame) if edit else frame).to_hdf(path, key="df")
    with pytest.raises(FormatFileError, match=message) as refused:
        convert(path, key=key)
    assert "\n" not in str(refused.value)


def test_a_changed_file_is_converted_again_and_a_conversion_is_reused(
    tables, tmp_path, table_cache, monkeypatch
):
    source, frame = tables["fixed", True]
    path = tmp_path / "copy.h5"
    shutil.copyfile(source, path)
    first = convert(path)
    assert first.path.startswith(str(table_cache))
    assert first.uuid == convert(source).uuid  # a copy is the same file

    def no_read(*args):
        raise AssertionError("the HDF5 file was read again")

    with monkeypatch.context() as patched:
        patched.setattr("liberica.processors.formats.lhco_h5._read_frame", no_read)
        assert convert(path) == first  # the cached conversion, without reading the file
    changed = frame.copy()
    changed.iloc[0, changed.columns.get_loc("mj1")] = 123.0
    changed.to_hdf(path, key="df")
    second = convert(path)
    assert second.path != first.path and second.uuid != first.uuid
    assert pq.read_table(second.path).column("mj1").to_numpy()[0] == 123.0
    # another key of one file is another table
    frame.head(10).to_hdf(path, key="signal", format="table")
    assert convert(path, key="signal").entries == 10
    assert convert(path, key="/df") == convert(path, key="df")


def test_the_fileset_value_is_the_hdf5_key(tmp_path):
    frame = _frame(labelled=False)
    path = tmp_path / "box.features.h5"
    frame.to_hdf(path, key="df")
    frame.head(100).to_hdf(path, key="other")
    definition = types.SimpleNamespace(name="toy", tree="df", processes={})
    metadata = {"process": "data", "is_data": True}

    def prepared(files):
        raw = tmp_path / "fileset.json"
        raw.write_text(json.dumps({"data": {"files": files, "metadata": metadata}}))
        return fileset.prepare(fileset.read(raw), definition, LHCO_H5.base_columns, LHCO_H5)

    assert list(prepared({str(path): "other"})["data"]["num_entries"].values()) == [100]
    assert list(prepared([str(path)])["data"]["num_entries"].values()) == [ROWS]  # tree: df
    with pytest.raises(
        fileset.FilesetError, match=r"^sample 'data': .*box.features.h5: no key 'x'"
    ):
        prepared({str(path): "x"})


def test_without_pytables_the_error_names_the_extra(tables, tmp_path, monkeypatch):
    path, _ = tables["fixed", False]
    monkeypatch.setitem(sys.modules, "tables", None)  # import tables raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'liberica\[lhco\]'$") as missing:
        convert(path)
    assert "\n" not in str(missing.value)
    raw = tmp_path / "fileset.json"
    raw.write_text(
        json.dumps({"data": {"files": {str(path): "df"}, "metadata": {"is_data": True}}})
    )
    definition = types.SimpleNamespace(name="toy", tree="df", processes={})
    with pytest.raises(MissingExtraError):  # not a bad file to skip: every file would be
        fileset.prepare(fileset.read(raw), definition, (), LHCO_H5, on_bad_file="skip")


def test_the_run_path_does_not_import_pytables():
    code = "import sys, liberica.processors.formats; print('tables' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert (
        subprocess.check_output([sys.executable, "-c", code], text=True, env=env).strip() == "False"
    )
