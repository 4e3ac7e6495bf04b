"""Bad input never gives a wrong number: every case below is refused with one line, or
skipped and accounted for, and none prints a traceback.

``CASES`` is the exit-code table: a bad input, how to make it from the small sample, the
command's extra options, the exit code and a fragment of the output. The next bad input
found is one row more.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

import awkward as ak
import numpy as np
import pytest
import uproot

from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES
from liberica.analysis.pipeline import run_processor

NORMALIZATION_BRANCHES = ("XSection", "SumWeights")


def read_branches(path: str, branches=REQUIRED_BRANCHES + NORMALIZATION_BRANCHES) -> dict:
    with uproot.open(path) as f:
        return dict(zip(branches, ak.unzip(f["mini"].arrays(list(branches))), strict=True))


def write_branches(path: pathlib.Path, arrays: dict) -> pathlib.Path:
    """Write branches as a `mini` tree, each jagged one counted on its own (`nlep_pt`, ...)."""
    arrays = {k: ak.to_packed(ak.drop_none(v)) for k, v in arrays.items()}
    with uproot.recreate(path) as f:
        tree = f.mktree("mini", {k: v.type.content for k, v in arrays.items()})
        tree.extend(arrays)
    return path


class Case(NamedTuple):
    """One bad input: ``make(fileset, folder)`` edits the fileset (a dict) in place, and may
    return other command arguments: ``{"analysis": ..., "out": ...}``."""

    name: str
    make: Callable[[dict, pathlib.Path], dict[str, str] | None]
    exit_code: int
    fragment: str
    options: tuple[str, ...] = ()


def _first_file(fileset: dict, sample: str) -> str:
    return next(iter(fileset[sample]["files"]))


def _metadata(sample: str, **values):
    def make(fileset, folder):
        fileset[sample]["metadata"].update(values)

    return make


def _add_file(sample: str, file_of: Callable[[dict, pathlib.Path], str]):
    def make(fileset, folder):
        fileset[sample]["files"][file_of(fileset, folder)] = "mini"

    return make


def _replace_zz(file_of: Callable[[dict, pathlib.Path], str]):
    """The ZZ* sample's only file replaced by a broken version of it."""

    def make(fileset, folder):
        broken = file_of(fileset, folder)
        fileset["ZZllll"]["files"] = {broken: "mini"}

    return make


def _truncated(size: Callable[[int], int]):
    def file_of(fileset, folder):
        good = pathlib.Path(_first_file(fileset, "ZZllll"))
        content = good.read_bytes()
        path = folder / f"ZZ_truncated_{size(len(content))}.root"
        path.write_bytes(content[: size(len(content))])
        return str(path)

    return file_of


def _inconsistent_lengths(fileset, folder):
    """lep_eta one entry short in every fifth event with leptons."""
    arrays = read_branches(_first_file(fileset, "ZZllll"))
    eta = arrays["lep_eta"]
    short = (np.arange(len(eta)) % 5 == 0) & (ak.num(eta) > 0)
    arrays["lep_eta"] = ak.where(short, eta[:, :-1], eta)
    return str(write_branches(folder / "ZZ_short_eta.root", arrays))


def _symlink(fileset, folder):
    link = folder / "ggH_link.root"
    if not link.exists():
        link.symlink_to(_first_file(fileset, "ggH125_ZZ4lep"))
    return str(link)


def _copy(fileset, folder):
    copy = folder / "ggH_copy.root"
    shutil.copyfile(_first_file(fileset, "ggH125_ZZ4lep"), copy)
    return str(copy)


def _list_twice(fileset, folder):
    entry = fileset["ggH125_ZZ4lep"]
    first = _first_file(fileset, "ggH125_ZZ4lep")
    entry["files"] = [first, first]


def _two_spellings(fileset, folder):
    first = pathlib.Path(_first_file(fileset, "ggH125_ZZ4lep"))
    other = f"{first.parent}/./{first.name}"  # pathlib would normalize the "." away
    fileset["ggH125_ZZ4lep"]["files"][other] = "mini"


