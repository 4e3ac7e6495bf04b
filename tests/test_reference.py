"""hzz4l stays bit for bit what it was before the plug-in port (liberica at 1b1fe4b), and
hllj what it was before issue 27 (e1f0ee1).

Every histogram (weighted values, variances and raw counts, flow bins included,
per region, process and variation) and every cutflow of the default sample,
processed iteratively so that chunks merge in one order, against the digests
in tests/data/hzz4l_default_reference.json (made by tests/reference.py at 1b1fe4b).
"""

import json
import pathlib

from reference import digests

from liberica.orchestration.pipeline import run_processor

REFERENCE = pathlib.Path(__file__).parent / "data" / "hzz4l_default_reference.json"


def test_default_sample_histograms_and_cutflows_are_bit_for_bit_the_reference(default_sample):
    result = run_processor("hzz4l", default_sample.fileset_path, executor="iterative", status=False)
    reference = json.loads(REFERENCE.read_text())
    mine = digests(result)
    assert mine["cutflow"] == reference["cutflow"]
    differing = [
        f"{region}/{process}/{variation}"
        for region, processes in reference["histograms"].items()
        for process, variations in processes.items()
        for variation, digest in variations.items()
        if mine["histograms"].get(region, {}).get(process, {}).get(variation) != digest
    ]
    assert differing == []
    assert mine["histograms"].keys() == reference["histograms"].keys()


HLLJ_REFERENCE = pathlib.Path(__file__).parent / "data" / "hllj_small_reference.json"


def test_hllj_histograms_and_cutflows_are_bit_for_bit_the_reference(hllj_sample):
    """hllj's small sample (conftest's ``hllj_sample``: 60k MC events, 10 fb^-1, seed 7),
    every systematic, iterative, against the digests liberica made at e1f0ee1, before the
    multiclass regions, the equal-population binning and the blinding (issue 27)."""
    result = run_processor("hllj", hllj_sample, executor="iterative", status=False)
    assert digests(result) == json.loads(HLLJ_REFERENCE.read_text())
