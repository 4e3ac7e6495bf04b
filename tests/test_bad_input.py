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
import yaml

from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES
from liberica.orchestration.pipeline import run_processor

NORMALIZATION_BRANCHES = ("XSection", "SumWeights")


def read_branches(path: str, branches=None) -> dict:
    """Every branch of a ``mini`` tree (or ``branches``), without the counters of jagged ones."""
    with uproot.open(path) as f:
        tree = f["mini"]
        if branches is None:
            counters = {
                tree[b].count_branch.name for b in tree.keys() if tree[b].count_branch is not None
            }
            branches = [b for b in tree.keys() if b not in counters]
        return dict(zip(branches, ak.unzip(tree.arrays(list(branches))), strict=True))


def write_branches(path: pathlib.Path, arrays: dict) -> pathlib.Path:
    """Write branches as a `mini` tree, each jagged one counted on its own (`nlep_pt`, ...)."""
    arrays = {k: ak.to_packed(ak.drop_none(v)) for k, v in arrays.items()}
    with uproot.recreate(path) as f:
        tree = f.mktree("mini", {k: v.type.content for k, v in arrays.items()})
        tree.extend(arrays)
    return path


class Setup(NamedTuple):
    """One registered analysis, ready for the table: a valid fileset and its samples' roles.

    Attributes:
        analysis: the name commands take
        fileset: a valid fileset (made from the small sample's files)
        sig, other, bkg, data: a signal sample, another MC sample, a background
            sample with one file (of ``bkg_entries`` events, fewer than a chunk), the
            data sample
        sig_process: the signal sample's process
        definition: the analysis's definition YAML
        alternative: a sample systematic and its process, or None
        env: the environment of the command (where the analysis is installed)
        overrides: per case name, where the analysis's input differs: another
            ``(exit code, fragment)``, or the reason the case does not apply
    """

    analysis: str
    fileset: dict
    sig: str
    other: str
    bkg: str
    bkg_entries: int
    data: str
    sig_process: str
    definition: pathlib.Path
    alternative: tuple[str, str] | None
    env: dict[str, str]
    overrides: dict[str, tuple[int, str] | str] = {}


class Case(NamedTuple):
    """One bad input: ``make(fileset, folder, setup)`` edits the fileset (a dict) in place, and
    may return other command arguments: ``{"analysis": ..., "out": ...}``. The fragment is a
    format string of the setup's fields."""

    name: str
    make: Callable[[dict, pathlib.Path, Setup], dict[str, str] | None]
    exit_code: int
    fragment: str
    options: tuple[str, ...] = ()
    needs_alternative: bool = False
    generic: bool = False


def _first_file(fileset: dict, sample: str) -> str:
    return next(iter(fileset[sample]["files"]))


def _metadata(role: str, **values):
    def make(fileset, folder, setup):
        fileset[getattr(setup, role)]["metadata"].update(values)

    return make


def _add_file(role: str, file_of: Callable[[dict, pathlib.Path, Setup], str]):
    def make(fileset, folder, setup):
        fileset[getattr(setup, role)]["files"][file_of(fileset, folder, setup)] = "mini"

    return make


def _replace_bkg(file_of: Callable[[dict, pathlib.Path, Setup], str]):
    """The background sample's only file replaced by a broken version of it."""

    def make(fileset, folder, setup):
        fileset[setup.bkg]["files"] = {file_of(fileset, folder, setup): "mini"}

    return make


def _truncated(size: Callable[[int], int]):
    def file_of(fileset, folder, setup):
        good = pathlib.Path(_first_file(fileset, setup.bkg))
        content = good.read_bytes()
        path = folder / f"bkg_truncated_{size(len(content))}.root"
        path.write_bytes(content[: size(len(content))])
        return str(path)

    return file_of


def _inconsistent_lengths(fileset, folder, setup):
    """lep_eta one entry short in every fifth event with leptons."""
    arrays = read_branches(_first_file(fileset, setup.bkg))
    eta = arrays["lep_eta"]
    short = (np.arange(len(eta)) % 5 == 0) & (ak.num(eta) > 0)
    arrays["lep_eta"] = ak.where(short, eta[:, :-1], eta)
    return str(write_branches(folder / "bkg_short_eta.root", arrays))


def _signal_file(fileset, folder, setup):
    return _first_file(fileset, setup.sig)


