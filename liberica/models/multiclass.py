"""K-fold multi-class training on one feature table: FT-Transformer, multi-class MLP, binary MLP.

Classes are ordered groups of processes. Every architecture reads the same raw
features through the same input layer (:mod:`liberica.models.ft_transformer`:
standardization and learned missing values for continuous features, embeddings
with an "unknown" index for categorical ones), so baselines and transformer
differ only in the network behind it:

- ``ft_transformer``: the FT-Transformer, softmax over the classes;
- ``mlp``: an MLP (Linear -> GELU -> Dropout per hidden layer) on the
  standardized continuous values and the flattened category embeddings,
  softmax over the classes;
- ``binary_mlp``: the same MLP with one sigmoid output, the first class against
  all others (the output is named after the first class).

The loss is the cross entropy weighted by event weights (negative ones clipped
to 0) scaled so that each class sums to the same total (for ``binary_mlp``: the
first class to the sum of all others, which keep equal shares), averaged per
batch as ``sum_i w_i l_i / sum_i w_i``. The optimizer is AdamW. Early stopping
watches the same weighted loss on a seeded validation split of the fold's
training rows, and a fold also stops at ``max_fold_seconds`` of wall time
(checked after every batch); either way the best epoch's weights are kept and
the reason is recorded.

Folds follow train.py's rule: the model of fold m scores the rows with
``eventNumber % K == (m + 1) % K`` and trains on the others. Each fold's model
is exported to ONNX, re-read through :func:`~liberica.models.spec.read_classifier`,
and scores its rows with onnxruntime, so the out-of-fold probabilities returned
are those of the deployed files. torch is needed here only.

Measured on the shared 2-core machine (synthetic 30 features, 6 categorical,
batch 512): the default FT-Transformer (d_token 64, 3 blocks) trains at about
900-1600 rows/s and evaluates at 1600-5600 rows/s, so an epoch of 240k training
and 60k validation rows takes 160-500 s, and a 1200 s fold runs 2-7 epochs;
d_token 32 with 2 blocks is about 2.5 times faster. Two torch threads beat one
only on an idle machine (on a loaded one they ran 2-5 times slower). A fold
costs, beyond ``max_fold_seconds``: one validation pass, an export (5-15 s) and
the scoring of its rows by onnxruntime (about 2000 rows/s on one thread).
"""

from __future__ import annotations

import logging
import math
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from liberica.core.errors import LibericaError
from liberica.models.ft_transformer import (
    PREPROCESSING,
    CategoryIndexer,
    MissingAwareStandardizer,
    TabularEncoding,
    build_ft_transformer,
    export,
    fit_encoding,
)
from liberica.models.kfold import fold_seed
from liberica.models.spec import SPEC_VERSION_MULTI, FeatureSpec, read_classifier

log = logging.getLogger(__name__)

ARCHITECTURES = ("ft_transformer", "mlp", "binary_mlp")

STOP_REASONS = ("early_stopping", "max_epochs", "time_limit")

CHECK_ROWS = 1024
"""Rows on which each export is compared with torch (the exporter holds them in one batch)."""

SCORE_BATCH = 8192
"""Rows per onnxruntime run and per validation-loss batch (bounds the attention's memory)."""


class MulticlassError(LibericaError, ValueError):
    """A class definition, table or configuration that a multi-class training cannot use."""


class MulticlassConfig(NamedTuple):
    """Choices of a multi-class training.

    Attributes:
        architecture: ``ft_transformer``, ``mlp`` or ``binary_mlp``
        d_token: FT-Transformer token size (a multiple of ``heads``)
        n_blocks: FT-Transformer blocks
        heads: attention heads
        dropout: FT-Transformer (attention weights, feed-forward) and MLP hidden layers
        ffn_factor: FT-Transformer feed-forward hidden width over ``d_token``
        learning_rate: AdamW learning rate
        weight_decay: AdamW decoupled weight decay
        batch_size: rows per step
        max_epochs: upper limit on epochs
        patience: epochs without validation improvement before stopping
        validation_fraction: part of a fold's training rows held out for early stopping
        max_train_events: a fold's training rows (validation included) above this
            are subsampled to it, seeded and stratified by class
        max_fold_seconds: wall time after which a fold stops (best epoch kept)
        folds: K of the rule on eventNumber
        seed: the fold m model is seeded from ``(seed, m)`` (kfold.fold_seed)
        hidden: hidden widths of the MLPs
        category_width: embedding width of each categorical feature in the MLPs
        threads: torch intra-op threads while training and scoring (torch's
            setting is restored afterwards). One by default: on the shared 2-core
            test machine two threads ran a small model's steps 16 times slower
    """

    architecture: str = "ft_transformer"
    d_token: int = 64
    n_blocks: int = 3
    heads: int = 4
    dropout: float = 0.2
    ffn_factor: float = 2.0
    learning_rate: float = 3e-4
    weight_decay: float = 0.01
    batch_size: int = 512
    max_epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.2
    max_train_events: int = 300_000
    max_fold_seconds: float = 1200.0
    folds: int = 2
    seed: int = 42
    hidden: tuple[int, ...] = (128, 128, 128)
    category_width: int = 4
    threads: int = 1


