"""Training: folds by eventNumber parity, ONNX equal to torch, reproducible with a seed."""

import hashlib

import numpy as np
import onnxruntime as ort
import pytest
import torch

from liberica.analysis.hzz4l.features import FEATURE_NAMES
from liberica.core import registry
from liberica.core.definition import load, without_classifier
from liberica.models.spec import read_classifier
from liberica.models.train import TrainingConfig, export_onnx, roc, train, train_fold
from liberica.orchestration.pipeline import run_processor

QUICK = TrainingConfig(max_epochs=4, patience=2, seed=3)
HZZ4L = registry.get("hzz4l")
MODEL = {
    "feature_set": HZZ4L.feature_sets["hzz4l-v1"],
    "model_names": ("fold0.onnx", "fold1.onnx"),
    "output": "p(signal)",
}


@pytest.fixture(scope="module")
def feature_table(small_sample):
    definition = load("hzz4l")
    run = run_processor(
        without_classifier(definition),
        small_sample,
        executor="iterative",
        systematics=False,
        status=False,
        dump_features=definition.classifiers["hzz4l_mlp"],
    )
    return run.features


def test_dumped_features_are_finite_and_sorted(feature_table):
    assert set(FEATURE_NAMES) <= set(feature_table.dtype.names)
    for name in FEATURE_NAMES:
        assert np.isfinite(feature_table[name]).all(), name
    keys = list(zip(feature_table["channelNumber"], feature_table["eventNumber"], strict=True))
    assert keys == sorted(keys)
    # physics: the Higgs's Z2 is off shell, ZZ*'s mostly on shell
    higgs = feature_table["m34"][feature_table["process"] == "ggH"]
    zz = feature_table["m34"][feature_table["process"] == "ZZ"]
    assert np.median(higgs) < 40 < np.median(zz)


def test_folds_train_on_one_parity_and_separate_signal(feature_table, tmp_path):
    reports = train(feature_table, ["ggH", "VBFH"], ["ZZ"], tmp_path, QUICK, "test", **MODEL)
    used = np.isin(feature_table["process"], ["ggH", "VBFH", "ZZ"])
    parity = feature_table["eventNumber"][used] % 2
    for report in reports:
        # trained (plus validation) on its parity, evaluated on exactly the other one
        n_fold = int(np.sum(parity == report.train_parity))
        assert report.n_evaluated == int(np.sum(parity != report.train_parity))
        assert report.n_train == n_fold - int(QUICK.validation_fraction * n_fold)
        classifier = read_classifier(report.path.read_bytes(), report.path.name)
        assert classifier.spec.train_parity == report.train_parity
        assert classifier.spec.features == FEATURE_NAMES
        # four epochs on ~1.5k rows already separate H from ZZ* well
        assert report.auc_unweighted > 0.8 and report.auc_weighted > 0.8
        assert report.onnx_max_abs_diff <= 1e-5
    assert (tmp_path / "roc.png").exists() and (tmp_path / "scores.pdf").exists()


def test_same_seed_same_model_bytes(feature_table, tmp_path):
    digests = []
    for attempt in ("a", "b"):
        reports = train(
            feature_table, ["ggH", "VBFH"], ["ZZ"], tmp_path / attempt, QUICK, "t", **MODEL
        )
        digests.append([hashlib.sha256(r.path.read_bytes()).hexdigest() for r in reports])
    assert digests[0] == digests[1]


def test_onnx_output_equals_torch(tmp_path):
    rng = np.random.default_rng(1)
    features = rng.normal(50, 20, size=(2000, len(FEATURE_NAMES))).astype(np.float32)
    labels = (features[:, 0] > 50).astype(np.float32)
    model, _ = train_fold(features, labels, np.ones(2000, np.float32), QUICK)
    from liberica.analysis.hzz4l.features import FEATURE_SET
    from liberica.models.spec import FeatureSpec

    spec = FeatureSpec(FEATURE_SET, FEATURE_NAMES, 0, "p", "standardized in graph", "random")
    path = tmp_path / "m.onnx"
    export_onnx(model, spec, path, features[:100])
    held_out = rng.normal(50, 20, size=(500, len(FEATURE_NAMES))).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(torch.as_tensor(held_out)).numpy()
    np.testing.assert_allclose(session.run(None, {"features": held_out})[0], expected, atol=1e-5)
    # scaling lives in the graph: raw GeV features in, probabilities out
    assert 0 <= expected.min() and expected.max() <= 1