def _symlink(fileset, folder, setup):
    link = folder / "signal_link.root"
    if not link.exists():
        link.symlink_to(_first_file(fileset, setup.sig))
    return str(link)


def _copy(fileset, folder, setup):
    copy = folder / "signal_copy.root"
    shutil.copyfile(_first_file(fileset, setup.sig), copy)
    return str(copy)


def _list_twice(fileset, folder, setup):
    first = _first_file(fileset, setup.sig)
    fileset[setup.sig]["files"] = [first, first]


def _two_spellings(fileset, folder, setup):
    first = pathlib.Path(_first_file(fileset, setup.sig))
    other = f"{first.parent}/./{first.name}"  # pathlib would normalize the "." away
    fileset[setup.sig]["files"][other] = "mini"


def _out_under_a_file(fileset, folder, setup):
    regular = folder / "a_regular_file"
    regular.write_text("not a folder")
    return {"out": str(regular / "run")}


def _negative_sumw_allowed(fileset, folder, setup):
    config = yaml.safe_load(setup.definition.read_text())
    config["processes"][setup.sig_process]["allow_negative_sumw"] = True
    definition = folder / "negative_sumw.yaml"
    definition.write_text(yaml.safe_dump(config))
    fileset[setup.sig]["metadata"]["sumw"] = -5884.75
    return {"analysis": str(definition)}


def _unknown_sample_key(fileset, folder, setup):
    fileset[setup.sig]["metdata"] = fileset[setup.sig].pop("metadata")


def _nan_xsec(fileset, folder, setup):
    fileset[setup.sig]["metadata"]["xsec"] = float("nan")


def _alternative_of_another_process(fileset, folder, setup):
    fileset[setup.sig]["metadata"]["variation"] = setup.alternative[0]


def _data_with_mc_process(fileset, folder, setup):
    fileset[setup.data]["metadata"]["process"] = setup.sig_process


def _unchanged(fileset, folder, setup):
    """The fileset as it is: the case is in the command's options."""


def _missing(fileset, folder, setup):
    fileset[setup.sig]["files"][str(folder / "nowhere.root")] = "mini"


CASES = [
    # silent wrong numbers before: now refused
    Case("is_data as a string", _metadata("sig", is_data="false"), 2,
         "invalid fileset at '{sig}.metadata.is_data': 'false' is not of type 'boolean'", generic=True),
    Case("a file listed twice in a sample", _list_twice, 2, "lists ", generic=True),
    Case("a file listed twice, spelled two ways", _two_spellings, 2, "is the same file as", generic=True),
    Case("a file under two samples", _add_file("other", _signal_file), 2,
         "of sample '{other}' is the same file as", generic=True),
    Case("a symlink to a file of another sample", _add_file("other", _symlink), 2,
         "is the same file as", generic=True),
    Case("a copy of a file of another sample", _add_file("other", _copy), 2,
         "are the same ROOT file (UUID "),
    Case("negative xsec", _metadata("sig", xsec=-0.006), 2,
         "sample '{sig}': metadata.xsec is -0.006; a cross-section must be > 0"),
    Case("NaN xsec", _nan_xsec, 2, "metadata.xsec is nan, not a finite number"),
    Case("negative sumw", _metadata("sig", sumw=-5884.75), 2,
         "metadata.sumw is -5884.75, negative: it flips the sign of every {sig_process} yield"),
    Case("zero sumw", _metadata("sig", sumw=0), 2, "metadata.sumw is zero"),
    Case("negative sumw where the definition allows it", _negative_sumw_allowed, 0,
         "metadata.sumw is negative"),
    # tracebacks before: now one line
    Case("xsec as a string", _metadata("sig", xsec="abc"), 2,
         "invalid fileset at '{sig}.metadata.xsec': 'abc' is not of type 'number'", generic=True),
    Case("a file cut to 2000 bytes", _replace_bkg(_truncated(lambda n: 2000)), 2,
         "sample '{bkg}': cannot read "),
    Case("a file cut to 2000 bytes, skipped", _replace_bkg(_truncated(lambda n: 2000)), 0,
         "skipped 1 file(s) and 0 chunk(s)", ("--on-bad-file", "skip")),
    Case("a file cut to 40%", _replace_bkg(_truncated(lambda n: int(0.4 * n))), 2,
         "error: cannot read "),
    Case("a file cut to 40%, skipped", _replace_bkg(_truncated(lambda n: int(0.4 * n))), 0,
         "skipped 0 file(s) and ", ("--on-bad-file", "skip")),
    Case("per-lepton vectors of different lengths", _replace_bkg(_inconsistent_lengths), 2,
         "entries 0-{bkg_entries}: InputFormatError: branch lep_eta has other per-event lengths than lep_pt"),
    Case("per-lepton vectors of different lengths, skipped", _replace_bkg(_inconsistent_lengths), 0,
         "skipped 0 file(s) and 1 chunk(s), {bkg_entries:,} events", ("--on-bad-file", "skip")),
    Case("--out under a regular file", _out_under_a_file, 2, "cannot write outputs to ", generic=True),
    Case("--lumi contradicting the data's lumi_fb", _unchanged, 2,
         "the luminosity asked for (--lumi 333) contradicts sample '{data}': its metadata.lumi_fb is ",
         ("--lumi", "333"), generic=True),
    Case("a NaN lumi_fb", _metadata("data", lumi_fb=float("nan")), 2,
         "sample '{data}': metadata.lumi_fb is nan, not a finite number > 0", generic=True),
    # refused before too: kept in the table
    Case("an unknown sample-level key", _unknown_sample_key, 2,
         "invalid fileset at '{sig}.metdata': unknown key", generic=True),
    Case("an unknown process", _metadata("sig", process="WZ"), 2,
         "metadata.process 'WZ' is not a process of analysis '{analysis}'", generic=True),
    Case("an alternative sample of another process", _alternative_of_another_process, 2,
         "is an alternative sample of process '{alternative[1]}', not of '{sig_process}'",
         needs_alternative=True),
    Case("data with an MC process", _data_with_mc_process, 2,
         "metadata.is_data is true but metadata.process is '{sig_process}'", generic=True),
    Case("a missing file", _missing, 2, "nowhere.root does not exist"),
]  # fmt: skip


