"""Train an autoencoder on background MC and score every event by its reconstruction error.

The exported ONNX graph takes the analysis's **full feature vector in raw units
(GeV)** and returns the **per-event reconstruction error**, shape ``(n, 1)``:
inside it, in order, the used columns are selected (features that a data/MC
check rejected are ignored, but the input keeps the full width so that the
analysis's feature function is unchanged), scaled with constants fitted on the
training rows (``minmax`` to [0, 1] or ``standard`` to zero mean and unit
variance, both unweighted as in scikit-learn's scalers), encoded, decoded, and
the squared differences averaged over the used features. A processor therefore
scores the model with the ordinary classifier inference.

Folds follow train.py's rule on eventNumber: with K folds, the model of fold m
trains on background rows with ``eventNumber % K != (m + 1) % K`` (a seeded 80/20
train/validation split of them, early stopping on the validation loss) and
scores every row with ``eventNumber % K == (m + 1) % K``, so no event is scored
by a model that saw it.

The loss is the weighted mean of the per-event errors, ``sum_i w_i e_i / sum_i
w_i`` per batch. A negative event weight would make it unbounded below (the
network would gain by reconstructing such events badly), so negative weights
enter as their magnitude (``abs``, the default: NLO subtraction events look like
the others) or are dropped (``clip``). Rows of weight zero are removed before
anything else (scaling, subsample, split), so a zero weight is the same as no
row. The optimizer is AdamW (decoupled weight decay). torch is needed here only.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from liberica.core.errors import LibericaError
from liberica.core.registry import FeatureSet
from liberica.models.spec import FeatureSpec
from liberica.models.train import export_onnx, roc

log = logging.getLogger(__name__)

SCALINGS = ("minmax", "standard")
"""``minmax``: (x - min) / (max - min); ``standard``: (x - mean) / std (of the training rows)."""

ACTIVATIONS = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "selu": "SELU",
    "gelu": "GELU",
    "silu": "SiLU",
}
"""Activation name -> torch.nn class name (hidden layers; bottleneck and output are linear)."""

NEGATIVE_WEIGHTS = ("abs", "clip")

ALL_SIGNALS = "all signals"
"""The key of the AUC of every signal process together (weighted by cross-section)."""

OUTPUT = "per-event reconstruction error (mean squared error of the scaled used features)"

EXPORT_RTOL = 1e-5
"""Relative ONNX-torch tolerance: errors of far outliers reach O(100) in float32."""


class AutoencoderError(LibericaError, ValueError):
    """An autoencoder configuration or training table that cannot be used (the message says why)."""


class AutoencoderConfig(NamedTuple):
    """Hyper-parameters and choices of an autoencoder training.

    Attributes:
        encoder: widths of the encoder's hidden layers (the decoder mirrors them)
        bottleneck: width of the latent layer (linear, smaller than the used features)
        activation: of every hidden layer, a key of :data:`ACTIVATIONS`
        learning_rate: AdamW learning rate
        weight_decay: AdamW's decoupled weight decay
        batch_size: rows per step
        max_epochs: upper limit on epochs
        patience: epochs without validation improvement before stopping
        validation_fraction: part of a fold's training rows held out for early stopping
        scaling: ``minmax`` or ``standard`` (inside the graph)
        negative_weights: ``abs`` (magnitude, default: keeps every event and a loss
            bounded below) or ``clip`` (negative-weight events dropped)
        seed: seeds torch, the subsample, the split and the shuffles
        folds: K of the rule on eventNumber (K >= 2)
        max_events: at most this many rows (train + validation) per fold, a seeded
            subsample; None for all
        threads: torch intra-op threads while training (restored afterwards). One is
            the fastest for these small networks (two ran 10-40 times slower per step
            on the 2-core test machine) and makes the model independent of the
            machine's core count
    """

    encoder: tuple[int, ...] = (64, 32)
    bottleneck: int = 8
    activation: str = "elu"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 512
    max_epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.2
    scaling: str = "standard"
    negative_weights: str = "abs"
    seed: int = 42
    folds: int = 2
    max_events: int | None = 200_000
    threads: int = 1


class FitResult(NamedTuple):
    """One network's training.

    Attributes:
        model: the torch module at its best validation loss (eval mode)
        epochs: epochs run (early stopping included)
        best_validation_loss: weighted MSE of the validation rows at the best epoch
        validation_losses: the validation loss after each epoch
        train_rows: indices of the rows trained on (into the arrays given)
        validation_rows: indices of the validation rows
    """

    model: Any
    epochs: int
    best_validation_loss: float
    validation_losses: tuple[float, ...]
    train_rows: np.ndarray
    validation_rows: np.ndarray


class AutoencoderFoldReport(NamedTuple):
    """What one fold's autoencoder gave.

    Attributes:
        fold: the fold m; it scores ``eventNumber % folds == (m + 1) % folds``
        path: the exported ONNX file
        epochs: epochs run
        best_validation_loss: weighted MSE of its validation rows at the best epoch
        auc: weighted ROC AUC of the error per signal process against the backgrounds
            and for :data:`ALL_SIGNALS`, on the rows it scores (weights clipped at 0)
        auc_unweighted: the same, counting events
        onnx_max_abs_diff: largest |ONNX - torch| over the rows it scores
        n_train: rows trained on
        n_validation: rows of the validation split
        n_evaluated: rows it scores (backgrounds and signals)
        folds: K
    """

    fold: int
    path: pathlib.Path
    epochs: int
    best_validation_loss: float
    auc: dict[str, float]
    auc_unweighted: dict[str, float]
    onnx_max_abs_diff: float
    n_train: int
    n_validation: int
    n_evaluated: int
    folds: int = 2

    @property
    def evaluates(self) -> int:
        """The residue ``eventNumber % folds`` of the rows it scores."""
        return (self.fold + 1) % self.folds


class AutoencoderTraining(NamedTuple):
    """What :func:`train_autoencoder` made.

    Attributes:
        scaling: the scaling inside the graphs
        folds: one report per fold, fold 0 first
        auc: weighted AUC per signal and :data:`ALL_SIGNALS`, every row scored by
            the fold model that did not train on it
        auc_unweighted: the same, counting events
        used_features: the features the models read, in order
        ignored: the features the models ignore
        plot: the figure of error distributions and ROC curves (PNG; a PDF beside it)
    """

    scaling: str
    folds: list[AutoencoderFoldReport]
    auc: dict[str, float]
    auc_unweighted: dict[str, float]
    used_features: tuple[str, ...]
    ignored: tuple[str, ...]
    plot: pathlib.Path


def check_config(config: AutoencoderConfig, n_used: int | None = None) -> None:
    """Refuse a configuration that cannot train.

    Raises:
        AutoencoderError: naming the field and its value
    """
    if config.scaling not in SCALINGS:
        raise AutoencoderError(f"scaling must be one of {SCALINGS}, got {config.scaling!r}")
    if config.activation not in ACTIVATIONS:
        raise AutoencoderError(
            f"activation must be one of {tuple(ACTIVATIONS)}, got {config.activation!r}"
        )
    if config.negative_weights not in NEGATIVE_WEIGHTS:
        raise AutoencoderError(
            f"negative_weights must be one of {NEGATIVE_WEIGHTS}, got {config.negative_weights!r}"
        )
    if config.folds < 2:
        raise AutoencoderError(f"folds must be at least 2, got {config.folds}")
    if not 0 < config.validation_fraction < 1:
        raise AutoencoderError(
            f"validation_fraction must lie in (0, 1), got {config.validation_fraction}"
        )
    if min(config.encoder, default=1) < 1 or config.bottleneck < 1:
        raise AutoencoderError(
            f"layer widths must be positive, got encoder {config.encoder}, "
            f"bottleneck {config.bottleneck}"
        )
    if config.threads < 1:
        raise AutoencoderError(f"threads must be at least 1, got {config.threads}")
    if n_used is not None and config.bottleneck >= n_used:
        raise AutoencoderError(
            f"bottleneck {config.bottleneck} is not smaller than the {n_used} used features: "
            "the autoencoder could learn the identity"
        )


def used_columns(features: Sequence[str], ignored: Sequence[str] = ()) -> np.ndarray:
    """Indices of the features the autoencoder reads: all but ``ignored``, in order.

    Raises:
        AutoencoderError: an ignored name that is not a feature, or every feature ignored
    """
    unknown = [name for name in ignored if name not in features]
    if unknown:
        raise AutoencoderError(f"ignored features {unknown} are not among the features")
    used = np.array([k for k, name in enumerate(features) if name not in ignored], dtype=np.int64)
    if used.size == 0:
        raise AutoencoderError("every feature is ignored: nothing left to reconstruct")
    return used


def fold_rows(event_number: np.ndarray, folds: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows a fold trains on and rows it scores (indices), by the rule on eventNumber."""
    residue = np.asarray(event_number) % folds
    evaluates = (fold + 1) % folds
    return np.flatnonzero(residue != evaluates), np.flatnonzero(residue == evaluates)