def test_roc_auc_of_perfect_random_and_inverted_scores():
    labels = np.array([0, 0, 1, 1])
    assert roc(np.array([0.1, 0.2, 0.8, 0.9]), labels)[2] == pytest.approx(1.0)
    assert roc(np.array([0.9, 0.8, 0.2, 0.1]), labels)[2] == pytest.approx(0.0)
    assert roc(np.array([0.5, 0.5, 0.5, 0.5]), labels)[2] == pytest.approx(0.5)


@pytest.mark.slow
def test_train_command_reproduces_the_shipped_models(tmp_path):
    from click.testing import CliRunner

    from liberica.cli import main
    from liberica.models.loading import shipped_model

    result = CliRunner().invoke(
        main, ["train", "hzz4l", "--out", str(tmp_path), "--cache", str(tmp_path / "cache")]
    )
    assert result.exit_code == 0, result.output
    for fold in (0, 1):
        name = f"hzz4l_fold{fold}.onnx"
        assert (tmp_path / name).read_bytes() == shipped_model(name), name


def test_k_folds_train_on_the_other_residues_and_score_their_own(feature_table, tmp_path):
    config = QUICK._replace(folds=3)
    names = ("k0.onnx", "k1.onnx", "k2.onnx")
    reports = train(
        feature_table,
        ["ggH", "VBFH"],
        ["ZZ"],
        tmp_path,
        config,
        "test",
        **{**MODEL, "model_names": names},
    )
    used = np.isin(feature_table["process"], ["ggH", "VBFH", "ZZ"])
    residue = feature_table["eventNumber"][used] % 3
    assert [r.fold for r in reports] == [0, 1, 2]
    for report in reports:
        assert report.evaluates == (report.fold + 1) % 3
        assert report.n_evaluated == int(np.sum(residue == report.evaluates))
        spec = read_classifier(report.path.read_bytes(), report.path.name).spec
        assert (spec.folds, spec.fold, spec.evaluates, spec.version) == (
            3,
            report.fold,
            report.evaluates,
            "2",
        )
    with pytest.raises(ValueError, match="3 folds"):
        train(feature_table, ["ggH"], ["ZZ"], tmp_path, config, "test", **MODEL)


def test_a_model_taking_a_fit_observable_declares_it_in_its_spec(tmp_path):
    """hllj's mass-aware feature set takes reco_zv_mass, the observable of its classifier
    regions: the trained models say so (spec v2), the table-variable ones do not."""
    import pathlib

    import yaml

    from liberica.orchestration.pipeline import fit_observables_taken

    path = pathlib.Path(__file__).parents[1] / "liberica/analysis/hllj/definition.yaml"
    config = yaml.safe_load(path.read_text())
    hllj = registry.get("hllj")
    assert (
        fit_observables_taken(load("hllj"), "hllj_mlp", hllj.feature_sets["hllj-v1"].features) == []
    )
    config["classifiers"]["hllj_mlp"]["feature_set"] = "hllj-mass-v1"
    (tmp_path / "mass.yaml").write_text(yaml.safe_dump(config))
    taken = fit_observables_taken(
        load(tmp_path / "mass.yaml"), "hllj_mlp", hllj.feature_sets["hllj-mass-v1"].features
    )
    assert {v for v, _ in taken} == {"reco_zv_mass"}
    assert {r for _, r in taken} >= {"sr_classifier", "search_classifier"}
    rng = np.random.default_rng(4)
    features = hllj.feature_sets["hllj-mass-v1"].features
    n = 400
    table = np.zeros(n, dtype=[*((f, np.float32) for f in features), ("weight", np.float64),
                               ("eventNumber", np.int64), ("process", "U16")])  # fmt: skip
    for name in features:
        table[name] = rng.normal(100, 20, n)
    table["weight"], table["eventNumber"] = 1.0, np.arange(n)
    table["process"] = np.where(np.arange(n) % 3 == 0, "X1000", "Zjets")
    reports = train(
        table, ["X1000"], ["Zjets"], tmp_path, QUICK, "test",
        feature_set=hllj.feature_sets["hllj-mass-v1"], model_names=("m0.onnx", "m1.onnx"),
        output="p", uses_fit_observable=True,
    )  # fmt: skip
    for report in reports:
        spec = read_classifier(report.path.read_bytes(), report.path.name).spec
        assert spec.uses_fit_observable and spec.version == "2"
