"""Shared fixtures: the real open-data file and a small generated sample."""

from __future__ import annotations

import pathlib

import pytest

TEST_DATA = pathlib.Path(__file__).resolve().parent / "data"
"""Small real files shipped with the tests (origin and licence in data/README.md)."""
DATA_A = TEST_DATA / "data_A.4lep.root"


@pytest.fixture(scope="session")
def data_a() -> pathlib.Path:
    """The real ATLAS Open Data 4lep file (data period A, 39 events)."""
    if not DATA_A.exists():
        pytest.fail(f"the real open-data file {DATA_A} is missing (see tests/data/README.md)")
    return DATA_A


OUTSIDE_ANALYSIS = TEST_DATA / "outside_analysis"
"""A minimal analysis package from outside liberica (docs/writing-an-analysis.md)."""


@pytest.fixture(scope="session")
def outside_analysis(tmp_path_factory) -> tuple[dict[str, str], pathlib.Path]:
    """The pip-installed outside analysis: a process environment that sees it, and its folder."""
    import os
    import shutil
    import subprocess
    import sys

    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / "outside_analysis"
    shutil.copytree(OUTSIDE_ANALYSIS, source)  # the build leaves its files beside the source
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "300"}, target / "liberica_dimuon"


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> pathlib.Path:
    """A small seeded hzz4l sample (fileset path), generated once per session."""
    from liberica.analysis.hzz4l.generator import generate_hzz4l

    out = tmp_path_factory.mktemp("hzz4l_small")
    return generate_hzz4l(out, events=60_000, lumi_fb=20.0, seed=7).fileset_path


@pytest.fixture(scope="session")
def hllj_sample(tmp_path_factory) -> pathlib.Path:
    """A small seeded hllj sample (fileset path): 60k MC events, data at 10 fb^-1."""
    from liberica.analysis.hllj.generator import generate_hllj

    out = tmp_path_factory.mktemp("hllj_small")
    return generate_hllj(out, events=60_000, lumi_fb=10.0, seed=7).fileset_path


@pytest.fixture(scope="session")
def daml_tables(tmp_path_factory) -> pathlib.Path:
    """hllj's small seeded sample as DAML tables (fileset path), with an eventNumber column;
    the ROOT files of the same events and their fileset are in ``root/`` beside it."""
    from liberica.analysis.hllj.daml_tables import generate_daml_tables

    out = tmp_path_factory.mktemp("daml_tables")
    sample = generate_daml_tables(out, events=20_000, lumi_fb=10.0, seed=7, event_numbers=True)
    return sample.fileset_path


@pytest.fixture(scope="session")
def default_sample(tmp_path_factory):
    """The default embedded sample (2M MC events, seed 42)."""
    from liberica.analysis.hzz4l.generator import generate_hzz4l

    return generate_hzz4l(tmp_path_factory.mktemp("hzz4l_default"))


@pytest.fixture(scope="session")
def default_run(default_sample, tmp_path_factory):
    """The default embedded sample processed with futures x2."""
    from liberica.orchestration.pipeline import run_processor

    out = tmp_path_factory.mktemp("run_default")
    return run_processor(
        "hzz4l",
        default_sample.fileset_path,
        executor="futures",
        workers=2,
        output_dir=out,
        status=False,
    )


@pytest.fixture(scope="session")
def default_fit(default_run):
    """``liberica fit`` of the default run, once: (the command's output, results.json)."""
    import json

    from click.testing import CliRunner

    from liberica.cli import main

    run_dir = default_run.output_dir
    done = CliRunner().invoke(main, ["fit", str(run_dir)])
    assert done.exit_code == 0, done.output
    return done.output, json.loads((run_dir / "fit" / "results.json").read_text())


@pytest.fixture
def tiny_workspace() -> dict:
    """A three-bin pyhf workspace with every modifier type the fits meet."""
    return make_tiny_workspace()