def event_weights(weights: np.ndarray, negative_weights: str) -> np.ndarray:
    """Training weights from event weights: ``abs`` takes magnitudes, ``clip`` sets negatives to 0."""
    weights = np.asarray(weights, dtype=np.float64)
    if negative_weights == "abs":
        return np.abs(weights)
    if negative_weights == "clip":
        return np.clip(weights, 0.0, None)
    raise AutoencoderError(
        f"negative_weights must be one of {NEGATIVE_WEIGHTS}, got {negative_weights!r}"
    )


def _scaling(features: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) of ``features`` so that (x - offset) / scale is the scaled feature."""
    values = features.astype(np.float64)
    if scaling == "minmax":
        offset = values.min(axis=0)
        scale = values.max(axis=0) - offset
    else:
        offset = values.mean(axis=0)
        scale = values.std(axis=0)
    scale[~(scale > 0)] = 1.0  # a constant column scales to x - c: zero on its training rows
    return offset.astype(np.float32), scale.astype(np.float32)


def _network(
    n_features: int, used: np.ndarray, offset: np.ndarray, scale: np.ndarray, config
) -> Any:
    import torch

    activation = getattr(torch.nn, ACTIVATIONS[config.activation])

    def stack(widths: list[int], last_linear: bool) -> torch.nn.Sequential:
        layers: list[torch.nn.Module] = []
        for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(torch.nn.Linear(fan_in, fan_out))
            if not (last_linear and k == len(widths) - 2):
                layers.append(activation())
        return torch.nn.Sequential(*layers)

    class ReconstructionError(torch.nn.Module):
        """Full raw feature vector in, per-event reconstruction error (n, 1) out."""

        def __init__(self) -> None:
            super().__init__()
            self.n_features = n_features
            self.register_buffer("used", torch.as_tensor(used, dtype=torch.int64))
            self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            widths = [len(used), *config.encoder, config.bottleneck]
            self.encoder = stack(widths, last_linear=True)
            self.decoder = stack(widths[::-1], last_linear=True)

        def scaled(self, x):
            return (x.index_select(1, self.used) - self.offset) / self.scale

        def errors(self, scaled):
            reconstructed = self.decoder(self.encoder(scaled))
            return ((reconstructed - scaled) ** 2).mean(dim=1, keepdim=True)

        def forward(self, x):
            return self.errors(self.scaled(x))

    return ReconstructionError()


def fit_autoencoder(
    features: np.ndarray,
    weights: np.ndarray,
    config: AutoencoderConfig,
    *,
    used: np.ndarray,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train one autoencoder with early stopping on a seeded validation split.

    Rows of weight zero are dropped first; then at most ``config.max_events`` rows
    are kept (seeded), split train/validation, and the scaling is fitted on the
    training part. torch's global RNG, its deterministic-algorithms flag and its
    thread count are restored afterwards.

    Args:
        features: ``(n, F)`` float32, the full feature vector (raw units)
        weights: ``(n,)`` non-negative training weights
        config: the training choices
        used: indices of the columns read (see :func:`used_columns`)
        on_epoch: called with (epoch, validation loss) after each epoch; it may
            raise to stop the training (a tuner's pruning)

    Raises:
        AutoencoderError: negative or non-finite weights, non-finite used features,
            too few rows, or a loss that is not finite at the first epoch
    """
    import torch

    check_config(config, len(used))
    features = np.ascontiguousarray(features, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float64)
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise AutoencoderError("training weights must be finite and non-negative")
    generator = np.random.default_rng(config.seed)
    rows = np.flatnonzero(weights > 0)
    if config.max_events is not None and len(rows) > config.max_events:
        rows = np.sort(generator.choice(rows, config.max_events, replace=False))
    order = rows[generator.permutation(len(rows))]
    n_valid = int(config.validation_fraction * len(rows))
    valid, train = order[:n_valid], order[n_valid:]
    if n_valid == 0 or len(train) == 0:
        raise AutoencoderError(f"{len(rows)} rows of non-zero weight are too few to train on")
    bad = ~np.isfinite(features[rows][:, used]).all(axis=0)
    if bad.any():
        raise AutoencoderError(f"used feature columns {used[bad].tolist()} hold non-finite values")
    offset, scale = _scaling(features[train][:, used], config.scaling)

    with torch.random.fork_rng(devices=[]):
        deterministic = torch.are_deterministic_algorithms_enabled()
        threads = torch.get_num_threads()
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(config.threads)
        try:
            torch.manual_seed(config.seed)
            model = _network(features.shape[1], used, offset, scale, config)
            fit = _train(model, features, weights, train, valid, generator, config, on_epoch)
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)
    return fit._replace(train_rows=np.sort(train), validation_rows=np.sort(valid))


