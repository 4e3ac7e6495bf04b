"""The FT-Transformer: ONNX equals torch, missing values and unseen categories, the spec's categories."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liberica.models.ft_transformer import (  # noqa: E402
    FTTransformerError,
    build_ft_transformer,
    export,
    fit_encoding,
    is_missing,
)
from liberica.models.spec import FeatureSpec, read_classifier  # noqa: E402

NAMES = ("pt", "eta", "m_tau2", "n_tracks", "charge")
CATEGORICAL = ("n_tracks", "charge")
CLASSES = ("sig", "bkg1", "bkg2")


def _rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.empty((n, len(NAMES)), dtype=np.float32)
    rows[:, 0] = rng.exponential(50.0, n) + 10.0
    rows[:, 1] = rng.normal(0.0, 1.2, n)
    rows[:, 2] = rng.normal(80.0, 20.0, n)
    rows[::4, 2] = -999.0  # no second tau
    rows[1::9, 2] = np.nan
    rows[:, 3] = rng.choice([1.0, 3.0], n)
    rows[::13, 3] = -999.0
    rows[:, 4] = rng.choice([-1.0, 1.0], n)
    return rows


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny untrained transformer (d_token 8, one block), exported once."""
    rows = _rows(200)
    encoding = fit_encoding(rows, NAMES, CATEGORICAL)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = build_ft_transformer(encoding, len(CLASSES), d_token=8, n_blocks=1, heads=4)
        # the learned missing values start at 0; move them so that they matter
        model.tokenizer.standardizer.missing_value.data[:] = torch.tensor([0.5, -1.5, 2.0])
    spec = FeatureSpec(
        "toy-v1",
        NAMES,
        0,
        "probability of each class",
        "in the graph",
        "toy",
        version="2",
        outputs=CLASSES,
        categorical=encoding.categorical_values(NAMES),
    )
    path = tmp_path_factory.mktemp("ft") / "ft.onnx"
    difference = export(model, spec, path, rows)
    classifier = read_classifier(path.read_bytes(), path.name)
    return model, encoding, classifier, difference


def _onnx(classifier, rows: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(classifier.model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {"features": np.ascontiguousarray(rows, dtype=np.float32)})[0]


def test_onnx_equals_torch_and_softmax_sums_to_one(exported):
    model, _, classifier, difference = exported
    rows = _rows(300, seed=1)  # other rows than the export checked
    onnx_out = _onnx(classifier, rows)
    with torch.no_grad():
        torch_out = model(torch.as_tensor(rows)).numpy()
    assert difference <= 1e-5
    assert onnx_out.shape == (300, len(CLASSES))
    assert np.abs(onnx_out - torch_out).max() <= 1e-5
    assert np.allclose(onnx_out.sum(axis=1), 1.0, atol=1e-6)
    assert np.isfinite(onnx_out).all()


def test_unseen_category_scores_as_the_unknown_index(exported):
    model, encoding, classifier, _ = exported
    assert encoding.categories == ((1.0, 3.0), (-1.0, 1.0))  # -999 is not a category
    base = _rows(6, seed=2)
    base[:, 3] = 1.0
    variants = {}
    for label, value in {"seen": 1.0, "other seen": 3.0, "unseen": 7.0, "code": -999.0}.items():
        rows = base.copy()
        rows[:, 3] = value
        variants[label] = _onnx(classifier, rows)
    for out in variants.values():
        assert np.isfinite(out).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-6)
    # an unseen value and the missing code both take index 0, "unknown"
    np.testing.assert_array_equal(variants["unseen"], variants["code"])
    with torch.no_grad():
        index = model.tokenizer.indexer(torch.tensor([[0, 0, 0, 7.0, 5.0], [0, 0, 0, 3.0, -1.0]]))
    offsets = model.tokenizer.indexer.offsets
    assert (index - offsets).tolist() == [[0, 0], [2, 1]]
    # and the category matters: index 0 is not one of the seen values' rows
    assert np.abs(variants["unseen"] - variants["seen"]).max() > 1e-4
    assert np.abs(variants["seen"] - variants["other seen"]).max() > 1e-4


