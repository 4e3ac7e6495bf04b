"""Unreadable input under both policies: fail names the file, skip lists it and the books close."""

import json
import pathlib

import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from liberica.analysis.fileset import FilesetError
from liberica.analysis.pipeline import run_processor
from liberica.cli import main
from liberica.processors.hzz4l import ChunkReadError


@pytest.fixture(scope="module")
def bad_filesets(small_sample, tmp_path_factory):
    """The small sample plus a truncated copy of a ZZ* file, and a file without the tree."""
    folder = tmp_path_factory.mktemp("bad_input")
    fileset = json.loads(pathlib.Path(small_sample).read_text())
    good = next(iter(fileset["ZZllll"]["files"]))
    content = pathlib.Path(good).read_bytes()
    truncated = folder / "ZZllll_truncated.root"
    truncated.write_bytes(content[: int(0.4 * len(content))])
    no_tree = folder / "no_tree.root"
    with uproot.recreate(no_tree) as f:
        f.mktree("other", {"x": np.float64}).extend({"x": np.arange(5.0)})
    with uproot.open(good) as f:
        entries = f["mini"].num_entries
    both = json.loads(json.dumps(fileset))
    both["ZZllll"]["files"].update({str(truncated): "mini", str(no_tree): "mini"})
    only_truncated = json.loads(json.dumps(fileset))
    only_truncated["ZZllll"]["files"][str(truncated)] = "mini"
    paths = {}
    for name, content in (("both", both), ("truncated", only_truncated)):
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(content))
    return paths, str(truncated), str(no_tree), entries


def test_fail_names_the_file_without_the_tree(bad_filesets):
    paths, _, no_tree, _ = bad_filesets
    with pytest.raises(FilesetError, match=f"{no_tree} has no tree 'mini' \\(keys: other\\)"):
        run_processor("hzz4l", paths["both"], executor="iterative", status=False)


def test_fail_names_the_truncated_file_and_its_entries(bad_filesets, tmp_path):
    paths, truncated, _, _ = bad_filesets
    with pytest.raises(ChunkReadError, match=f"cannot read {truncated} entries \\d+-\\d+: "):
        run_processor(
            "hzz4l",
            paths["truncated"],
            executor="futures",
            status=False,
            chunksize=10_000,
            systematics=False,
        )
    result = CliRunner().invoke(
        main,
        [
            "process",
            "hzz4l",
            "--fileset",
            str(paths["truncated"]),
            "--out",
            str(tmp_path / "run"),
            "--no-systematics",
        ],
    )
    assert result.exit_code == 2
    assert f"error: cannot read {truncated} entries" in result.output
    assert not (tmp_path / "run" / "histograms.root").exists()


def test_skip_lists_every_file_and_chunk_and_the_accounting_closes(bad_filesets, small_sample):
    paths, truncated, no_tree, entries = bad_filesets
    clean = run_processor(
        "hzz4l", small_sample, executor="iterative", status=False, systematics=False
    )
    run = run_processor(
        "hzz4l",
        paths["both"],
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
            "file": no_tree,
            "events": 0,
            "reason": f"{no_tree} has no tree 'mini' (keys: other)",
        }
    ]
    assert bad["skipped_chunks"] and {c["file"] for c in bad["skipped_chunks"]} == {truncated}
    assert all(c["reason"].startswith("OSError") for c in bad["skipped_chunks"])
    # every event is processed or skipped: the truncated file's chunks are one or the other
    assert bad["accounting_closes"]
    assert bad["events_in_fileset"] == clean.metrics["events_processed"] + entries
    assert bad["events_processed"] + bad["events_skipped"] == bad["events_in_fileset"]
    processed_from_truncated = run.metrics["events_processed"] - clean.metrics["events_processed"]
    assert processed_from_truncated + bad["events_skipped"] == entries
    # other samples are untouched
    np.testing.assert_array_equal(
        run.counts["sr_4l"][:, "data", "nominal"].values(flow=True),
        clean.counts["sr_4l"][:, "data", "nominal"].values(flow=True),
    )