def _train(model, features, weights, train, valid, generator, config, on_epoch) -> FitResult:
    import torch

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    # scaled once: the module's scaling step is the same arithmetic
    with torch.no_grad():
        x = model.scaled(torch.as_tensor(features))
    w = torch.as_tensor(weights, dtype=torch.float32).unsqueeze(1)
    valid_index = torch.as_tensor(valid)

    def loss_of(index: torch.Tensor) -> torch.Tensor:
        return (model.errors(x[index]) * w[index]).sum() / w[index].sum()

    best, best_state, stale, losses = np.inf, None, 0, []
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        shuffled = torch.as_tensor(train[generator.permutation(len(train))])
        for batch in torch.split(shuffled, config.batch_size):
            optimizer.zero_grad()
            loss = loss_of(batch)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            validation = float(loss_of(valid_index))
        losses.append(validation)
        if not np.isfinite(validation):
            log.warning("validation loss not finite at epoch %d: training stopped", epoch)
            break
        if validation < best * (1 - 1e-6):
            best, stale = validation, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if on_epoch is not None:
            on_epoch(epoch, validation)
        if stale >= config.patience:
            break
    if best_state is None:
        raise AutoencoderError(
            f"the validation loss was not finite after the first epoch (learning rate "
            f"{config.learning_rate}): the training diverged"
        )
    model.load_state_dict(best_state)
    model.eval()
    log.info("autoencoder trained: %d epochs, best validation loss %.5g", len(losses), best)
    return FitResult(model, len(losses), float(best), tuple(losses), train, valid)


