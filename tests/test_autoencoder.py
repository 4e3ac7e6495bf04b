"""The autoencoder: errors computed in the graph from raw features, folds, weights, tuning."""

import json
import logging

import numpy as np
import onnxruntime as ort
import optuna  # noqa: F401  (configures its logger, which tuning must leave as it was)
import pytest
import torch

from liberica.core.registry import FeatureSet
from liberica.models import autoencoder
from liberica.models.autoencoder import (
    ALL_SIGNALS,
    OUTPUT,
    AutoencoderConfig,
    AutoencoderError,
    event_weights,
    fit_autoencoder,
    reconstruction_errors,
    train_autoencoder,
    used_columns,
)
from liberica.models.inference import evaluate
from liberica.models.spec import FeatureSpec, check_against, read_classifier
from liberica.models.train import export_onnx
from liberica.models.tuning import TuningConfig, tune_autoencoder, write_tuning

NAMES = ("pt1", "pt2", "mll", "met", "ht", "const", "noisy")
FEATURE_SET = FeatureSet("toy-v1", NAMES, "tests.test_autoencoder:unused")
BACKGROUNDS = ["bkg_a", "bkg_b"]
IGNORED = ("noisy",)
QUICK = AutoencoderConfig(encoder=(16,), bottleneck=2, max_epochs=3, batch_size=128, seed=5)
MEAN = np.array([80.0, 50.0, 91.0, 40.0, 200.0])
WIDTH = np.array([30.0, 20.0, 15.0, 25.0, 60.0])


def _events(rng, n, shift=0.0, off_plane=0.0):
    """Five GeV-scale features on a noisy 2-D plane (correlated Gaussians)."""
    latent = rng.normal(size=(n, 2))
    mix = np.array([[1.0, 0.3], [0.6, 0.8], [0.9, -0.4], [0.2, 1.0], [1.2, 0.9]])
    x = latent @ mix.T + 0.05 * rng.normal(size=(n, 5))
    x[:, :2] += shift
    x[:, 2] -= off_plane
    return MEAN + WIDTH * x


