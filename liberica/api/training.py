"""The training stage of the API: a definition's classifier or autoencoder, in K folds,
exported to ONNX."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, NamedTuple

from liberica.api.processing import DEFAULT_CACHE, Analysis, embedded_sample, load_definition

if TYPE_CHECKING:
    from liberica.models.train import FoldReport
    from liberica.orchestration.multiclass_training import MulticlassTraining


class TrainResult(NamedTuple):
    """What :func:`train` made.

    Attributes:
        classifier: the definition's classifier trained
        signal: its signal processes
        backgrounds: the background processes it was trained against
        reports: one per fold: the model file, epochs, AUCs, ONNX-torch agreement
        fit_observables_taken: ``(variable, region)`` for each region the
            classifier scores whose observable is among its features (its spec then
            declares ``uses_fit_observable``)
        out: the folder of the models and their ROC and score plots
        kind: ``classifier`` or ``autoencoder`` (then ``reports`` are its fold reports)
        auc: an autoencoder's weighted AUC per signal and for all signals together,
            every event scored by the fold model that did not train on it
        ignored: the features an autoencoder ignores (flagged by the data/MC check)
        tuning: an autoencoder's hyper-parameter search record (JSON), or None
    """

    classifier: str
    signal: list[str]
    backgrounds: list[str]
    reports: list[FoldReport]
    fit_observables_taken: list[tuple[str, str]]
    out: pathlib.Path
    kind: str = "classifier"
    auc: dict[str, float] = {}
    ignored: tuple[str, ...] = ()
    tuning: pathlib.Path | None = None


def train(
    analysis: Analysis | None = None,
    *,
    classifier: str | None = None,
    out: str | pathlib.Path = "models",
    features: str | pathlib.Path | None = None,
    cache: str | pathlib.Path = DEFAULT_CACHE,
    all_backgrounds: bool = False,
    weighted: bool = True,
    seed: int = 42,
    folds: int | None = None,
    trials: int | None = None,
    architecture: str | None = None,
    training_set: str = "extended",
    settings: dict | None = None,
) -> TrainResult | MulticlassTraining:
    """Train a classifier of the definition in K folds by eventNumber and export it to ONNX.

    Args:
        analysis: the analysis (name, YAML path or definition) [default: the
            registry's default analysis]
        classifier: the definition's classifier [default: its only one]
        out: the folder for the fold models (named as in the definition) and plots
        features: features.parquet of ``process --dump-features`` [default: dumped
            from the embedded sample]
        cache: where the embedded sample is generated once and reused
        all_backgrounds: train against every background process
        weighted: use the event weights (else count events)
        seed: the training seed
        folds: K; fold m scores eventNumber % K == (m + 1) % K and trains on the rest
            [default: as many as the classifier names models]
        trials: an autoencoder's hyper-parameter search, in optuna trials [default: 24;
            0 trains the default configuration without a search]
        architecture: a multiclass classifier's network: ``ft_transformer``, ``mlp`` or
            ``binary_mlp`` (the baselines go to models named after the architecture)
            [default: the definition's]
        training_set: a multiclass classifier's training rows: ``extended`` (its
            training selection) or ``selection`` (its scoring selection only)
        settings: a multiclass training's ``models.multiclass.MulticlassConfig`` fields
            (e.g. ``max_epochs``, ``d_token``, ``max_train_events``)

    Returns:
        TrainResult, or for a multiclass classifier the ``MulticlassTraining`` with its
        evaluation on the scoring selection

    Raises:
        AnalysisDefinitionError: an unknown classifier, or ``folds`` other than
            the number of models the classifier names
    """
    import numpy as np

    from liberica.core import registry
    from liberica.core.definition import AnalysisDefinitionError, without_classifier
    from liberica.models.train import TrainingConfig
    from liberica.models.train import train as train_models
    from liberica.orchestration.pipeline import fit_observables_taken, run_processor

    definition = load_definition(analysis or registry.DEFAULT_ANALYSIS)
    registered = definition.registered()
    name = classifier
    if name is None:
        if len(definition.classifiers) != 1:
            raise AnalysisDefinitionError(
                definition.source,
                "classifiers",
                f"the definition has {len(definition.classifiers)} classifiers "
                f"({', '.join(definition.classifiers) or 'none'}): name one",
            )
        name = next(iter(definition.classifiers))
    if name not in definition.classifiers:
        raise AnalysisDefinitionError(
            definition.source,
            "classifiers",
            f"no classifier {name!r} ({', '.join(definition.classifiers)})",
        )
    config = definition.classifiers[name]
    folds = len(config.models) if folds is None else folds
    own_models = config.kind != "multiclass" or (
        (architecture or config.architecture) == config.architecture and training_set == "extended"
    )
    if own_models and len(config.models) != folds:
        raise AnalysisDefinitionError(
            definition.source,
            f"classifiers.{name}.models",
            f"{folds} folds need {folds} model names; the classifier lists {len(config.models)}",
        )
    if features is None:
        sample = embedded_sample(definition, cache)
        result = run_processor(
            without_classifier(definition),
            sample.fileset_path,
            executor="futures",
            workers=2,
            systematics=False,
            dump_features=config,
        )
        table = result.features
        processed = result
        events = registered.default_events
        description = (
            f"liberica embedded {registered.name} sample, {events / 1e6:g}M MC events, seed 42"
        )
    else:
        import pyarrow.parquet as pq

        columns = pq.read_table(features).to_pydict()
        names = list(columns)
        table = np.rec.fromarrays([np.asarray(columns[n]) for n in names], names=names)
        description = str(features)
        processed = None
    signal = list(config.signal)
    backgrounds = (
        [p.name for p in definition.processes.values() if p.kind == "background"]
        if all_backgrounds
        else list(config.background)
    )
    feature_set = registered.feature_sets[config.feature_set]
    taken = fit_observables_taken(definition, name, feature_set.features)
    if config.kind == "multiclass":
        from liberica.orchestration.multiclass_training import train_and_evaluate

        return train_and_evaluate(
            config,
            table,
            feature_set,
            pathlib.Path(out),
            architecture=architecture,
            training_set=training_set,
            settings={"seed": seed, "folds": folds, **(settings or {})},
            description=description,
            source=definition.source,
        )
    if config.kind == "autoencoder":
        return _train_autoencoder(
            definition,
            config,
            table,
            feature_set,
            pathlib.Path(out),
            description=description,
            ignored=_flagged_features(definition, processed, feature_set.features),
            taken=taken,
            seed=seed,
            folds=folds,
            trials=trials,
        )
    reports = train_models(
        table,
        signal,
        backgrounds,
        pathlib.Path(out),
        TrainingConfig(
            weighted=weighted,
            all_backgrounds=all_backgrounds,
            seed=seed,
            folds=folds,
            negative_weights=config.negative_weights,
        ),
        description,
        feature_set=feature_set,
        model_names=config.models,
        output=config.output,
        title=f"liberica {registered.name} classifier",
        uses_fit_observable=bool(taken),
    )
    return TrainResult(name, signal, backgrounds, list(reports), taken, pathlib.Path(out))


def _flagged_features(definition, processed, features: tuple[str, ...]) -> tuple[str, ...]:
    """The features (by variable) whose data/MC check on this processing flags them, where
    the definition's ``checks.feature_agreement.drop_flagged`` drops them.

    Without a processing (a features file), a check, or ``drop_flagged``, none.
    """
    check = definition.checks.feature_agreement
    if check is None or not check.drop_flagged:
        return ()
    if processed is None:
        from liberica.core.definition import AnalysisDefinitionError

        raise AnalysisDefinitionError(
            definition.source,
            "checks.feature_agreement.drop_flagged",
            "a features file carries no data/MC check, so the features to drop are unknown: "
            "train from the embedded sample, or set drop_flagged: false",
        )
    summary = processed.feature_agreement
    if summary is None:
        return ()
    variable = {
        name: definition.observables[definition.regions[name].observable].variable
        for name in summary.flagged
    }
    return tuple(f for f in features if f in set(variable.values()))


def _train_autoencoder(
    definition,
    config,
    table,
    feature_set,
    out: pathlib.Path,
    *,
    description: str,
    ignored: tuple[str, ...],
    taken: list[tuple[str, str]],
    seed: int,
    folds: int,
    trials: int | None,
) -> TrainResult:
    """Search (unless ``trials`` is 0) and train one autoencoder on the background MC."""
    from liberica.models.autoencoder import AutoencoderConfig, train_autoencoder
    from liberica.models.tuning import TuningConfig, tune_autoencoder, write_tuning

    backgrounds = list(config.background)
    base = AutoencoderConfig(
        scaling=config.scaling, seed=seed, folds=folds, negative_weights=config.negative_weights
    )
    tuning_path = None
    budget = TuningConfig().trials if trials is None else trials
    if budget > 0:
        tuned = tune_autoencoder(
            table,
            backgrounds,
            base,
            TuningConfig(trials=budget, seed=seed),
            feature_set=feature_set,
            ignored=ignored,
        )
        tuning_path = write_tuning(tuned, out)
        base = tuned.config
    training = train_autoencoder(
        table,
        backgrounds,
        out,
        base,
        feature_set=feature_set,
        model_names=config.models,
        ignored=ignored,
        training_sample=f"{description}; background {backgrounds}; seed={seed}",
        output=config.output or "per-event reconstruction error",
        title=f"liberica {definition.analysis} autoencoder ({config.scaling} scaling)",
        uses_fit_observable=bool(taken),
    )
    signals = [p for p in config.signal]
    return TrainResult(
        config.name,
        signals,
        backgrounds,
        list(training.folds),
        taken,
        out,
        kind="autoencoder",
        auc=dict(training.auc),
        ignored=tuple(training.ignored),
        tuning=tuning_path,
    )
