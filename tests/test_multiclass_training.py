"""orchestration/multiclass_training.py: a multiclass classifier trained on an extended set and
evaluated on the rows of the selection it scores, every row by a model that did not train on it."""

import json

import numpy as np
import pytest
from test_models_multiclass import CLASSES, FEATURES, toy_table

from liberica.core.definition import ClassifierConfig
from liberica.core.registry import FeatureSet
from liberica.orchestration.multiclass_training import model_names, train_and_evaluate

TINY = {
    "d_token": 8,
    "n_blocks": 1,
    "hidden": (16,),
    "batch_size": 64,
    "max_epochs": 12,
    "learning_rate": 3e-3,
}


@pytest.fixture(scope="module")
def config():
    return ClassifierConfig(
        name="clf",
        models=("clf_fold0.onnx", "clf_fold1.onnx"),
        selection="sr",
        feature_set="toy-v1",
        kind="multiclass",
        classes={k: tuple(v) for k, v in CLASSES.items()},
        training_selection="pre",
        training=TINY,
    )


def test_trained_on_the_extended_set_evaluated_on_the_selection(config, tmp_path):
    table = toy_table(600)
    in_selection = np.zeros(len(table), dtype=bool)
    in_selection[::3] = True
    extended = np.zeros(len(table), dtype=[*table.dtype.descr, ("in_selection", "?")])
    for name in table.dtype.names:
        extended[name] = table[name]
    extended["in_selection"] = in_selection
    feature_set = FeatureSet("toy-v1", FEATURES, "unused:f", categorical=("charge",))
    trained = train_and_evaluate(config, extended, feature_set, tmp_path, description="toy")
    kept = np.isin(extended["process"], [p for v in CLASSES.values() for p in v])
    assert trained.n_evaluated == int((kept & in_selection).sum())
    assert trained.n_training_rows == int(kept.sum()) > trained.n_evaluated
    assert [p.name for p in trained.files[:2]] == ["clf_fold0.onnx", "clf_fold1.onnx"]
    assert trained.evaluation.roc["A"].auc > 0.7
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["config"]["d_token"] == 8 and record["rows_evaluated"] == trained.n_evaluated
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["n_events"] == trained.n_evaluated
    assert len(evaluation["feature_importance"]["ranking"]) == len(FEATURES)


def test_baselines_and_the_selection_alone_get_their_own_model_names(config):
    assert model_names(config, "ft_transformer", "extended", 2) == config.models
    assert model_names(config, "mlp", "extended", 3) == tuple(
        f"clf_mlp_fold{m}.onnx" for m in range(3)
    )
    assert model_names(config, "ft_transformer", "selection", 2)[0] == (
        "clf_ft_transformer_selection_fold0.onnx"
    )
