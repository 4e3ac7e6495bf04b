"""Train an analysis's classifier with torch, in K folds by eventNumber, and export to ONNX.

With K folds (``TrainingConfig.folds``, 2 by default), the model of fold m is
evaluated on the MC events with ``eventNumber % K == (m + 1) % K`` and trained on
the others (early stopping on a seeded validation split of those), which is
also the rule by which it scores in the processor. For two folds, fold k trains
on parity k and scores the other parity. Standardization is a
layer of the exported graph, so the ONNX file takes raw features (GeV). torch
is needed here only; running the models needs onnxruntime alone.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any, NamedTuple

import numpy as np

from liberica.core.registry import FeatureSet
from liberica.models.spec import FeatureSpec

log = logging.getLogger(__name__)

EXPORT_TOLERANCE = 1e-5


class TrainingConfig(NamedTuple):
    """Hyper-parameters and choices of a training.

    Attributes:
        hidden: widths of the hidden layers
        learning_rate: Adam learning rate
        batch_size: rows per step
        max_epochs: upper limit on epochs
        patience: epochs without validation improvement before stopping
        validation_fraction: part of the training fold held out for early stopping
        weighted: use event weights instead of counts
        negative_weights: how a weighted training takes negative event weights:
            ``clip`` (to 0) or ``abs`` (their magnitude, so that each class's
            sum of |w| is what is balanced)
        all_backgrounds: train against every background, not only the classifier's
        seed: seeds torch and the splits: the same seed gives the same model
        folds: K, the folds of the rule on eventNumber (K >= 2)
    """

    hidden: tuple[int, ...] = (32, 32)
    learning_rate: float = 2e-3
    batch_size: int = 512
    max_epochs: int = 60
    patience: int = 6
    validation_fraction: float = 0.2
    weighted: bool = True
    all_backgrounds: bool = False
    seed: int = 42
    folds: int = 2
    negative_weights: str = "clip"


class FoldReport(NamedTuple):
    """What one fold's training gave.

    Attributes:
        fold: the fold m (for two folds, the eventNumber parity it trained on)
        path: the exported ONNX file
        epochs: epochs run (early stopping included)
        auc_weighted: ROC AUC on the residue it scores, with event weights
        auc_unweighted: the same, counting events
        onnx_max_abs_diff: largest |ONNX - torch| over the evaluation rows
        n_train: rows trained on (validation excluded)
        n_evaluated: rows of the residue it was evaluated on
        folds: K
    """

    fold: int
    path: pathlib.Path
    epochs: int
    auc_weighted: float
    auc_unweighted: float
    onnx_max_abs_diff: float
    n_train: int
    n_evaluated: int
    folds: int = 2

    @property
    def train_parity(self) -> int:
        """For two folds: the eventNumber parity it trained on."""
        return self.fold

    @property
    def evaluates(self) -> int:
        """The residue ``eventNumber % folds`` it was evaluated on."""
        return (self.fold + 1) % self.folds


def labels_and_weights(
    table: np.ndarray,
    signal: list[str],
    backgrounds: list[str],
    weighted: bool,
    negative_weights: str = "clip",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows used for training, their labels (1 = signal) and class-balanced weights.

    Each class's weights sum to half the rows; ``negative_weights`` says how a
    negative event weight enters (``clip``: as 0, ``abs``: as its magnitude).
    """
    process = table["process"]
    keep = np.isin(process, signal + backgrounds)
    rows = np.flatnonzero(keep)
    label = np.isin(process[rows], signal).astype(np.float32)
    if negative_weights not in ("clip", "abs"):
        raise ValueError(f"negative_weights must be 'clip' or 'abs', got {negative_weights!r}")
    weights = table["weight"][rows]
    if not weighted:
        weight = np.ones(len(rows))
    elif negative_weights == "abs":
        weight = np.abs(weights)
    else:
        weight = np.clip(weights, 0.0, None)
    balanced = weight.astype(np.float64).copy()
    for value in (0.0, 1.0):
        part = label == value
        total = balanced[part].sum()
        if total > 0:
            balanced[part] *= 0.5 * len(rows) / total  # each class sums to half the rows
    return rows, label, balanced.astype(np.float32)