def toy_table(n=3000, seed=7):
    """Two backgrounds (3% negative weights), a shifted cluster and an off-plane signal."""
    rng = np.random.default_rng(seed)
    dtype = [(name, np.float32) for name in NAMES]
    dtype += [("weight", np.float64), ("eventNumber", np.int64), ("process", "U16")]
    parts = []
    for process, m, kwargs, weight in (
        ("bkg_a", n // 2, {}, 2.0),
        ("bkg_b", n - n // 2, {}, 1.0),
        ("shifted", n // 10, {"shift": 4.0}, 0.1),
        ("off_plane", n // 10, {"off_plane": 3.0}, 0.05),
    ):
        rows = np.empty(m, dtype=dtype)
        x = _events(rng, m, **kwargs)
        for k in range(5):
            rows[NAMES[k]] = x[:, k]
        rows["const"] = 91.1876
        rows["noisy"] = rng.exponential(3.0, m)
        rows["weight"] = weight * rng.uniform(0.5, 1.5, m) * np.where(rng.random(m) < 0.03, -1, 1)
        rows["process"] = process
        parts.append(rows)
    table = np.concatenate(parts)
    table["eventNumber"] = rng.choice(10**7, len(table), replace=False)
    return table


@pytest.fixture(scope="module")
def toy():
    return toy_table()


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """Both folds trained once; the rows each fold's fit received are recorded."""
    fitted = []

    def spy(features, weights, config, **kwargs):
        fitted.append(np.array(features))
        return real(features, weights, config, **kwargs)

    real = autoencoder.fit_autoencoder
    out = tmp_path_factory.mktemp("autoencoder")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autoencoder, "fit_autoencoder", spy)
        result = train_autoencoder(
            toy,
            BACKGROUNDS,
            out,
            QUICK,
            feature_set=FEATURE_SET,
            model_names=("ae_fold0.onnx", "ae_fold1.onnx"),
            ignored=IGNORED,
            training_sample="toy",
        )
    return result, fitted


def _background(toy):
    rows = toy[np.isin(toy["process"], BACKGROUNDS)]
    return autoencoder.feature_matrix(rows, NAMES), rows


def _numpy_errors(model, raw, offset, scale, used):
    """The reconstruction error from the module's weights, in float64 numpy."""
    x = (raw[:, used].astype(np.float64) - offset) / scale
    z = x
    for layer in [*model.encoder, *model.decoder]:
        if isinstance(layer, torch.nn.Linear):
            z = z @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()
        else:
            assert isinstance(layer, torch.nn.ELU)
            z = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    return ((z - x) ** 2).mean(axis=1)


@pytest.mark.parametrize("scaling", ["minmax", "standard"])
def test_graph_scales_raw_features_and_equals_torch_and_numpy(toy, scaling, tmp_path):
    features, rows = _background(toy)
    used = used_columns(NAMES, IGNORED)
    fit = fit_autoencoder(
        features, np.abs(rows["weight"]), QUICK._replace(scaling=scaling), used=used
    )
    # the scaling inside the graph is the one numpy computes from the training rows
    train = features[fit.train_rows][:, used].astype(np.float64)
    if scaling == "minmax":
        offset, scale = train.min(axis=0), train.max(axis=0) - train.min(axis=0)
    else:
        offset, scale = train.mean(axis=0), train.std(axis=0)
    constant = list(used).index(NAMES.index("const"))
    assert scale[constant] == 0  # a degenerate column: guarded to 1
    scale[constant] = 1.0
    np.testing.assert_allclose(fit.model.offset.numpy(), offset, rtol=1e-6)
    np.testing.assert_allclose(fit.model.scale.numpy(), scale, rtol=1e-6)
    if scaling == "minmax":
        scaled = fit.model.scaled(torch.as_tensor(features[fit.train_rows])).numpy()
        assert scaled.min() == 0 and scaled.max() == pytest.approx(1, abs=1e-6)

    seen = np.union1d(fit.train_rows, fit.validation_rows)
    held_out = toy[~np.isin(toy["process"], BACKGROUNDS)]
    unseen = np.concatenate(
        [np.delete(features, seen, axis=0), autoencoder.feature_matrix(held_out, NAMES)]
    )
    spec = FeatureSpec("toy-v1", NAMES, 0, OUTPUT, scaling, "toy")
    difference = export_onnx(fit.model, spec, tmp_path / "ae.onnx", unseen[:50], rtol=1e-5)
    session = ort.InferenceSession(str(tmp_path / "ae.onnx"), providers=["CPUExecutionProvider"])
    onnx_errors = session.run(None, {"features": unseen})[0]
    assert onnx_errors.shape == (len(unseen), 1) and difference <= 1e-5
    np.testing.assert_allclose(
        onnx_errors[:, 0], reconstruction_errors(fit.model, unseen), rtol=1e-5, atol=1e-6
    )
    expected = _numpy_errors(fit.model, unseen, offset, scale, used)
    np.testing.assert_allclose(onnx_errors[:, 0], expected, rtol=1e-4, atol=1e-6)


def test_ignored_features_do_not_change_the_score_and_used_ones_do(toy, trained):
    result, _ = trained
    assert result.used_features == ("pt1", "pt2", "mll", "met", "ht", "const")
    assert result.ignored == IGNORED
    raw = autoencoder.feature_matrix(toy[:500], NAMES)
    model = result.folds[0].path
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    base = session.run(None, {"features": raw})[0]
    changed = raw.copy()
    changed[:, NAMES.index("noisy")] += 1000.0
    np.testing.assert_array_equal(session.run(None, {"features": changed})[0], base)
    changed = raw.copy()
    changed[:, NAMES.index("mll")] += 30.0
    assert np.all(session.run(None, {"features": changed})[0] != base)
    spec = read_classifier(model.read_bytes(), model.name).spec
    assert "noisy" in spec.preprocessing and "standardization" in spec.preprocessing


def test_anomalies_have_larger_errors_than_background(trained):
    result, _ = trained
    # the shifted cluster lies far from the background's plane in the scaled space
    assert result.auc["shifted"] > 0.9 and result.auc_unweighted["shifted"] > 0.9
    assert set(result.auc) == {"shifted", "off_plane", ALL_SIGNALS}
    assert result.auc["off_plane"] > 0.6
    for report in result.folds:
        assert report.auc["shifted"] > 0.9
        assert report.onnx_max_abs_diff <= 1e-5
        assert report.epochs == QUICK.max_epochs and np.isfinite(report.best_validation_loss)
    assert result.plot.exists() and result.plot.with_suffix(".pdf").exists()


def test_each_fold_trains_on_background_it_does_not_score(toy, trained):
    result, fitted = trained
    _, rows = _background(toy)
    event_of = {
        row.tobytes(): number
        for row, number in zip(
            autoencoder.feature_matrix(toy, NAMES), toy["eventNumber"], strict=True
        )
    }
    scored = toy[np.isin(toy["process"], [*BACKGROUNDS, "shifted", "off_plane"])]
    for report, features in zip(result.folds, fitted, strict=True):
        trained_on = np.array([event_of[row.tobytes()] for row in features])
        assert report.evaluates == (report.fold + 1) % 2
        assert np.all(trained_on % 2 != report.evaluates)
        # every background row of the other residue is trained on, no signal row
        assert len(trained_on) == np.sum(rows["eventNumber"] % 2 != report.evaluates)
        assert report.n_train + report.n_validation == len(trained_on)
        assert report.n_evaluated == np.sum(scored["eventNumber"] % 2 == report.evaluates)


def test_models_read_back_and_inference_follows_the_fold_rule(toy, trained):
    result, _ = trained
    classifiers = [read_classifier(r.path.read_bytes(), r.path.name) for r in result.folds]
    check_against(classifiers, "toy-v1", NAMES)
    assert classifiers[0].spec.output == OUTPUT and classifiers[1].spec.evaluates == 0
    features = autoencoder.feature_matrix(toy, NAMES)
    scores = evaluate(classifiers, features, toy["eventNumber"])
    for report in result.folds:
        session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
        own = session.run(None, {"features": features})[0][:, 0]
        mine = toy["eventNumber"] % 2 == report.evaluates
        # one thread and a sub-batch here, so the last float32 bit may differ
        np.testing.assert_allclose(scores[mine], own[mine], rtol=1e-6)
        other = np.abs(scores[~mine] - own[~mine]) > 1e-3 * own[~mine]
        assert other.mean() > 0.95  # the other fold's model scored those


def test_doubled_weights_give_the_same_model_and_a_zero_weight_removes_a_row(toy):
    features, rows = _background(toy)
    features, weights = features[:800], np.abs(rows["weight"][:800])
    config = QUICK._replace(max_epochs=2)
    used = used_columns(NAMES, IGNORED)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()

    def state(fit):
        return [value.numpy() for value in fit.model.state_dict().values()]

    reference = fit_autoencoder(features, weights, config, used=used)
    assert torch.equal(torch.get_rng_state(), rng_state)  # torch's global RNG untouched
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    doubled = fit_autoencoder(features, 2 * weights, config, used=used)
    for a, b in zip(state(reference), state(doubled), strict=True):
        np.testing.assert_array_equal(a, b)
    assert doubled.validation_losses == reference.validation_losses
    zeroed = weights.copy()
    zeroed[17] = 0.0
    with_zero = fit_autoencoder(features, zeroed, config, used=used)
    without = fit_autoencoder(np.delete(features, 17, 0), np.delete(weights, 17), config, used=used)
    for a, b in zip(state(with_zero), state(without), strict=True):
        np.testing.assert_array_equal(a, b)
    assert 17 not in with_zero.train_rows and 17 not in with_zero.validation_rows
    # the weights matter: one heavy event changes the model
    heavy = weights.copy()
    heavy[17] = 500.0
    changed = fit_autoencoder(features, heavy, config, used=used)
    assert not np.array_equal(state(changed)[-1], state(reference)[-1])
    with pytest.raises(AutoencoderError, match="non-negative"):
        fit_autoencoder(features, -weights, config, used=used)


def test_negative_weights_enter_as_magnitude_or_are_dropped():
    weights = np.array([1.5, -0.5, 0.0])
    np.testing.assert_array_equal(event_weights(weights, "abs"), [1.5, 0.5, 0.0])
    np.testing.assert_array_equal(event_weights(weights, "clip"), [1.5, 0.0, 0.0])
    with pytest.raises(AutoencoderError, match="negative_weights"):
        event_weights(weights, "keep")


def test_bad_configurations_and_tables_are_named(toy, tmp_path):
    arguments = {"feature_set": FEATURE_SET, "model_names": ("a.onnx", "b.onnx")}
    cases = [
        (QUICK, {"ignored": ("mjj",)}, "mjj"),
        (QUICK._replace(bottleneck=6), {"ignored": IGNORED}, "bottleneck 6"),
        (QUICK._replace(scaling="robust"), {}, "robust"),
        (QUICK._replace(activation="swish"), {}, "swish"),
        (QUICK, {"model_names": ("a.onnx",)}, "model names"),
    ]
    for config, extra, message in cases:
        with pytest.raises(AutoencoderError, match=message):
            train_autoencoder(toy, BACKGROUNDS, tmp_path, config, **{**arguments, **extra})
    with pytest.raises(AutoencoderError, match="ttbar"):
        train_autoencoder(toy, ["ttbar"], tmp_path, QUICK, **arguments)
    with pytest.raises(AutoencoderError, match="'mll'"):
        columns = [name for name in toy.dtype.names if name != "mll"]
        train_autoencoder(toy[columns], BACKGROUNDS, tmp_path, QUICK, **arguments)
    broken = toy.copy()
    broken["met"][-1] = np.nan  # a signal row: its score would be meaningless
    with pytest.raises(AutoencoderError, match="'met'"):
        train_autoencoder(broken, BACKGROUNDS, tmp_path, QUICK, **arguments)


def test_same_seed_same_model(toy):
    features, rows = _background(toy)
    used = used_columns(NAMES, IGNORED)
    first, second = (
        fit_autoencoder(features, np.abs(rows["weight"]), QUICK, used=used) for _ in range(2)
    )
    first_state, second_state = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(first_state[key], second_state[key]) for key in first_state)


def test_tuning_is_reproducible_prunes_and_writes_its_trials(toy, tmp_path):
    small = toy[:2000]
    tuning = TuningConfig(trials=3, max_epochs=2, seed=0)
    optuna_logger = logging.getLogger("optuna")
    handlers = list(optuna_logger.handlers)
    first, second = (
        tune_autoencoder(
            small, BACKGROUNDS, QUICK, tuning, feature_set=FEATURE_SET, ignored=IGNORED
        )
        for _ in range(2)
    )
    assert first.trials == second.trials and first.config == second.config
    assert optuna_logger.handlers == handlers  # optuna's own logging is restored
    states = [trial.state for trial in first.trials]
    assert len(states) == 3 and "COMPLETE" in states and "PRUNED" in states
    for trial in first.trials:
        # every epoch reported its validation loss; a pruned trial stopped early
        assert len(trial.validation_losses) == trial.epochs >= 1
        assert trial.epochs == 2 if trial.state == "COMPLETE" else trial.epochs < 2
    best = min((t for t in first.trials if t.state == "COMPLETE"), key=lambda t: t.value)
    assert first.best_trial == best.number and first.best_value == best.value
    params = best.params
    assert first.config.encoder == tuple(params[f"width_{k}"] for k in range(params["depth"]))
    assert first.config.learning_rate == params["learning_rate"]
    assert (first.config.max_epochs, first.config.scaling) == (QUICK.max_epochs, QUICK.scaling)
    assert first.n_train + first.n_validation == np.sum(
        np.isin(small["process"], BACKGROUNDS) & (small["eventNumber"] % 2 == 0)
    )
    path = write_tuning(first, tmp_path)
    assert path.name == "tuning_standard.json"
    written = json.loads(path.read_text())
    assert [t["state"] for t in written["trials"]] == states
    assert written["chosen"]["encoder"] == list(first.config.encoder)
    assert written["best_trial"] == first.best_trial


@pytest.mark.slow
def test_same_seed_same_onnx_bytes(toy, tmp_path):
    arguments = {"feature_set": FEATURE_SET, "model_names": ("a.onnx", "b.onnx")}
    digests = []
    for attempt in ("one", "two"):
        result = train_autoencoder(toy, BACKGROUNDS, tmp_path / attempt, QUICK, **arguments)
        digests.append([report.path.read_bytes() for report in result.folds])
    assert digests[0] == digests[1]


@pytest.mark.slow
@pytest.mark.parametrize("scaling", ["minmax", "standard"])
def test_tuned_configuration_trains_and_finds_the_anomaly(toy, scaling, tmp_path):
    base = QUICK._replace(scaling=scaling, max_epochs=10)
    tuned = tune_autoencoder(
        toy,
        BACKGROUNDS,
        base,
        TuningConfig(trials=6, max_epochs=4, seed=1),
        feature_set=FEATURE_SET,
        ignored=IGNORED,
    )
    names = (f"{scaling}_fold0.onnx", f"{scaling}_fold1.onnx")
    result = train_autoencoder(
        toy,
        BACKGROUNDS,
        tmp_path,
        tuned.config,
        feature_set=FEATURE_SET,
        model_names=names,
        ignored=IGNORED,
    )
    written = write_tuning(tuned, tmp_path)
    assert written.parent == result.folds[0].path.parent
    assert result.auc["shifted"] > 0.9
    assert result.scaling == scaling and result.plot.name == f"autoencoder_{scaling}.png"
