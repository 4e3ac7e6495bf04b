"""The classifier inside a processing run: sessions, folds, score regions, refusals."""

import pathlib

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import constant_model

from liberica.analysis.hzz4l.features import FEATURE_NAMES
from liberica.cli import main
from liberica.models.spec import ModelSpecError
from liberica.orchestration.pipeline import run_processor


def test_one_session_per_model_and_worker_process(small_sample):
    run = run_processor(
        "hzz4l",
        small_sample,
        executor="futures",
        workers=2,
        chunksize=15_000,
        systematics=False,
        status=False,
    )
    classifier = run.metrics["classifier"]
    assert run.metrics["chunks"] >= 8
    assert sum(classifier["chunks_per_process"].values()) == run.metrics["chunks"]
    # every worker process made exactly one session per fold model, however many chunks it ran
    assert 1 <= len(classifier["sessions_per_process"]) <= 2
    assert set(classifier["sessions_per_process"].values()) == {2}
    assert classifier["providers"] == {"CPUExecutionProvider": run.metrics["chunks"]}
    assert 0 < classifier["fraction_of_chunk_time"] < 1


def test_score_regions_follow_the_fold_rule(small_sample, constant_models):
    """With constant models, an event's score says which fold scored it."""
    run = run_processor(
        "hzz4l",
        small_sample,
        executor="iterative",
        systematics=True,
        status=False,
        models=constant_models,
        dump_features=True,
    )
    score = run.counts["sr_4l_score"][:, sum, "nominal"]
    filled = np.flatnonzero(score.values())
    centres = score.axes[0].centers[filled]
    np.testing.assert_allclose(centres, [0.275, 0.775])  # bins [0.25, 0.3) and [0.75, 0.8) only
    # high score (>= 0.5) = 0.75 = scored by the parity-1 model = even eventNumber
    mc = run.features
    even = {p: int(np.sum(mc["eventNumber"][mc["process"] == p] % 2 == 0)) for p in ("ggH", "ZZ")}
    for process, n_even in even.items():
        high = run.counts["sr_4l_high"][:, process, "nominal"].values(flow=True).sum()
        low = run.counts["sr_4l_low"][:, process, "nominal"].values(flow=True).sum()
        assert high == n_even
        assert high + low == run.counts["sr_4l"][:, process, "nominal"].values(flow=True).sum()
    # features were recomputed for object variations: their scores fill the score regions too
    assert run.counts["sr_4l_score"][:, "ZZ", "muon_momentum_scaleUp"].sum() > 0


def test_mismatched_model_is_refused_before_any_chunk(small_sample, tmp_path, constant_models):
    bad = tmp_path / "reordered.onnx"
    bad.write_bytes(constant_model(0.5, 0, FEATURE_NAMES[::-1]))
    with pytest.raises(ModelSpecError, match="reordered.onnx: feature list does not match"):
        run_processor(
            "hzz4l",
            small_sample,
            executor="iterative",
            status=False,
            models=[str(bad), constant_models[1]],
        )
    result = CliRunner().invoke(
        main,
        [
            "process",
            "hzz4l",
            "--fileset",
            str(small_sample),
            "--out",
            str(tmp_path / "run"),
            "--model",
            str(bad),
            "--model",
            constant_models[1],
        ],
    )
    assert result.exit_code == 2
    assert "feature list does not match: order differs" in result.output
    assert not (tmp_path / "run" / "histograms.root").exists()


def test_a_classifier_taking_the_fit_observable_is_refused_unless_declared_and_allowed(tmp_path):
    import yaml

    from liberica.core.definition import load
    from liberica.models.spec import ModelSpecError
    from liberica.orchestration.pipeline import classifiers_of

    config = yaml.safe_load(
        (pathlib.Path(__file__).parents[1] / "liberica/analysis/hzz4l/definition.yaml").read_text()
    )
    # the low-score region histograms m12, one of the classifier's features
    config["observables"]["m12"] = {"bins": 20, "range": [40.0, 120.0]}
    config["regions"]["sr_4l_low"]["observable"] = "m12"
    config.pop("sculpting")  # it compares sr_4l_low's m4l spectrum
    path = tmp_path / "sculpting.yaml"
    path.write_text(yaml.safe_dump(config))
    definition = load(path)
    with pytest.raises(ModelSpecError, match="takes 'm12', the observable of region 'sr_4l_low'"):
        classifiers_of(definition)
    declared = []
    for parity in (0, 1):
        model = tmp_path / f"declared{parity}.onnx"
        model.write_bytes(constant_model(0.5, parity, uses_fit_observable=True))
        declared.append(str(model))
    with pytest.raises(ModelSpecError, match="the run must allow it"):
        classifiers_of(definition, declared)
    allowed = classifiers_of(definition, declared, allow_fit_observable=True)
    assert [m.spec.uses_fit_observable for m in allowed["hzz4l_mlp"]] == [True, True]