def test_missing_continuous_value_takes_the_learned_value(exported):
    model, encoding, _, _ = exported
    standardizer = model.tokenizer.standardizer
    rows = np.repeat(_rows(1, seed=4), 5, axis=0)  # one event, five values of m_tau2
    rows[:, 2] = [-999.0, np.nan, -5000.0, 0.0, 0.0]
    # the raw value whose standardized value equals the learned one (2.0) for m_tau2
    column = encoding.continuous.index(2)
    rows[3, 2] = encoding.mean[column] + 2.0 * encoding.scale[column]
    with torch.no_grad():
        z = standardizer(torch.as_tensor(rows)).numpy()
        out = model(torch.as_tensor(rows)).numpy()
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z[:3, column], 2.0)
    np.testing.assert_allclose(out[:3], np.repeat(out[:1], 3, axis=0), atol=1e-6)
    np.testing.assert_allclose(out[3], out[0], atol=1e-5)  # learned value == that raw value
    assert abs(z[4, column] - (0.0 - encoding.mean[column]) / encoding.scale[column]) < 1e-5


def test_standardization_ignores_missing_values():
    rows = _rows(400, seed=5)
    encoding = fit_encoding(rows, NAMES, CATEGORICAL)
    present = rows[~is_missing(rows[:, 2]), 2].astype(np.float64)
    column = encoding.continuous.index(2)
    assert encoding.continuous == (0, 1, 2) and encoding.categorical == (3, 4)
    assert abs(encoding.mean[column] - present.mean()) < 1e-3
    assert abs(encoding.scale[column] - present.std()) < 1e-3
    assert 50 < encoding.mean[column] < 110  # a -999 in the mean would pull it below 0


def test_spec_round_trip_with_and_without_categories(exported):
    _, encoding, classifier, _ = exported
    assert dict(classifier.spec.categorical) == {"n_tracks": (1.0, 3.0), "charge": (-1.0, 1.0)}
    assert classifier.spec.outputs == CLASSES
    plain = FeatureSpec("toy-v1", NAMES, 1, "o", "p", "s", version="2", outputs=CLASSES)
    assert "liberica.categorical" not in plain.to_metadata()
    assert FeatureSpec.from_metadata(plain.to_metadata(), "m") == plain
    with_categories = plain._replace(categorical=encoding.categorical_values(NAMES))
    metadata = with_categories.to_metadata()
    assert metadata["liberica.categorical"] == '{"n_tracks": [1.0, 3.0], "charge": [-1.0, 1.0]}'
    assert FeatureSpec.from_metadata(metadata, "m") == with_categories
    # the other keys are those of the plain spec, in the same order
    assert [k for k in metadata if k != "liberica.categorical"] == list(plain.to_metadata())


def test_categorical_metadata_naming_no_feature_is_refused():
    from liberica.models.spec import ModelSpecError

    metadata = FeatureSpec("fs", NAMES, 0, "o", "p", "s", categorical={"charge": (1.0,)})
    metadata = metadata.to_metadata()
    metadata["liberica.categorical"] = '{"n_jets": [4.0]}'
    with pytest.raises(ModelSpecError, match=r"m\.onnx: .*\['n_jets'\] are not among the features"):
        FeatureSpec.from_metadata(metadata, "m.onnx")


def test_bad_inputs_are_named():
    rows = _rows(20)
    with pytest.raises(FTTransformerError, match=r"categorical features \['flavour'\]"):
        fit_encoding(rows, NAMES, ("flavour",))
    encoding = fit_encoding(rows, NAMES, CATEGORICAL)
    with pytest.raises(
        FTTransformerError, match="d_token 10 is not a positive multiple of heads 4"
    ):
        build_ft_transformer(encoding, 3, d_token=10)
    rows[3, 1] = np.inf
    with pytest.raises(FTTransformerError, match=r"\['eta'\] hold infinite values"):
        fit_encoding(rows, NAMES, CATEGORICAL)


def test_a_spec_with_categories_pickles(exported):
    """Processors carry their classifiers to worker processes by pickle."""
    import pickle

    _, _, classifier, _ = exported
    assert pickle.loads(pickle.dumps(classifier)) == classifier