def _roles_only(fileset_path, *samples: str) -> dict:
    """The fileset's samples of the table's roles, in file order: the others would add
    processing time only."""
    fileset = json.loads(pathlib.Path(fileset_path).read_text())
    return {name: entry for name, entry in fileset.items() if name in samples}


def _hzz4l_setup(small_sample) -> Setup:
    fileset = _roles_only(small_sample, "ggH125_ZZ4lep", "VBFH125_ZZ4lep", "ZZllll", "data")
    folder = pathlib.Path(__file__).parents[1] / "liberica" / "analysis" / "hzz4l"
    return Setup(
        "hzz4l", fileset, "ggH125_ZZ4lep", "VBFH125_ZZ4lep", "ZZllll", 18_000, "data", "ggH",
        folder / "definition.yaml", ("zz_generator", "ZZ"), {**os.environ, "COLUMNS": "400"},
    )  # fmt: skip


def _dimuon_setup(small_sample, outside_analysis) -> Setup:
    env, folder = outside_analysis
    source = json.loads(pathlib.Path(small_sample).read_text())

    def renamed(sample: str, process: str) -> dict:
        return {"files": source[sample]["files"], "metadata": {**source[sample]["metadata"], "process": process}}  # fmt: skip

    fileset = {
        "higgs": renamed("ggH125_ZZ4lep", "higgs"),
        "vbf_higgs": renamed("VBFH125_ZZ4lep", "higgs"),
        "diboson": renamed("ZZllll", "diboson"),
        "data": source["data"],
    }
    return Setup(
        "dimuon", fileset, "higgs", "vbf_higgs", "diboson", 18_000, "data", "higgs",
        folder / "definition.yaml", None, {**env, "COLUMNS": "400"},
    )  # fmt: skip


def _hllj_setup(hllj_sample) -> Setup:
    fileset = _roles_only(hllj_sample, "X1000", "X1500", "diboson", "data")
    folder = pathlib.Path(__file__).parents[1] / "liberica" / "analysis" / "hllj"
    return Setup(
        "hllj", fileset, "X1000", "X1500", "diboson", 4_200, "data", "X1000",
        folder / "definition.yaml", ("zjets_modelling", "Zjets"), {**os.environ, "COLUMNS": "400"},
    )  # fmt: skip