def _out_under_a_file(fileset, folder):
    regular = folder / "a_regular_file"
    regular.write_text("not a folder")
    return {"out": str(regular / "run")}


def _negative_sumw_allowed(fileset, folder):
    source = pathlib.Path(__file__).parents[1] / "liberica/analysis/hzz4l/definition.yaml"
    text = source.read_text().replace(
        'ggH:   {kind: signal,     label: "ggF H (125)",  color: "#00cdff"}',
        'ggH:   {kind: signal,     label: "ggF H (125)",  color: "#00cdff", '
        "allow_negative_sumw: true}",
    )
    assert "allow_negative_sumw" in text
    definition = folder / "hzz4l_negative_sumw.yaml"
    definition.write_text(text)
    fileset["ggH125_ZZ4lep"]["metadata"]["sumw"] *= -1
    return {"analysis": str(definition)}


def _unknown_sample_key(fileset, folder):
    fileset["ggH125_ZZ4lep"]["metdata"] = fileset["ggH125_ZZ4lep"].pop("metadata")


def _nan_xsec(fileset, folder):
    fileset["ggH125_ZZ4lep"]["metadata"]["xsec"] = float("nan")


CASES = [
    # silent wrong numbers before: now refused
    Case("is_data as a string", _metadata("ggH125_ZZ4lep", is_data="false"), 2,
         "invalid fileset at 'ggH125_ZZ4lep.metadata.is_data': 'false' is not of type 'boolean'"),
    Case("a file listed twice in a sample", _list_twice, 2, "lists "),
    Case("a file listed twice, spelled two ways", _two_spellings, 2, "is the same file as"),
    Case("a file under two samples", _add_file("VBFH125_ZZ4lep", lambda fs, d: _first_file(fs, "ggH125_ZZ4lep")), 2,
         "of sample 'VBFH125_ZZ4lep' is the same file as"),
    Case("a symlink to a file of another sample", _add_file("VBFH125_ZZ4lep", _symlink), 2,
         "is the same file as"),
    Case("a copy of a file of another sample", _add_file("VBFH125_ZZ4lep", _copy), 2,
         "are the same ROOT file (UUID "),
    Case("negative xsec", _metadata("ggH125_ZZ4lep", xsec=-0.006), 2,
         "sample 'ggH125_ZZ4lep': metadata.xsec is -0.006; a cross-section must be > 0"),
    Case("NaN xsec", _nan_xsec, 2, "metadata.xsec is nan, not a finite number"),
    Case("negative sumw", _metadata("ggH125_ZZ4lep", sumw=-5884.75), 2,
         "metadata.sumw is -5884.75, negative: it flips the sign of every ggH yield"),
    Case("zero sumw", _metadata("ggH125_ZZ4lep", sumw=0), 2, "metadata.sumw is zero"),
    Case("negative sumw where the definition allows it", _negative_sumw_allowed, 0,
         "metadata.sumw is negative"),
    # tracebacks before: now one line
    Case("xsec as a string", _metadata("ggH125_ZZ4lep", xsec="abc"), 2,
         "invalid fileset at 'ggH125_ZZ4lep.metadata.xsec': 'abc' is not of type 'number'"),
    Case("a file cut to 2000 bytes", _replace_zz(_truncated(lambda n: 2000)), 2,
         "sample 'ZZllll': cannot read "),
    Case("a file cut to 2000 bytes, skipped", _replace_zz(_truncated(lambda n: 2000)), 0,
         "skipped 1 file(s) and 0 chunk(s)", ("--on-bad-file", "skip")),
    Case("a file cut to 40%", _replace_zz(_truncated(lambda n: int(0.4 * n))), 2,
         "error: cannot read "),
    Case("a file cut to 40%, skipped", _replace_zz(_truncated(lambda n: int(0.4 * n))), 0,
         "skipped 0 file(s) and ", ("--on-bad-file", "skip")),
    Case("per-lepton vectors of different lengths", _replace_zz(_inconsistent_lengths), 2,
         "entries 0-18000: InputFormatError: branch lep_eta has other per-event lengths than lep_pt"),
    Case("per-lepton vectors of different lengths, skipped", _replace_zz(_inconsistent_lengths), 0,
         "skipped 0 file(s) and 1 chunk(s), 18,000 events", ("--on-bad-file", "skip")),
    Case("--out under a regular file", _out_under_a_file, 2, "cannot write outputs to "),
    # refused before too: kept in the table
    Case("an unknown sample-level key", _unknown_sample_key, 2,
         "invalid fileset at 'ggH125_ZZ4lep.metdata': unknown key"),
    Case("an unknown process", _metadata("ggH125_ZZ4lep", process="WZ"), 2,
         "metadata.process 'WZ' is not a process of analysis 'hzz4l'"),
    Case("an alternative sample of another process", _metadata("ggH125_ZZ4lep", variation="zz_generator"), 2,
         "metadata.variation 'zz_generator' is an alternative sample of process 'ZZ', not of 'ggH'"),
    Case("data with an MC process", _metadata("data", process="ggH"), 2,
         "metadata.is_data is true but metadata.process is 'ggH'"),
    Case("a missing file", _add_file("ggH125_ZZ4lep", lambda fs, d: str(d / "nowhere.root")), 2,
         "nowhere.root does not exist"),
]  # fmt: skip