def roc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None):
    """False- and true-positive rates over all thresholds, and the area under the curve."""
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    w, y, s = weights[order], labels[order], scores[order]
    # one point per distinct threshold: tied scores move together
    last_of_tie = np.append(np.flatnonzero(np.diff(s)), len(s) - 1)
    tp = np.concatenate([[0.0], np.cumsum(w * (y == 1))[last_of_tie]])
    fp = np.concatenate([[0.0], np.cumsum(w * (y == 0))[last_of_tie]])
    tpr, fpr = tp / tp[-1], fp / fp[-1]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def _network(config: TrainingConfig, mean: np.ndarray, scale: np.ndarray):
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            layers: list[torch.nn.Module] = []
            width = len(mean)
            for hidden in config.hidden:
                layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
                width = hidden
            layers.append(torch.nn.Linear(width, 1))
            self.body = torch.nn.Sequential(*layers)

        def logits(self, x):
            return self.body((x - self.mean) / self.scale)

        def forward(self, x):
            return torch.sigmoid(self.logits(x))

    return Classifier()


def train_fold(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, config: TrainingConfig
) -> tuple[Any, int]:
    """Train one network with early stopping; returns the best model and epochs run."""
    import torch

    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True)
    generator = np.random.default_rng(config.seed)
    order = generator.permutation(len(features))
    n_valid = int(config.validation_fraction * len(features))
    valid, train = order[:n_valid], order[n_valid:]
    mean = features[train].mean(axis=0)
    scale = features[train].std(axis=0)
    scale[scale == 0] = 1.0
    model = _network(config, mean, scale)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    x = torch.as_tensor(features)
    y = torch.as_tensor(labels).unsqueeze(1)
    w = torch.as_tensor(weights).unsqueeze(1)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")

    def loss_of(rows: np.ndarray) -> torch.Tensor:
        index = torch.as_tensor(rows)
        losses = loss_fn(model.logits(x[index]), y[index]) * w[index]
        return losses.sum() / w[index].sum()

    best, best_state, stale, epochs_run = np.inf, None, 0, 0
    for epoch in range(1, config.max_epochs + 1):
        epochs_run = epoch
        model.train()
        shuffled = train[generator.permutation(len(train))]
        for start in range(0, len(shuffled), config.batch_size):
            optimizer.zero_grad()
            loss = loss_of(shuffled[start : start + config.batch_size])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            validation = float(loss_of(valid))
        if validation < best - 1e-5:
            best, stale = validation, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    log.info("fold trained: %d epochs, best validation loss %.4f", epochs_run, best)
    return model, epochs_run


def export_onnx(
    model,
    spec: FeatureSpec,
    path: pathlib.Path,
    check_rows: np.ndarray,
    title: str = "liberica classifier",
    rtol: float = 0.0,
) -> float:
    """Export ``model`` to one self-contained ONNX file with ``spec`` in its metadata.

    ``title`` is the model's doc string; ``rtol`` a relative tolerance added to
    EXPORT_TOLERANCE, for outputs that are not bounded (0 for probabilities).

    Returns:
        the largest |ONNX - torch| output difference over ``check_rows``

    Raises:
        RuntimeError: if some |ONNX - torch| exceeds EXPORT_TOLERANCE + rtol * |torch|
    """
    import warnings

    import onnx
    import onnxruntime as ort
    import torch

    example = torch.as_tensor(check_rows[:8])
    # the exporter logs, for every export, that torchvision's operators are not registered
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (example,),
            input_names=["features"],
            output_names=["score"],
            dynamic_shapes=({0: torch.export.Dim("rows")},),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    _strip_provenance(proto)
    del proto.metadata_props[:]
    for key, value in spec.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = title
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, path, save_as_external_data=False)
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"features": check_rows})[0]
    with torch.no_grad():
        torch_out = model(torch.as_tensor(check_rows)).numpy()
    deviation = np.abs(onnx_out - torch_out)
    difference = float(np.max(deviation)) if len(check_rows) else 0.0
    if np.any(deviation > EXPORT_TOLERANCE + rtol * np.abs(torch_out)):
        raise RuntimeError(f"{path}: ONNX differs from torch by {difference:.3g}")
    return difference


def _strip_provenance(proto) -> None:
    """Drop the exporter's per-node stack traces (source paths, line numbers).

    They would make the model's bytes depend on where liberica is installed.
    """
    nodes = list(proto.graph.node)
    for function in proto.functions:
        nodes += list(function.node)
    for node in nodes:
        del node.metadata_props[:]
        node.doc_string = ""
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        del value.metadata_props[:]
        value.doc_string = ""
    del proto.graph.metadata_props[:]