NO_NORMALIZATION = (2, "metadata.{key} is given, but daml_csv MC does not use it")
TABLE_OVERRIDES: dict[str, tuple[int, str] | str] = {
    "a copy of a file of another sample": (2, "are the same file (content digest "),
    "negative xsec": (2, NO_NORMALIZATION[1].format(key="xsec")),
    "NaN xsec": (2, NO_NORMALIZATION[1].format(key="xsec")),
    "negative sumw": (2, NO_NORMALIZATION[1].format(key="sumw")),
    "zero sumw": (2, NO_NORMALIZATION[1].format(key="sumw")),
    "negative sumw where the definition allows it": "a table's weights are normalized: "
    "no sumw is taken (the rows above refuse one)",
    "a file cut to 2000 bytes": (2, "the last line has no newline: the file may be cut short"),
    "a file cut to 40%": (2, "the last line has no newline: the file may be cut short"),
    "a file cut to 40%, skipped": (0, "skipped 1 file(s) and 0 chunk(s)"),
    "per-lepton vectors of different lengths": "a table has no per-object columns",
    "per-lepton vectors of different lengths, skipped": "a table has no per-object columns",
}
"""How the table format meets the cases: normalization keys are refused, and a table is
read whole before any chunk runs, so a cut file is refused (or skipped) as a file."""


def _table_setup(daml_tables) -> Setup:
    fileset = _roles_only(daml_tables, "X1000", "Zjets", "diboson", "pseudo_data")
    for entry in fileset.values():  # the cases add files by name
        entry["files"] = {name: None for name in entry["files"]}
    rows = json.loads((pathlib.Path(daml_tables).parent / "generation.json").read_text())
    folder = pathlib.Path(__file__).parents[1] / "liberica" / "analysis" / "hllj"
    return Setup(
        "hllj_table", fileset, "X1000", "Zjets", "diboson", rows["samples"]["diboson"],
        "pseudo_data", "X1000", folder / "table.yaml", None, {**os.environ, "COLUMNS": "400"},
        TABLE_OVERRIDES,
    )  # fmt: skip


ANALYSES = ("hzz4l", "hllj", "hllj_table", "dimuon")
"""Every registered analysis: liberica's own, and the pip-installed outside one."""

TABLE = [
    pytest.param(
        analysis,
        case,
        id=f"{analysis}-{case.name}",
        # the fileset checks no analysis or format changes run for hzz4l by default, and
        # for every analysis in the slow run
        marks=[pytest.mark.slow] if case.generic and analysis != ANALYSES[0] else [],
    )
    for analysis in ANALYSES
    for case in CASES
]


@pytest.fixture(scope="module")
def setup(request, small_sample) -> Setup:
    """The analysis's sample and roles (``request.param``: an analysis of ANALYSES)."""
    if request.param == "hzz4l":
        return _hzz4l_setup(small_sample)
    if request.param == "hllj":
        return _hllj_setup(request.getfixturevalue("hllj_sample"))
    if request.param == "hllj_table":
        return _table_setup(request.getfixturevalue("daml_tables"))
    return _dimuon_setup(small_sample, request.getfixturevalue("outside_analysis"))


@pytest.mark.parametrize("setup, case", TABLE, indirect=["setup"])
def test_bad_input_exit_code_and_message(setup, case, tmp_path):
    if case.needs_alternative and setup.alternative is None:
        pytest.skip(f"{setup.analysis} has no sample systematic")
    override = setup.overrides.get(case.name)
    if isinstance(override, str):
        pytest.skip(f"{setup.analysis}: {override}")
    if override is not None:
        case = case._replace(exit_code=override[0], fragment=override[1])
    fileset = json.loads(json.dumps(setup.fileset))
    arguments = {"analysis": setup.analysis, "out": str(tmp_path / "run")}
    arguments.update(case.make(fileset, tmp_path, setup) or {})
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
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=setup.env)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert case.fragment.format(**setup._asdict()) in output, output
    assert done.returncode == case.exit_code, output
    if case.exit_code == 2:
        assert not (pathlib.Path(out) / "histograms.root").exists()


class OptionCase(NamedTuple):
    """A bad value of a numeric option: the command, the option and its value, and a
    fragment of click's one line (which always names the option too)."""

    command: str
    option: str
    value: str
    fragment: str


