"""An analysis from outside liberica: a package installed with pip, found by its entry point.

``tests/data/outside_analysis`` is a minimal analysis (the dimuon mass, awkward muons
with vector behaviour and a PackedSelection, one weight and one object systematic).
It is pip-installed into a folder of its own, and ``liberica process`` runs it in a
subprocess, end to end, on the small hzz4l sample's files.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import uproot


@pytest.fixture(scope="module")
def installed(outside_analysis) -> dict[str, str]:
    return outside_analysis[0]


def _liberica(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "liberica.cli", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_the_entry_point_registers_the_outside_analysis(installed):
    code = "from liberica.core import registry; print(registry.names())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=installed
    )
    assert done.returncode == 0, done.stderr
    # the outside analysis beside liberica's own, which this process sees without it
    from liberica.core import registry

    assert done.stdout.strip() == str(sorted(["dimuon", *registry.names()]))
    assert "dimuon" not in registry.names()


def test_liberica_process_runs_the_outside_analysis_with_its_systematics(
    installed, small_sample, tmp_path
):
    source = json.loads(pathlib.Path(small_sample).read_text())
    fileset = {
        "higgs": {"files": source["ggH125_ZZ4lep"]["files"], "metadata": {**source["ggH125_ZZ4lep"]["metadata"], "process": "higgs"}},
        "diboson": {"files": source["ZZllll"]["files"], "metadata": {**source["ZZllll"]["metadata"], "process": "diboson"}},
        "data": source["data"],
    }  # fmt: skip
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    done = _liberica(
        installed, "process", "dimuon", "--fileset", str(path), "--out", str(tmp_path / "run"),
        "--executor", "iterative",
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    with uproot.open(tmp_path / "run" / "histograms.root") as f:
        names = set(f.keys(cycle=False))
        nominal = f["two_muons_diboson_nominal"].values()
        shifted = {
            v: f[f"two_muons_diboson_{v}"].values()
            for v in ("muon_scaleUp", "muon_scaleDown", "pileupUp")
        }
        data = f["two_muons_data_nominal"].values()
    assert {f"two_muons_{p}_{v}" for p in ("higgs", "diboson") for v in ("nominal", "pileupUp", "pileupDown", "muon_scaleUp", "muon_scaleDown")} <= names  # fmt: skip
    assert nominal.sum() > 0 and data.sum() > 0
    # the Z -> mumu peak: the bin of 90 GeV holds the most diboson events
    edges = np.linspace(10.0, 130.0, 31)
    assert edges[np.argmax(nominal)] <= 91.2 < edges[np.argmax(nominal) + 1]
    # the momentum scale moves events between bins; the total barely changes
    for v in ("muon_scaleUp", "muon_scaleDown"):
        assert not np.array_equal(shifted[v], nominal)
        assert shifted[v].sum() == pytest.approx(nominal.sum(), rel=0.02)
    assert not np.array_equal(shifted["pileupUp"], nominal)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["analysis"] == "dimuon"
    cutflow = json.loads((tmp_path / "run" / "cutflow.json").read_text())
    steps = cutflow["diboson"]["two_muons"]
    assert list(steps) == ["all_events", "two_muons", "opposite_charge"]
    assert (
        steps["all_events"]["raw"]
        >= steps["two_muons"]["raw"]
        >= steps["opposite_charge"]["raw"]
        > 0
    )
