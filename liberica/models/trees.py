"""An ensemble of histogram gradient-boosted trees, and its export to one ONNX graph.

"Back to the roots" (arXiv 2309.13111) found that weakly supervised anomaly
searches on a few high-level features do better, and far more stably, with
boosted decision trees than with neural networks: many
``HistGradientBoostingClassifier`` members, each with early stopping on its own
random validation split, their probabilities averaged. Member k is seeded from
the ensemble's seed and k, so an ensemble is reproducible and its members differ.

The export builds the ONNX graph itself, from the members' fitted trees: one
``TreeEnsembleRegressor`` (one target per member: its raw log-odds), a
``Sigmoid`` and a ``ReduceMean`` over members, so the graph's only output is the
averaged P(label 1), of shape ``(rows, 1)``. skl2onnx 1.20 cannot convert a
``HistGradientBoostingClassifier`` of scikit-learn 1.9 (it passes a Python bool
among the integer attributes ``nodes_missing_value_tracks_true``, which onnx
1.23 refuses), and its classifier graphs carry a label output and a ZipMap that
the processor's single-output contract would have to strip.

Split thresholds are float64 in scikit-learn (which compares float64 features)
and float32 in ONNX. Each threshold t is stored as the largest float32 not above
it: for a float32 feature x, ``x <= t`` holds exactly when ``x <= float32_down(t)``,
so every row takes the same path in both, including rows on a threshold. What
remains is the float32 sum of the leaf values (measured below 1e-6 in
probability; ``EXPORT_TOLERANCE`` allows 1e-5).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

from liberica.models.spec import FeatureSpec

log = logging.getLogger(__name__)

EXPORT_TOLERANCE = 1e-5
"""Largest |ONNX - scikit-learn| probability the export accepts.

Measured: at most 2e-7 for 5 members of up to 200 trees on 4 features; the
paths agree exactly (float32 thresholds rounded down), only float32 sums differ.
"""

_OPSETS = {"": 17, "ai.onnx.ml": 3}


class TreeEnsembleConfig(NamedTuple):
    """Hyper-parameters of a tree ensemble (scikit-learn's names where they exist).

    Attributes:
        members: number of boosted-tree classifiers averaged
        max_iter: upper limit on boosting iterations of each member
        learning_rate: shrinkage of each tree
        max_leaf_nodes: leaves per tree
        validation_fraction: part of each member's rows held out for early stopping
            (a different random split per member)
        n_iter_no_change: iterations without validation-loss improvement before stopping
        seed: seeds every member (member k from ``(seed, k)``)
        threads: OpenMP threads of each fit (1: measured 10x faster than the default
            on this 2-core machine under load, where OpenMP threads spin-wait for
            each other; and sums then do not depend on the number of cores)
    """

    members: int = 5
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    validation_fraction: float = 0.2
    n_iter_no_change: int = 10
    seed: int = 0
    threads: int | None = 1


class TreeEnsemble(NamedTuple):
    """Fitted members whose class-1 probabilities are averaged.

    Attributes:
        members: the fitted ``HistGradientBoostingClassifier`` of each member
    """

    members: tuple[Any, ...]

    @property
    def classes_(self) -> np.ndarray:
        """The labels, as scikit-learn classifiers name them."""
        return np.array([0, 1])

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``(n, 2)`` probabilities of labels 0 and 1: the members' average (soft voting)."""
        positive = np.mean([m.predict_proba(features)[:, 1] for m in self.members], axis=0)
        return np.stack([1.0 - positive, positive], axis=1)

    @property
    def iterations(self) -> list[int]:
        """Boosting iterations each member ran before early stopping."""
        return [int(m.n_iter_) for m in self.members]


def member_seed(seed: int, member: int) -> int:
    """The random_state of member ``member`` of an ensemble seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def train_tree_ensemble(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    config: TreeEnsembleConfig | None = None,
) -> TreeEnsemble:
    """Fit ``config.members`` boosted-tree classifiers, each with its own early-stopping split.

    Args:
        features: ``(n, F)`` float32 (other types are cast: ONNX takes float32)
        labels: ``(n,)`` 0 or 1
        weights: ``(n,)`` non-negative sample weights, or None for unit weights
        config: the hyper-parameters [default: ``TreeEnsembleConfig()``]

    Raises:
        ValueError: for labels other than 0 and 1, or a single class
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    config = config or TreeEnsembleConfig()
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    if not np.isin(labels, (0, 1)).all() or len(np.unique(labels)) != 2:
        raise ValueError(f"labels must be 0 and 1, both present; got {np.unique(labels)[:5]}")
    if weights is not None and np.all(weights == weights[0]):
        # uniform weights change nothing but the binning's speed: scikit-learn 1.9
        # finds weighted bin edges with one weighted percentile per edge, 3-4x
        # the time of a whole unweighted fit
        weights = None
    members = []
    for k in range(config.members):
        member = HistGradientBoostingClassifier(
            learning_rate=config.learning_rate,
            max_iter=config.max_iter,
            max_leaf_nodes=config.max_leaf_nodes,
            categorical_features=None,
            early_stopping=True,
            scoring="loss",
            validation_fraction=config.validation_fraction,
            n_iter_no_change=config.n_iter_no_change,
            random_state=member_seed(config.seed, k),
        )
        with threadpool_limits(limits=config.threads, user_api="openmp"):
            members.append(member.fit(features, labels.astype(np.int64), sample_weight=weights))
    ensemble = TreeEnsemble(tuple(members))
    log.info("tree ensemble: %d members, iterations %s", config.members, ensemble.iterations)
    return ensemble


def _float32_down(values: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 value."""
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _tree_attributes(ensemble: TreeEnsemble) -> dict[str, Any]:
    """The TreeEnsembleRegressor attributes of every member's trees (target k: member k)."""
    columns: dict[str, list] = {
        "nodes_treeids": [],
        "nodes_nodeids": [],
        "nodes_featureids": [],
        "nodes_modes": [],
        "nodes_values": [],
        "nodes_truenodeids": [],
        "nodes_falsenodeids": [],
        "nodes_missing_value_tracks_true": [],
        "target_treeids": [],
        "target_nodeids": [],
        "target_ids": [],
        "target_weights": [],
    }
    base_values = []
    tree_id = 0
    for k, member in enumerate(ensemble.members):
        base_values.append(float(np.asarray(member._baseline_prediction).ravel()[0]))
        for iteration in member._predictors:
            (predictor,) = iteration  # binary: one tree per iteration
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not exported")
            leaf = nodes["is_leaf"].astype(bool)
            ids = np.arange(len(nodes))
            columns["nodes_treeids"] += [tree_id] * len(nodes)
            columns["nodes_nodeids"] += ids.tolist()
            columns["nodes_featureids"] += np.where(leaf, 0, nodes["feature_idx"]).tolist()
            columns["nodes_modes"] += [b"LEAF" if x else b"BRANCH_LEQ" for x in leaf]
            thresholds = _float32_down(np.where(leaf, 0.0, nodes["num_threshold"]))
            columns["nodes_values"] += thresholds.tolist()
            columns["nodes_truenodeids"] += np.where(leaf, 0, nodes["left"]).tolist()
            columns["nodes_falsenodeids"] += np.where(leaf, 0, nodes["right"]).tolist()
            missing_left = np.where(leaf, 0, nodes["missing_go_to_left"])
            columns["nodes_missing_value_tracks_true"] += missing_left.astype(int).tolist()
            columns["target_treeids"] += [tree_id] * int(leaf.sum())
            columns["target_nodeids"] += ids[leaf].tolist()
            columns["target_ids"] += [k] * int(leaf.sum())
            columns["target_weights"] += nodes["value"][leaf].tolist()
            tree_id += 1
    return {
        **columns,
        "n_targets": len(ensemble.members),
        "base_values": base_values,
        "aggregate_function": "SUM",
        "post_transform": "NONE",
    }


def _graph(ensemble: TreeEnsemble, n_features: int):
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            ["features"],
            ["member_logits"],
            domain="ai.onnx.ml",
            name="members",
            **_tree_attributes(ensemble),
        ),
        helper.make_node("Sigmoid", ["member_logits"], ["member_probabilities"], name="sigmoid"),
        helper.make_node(
            "ReduceMean", ["member_probabilities"], ["score"], axes=[1], keepdims=1, name="average"
        ),
    ]
    return helper.make_graph(
        nodes,
        "tree_ensemble",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["rows", n_features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["rows", 1])],
    )