@pytest.fixture(scope="module")
def small_fileset(small_sample) -> dict:
    return json.loads(pathlib.Path(small_sample).read_text())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exit_code_and_message(case, small_fileset, tmp_path):
    fileset = json.loads(json.dumps(small_fileset))
    arguments = {"analysis": "hzz4l", "out": str(tmp_path / "run")}
    arguments.update(case.make(fileset, tmp_path) or {})
    analysis, out = arguments["analysis"], arguments["out"]
    fileset_path = tmp_path / "fileset.json"
    fileset_path.write_text(json.dumps(fileset))
    command = [
        sys.executable,
        "-m",
        "liberica.cli",
        "process",
        analysis,
        "--fileset",
        str(fileset_path),
        "--out",
        out,
        "--executor",
        "iterative",
        "--no-systematics",
        "--chunksize",
        "20000",
        *case.options,
    ]
    env = {**os.environ, "COLUMNS": "400"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert case.fragment in output, output
    assert done.returncode == case.exit_code, output
    if case.exit_code == 2:
        assert not (pathlib.Path(out) / "histograms.root").exists()


def test_skip_lists_every_file_and_chunk_and_the_accounting_closes(small_sample, tmp_path):
    """A truncated ZZ* file replaces the good one, beside a file without the tree."""
    fileset = json.loads(pathlib.Path(small_sample).read_text())
    good = _first_file(fileset, "ZZllll")
    content = pathlib.Path(good).read_bytes()
    truncated = tmp_path / "ZZllll_truncated.root"
    truncated.write_bytes(content[: int(0.4 * len(content))])
    no_tree = tmp_path / "no_tree.root"
    with uproot.recreate(no_tree) as f:
        f.mktree("other", {"x": np.float64}).extend({"x": np.arange(5.0)})
    with uproot.open(good) as f:
        entries = f["mini"].num_entries
    fileset["ZZllll"]["files"] = {str(truncated): "mini", str(no_tree): "mini"}
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))

    clean = run_processor(
        "hzz4l", small_sample, executor="iterative", status=False, systematics=False
    )
    run = run_processor(
        "hzz4l",
        path,
        executor="futures",
        status=False,
        chunksize=10_000,
        systematics=False,
        on_bad_file="skip",
    )
    bad = run.metrics["bad_input"]
    assert bad["policy"] == "skip"
    assert bad["skipped_files"] == [
        {
            "sample": "ZZllll",
            "file": str(no_tree),
            "events": 0,
            "reason": f"{no_tree} has no tree 'mini' (keys: other)",
        }
    ]
    assert bad["skipped_chunks"] and {c["file"] for c in bad["skipped_chunks"]} == {str(truncated)}
    assert all(c["reason"].startswith("OSError") for c in bad["skipped_chunks"])
    # every event is processed or skipped: the truncated file's chunks are one or the other
    assert bad["accounting_closes"]
    assert bad["events_in_fileset"] == clean.metrics["events_processed"]
    assert bad["events_processed"] + bad["events_skipped"] == bad["events_in_fileset"]
    processed_from_truncated = run.metrics["events_per_sample"].get("ZZllll", 0)
    assert processed_from_truncated + bad["events_skipped"] == entries
    # other samples are untouched
    np.testing.assert_array_equal(
        run.counts["sr_4l"][:, "data", "nominal"].values(flow=True),
        clean.counts["sr_4l"][:, "data", "nominal"].values(flow=True),
    )