def make_tiny_workspace() -> dict:
    """The workspace of the ``tiny_workspace`` fixture, for module-scoped fixtures."""
    signal = {
        "name": "signal",
        "data": [5.0, 12.0, 3.0],
        "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "luminosity", "type": "normsys", "data": {"hi": 1.02, "lo": 0.98}},
        ],
    }
    background = {
        "name": "background",
        "data": [50.0, 52.0, 48.0],
        "modifiers": [
            {"name": "staterror_sr", "type": "staterror", "data": [5.0, 4.0, 4.0]},
            {"name": "xsec_background", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {
                "name": "shape",
                "type": "histosys",
                "data": {"hi_data": [53.0, 52.0, 46.0], "lo_data": [47.0, 52.0, 50.0]},
            },
        ],
    }
    return {
        "channels": [{"name": "sr", "samples": [signal, background]}],
        "observations": [{"name": "sr", "data": [57.0, 66.0, 50.0]}],
        "measurements": [
            {
                "name": "tiny",
                "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[-5, 10]]}]},
            }
        ],
        "version": "1.0.0",
    }


def constant_model(
    score: float,
    train_parity: int,
    features=None,
    *,
    folds: int = 2,
    outputs: tuple[str, ...] = ("score",),
    uses_fit_observable: bool = False,
    feature_set: str | None = None,
) -> bytes:
    """A real ONNX model (Gemm with zero weights) that outputs ``score`` for every row.

    ``train_parity`` is its fold m (for two folds, its parity); with several
    ``outputs``, output k is ``score + k``. ``features`` and ``feature_set``
    default to hzz4l's.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from liberica.analysis.hzz4l.features import FEATURE_NAMES, FEATURE_SET
    from liberica.models.spec import FeatureSpec

    features = tuple(features or FEATURE_NAMES)
    width = len(outputs)
    weight = numpy_helper.from_array(np.zeros((len(features), width), np.float32), "W")
    bias = numpy_helper.from_array(score + np.arange(width, dtype=np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["features", "W", "B"], ["score"])],
        "constant",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["rows", len(features)])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["rows", width])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    spec = FeatureSpec(
        feature_set or FEATURE_SET,
        features,
        train_parity,
        "constant",
        "none",
        "test",
        folds=folds,
        outputs=tuple(outputs),
        uses_fit_observable=uses_fit_observable,
    )
    for key, value in spec.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture
def constant_models(tmp_path):
    """Two fold models on disk: 0.25 from the parity-0 model, 0.75 from the parity-1 one."""
    paths = []
    for parity, score in ((0, 0.25), (1, 0.75)):
        path = tmp_path / f"constant_fold{parity}.onnx"
        path.write_bytes(constant_model(score, parity))
        paths.append(str(path))
    return paths


def assert_same_histograms(run, reference) -> None:
    """Same events, identical raw counts, weighted sums and variances within 1e-12 relative."""
    import numpy as np

    assert run.metrics["events_processed"] == reference.metrics["events_processed"]
    for region, h in reference.histograms.items():
        np.testing.assert_array_equal(
            run.counts[region].values(flow=True), reference.counts[region].values(flow=True)
        )
        for field in ("value", "variance"):
            np.testing.assert_allclose(
                run.histograms[region].view(flow=True)[field],
                h.view(flow=True)[field],
                rtol=1e-12,
                atol=0,
            )


def random_leptons(rng, counts):
    """Flat lepton columns of random events with ``counts`` leptons each: mixed flavours and charges."""
    import awkward as ak
    import numpy as np

    from liberica.processors.leptons import lepton_columns

    n = int(np.sum(counts))
    pt = rng.exponential(30.0, n) + 5.0
    eta = rng.uniform(-2.5, 2.5, n)
    flat = ak.zip(
        {
            "pt": pt,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, n),
            "energy": pt * np.cosh(eta),
            "charge": rng.choice([-1, 1], n).astype(np.int32),
            "abs_pdg_id": rng.choice([11, 13], n).astype(np.int32),
        }
    )
    return lepton_columns(ak.unflatten(flat, counts))