class MulticlassFoldReport(NamedTuple):
    """What one fold's training gave.

    Attributes:
        fold: the fold m; it scores ``eventNumber % folds == (m + 1) % folds``
        path: the exported ONNX file
        epochs: epochs run (a partial last epoch under the time limit counts)
        stop_reason: one of :data:`STOP_REASONS`
        seconds: wall time of the training (export and scoring excluded)
        seconds_per_epoch: ``seconds / epochs``
        best_validation_loss: the weighted validation loss at the kept epoch
        validation_losses: the validation loss after each epoch
        n_train: rows trained on
        n_validation: rows of the validation split
        n_evaluated: rows it scores
        onnx_max_abs_diff: largest |ONNX - torch| over up to :data:`CHECK_ROWS` scored rows
        folds: K
        fitted_rows: sorted indices into :attr:`MulticlassResult.rows` of the rows it
            trained or validated on
    """

    fold: int
    path: pathlib.Path
    epochs: int
    stop_reason: str
    seconds: float
    seconds_per_epoch: float
    best_validation_loss: float
    validation_losses: tuple[float, ...]
    n_train: int
    n_validation: int
    n_evaluated: int
    onnx_max_abs_diff: float
    folds: int
    fitted_rows: np.ndarray

    @property
    def evaluates(self) -> int:
        """The residue ``eventNumber % folds`` of the rows it scores."""
        return (self.fold + 1) % self.folds


class MulticlassResult(NamedTuple):
    """A k-fold multi-class training and its out-of-fold scores.

    Attributes:
        architecture: the configuration's architecture
        classes: class names in index order
        outputs: the models' output names (the classes, or the first class alone
            for ``binary_mlp``)
        folds: one report per fold, fold 0 first
        rows: indices into the table of the rows kept (those of some class)
        probabilities: ``(n, len(outputs))`` of every kept row, from the fold
            model that did not train on it (onnxruntime)
        class_index: ``(n,)`` the row's class (index into ``classes``)
        weight: ``(n,)`` the row's event weight, as in the table
        event_number: ``(n,)`` the row's eventNumber
        config: the configuration used
    """

    architecture: str
    classes: tuple[str, ...]
    outputs: tuple[str, ...]
    folds: list[MulticlassFoldReport]
    rows: np.ndarray
    probabilities: np.ndarray
    class_index: np.ndarray
    weight: np.ndarray
    event_number: np.ndarray
    config: MulticlassConfig


def check_config(config: MulticlassConfig) -> None:
    """Refuse a configuration that cannot train.

    Raises:
        MulticlassError: naming the field and its value
    """
    if config.architecture not in ARCHITECTURES:
        raise MulticlassError(
            f"architecture must be one of {ARCHITECTURES}, got {config.architecture!r}"
        )
    if config.folds < 2:
        raise MulticlassError(f"folds must be at least 2, got {config.folds}")
    if not 0 < config.validation_fraction < 1:
        raise MulticlassError(
            f"validation_fraction must lie in (0, 1), got {config.validation_fraction}"
        )
    if config.d_token < 1 or config.heads < 1 or config.d_token % config.heads:
        raise MulticlassError(
            f"d_token {config.d_token} is not a positive multiple of heads {config.heads}"
        )
    for field in ("n_blocks", "batch_size", "max_epochs", "patience", "threads", "category_width"):
        if getattr(config, field) < 1:
            raise MulticlassError(f"{field} must be at least 1, got {getattr(config, field)}")
    if min(config.hidden, default=0) < 1:
        raise MulticlassError(f"hidden widths must be positive, got {config.hidden}")
    if config.max_train_events < 2 or config.max_fold_seconds <= 0:
        raise MulticlassError(
            f"max_train_events {config.max_train_events} and max_fold_seconds "
            f"{config.max_fold_seconds} must be positive"
        )
    if not 0 <= config.dropout < 1:
        raise MulticlassError(f"dropout must lie in [0, 1), got {config.dropout}")


