"""Chunks made from the prepared fileset are exactly the ones coffea's preprocessing makes."""

import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.processor.executor import FileMeta

from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES
from liberica.core.definition import load
from liberica.orchestration import fileset as fileset_module
from liberica.orchestration.chunks import split, uproot_options, work_items
from liberica.processors.formats.open_data import OPEN_DATA
from liberica.processors.schema import OpenDataSchema


@pytest.mark.parametrize(
    ("num_entries", "chunksize"),
    [(0, 10), (1, 10), (9, 10), (10, 10), (14, 10), (15, 10), (16, 10), (999_999, 500_000)]
    + [(200_000, 500_000), (1_234_567, 100_000), (500_001, 500_000), (749_999, 500_000)],
)
def test_split_is_coffeas(num_entries, chunksize):
    meta = FileMeta("s", "f.root", "mini", {"numentries": num_entries, "uuid": b"u"})
    coffeas = [(i.entrystart, i.entrystop) for i in meta.chunks(chunksize, False)]
    assert split(num_entries, chunksize) == coffeas
    if num_entries:
        ranges = split(num_entries, chunksize)
        assert ranges[0][0] == 0 and ranges[-1][1] == num_entries
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_work_items_equal_coffeas_preprocessing(small_sample):
    definition = load("hzz4l")
    fileset = fileset_module.prepare(
        fileset_module.read(small_sample), definition, REQUIRED_BRANCHES, OPEN_DATA
    )
    runner = processor.Runner(
        executor=processor.IterativeExecutor(status=False), schema=OpenDataSchema
    )
    for entry in fileset.values():
        entry["preload"] = list(REQUIRED_BRANCHES)
    coffea_fileset = {
        k: {key: v[key] for key in ("files", "metadata", "preload")} for k, v in fileset.items()
    }
    for chunksize, several in ((3_000, True), (1_000_000, False)):
        runner.chunksize = chunksize
        coffeas = list(runner.preprocess(coffea_fileset, treename=definition.tree))
        mine = work_items(fileset, chunksize, REQUIRED_BRANCHES)
        assert (len(mine) > len(fileset)) is several
        assert mine == coffeas  # dataset, file, tree, entries and file uuid
        assert [(i.usermeta, i.preload) for i in mine] == [(i.usermeta, i.preload) for i in coffeas]


def test_local_files_are_read_with_plain_file_reads_and_remote_ones_as_uproot_chooses():
    local = ["/data/a.root", "relative/b.root"]
    assert uproot_options(local) == {"handler": uproot.source.file.MultithreadedFileSource}
    assert uproot_options([*local, "root://eospublic.cern.ch//eos/c.root"]) == {}
    assert uproot_options(["https://example.org/d.root"]) == {}


def test_the_chosen_source_reads_the_same_arrays_as_uproots_default(small_sample):
    fileset = fileset_module.read(small_sample)
    filename, tree = next(iter(next(iter(fileset.values()))["files"].items()))
    options = uproot_options([filename])
    with uproot.open(filename, **options) as chosen, uproot.open(filename) as default:
        assert isinstance(chosen.file.source, uproot.source.file.MultithreadedFileSource)
        assert not isinstance(default.file.source, uproot.source.file.MultithreadedFileSource)
        branches = list(REQUIRED_BRANCHES)
        a = chosen[tree].arrays(branches, library="np")
        b = default[tree].arrays(branches, library="np")
    for name in branches:
        np.testing.assert_array_equal(
            np.concatenate(a[name]) if a[name].dtype == object else a[name],
            np.concatenate(b[name]) if b[name].dtype == object else b[name],
        )