def train(
    table: np.ndarray,
    signal: list[str],
    backgrounds: list[str],
    out_dir: pathlib.Path,
    config: TrainingConfig | None = None,
    training_sample: str = "",
    *,
    feature_set: FeatureSet,
    model_names: tuple[str, ...],
    output: str,
    title: str = "liberica classifier",
    uses_fit_observable: bool = False,
) -> list[FoldReport]:
    """Train and export both folds; write ROC and score plots next to the models.

    Args:
        table: feature rows as dumped by the processor (structured array)
        signal: processes labelled signal
        backgrounds: processes labelled background
        out_dir: where the models and the plots go
        config: the training choices
        training_sample: description stored in the model metadata
        feature_set: the analysis's feature set (names in column order)
        model_names: the file name of each fold's model, fold 0 first (one per fold)
        output: what the output means, stored in the metadata
        title: the models' doc string
        uses_fit_observable: the features include the observable of a region the
            classifier scores (recorded in the spec; runs must allow such models)
    """
    config = config or TrainingConfig()
    if config.folds < 2 or len(model_names) != config.folds:
        raise ValueError(
            f"{config.folds} folds (at least 2) need as many model names, got {model_names}"
        )
    rows, labels, weights = labels_and_weights(
        table, signal, backgrounds, config.weighted, config.negative_weights
    )
    features = np.stack([table[name][rows] for name in feature_set.features], axis=1).astype(
        np.float32
    )
    residue = table["eventNumber"][rows] % config.folds
    event_weight = table["weight"][rows]
    reports, curves = [], []
    for fold in range(config.folds):
        evaluates = (fold + 1) % config.folds
        fit_rows = np.flatnonzero(residue != evaluates)
        eval_rows = np.flatnonzero(residue == evaluates)
        model, epochs = train_fold(features[fit_rows], labels[fit_rows], weights[fit_rows], config)
        spec = FeatureSpec(
            feature_set=feature_set.name,
            features=feature_set.features,
            fold=fold,
            folds=config.folds,
            output=output,
            preprocessing="standardization (x - mean) / std of the training rows, inside the graph",
            training_sample=f"{training_sample}; signal {signal} vs {backgrounds}; "
            f"weighted={config.weighted}; seed={config.seed}",
            uses_fit_observable=uses_fit_observable,
        )
        path = out_dir / model_names[fold]
        difference = export_onnx(model, spec, path, features[eval_rows], title)
        import torch

        with torch.no_grad():
            scores = model(torch.as_tensor(features[eval_rows])).numpy().reshape(-1)
        y = labels[eval_rows]
        _, _, auc_w = roc(scores, y, np.clip(event_weight[eval_rows], 0, None))
        fpr, tpr, auc_u = roc(scores, y)
        curves.append((fold, fpr, tpr, scores, y, event_weight[eval_rows]))
        n_valid = int(config.validation_fraction * len(fit_rows))
        reports.append(
            FoldReport(
                fold,
                path,
                epochs,
                auc_w,
                auc_u,
                difference,
                len(fit_rows) - n_valid,
                len(eval_rows),
                config.folds,
            )
        )
        log.info(
            "fold %d: AUC %.4f weighted, %.4f unweighted; ONNX-torch %.2g",
            fold,
            auc_w,
            auc_u,
            difference,
        )
    _plot(curves, reports, out_dir)
    return reports


def _plot(curves, reports, out_dir: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    with plt.style.context(mplhep.style.ATLAS):
        figure, ax = plt.subplots(figsize=(7, 7))
        for (fold, fpr, tpr, *_), report in zip(curves, reports, strict=True):
            ax.plot(
                fpr,
                tpr,
                label=f"fold {fold} (scores eventNumber % {report.folds} == {report.evaluates}), "
                f"AUC {report.auc_unweighted:.3f}",
            )
        ax.plot([0, 1], [0, 1], "k:", linewidth=1)
        ax.set_xlabel("Background efficiency")
        ax.set_ylabel("Signal efficiency")
        ax.legend(loc="lower right", fontsize="small")
        for fmt in ("png", "pdf"):
            figure.savefig(out_dir / f"roc.{fmt}", bbox_inches="tight")
        plt.close(figure)
        figure, ax = plt.subplots(figsize=(8, 6))
        bins = np.linspace(0, 1, 26)
        for (fold, _, _, scores, y, w), report in zip(curves, reports, strict=True):
            style = "-" if fold == 0 else "--"
            for value, name, color in ((1, "signal", "tab:red"), (0, "background", "tab:blue")):
                part = y == value
                ax.hist(
                    scores[part],
                    bins=bins,
                    weights=w[part],
                    density=True,
                    histtype="step",
                    linestyle=style,
                    color=color,
                    label=f"{name}, residue-{report.evaluates} events (fold {fold} model)",
                )
        ax.set_xlabel("Classifier score")
        ax.set_ylabel("Normalized events")
        ax.set_yscale("log")
        ax.legend(fontsize="small")
        for fmt in ("png", "pdf"):
            figure.savefig(out_dir / f"scores.{fmt}", bbox_inches="tight")
        plt.close(figure)