def export_tree_ensemble(
    model: TreeEnsemble,
    spec: FeatureSpec,
    check_rows: np.ndarray,
    title: str = "liberica tree ensemble",
) -> bytes:
    """Serialize ``model`` as one ONNX graph with ``spec`` in its metadata, and check it.

    The graph takes float32 ``features`` ``(rows, F)`` and outputs ``score``
    ``(rows, 1)``, the members' averaged P(label 1). The bytes depend only on
    the model, the spec and the title.

    Args:
        model: the fitted ensemble
        spec: its feature specification (``spec.features`` gives F)
        check_rows: ``(n, F)`` rows on which ONNX and scikit-learn are compared
        title: the model's doc string

    Raises:
        ValueError: if ``check_rows`` do not have one column per feature of ``spec``
        RuntimeError: if some |ONNX - scikit-learn| exceeds EXPORT_TOLERANCE
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper
    from threadpoolctl import threadpool_limits

    n_features = len(spec.features)
    check_rows = np.ascontiguousarray(check_rows, dtype=np.float32)
    if check_rows.ndim != 2 or check_rows.shape[1] != n_features:
        raise ValueError(f"check rows of shape {check_rows.shape}, the spec has {n_features}")
    trained_on = {int(m.n_features_in_) for m in model.members}
    if trained_on != {n_features}:
        raise ValueError(f"members trained on {trained_on} features, the spec has {n_features}")
    opsets = [helper.make_opsetid(domain, version) for domain, version in _OPSETS.items()]
    proto = helper.make_model(
        _graph(model, n_features),
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="liberica",
        doc_string=title,
    )
    for key, value in spec.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    model_bytes = proto.SerializeToString(deterministic=True)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"features": check_rows})[0].reshape(-1)
    with threadpool_limits(limits=1, user_api="openmp"):
        reference = model.predict_proba(check_rows)[:, 1]
    difference = float(np.max(np.abs(onnx_out - reference))) if len(check_rows) else 0.0
    if difference > EXPORT_TOLERANCE:
        raise RuntimeError(
            f"tree ensemble export: ONNX differs from scikit-learn by {difference:.3g} "
            f"(tolerance {EXPORT_TOLERANCE:g})"
        )
    log.info(
        "tree ensemble exported: %d bytes, |ONNX - sklearn| <= %.2g", len(model_bytes), difference
    )
    return model_bytes
