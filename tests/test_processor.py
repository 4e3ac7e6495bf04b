"""The hzz4l processor on the real open-data file and on a generated sample."""

import json

import numpy as np
import pytest

from liberica.core.definition import load
from liberica.orchestration.pipeline import run_processor


@pytest.fixture(scope="module")
def definition():
    return load("hzz4l")


@pytest.fixture(scope="module")
def data_a_result(data_a, tmp_path_factory, definition):
    fileset = tmp_path_factory.mktemp("data_a") / "fileset.json"
    fileset.write_text(
        json.dumps({"data_A": {"files": {str(data_a): "mini"}, "metadata": {"is_data": True}}})
    )
    return run_processor(definition, fileset, executor="iterative", status=False)


def test_agc_baseline_on_real_data_keeps_19_events(data_a_result):
    baseline = data_a_result.counts["baseline"][:, "data", "nominal"]
    assert baseline.values().sum() == 19  # 80-250 GeV, as the AGC demo
    assert baseline.axes[0].edges[0] == 80 and baseline.axes[0].edges[-1] == 250
    assert len(baseline.axes[0]) == 34
    cutflow = data_a_result.cutflow["data_A"]["baseline"]
    assert list(cutflow) == ["all_events", "four_leptons", "zero_charge", "lepton_types"]
    # everything that passed the cuts is in the histogram, out-of-range in the flow bins
    assert baseline.values(flow=True).sum() == cutflow["lepton_types"]["raw"]
    flow = data_a_result.metrics["flow"]["baseline"]["data"]
    assert flow["underflow_raw"] + flow["overflow_raw"] == cutflow["lepton_types"]["raw"] - 19


def test_channel_regions_partition_the_signal_region(data_a_result):
    counts = data_a_result.counts
    total = counts["sr_4l"].values(flow=True)
    parts = sum(counts[r].values(flow=True) for r in ("sr_4e", "sr_4mu", "sr_2e2mu"))
    np.testing.assert_array_equal(parts, total)
    assert total.sum() == data_a_result.cutflow["data_A"]["sr_4l"]["z2_mass"]["raw"]
