"""Tune an autoencoder's hyper-parameters with optuna: TPE sampling and Hyperband pruning.

The search covers the depth and widths of the encoder (the decoder mirrors it),
the bottleneck, the activation, the learning rate and the weight decay. It is
budgeted in trials, not time, so that a run is reproducible: trials run one
after the other (``n_jobs=1``), the sampler is seeded, every trial trains with
the same seed on the same rows, and the study's name is fixed (Hyperband
assigns a trial to a bracket by a hash of the study name and the trial number).
Each epoch's validation loss is reported to the trial, and the pruner stops
trials that fall behind at its rungs.

Which rows: the training rows of one fold (``TuningConfig.fold``, 0 by default:
eventNumber % K != 1 for K folds) split by :func:`fit_autoencoder` exactly as that
fold's final training splits them (same seed, same cap), trained on the
training part and judged by the weighted MSE of the validation part. The events
fold 0 scores are never seen. With two folds, fold 1's model scores the residue
the tuning used, and shares only the few hyper-parameters chosen on it.

Measured on the 2-core test machine: 24 trials of at most 20 epochs on 190k
rows x 34 features (152k trained on) took 458 s; Hyperband pruned 12 trials
and 275 of the 480 epochs ran (1.7 s per epoch on average over the sampled
networks).

optuna logs through the ``optuna`` logger; while tuning, its records go to this
module's logger instead (per-trial lines at DEBUG, warnings as warnings), and
the ``optuna`` logger is restored afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pathlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from liberica.core.registry import FeatureSet
from liberica.models.autoencoder import (
    AutoencoderConfig,
    AutoencoderError,
    background_table,
    check_config,
    event_weights,
    feature_matrix,
    fit_autoencoder,
    fold_rows,
    used_columns,
)

log = logging.getLogger(__name__)


class TuningConfig(NamedTuple):
    """The search: its budget and its space.

    Attributes:
        trials: trials run (each trains one network)
        max_epochs: epochs of a trial at most (Hyperband's maximum resource)
        max_events: rows (train + validation) of the tuning at most, a seeded subsample
        seed: seeds the TPE sampler
        fold: the fold whose training rows are tuned on
        depths: encoder depths tried
        widths: hidden-layer widths tried (each layer chooses)
        bottlenecks: latent widths tried (those smaller than the used features)
        activations: activations tried
        learning_rate: (low, high) of a log-uniform AdamW learning rate
        weight_decay: (low, high) of a log-uniform AdamW weight decay
        reduction_factor: Hyperband's reduction factor (its minimum resource is one epoch)
    """

    trials: int = 24
    max_epochs: int = 20
    max_events: int = 200_000
    seed: int = 42
    fold: int = 0
    depths: tuple[int, ...] = (1, 2, 3)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    bottlenecks: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16)
    activations: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "elu")
    learning_rate: tuple[float, float] = (1e-4, 1e-2)
    weight_decay: tuple[float, float] = (1e-6, 1e-2)
    reduction_factor: int = 3


class TrialRecord(NamedTuple):
    """One trial.

    Attributes:
        number: the trial's number, from 0
        params: the sampled parameters
        value: a completed trial's best validation loss; a pruned trial's last
            reported loss (optuna's value for it); None for a failed trial
        state: ``COMPLETE``, ``PRUNED`` or ``FAIL``
        epochs: epochs it ran
        validation_losses: the loss it reported after each epoch
    """

    number: int
    params: dict[str, Any]
    value: float | None
    state: str
    epochs: int
    validation_losses: tuple[float, ...]


class TuningResult(NamedTuple):
    """What :func:`tune_autoencoder` found.

    Attributes:
        config: the base configuration with the best trial's parameters
        best_trial: the number of the best completed trial
        best_value: its validation loss
        trials: every trial, in order
        tuning: the search
        n_train: rows each trial trained on
        n_validation: rows each trial was judged on
    """

    config: AutoencoderConfig
    best_trial: int
    best_value: float
    trials: list[TrialRecord]
    tuning: TuningConfig
    n_train: int
    n_validation: int


def tune_autoencoder(
    table: Any,
    backgrounds: Sequence[str],
    config: AutoencoderConfig | None = None,
    tuning: TuningConfig | None = None,
    *,
    feature_set: FeatureSet,
    ignored: Sequence[str] = (),
) -> TuningResult:
    """Search the autoencoder's hyper-parameters on one fold's training rows.

    Args:
        table: feature rows as dumped by the processor (structured array)
        backgrounds: the processes trained on
        config: the base configuration: its scaling, batch size, patience, negative
            weights, seed and folds are kept; the searched fields are replaced
        tuning: the budget and the space
        feature_set: the analysis's feature set
        ignored: features the models ignore

    Raises:
        AutoencoderError: a bad configuration or table, or no trial completed
    """
    import optuna

    config = config or AutoencoderConfig()
    tuning = tuning or TuningConfig()
    used = used_columns(feature_set.features, ignored)
    check_config(config)  # its widths are searched
    if not 0 <= tuning.fold < config.folds:
        raise AutoencoderError(f"tuning fold {tuning.fold} is not one of {config.folds} folds")
    bottlenecks = [b for b in tuning.bottlenecks if b < len(used)]
    if not bottlenecks or tuning.trials < 1 or tuning.max_epochs < 1:
        raise AutoencoderError(
            f"nothing to search: {tuning.trials} trials of {tuning.max_epochs} epochs, "
            f"bottlenecks {list(tuning.bottlenecks)} for {len(used)} used features"
        )
    background = background_table(table, backgrounds, feature_set.features)
    rows, _ = fold_rows(background["eventNumber"], config.folds, tuning.fold)
    background = background[rows]
    features = feature_matrix(background, feature_set.features)
    weights = event_weights(background["weight"], config.negative_weights)
    base = config._replace(max_epochs=tuning.max_epochs, max_events=tuning.max_events)
    sizes: dict[str, int] = {}

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_categorical("depth", list(tuning.depths))
        encoder = tuple(
            trial.suggest_categorical(f"width_{k}", list(tuning.widths)) for k in range(depth)
        )
        chosen = base._replace(
            encoder=encoder,
            bottleneck=trial.suggest_categorical("bottleneck", bottlenecks),
            activation=trial.suggest_categorical("activation", list(tuning.activations)),
            learning_rate=trial.suggest_float("learning_rate", *tuning.learning_rate, log=True),
            weight_decay=trial.suggest_float("weight_decay", *tuning.weight_decay, log=True),
        )

        def on_epoch(epoch: int, loss: float) -> None:
            trial.set_user_attr("epochs", epoch)
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        fit = fit_autoencoder(features, weights, chosen, used=used, on_epoch=on_epoch)
        sizes.update(n_train=len(fit.train_rows), n_validation=len(fit.validation_rows))
        return fit.best_validation_loss

    with _optuna_to_log():
        study = optuna.create_study(
            study_name=f"liberica-autoencoder-{config.scaling}-seed{tuning.seed}",
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=tuning.seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1,
                max_resource=tuning.max_epochs,
                reduction_factor=tuning.reduction_factor,
            ),
        )
        study.optimize(objective, n_trials=tuning.trials, n_jobs=1, catch=(AutoencoderError,))
    trials = [_record(trial) for trial in study.trials]
    completed = [t for t in trials if t.state == "COMPLETE"]
    if not completed:
        raise AutoencoderError(
            f"no tuning trial completed ({[t.state for t in trials]}): widen the budget"
        )
    best = min(completed, key=lambda t: (t.value, t.number))
    chosen = config._replace(**_config_fields(best.params))
    log.info(
        "tuning (%s): trial %d of %d best, validation loss %.5g; %d pruned, %d failed",
        config.scaling,
        best.number,
        len(trials),
        best.value,
        sum(t.state == "PRUNED" for t in trials),
        sum(t.state == "FAIL" for t in trials),
    )
    return TuningResult(
        chosen,
        best.number,
        float(best.value),
        trials,
        tuning,
        sizes.get("n_train", 0),
        sizes.get("n_validation", 0),
    )


def write_tuning(result: TuningResult, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the chosen configuration and every trial as ``tuning_<scaling>.json``."""
    path = pathlib.Path(out_dir) / f"tuning_{result.config.scaling}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "scaling": result.config.scaling,
        "chosen": result.config._asdict(),
        "best_trial": result.best_trial,
        "best_value": result.best_value,
        "tuning": result.tuning._asdict(),
        "rows": {"train": result.n_train, "validation": result.n_validation},
        "trials": [trial._asdict() for trial in result.trials],
    }
    path.write_text(json.dumps(_finite(document), indent=2) + "\n")
    return path


def _config_fields(params: dict[str, Any]) -> dict[str, Any]:
    """AutoencoderConfig fields of a trial's parameters."""
    return {
        "encoder": tuple(params[f"width_{k}"] for k in range(params["depth"])),
        "bottleneck": params["bottleneck"],
        "activation": params["activation"],
        "learning_rate": params["learning_rate"],
        "weight_decay": params["weight_decay"],
    }


def _record(trial: Any) -> TrialRecord:
    losses = tuple(trial.intermediate_values[k] for k in sorted(trial.intermediate_values))
    return TrialRecord(
        trial.number,
        dict(trial.params),
        trial.value,
        trial.state.name,
        int(trial.user_attrs.get("epochs", 0)),
        losses,
    )


def _finite(value: Any) -> Any:
    """JSON-safe: tuples as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _ToLiberica(logging.Handler):
    """Re-emit optuna's records on this module's logger: INFO as DEBUG, the rest as is."""

    def emit(self, record: logging.LogRecord) -> None:
        level = logging.DEBUG if record.levelno <= logging.INFO else record.levelno
        log.log(level, "optuna: %s", record.getMessage())


@contextlib.contextmanager
def _optuna_to_log() -> Iterator[None]:
    import optuna  # noqa: F401  (configures the optuna logger, which is then swapped)

    logger = logging.getLogger("optuna")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.addHandler(_ToLiberica())
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.propagate = saved[1]
        logger.setLevel(saved[2])