def test_unphysical_objects_are_dropped_as_if_never_written_and_counted(small_sample, tmp_path):
    """NaN, inf and negative kinematics on ~3% of the leptons of a ggH and a ZZ* file."""
    fileset = json.loads(pathlib.Path(small_sample).read_text())
    rng = np.random.default_rng(11)
    expected: dict[str, dict[str, int]] = {}
    dirty, clean = json.loads(json.dumps(fileset)), json.loads(json.dumps(fileset))
    for sample in ("ggH125_ZZ4lep", "ZZllll"):
        source = _first_file(fileset, sample)
        arrays = read_branches(source)
        counts = ak.num(arrays["lep_pt"])
        n = int(ak.sum(counts))
        bad_values = {
            "lep_pt": [np.nan, np.inf, -20e3, -np.inf],
            "lep_E": [np.nan, np.inf, -5e3],
            "lep_eta": [np.nan, np.inf, -np.inf],
            "lep_phi": [np.nan, np.inf],
        }
        dropped = np.zeros(n, dtype=bool)
        counted = {"objects": 0}
        for branch, values in bad_values.items():
            where = rng.random(n) < 0.008
            flat = np.asarray(ak.flatten(arrays[branch]), dtype=np.float32).copy()
            flat[where] = rng.choice(values, int(where.sum()))
            arrays[branch] = ak.unflatten(flat, counts)
            counted[branch] = int(where.sum())
            dropped |= where
        counted["objects"] = int(dropped.sum())
        expected[sample] = counted
        dirty_file = write_branches(tmp_path / f"{sample}_dirty.root", arrays)
        keep = ak.unflatten(~dropped, counts)
        removed = {
            k: (v[keep] if k.startswith("lep_") else v) for k, v in arrays.items()
        }  # the same file, with the bad leptons never written
        clean_file = write_branches(tmp_path / f"{sample}_clean.root", removed)
        dirty[sample]["files"] = {str(dirty_file): "mini"}
        clean[sample]["files"] = {str(clean_file): "mini"}
    runs = []
    for name, content in (("dirty", dirty), ("clean", clean)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        runs.append(
            run_processor("hzz4l", path, executor="iterative", status=False, chunksize=50_000)
        )
    dirty_run, clean_run = runs
    assert dirty_run.metrics["unphysical_objects"] == expected
    assert clean_run.metrics["unphysical_objects"] == {}
    for region, h in clean_run.histograms.items():
        np.testing.assert_array_equal(
            dirty_run.counts[region].values(flow=True), clean_run.counts[region].values(flow=True)
        )
        for field in ("value", "variance"):
            np.testing.assert_array_equal(
                dirty_run.histograms[region].view(flow=True)[field], h.view(flow=True)[field]
            )
    assert dirty_run.cutflow == clean_run.cutflow


def test_a_nominal_only_run_writes_no_variation_templates(small_sample, tmp_path):
    run = run_processor(
        "hzz4l",
        small_sample,
        executor="iterative",
        status=False,
        systematics=False,
        output_dir=tmp_path / "run",
    )
    assert run.metrics["systematics"] is False
    with uproot.open(tmp_path / "run" / "histograms.root") as f:
        names = f.keys(cycle=False)
    assert names and all(name.endswith("_nominal") for name in names)
    n_processes = len(run.histograms["sr_4l"].axes["process"])
    assert len(names) == len(run.histograms) * n_processes
    assert all(list(h.axes["variation"]) == ["nominal"] for h in run.histograms.values())