OPTION_CASES = [
    OptionCase("generate", "--events", "999", "999 is not in the range x>=1000"),
    OptionCase("generate", "--lumi", "-5", "-5.0 is not in the range x>0"),
    OptionCase("generate", "--lumi", "0", "0.0 is not in the range x>0"),
    OptionCase("generate", "--lumi", "nan", "nan is not a finite number"),
    OptionCase("generate", "--lumi", "inf", "inf is not a finite number"),
    OptionCase("generate", "--mu-inject", "-1", "-1.0 is not in the range x>=0"),
    OptionCase("generate", "--mu-inject", "nan", "nan is not a finite number"),
    OptionCase("generate", "--mu-inject", "inf", "inf is not a finite number"),
    OptionCase("generate", "--seed", "-1", "-1 is not in the range 0<=x<=4294967295"),
    OptionCase("generate", "--events-per-file", "0", "0 is not in the range x>=1"),
    OptionCase("process", "--lumi", "-5", "-5.0 is not in the range x>0"),
    OptionCase("process", "--lumi", "nan", "nan is not a finite number"),
    OptionCase("process", "--lumi", "-inf", "-inf is not in the range x>0"),
    OptionCase("process", "--lumi", "inf", "inf is not a finite number"),
    OptionCase("process", "--workers", "0", "0 is not in the range x>=1"),
    OptionCase("process", "--chunksize", "0", "0 is not in the range x>=1"),
    OptionCase("process", "--chunksize", "1e5", "'1e5' is not a valid integer range"),
    OptionCase("run", "--events", "999", "999 is not in the range x>=1000"),
    OptionCase("run", "--seed", "-1", "-1 is not in the range 0<=x<=4294967295"),
    OptionCase("run", "--lumi", "nan", "nan is not a finite number"),
    OptionCase("run", "--lumi", "0", "0.0 is not in the range x>0"),
    OptionCase("run", "--workers", "0", "0 is not in the range x>=1"),
    OptionCase("run", "--chunksize", "-1", "-1 is not in the range x>=1"),
    OptionCase("fit", "--maxiter", "0", "0 is not in the range x>=1"),
    OptionCase("toys", "--maxiter", "0", "0 is not in the range x>=1"),
    OptionCase("toys", "--ntoys", "1", "1 is not in the range x>=2"),
    OptionCase("toys", "--mu", "0,nan", "nan is not a finite number"),
    OptionCase("toys", "--mu", "0,-1", "-1.0 is not in the range x>=0"),
    OptionCase("toys", "--mu", "0,inf", "inf is not a finite number"),
    OptionCase("toys", "--mu", "1,,2", "'1,,2' is not a comma-separated list of numbers"),
    OptionCase("toys", "--mu", "one", "'one' is not a valid float"),
    OptionCase("toys", "--seed", "-1", "-1 is not in the range 0<=x<=4294967295"),
    OptionCase("toys", "--workers", "0", "0 is not in the range x>=1"),
    OptionCase("train", "--seed", "-1", "-1 is not in the range 0<=x<=4294967295"),
    OptionCase("train", "--folds", "1", "1 is not in the range x>=2"),
]
"""Every numeric option of every command, with values click's own types let through
before (a negative --lumi wrote negative yields with exit code 0; NaN and inf passed
FloatRange): refused in parsing, before any work."""


def _command_line(case: OptionCase, folder: pathlib.Path) -> list[str]:
    """The command with its required arguments, then the bad option."""
    run_dir = folder / "run_dir"
    run_dir.mkdir(exist_ok=True)
    out = str(folder / "out")
    required = {
        "generate": ["hzz4l", "--out", out],
        "process": ["hzz4l", "--fileset", str(folder / "fileset.json"), "--out", out],
        "run": ["hzz4l", "--out", out, "--cache", str(folder / "cache")],
        "fit": [str(run_dir)],
        "toys": [str(run_dir)],
        "train": ["hzz4l", "--out", out, "--cache", str(folder / "cache")],
    }[case.command]
    return [case.command, *required, case.option, case.value]


@pytest.mark.parametrize(
    "case", OPTION_CASES, ids=[f"{c.command} {c.option} {c.value}" for c in OPTION_CASES]
)
def test_bad_option_values_are_refused_in_one_line_before_any_work(case, tmp_path):
    from click.testing import CliRunner

    from liberica.cli import main

    result = CliRunner().invoke(main, _command_line(case, tmp_path))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.output  # no other exception
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: Invalid value for '{case.option}': {case.fragment}."], result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert not (tmp_path / "run_dir" / "fit").exists()


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
        arrays = read_branches(source, REQUIRED_BRANCHES + NORMALIZATION_BRANCHES)
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