def class_rows(
    process: np.ndarray, classes: Mapping[str, Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of some class and their class indices; rows of other processes are dropped (logged).

    Raises:
        MulticlassError: fewer than two classes, a process in two classes, or a
            class without rows
    """
    names = list(classes)
    if len(names) < 2:
        raise MulticlassError(f"need at least 2 classes, got {names}")
    owner: dict[str, str] = {}
    for name in names:
        for member in classes[name]:
            if member in owner:
                raise MulticlassError(
                    f"process {member!r} is in classes {owner[member]!r} and {name!r}"
                )
            owner[member] = name
    process = np.asarray(process).astype(str)
    index = np.full(len(process), -1, dtype=np.int64)
    for k, name in enumerate(names):
        index[np.isin(process, list(classes[name]))] = k
    for k, name in enumerate(names):
        if not (index == k).any():
            raise MulticlassError(f"class {name!r} ({list(classes[name])}) has no rows")
    dropped, counts = np.unique(process[index < 0], return_counts=True)
    if dropped.size:
        log.info(
            "rows of processes in no class are dropped: %s",
            ", ".join(f"{p} ({c})" for p, c in zip(dropped, counts, strict=True)),
        )
    rows = np.flatnonzero(index >= 0)
    return rows, index[rows]


def loss_weights(weight: np.ndarray, class_index: np.ndarray, n_classes: int, binary: bool):
    """Event weights clipped at 0 and scaled so that each class sums to the same total.

    With ``binary``, the first class sums to the total of all the others (each of
    which keeps an equal share). The weights sum to the number of rows.

    Raises:
        MulticlassError: a class whose weights sum to zero
    """
    clipped = np.clip(np.asarray(weight, dtype=np.float64), 0.0, None)
    share = np.ones(n_classes)
    if binary:
        share[0] = n_classes - 1
    out = np.zeros(len(clipped))
    for k in range(n_classes):
        part = class_index == k
        total = clipped[part].sum()
        if not total > 0:
            raise MulticlassError(f"class index {k} has no positive weight among the rows")
        out[part] = clipped[part] * share[k] / total
    return out * len(clipped) / out.sum()


def stratified_subsample(
    class_index: np.ndarray, limit: int, generator: np.random.Generator
) -> np.ndarray:
    """Sorted positions of at most ``limit`` rows, each class keeping its share (seeded)."""
    n = len(class_index)
    if n <= limit:
        return np.arange(n)
    chosen = []
    for k in np.unique(class_index):
        members = np.flatnonzero(class_index == k)
        take = max(1, int(math.floor(limit * len(members) / n)))
        chosen.append(generator.choice(members, min(take, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _mlp(encoding: TabularEncoding, n_outputs: int, config: MulticlassConfig):
    import torch

    class TabularMLP(torch.nn.Module):
        """Standardized continuous values and flattened category embeddings -> an MLP."""

        def __init__(self) -> None:
            super().__init__()
            self.binary = n_outputs == 1
            self.standardizer = MissingAwareStandardizer(encoding)
            self.indexer = CategoryIndexer(encoding)
            self.n_categorical = len(encoding.categorical)
            self.embedding = torch.nn.Embedding(self.indexer.size, config.category_width)
            layers: list[torch.nn.Module] = []
            width = len(encoding.continuous) + self.n_categorical * config.category_width
            for hidden in config.hidden:
                layers += [
                    torch.nn.Linear(width, hidden),
                    torch.nn.GELU(),
                    torch.nn.Dropout(config.dropout),
                ]
                width = hidden
            layers.append(torch.nn.Linear(width, n_outputs))
            self.body = torch.nn.Sequential(*layers)

        def logits(self, x):
            inputs = self.standardizer(x)
            if self.n_categorical:
                embedded = self.embedding(self.indexer(x)).flatten(1)
                inputs = torch.cat([inputs, embedded], dim=1)
            return self.body(inputs)

        def forward(self, x):
            logits = self.logits(x)
            return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=-1)

    return TabularMLP()


def _network(encoding: TabularEncoding, n_outputs: int, config: MulticlassConfig):
    if config.architecture == "ft_transformer":
        return build_ft_transformer(
            encoding,
            n_outputs,
            d_token=config.d_token,
            n_blocks=config.n_blocks,
            heads=config.heads,
            dropout=config.dropout,
            ffn_factor=config.ffn_factor,
        )
    return _mlp(encoding, n_outputs, config)


class _Fit(NamedTuple):
    model: Any
    epochs: int
    stop_reason: str
    seconds: float
    best_validation_loss: float
    validation_losses: tuple[float, ...]


def _loss_function(binary: bool):
    import torch

    def loss(logits, target):
        if binary:
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits[:, 0], (target == 0).to(logits.dtype), reduction="none"
            )
        return torch.nn.functional.cross_entropy(logits, target, reduction="none")

    return loss


def _fit(
    features: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    encoding: TabularEncoding,
    n_outputs: int,
    config: MulticlassConfig,
    generator: np.random.Generator,
) -> _Fit:
    import torch

    start = time.perf_counter()
    torch.manual_seed(config.seed)
    model = _network(encoding, n_outputs, config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x = torch.as_tensor(features)
    y = torch.as_tensor(target)
    w = torch.as_tensor(weights, dtype=torch.float32)
    loss_of = _loss_function(n_outputs == 1)

    def validation_loss() -> float:
        model.eval()
        total = 0.0
        with torch.no_grad():
            for first in range(0, len(valid), SCORE_BATCH):
                index = torch.as_tensor(valid[first : first + SCORE_BATCH])
                total += float((loss_of(model.logits(x[index]), y[index]) * w[index]).sum())
        return total / max(float(w[torch.as_tensor(valid)].sum()), 1e-12)

    best, best_state, stale = np.inf, None, 0
    losses: list[float] = []
    reason, epochs = "max_epochs", 0
    for epoch in range(1, config.max_epochs + 1):
        epochs = epoch
        model.train()
        shuffled = train[generator.permutation(len(train))]
        out_of_time = False
        for first in range(0, len(shuffled), config.batch_size):
            index = torch.as_tensor(shuffled[first : first + config.batch_size])
            optimizer.zero_grad()
            batch_weight = w[index]
            loss = (loss_of(model.logits(x[index]), y[index]) * batch_weight).sum()
            (loss / batch_weight.sum().clamp_min(1e-12)).backward()
            optimizer.step()
            if time.perf_counter() - start > config.max_fold_seconds:
                out_of_time = True
                break
        losses.append(validation_loss())
        if losses[-1] < best - 1e-6:
            best, stale = losses[-1], 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if out_of_time:
            reason = "time_limit"
            break
        if stale >= config.patience:
            reason = "early_stopping"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return _Fit(model, epochs, reason, time.perf_counter() - start, float(best), tuple(losses))


def _train_fold(features, target, weights, train, valid, encoding, n_outputs, config, generator):
    import torch

    with torch.random.fork_rng(devices=[]):
        deterministic = torch.are_deterministic_algorithms_enabled()
        threads = torch.get_num_threads()
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(config.threads)
        try:
            return _fit(
                features, target, weights, train, valid, encoding, n_outputs, config, generator
            )
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)


def _score(model_bytes: bytes, features: np.ndarray, threads: int) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    runner = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = runner.get_inputs()[0].name
    parts = [
        runner.run(None, {name: np.ascontiguousarray(features[first : first + SCORE_BATCH])})[0]
        for first in range(0, len(features), SCORE_BATCH)
    ]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 1))


def _table_columns(table: np.ndarray, feature_names: Sequence[str]) -> None:
    fields = table.dtype.names or ()
    missing = [
        name for name in (*feature_names, "weight", "eventNumber", "process") if name not in fields
    ]
    if missing:
        raise MulticlassError(f"the training table lacks the columns {missing}")


def train_multiclass(
    table: np.ndarray,
    classes: Mapping[str, Sequence[str]],
    feature_names: Sequence[str],
    categorical: Sequence[str],
    out_dir: pathlib.Path,
    model_names: Sequence[str],
    config: MulticlassConfig | None = None,
    description: str = "",
    feature_set: str = "",
    output: str | None = None,
) -> MulticlassResult:
    """Train one model per fold by ``eventNumber % folds``, export each to ONNX, score out of fold.

    Args:
        table: feature rows as dumped by the processor (structured array with the
            features by name, ``weight``, ``eventNumber`` and ``process``)
        classes: class name -> its processes, in output order; rows of other
            processes are dropped (logged)
        feature_names: input columns in order (the spec's ``features``)
        categorical: the categorical features among them
        out_dir: where the models go
        model_names: file name of each fold's model, fold 0 first
        config: the training choices [default: :class:`MulticlassConfig`]
        description: the training sample, stored in each spec
        feature_set: the feature set's identifier, stored in each spec
        output: what the output means, stored in each spec [default: by architecture]

    Returns:
        the fold reports and every kept row's out-of-fold probabilities

    Raises:
        MulticlassError: a configuration, class definition or table that cannot
            be used (a missing column, a class without rows or weight in a fold)
    """
    config = config or MulticlassConfig()
    check_config(config)
    if len(model_names) != config.folds:
        raise MulticlassError(f"{config.folds} folds need as many model names, got {model_names}")
    feature_names = tuple(feature_names)
    _table_columns(table, feature_names)
    rows, class_index = class_rows(table["process"], classes)
    class_names = tuple(classes)
    binary = config.architecture == "binary_mlp"
    outputs = class_names[:1] if binary else class_names
    if output is None:
        output = (
            f"P({class_names[0]}) against {list(class_names[1:])} (sigmoid)"
            if binary
            else "probability of each class in outputs (softmax)"
        )
    features = np.stack([table[name][rows] for name in feature_names], axis=1).astype(np.float32)
    weight = np.asarray(table["weight"][rows], dtype=np.float64)
    event_number = np.asarray(table["eventNumber"][rows])
    residue = event_number % config.folds
    probabilities = np.full((len(rows), len(outputs)), np.nan)
    reports = []
    for fold in range(config.folds):
        evaluates = (fold + 1) % config.folds
        fit_rows = np.flatnonzero(residue != evaluates)
        eval_rows = np.flatnonzero(residue == evaluates)
        seed = fold_seed(config.seed, fold)
        generator = np.random.default_rng(seed)
        fit_rows = fit_rows[
            stratified_subsample(class_index[fit_rows], config.max_train_events, generator)
        ]
        try:
            weights = loss_weights(
                weight[fit_rows], class_index[fit_rows], len(class_names), binary
            )
        except MulticlassError as err:
            raise MulticlassError(f"fold {fold}: {err}") from None
        order = generator.permutation(len(fit_rows))
        n_valid = int(config.validation_fraction * len(fit_rows))
        if n_valid == 0 or n_valid == len(fit_rows):
            raise MulticlassError(
                f"fold {fold}: {len(fit_rows)} training rows are too few to split off a validation set"
            )
        valid, train = order[:n_valid], order[n_valid:]
        encoding = fit_encoding(features[fit_rows][train], feature_names, categorical)
        fit = _train_fold(
            features[fit_rows],
            class_index[fit_rows],
            weights.astype(np.float32),
            train,
            valid,
            encoding,
            len(outputs),
            config._replace(seed=seed),
            generator,
        )
        spec = FeatureSpec(
            feature_set=feature_set,
            features=feature_names,
            fold=fold,
            output=output,
            preprocessing=PREPROCESSING,
            training_sample=f"{description}; classes {dict((k, list(v)) for k, v in classes.items())}; "
            f"architecture {config.architecture}; seed {config.seed}",
            version=SPEC_VERSION_MULTI,
            folds=config.folds,
            outputs=outputs,
            categorical=encoding.categorical_values(feature_names),
        )
        path = pathlib.Path(out_dir) / model_names[fold]
        check = (
            features[eval_rows[:CHECK_ROWS]] if eval_rows.size else features[fit_rows[:CHECK_ROWS]]
        )
        difference = export(fit.model, spec, path, check, title=f"liberica {config.architecture}")
        classifier = read_classifier(path.read_bytes(), path.name)
        probabilities[eval_rows] = _score(
            classifier.model_bytes, features[eval_rows], config.threads
        )
        report = MulticlassFoldReport(
            fold=fold,
            path=path,
            epochs=fit.epochs,
            stop_reason=fit.stop_reason,
            seconds=fit.seconds,
            seconds_per_epoch=fit.seconds / max(fit.epochs, 1),
            best_validation_loss=fit.best_validation_loss,
            validation_losses=fit.validation_losses,
            n_train=len(train),
            n_validation=len(valid),
            n_evaluated=len(eval_rows),
            onnx_max_abs_diff=difference,
            folds=config.folds,
            fitted_rows=np.sort(fit_rows),
        )
        reports.append(report)
        log.info(
            "%s fold %d/%d: %d epochs (%s) in %.1f s, %d rows trained, %d scored; ONNX-torch %.2g",
            config.architecture,
            fold,
            config.folds,
            fit.epochs,
            fit.stop_reason,
            fit.seconds,
            len(train),
            len(eval_rows),
            difference,
        )
    return MulticlassResult(
        architecture=config.architecture,
        classes=class_names,
        outputs=outputs,
        folds=reports,
        rows=rows,
        probabilities=probabilities,
        class_index=class_index,
        weight=weight,
        event_number=event_number,
        config=config,
    )