def reconstruction_errors(model: Any, features: np.ndarray) -> np.ndarray:
    """The torch model's per-event errors of ``features`` rows, shape (n,)."""
    import torch

    with torch.no_grad():
        return model(torch.as_tensor(np.ascontiguousarray(features, np.float32))).numpy()[:, 0]


def background_table(
    table: np.ndarray, backgrounds: Sequence[str], feature_names: Sequence[str]
) -> np.ndarray:
    """The rows of ``backgrounds``, after checking the table has what training needs.

    Raises:
        AutoencoderError: a missing column, or no row of any background process
    """
    names = table.dtype.names or ()
    missing = [c for c in (*feature_names, "weight", "eventNumber", "process") if c not in names]
    if missing:
        raise AutoencoderError(f"the feature table lacks columns {missing}")
    rows = np.isin(table["process"], list(backgrounds))
    if not rows.any():
        present = sorted(set(np.unique(table["process"]).tolist()))
        raise AutoencoderError(f"no rows of backgrounds {list(backgrounds)}; table has {present}")
    return table[rows]


def feature_matrix(table: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """The ``(n, F)`` float32 matrix of a table's feature columns, in the order given."""
    return np.stack([table[name] for name in feature_names], axis=1).astype(np.float32)


def train_autoencoder(
    table: np.ndarray,
    backgrounds: Sequence[str],
    out_dir: pathlib.Path,
    config: AutoencoderConfig | None = None,
    *,
    feature_set: FeatureSet,
    model_names: tuple[str, ...],
    ignored: Sequence[str] = (),
    signals: Sequence[str] | None = None,
    training_sample: str = "",
    output: str = OUTPUT,
    title: str = "liberica autoencoder",
    uses_fit_observable: bool = False,
) -> AutoencoderTraining:
    """Train and export one autoencoder per fold on background MC; evaluate and plot.

    Args:
        table: feature rows as dumped by the processor (structured array with the
            features, ``weight``, ``eventNumber`` and ``process``)
        backgrounds: the processes trained on
        out_dir: where the models and the plot go
        config: the training choices
        feature_set: the analysis's feature set (names in input column order)
        model_names: the file name of each fold's model, fold 0 first
        ignored: features the models ignore (the input keeps them)
        signals: processes scored against the backgrounds [default: every other
            process of the table]
        training_sample: description stored in the model metadata
        output: what the output means, stored in the metadata
        title: the models' doc string
        uses_fit_observable: the features include the observable of a region the
            model scores (recorded in the spec; runs must allow such models)

    Raises:
        AutoencoderError: a bad configuration, ignored list or table (naming it)
    """
    config = config or AutoencoderConfig()
    out_dir = pathlib.Path(out_dir)
    names = feature_set.features
    used = used_columns(names, ignored)
    check_config(config, len(used))
    if len(model_names) != config.folds:
        raise AutoencoderError(
            f"{config.folds} folds need as many model names, got {list(model_names)}"
        )
    background = background_table(table, backgrounds, names)
    if signals is None:
        signals = sorted(set(np.unique(table["process"]).tolist()) - set(backgrounds))
    scored = table[np.isin(table["process"], [*backgrounds, *signals])]
    features = feature_matrix(background, names)
    weights = event_weights(background["weight"], config.negative_weights)
    scored_features = feature_matrix(scored, names)
    bad = [names[k] for k in used if not np.isfinite(scored_features[:, k]).all()]
    if bad:
        raise AutoencoderError(f"features {bad} hold non-finite values in the feature table")
    ignored_text = f"; ignored features {list(ignored)}" if ignored else ""
    preprocessing = (
        f"the used features selected, then {_describe(config.scaling)} of the training "
        f"rows, inside the graph{ignored_text}"
    )
    reports, parts = [], []
    for fold in range(config.folds):
        fit_rows, _ = fold_rows(background["eventNumber"], config.folds, fold)
        _, eval_rows = fold_rows(scored["eventNumber"], config.folds, fold)
        if fit_rows.size == 0:
            raise AutoencoderError(f"fold {fold} has no background rows to train on")
        fit = fit_autoencoder(features[fit_rows], weights[fit_rows], config, used=used)
        spec = FeatureSpec(
            feature_set=feature_set.name,
            features=names,
            fold=fold,
            folds=config.folds,
            output=output,
            preprocessing=preprocessing,
            training_sample=f"{training_sample}; background-only autoencoder on "
            f"{list(backgrounds)}; {_describe_config(config)}",
            uses_fit_observable=uses_fit_observable,
        )
        path = out_dir / model_names[fold]
        difference = export_onnx(
            fit.model, spec, path, scored_features[eval_rows], title, rtol=EXPORT_RTOL
        )
        scores = reconstruction_errors(fit.model, scored_features[eval_rows])
        evaluated = scored[eval_rows]
        parts.append((scores, evaluated["process"], evaluated["weight"]))
        auc, auc_unweighted = _aucs(*parts[-1], backgrounds, signals)
        reports.append(
            AutoencoderFoldReport(
                fold,
                path,
                fit.epochs,
                fit.best_validation_loss,
                auc,
                auc_unweighted,
                difference,
                len(fit.train_rows),
                len(fit.validation_rows),
                len(eval_rows),
                config.folds,
            )
        )
        log.info(
            "autoencoder fold %d (%s): %d epochs, AUC %s; ONNX-torch %.2g",
            fold,
            config.scaling,
            fit.epochs,
            _format(auc),
            difference,
        )
    scores, process, weight = (np.concatenate(column) for column in zip(*parts, strict=True))
    auc, auc_unweighted = _aucs(scores, process, weight, backgrounds, signals)
    log.info("autoencoder (%s), every fold: AUC %s", config.scaling, _format(auc))
    from liberica.models.autoencoder_plots import plot_errors

    plot = plot_errors(
        scores,
        process,
        weight,
        backgrounds,
        signals,
        out_dir / f"autoencoder_{config.scaling}",
        f"{title}: {config.scaling} scaling, each event scored by the fold that did not train on it",
    )
    used_names = tuple(names[k] for k in used)
    return AutoencoderTraining(
        config.scaling, reports, auc, auc_unweighted, used_names, tuple(ignored), plot
    )


def _aucs(
    scores: np.ndarray,
    process: np.ndarray,
    weight: np.ndarray,
    backgrounds: Sequence[str],
    signals: Sequence[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """Weighted (negative weights as 0) and unweighted AUC per signal and for all signals."""
    is_background = np.isin(process, list(backgrounds))
    weighted, counted = {}, {}
    groups = [(name, [name]) for name in signals] + [(ALL_SIGNALS, list(signals))]
    for name, members in groups:
        is_signal = np.isin(process, members)
        if not is_signal.any() or not is_background.any():
            continue
        rows = is_signal | is_background
        labels = is_signal[rows].astype(np.float64)
        counted[name] = roc(scores[rows], labels)[2]
        positive = np.clip(weight[rows], 0.0, None)
        if positive[labels == 1].sum() > 0 and positive[labels == 0].sum() > 0:
            weighted[name] = roc(scores[rows], labels, positive)[2]
    return weighted, counted


def _describe(scaling: str) -> str:
    if scaling == "minmax":
        return "min-max scaling (x - min) / (max - min) to [0, 1]"
    return "standardization (x - mean) / std"


def _describe_config(config: AutoencoderConfig) -> str:
    return (
        f"encoder {list(config.encoder)}, bottleneck {config.bottleneck}, {config.activation}; "
        f"AdamW lr {config.learning_rate:g}, weight decay {config.weight_decay:g}; "
        f"weighted MSE, negative weights {config.negative_weights}; seed {config.seed}"
    )


def _format(auc: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in auc.items()) or "no signal"
