"""CWoLa hunting on a run's per-event table: sliding mass windows, k-folded classifiers of
each signal region against its sidebands, masked fits, the look-elsewhere effect and the
supervised and idealized references (``liberica cwola``).

The hunt (Collins, Howe, Nachman, PRL 121 (2018) 241803; the LHC Olympics 2020):

1. **Windows.** Log-spaced signal regions through the definition's anchor region
   (every one with its high/low ratio), sliding by half a width unless the definition
   says otherwise; one sideband of the same log width on each side
   (``fits/cwola.py``). The histogram bins divide each signal region in
   ``bins_per_window`` log-spaced bins; the fitted range is the windows' span.
2. **Classifiers.** In each window, signal-region against sideband data events (the
   larger sideband subsampled to the smaller one's count, so that both weigh the
   same: :func:`window_training`), on the definition's features (plus
   ``noise_features`` standard-normal columns, drawn from the seed for every row of
   the table): K models by the fold rule of
   ``models/spec.py`` on the row index (``eventNumber``), each scoring only the events
   it did not train on, every data event of the fitted range included.
3. **Selection.** Per fold, the score above which a fraction eps of that fold's
   sideband events lie; the ladder's events are nested (``fits/cwola.py``).
4. **Fits.** The selected events' mass spectrum fitted with the signal region masked,
   and the signal-region count's profile-likelihood significance with the fit's
   uncertainty as a constrained nuisance parameter.
5. **Look-elsewhere.** The largest local significance over windows and efficiencies,
   against pseudo-experiments of every window's nested ladder drawn from its fitted
   backgrounds and refitted (the classifiers held fixed; ``fits/cwola.py``). What the
   fixed classifiers leave out, their sculpting where the features shift
   non-linearly with the mass, shows in each cell's pass-fraction pull and in
   background-only hunts (``benchmarks/lhco_hunt.py background``): read the global
   significance beside them (benchmarks/RESULTS.md measures it on the embedded
   sample).
6. **References**, in the definition's true signal region, with each of its trainers:
   the *supervised* classifier (signal against background labels of the labelled
   evaluation events, k-folded on them, scored out of fold), the *idealized* anomaly
   detector (the data's signal-region events against background-only events of the
   signal region, scored on the evaluation events), and CWoLa's own (the classifiers of
   the window whose signal region is the true one, scored on the evaluation events).
   Each gives a SIC curve, eps_S / sqrt(eps_B), with its peak where at least
   ``min_background`` evaluation background events pass.

A row's fold is its ``eventNumber`` (the row index in its file for the LHCO format)
modulo K. Everything is seeded: the same table and seed give the same result.
"""

from __future__ import annotations

import logging
import math
import pathlib
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from liberica.core.definition import AnalysisDefinition, CwolaConfig
from liberica.fits import cwola as hunting
from liberica.fits.cwola import CwolaError
from liberica.models import inference, kfold
from liberica.models.sic import SicCurve, sic_curve
from liberica.processors.histograms import DATA_PROCESS

log = logging.getLogger(__name__)

RESULTS_SCHEMA_VERSION = 1
"""Of ``cwola/results.json``."""

MLP_SETTINGS: dict[str, Any] = {
    "hidden": (64, 64, 64),
    "batch_size": 2048,
    "learning_rate": 3e-3,
    "max_epochs": 30,
    "patience": 4,
}
"""The MLP's training (``models/train.py``): large batches, so that a fold of a few hundred
thousand events trains in well under a minute on two cores."""

MISFIT_P_VALUE = 0.01
"""Below this chi2 p-value of its masked fit, the largest excess is reported with a warning:
the pseudo-experiments are drawn from the fit, so a misfit is not in their distribution."""

METHODS: tuple[str, ...] = ("cwola", "supervised", "idealized")
"""The classifiers whose SIC curves the references give."""


class CwolaSettings(NamedTuple):
    """What a hunt ran with (the definition's, or the caller's overrides)."""

    trainer: str
    members: int
    folds: int
    efficiencies: tuple[float, ...]
    noise_features: int
    pseudo_experiments: int
    seed: int
    features: tuple[str, ...]
    background_shape: str
    reference_trainers: tuple[str, ...] = ()


class CwolaResult(NamedTuple):
    """A CWoLa hunt.

    Attributes:
        windows: each window's hunt (``fits.cwola.WindowHunt``), low to high
        events: per window, the data events in its signal region and sidebands, and
            the events each of its classifiers trained on
        global_result: the largest excess and its look-elsewhere effect
            (``fits.cwola.GlobalResult``)
        sic: per method (``cwola_trees``, ``supervised_mlp``, ...) its SIC curve
        edges: the mass histogram's bin edges (GeV)
        settings: what the hunt ran with
        timings: seconds per step
        reference_window: index of the window whose signal region is the references',
            or None
    """

    windows: list[Any]
    events: list[dict[str, int]]
    global_result: Any
    sic: dict[str, SicCurve]
    edges: np.ndarray
    settings: CwolaSettings
    timings: dict[str, float]
    reference_window: int | None

    @property
    def best(self) -> int:
        """The index of the window with the largest local significance."""
        return self.global_result.best_window

    @property
    def best_cell(self) -> Any:
        """The window and efficiency of the largest excess (``fits.cwola.EfficiencyHunt``)."""
        best = self.global_result
        return next(
            cell
            for cell in self.windows[best.best_window].efficiencies
            if cell.efficiency == best.best_efficiency
        )

    @property
    def warnings(self) -> list[str]:
        """Why the largest excess may not be what it seems (empty when nothing is seen)."""
        fit = self.best_cell.fit.fit
        if math.isfinite(fit.p_value) and fit.p_value < MISFIT_P_VALUE:
            return [
                f"the largest excess's masked fit describes the selected spectrum badly "
                f"(chi2 p-value {fit.p_value:.2g}): its local significance may come from the "
                "fit, not the signal region; look at its figure"
            ]
        return []

    def to_dict(self) -> dict[str, Any]:
        """The content of ``cwola/results.json``."""
        best = self.global_result
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "settings": self.settings._asdict(),
            "edges": [float(x) for x in self.edges],
            "windows": [
                window.to_dict() | {"events": events}
                for window, events in zip(self.windows, self.events, strict=True)
            ],
            "best_window": {
                "index": best.best_window,
                **self.windows[best.best_window].window.to_dict(),
                "efficiency": best.best_efficiency,
                "local_significance": best.local_significance,
                "background_fit_p_value": _finite(self.best_cell.fit.fit.p_value),
            },
            "warnings": self.warnings,
            "global_significance": self.global_result.to_dict(),
            "reference_window": self.reference_window,
            "sic": {name: curve.to_dict() for name, curve in self.sic.items()},
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class _Rows(NamedTuple):
    """Rows of the table taken by one role: features, mass, fold key, label."""

    features: np.ndarray
    mass: np.ndarray
    event_number: np.ndarray
    label: np.ndarray

    def take(self, mask: np.ndarray) -> _Rows:
        return _Rows(*(column[mask] for column in self))


EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "trees": (("sklearn", "onnx"), "lhco"),
    "mlp": (("torch", "onnx"), "train"),
}
"""Per trainer, the modules it needs and the extra that installs them."""


def missing_modules(trainer: str) -> tuple[str, ...]:
    """The modules ``trainer`` needs that are not installed."""
    import importlib.util

    return tuple(m for m in EXTRAS[trainer][0] if importlib.util.find_spec(m) is None)


def _require(trainer: str) -> None:
    missing = missing_modules(trainer)
    if missing:
        raise CwolaError(
            f"the {trainer} classifiers need {', '.join(missing)}: "
            f"pip install 'liberica[{EXTRAS[trainer][1]}]'"
        )


def _settings(config: CwolaConfig, **overrides: Any) -> CwolaSettings:
    values = {
        "trainer": config.trainer,
        "members": config.members,
        "folds": config.folds,
        "efficiencies": config.efficiencies,
        "noise_features": 0,
        "pseudo_experiments": config.pseudo_experiments,
        "seed": 42,
        "features": config.features,
        "background_shape": config.background_shape,
        "reference_trainers": config.references.trainers if config.references else (),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["reference_trainers"] = tuple(values["reference_trainers"])
    for trainer in (values["trainer"], *values["reference_trainers"]):
        if trainer not in kfold.TRAINERS:
            raise CwolaError(f"unknown trainer {trainer!r} (known: {', '.join(kfold.TRAINERS)})")
    if values["noise_features"] < 0:
        raise CwolaError(f"noise_features is {values['noise_features']}: it must be >= 0")
    noise = tuple(f"noise_{k}" for k in range(values["noise_features"]))
    values["features"] = (*config.features, *noise)
    return CwolaSettings(**values)


def _roles(table: np.ndarray, config: CwolaConfig, settings: CwolaSettings) -> dict[str, _Rows]:
    """The table's data, labelled evaluation and background-only rows."""
    missing = [c for c in (*config.features, config.mass, "process", "eventNumber")
               if c not in table.dtype.names]  # fmt: skip
    if missing:
        raise CwolaError(
            f"the per-event table has no column {missing[0]!r} (columns: "
            f"{', '.join(table.dtype.names)}): process the run with the definition's cwola block"
        )
    features = np.stack([table[name] for name in config.features], axis=1).astype(np.float32)
    if settings.noise_features:
        rng = np.random.default_rng([settings.seed, 0x6E6F697365])  # "noise"
        noise = rng.standard_normal((len(table), settings.noise_features), dtype=np.float32)
        features = np.concatenate([features, noise], axis=1)
    label = (
        np.asarray(table[config.label], dtype=np.int64)
        if config.label in table.dtype.names
        else np.full(len(table), -1)
    )
    rows = _Rows(
        features,
        np.asarray(table[config.mass], dtype=np.float64),
        np.asarray(table["eventNumber"], dtype=np.int64),
        label,
    )
    process = np.asarray(table["process"]).astype(str)
    references = config.references
    evaluation = references.evaluation if references else ()
    background_only = references.background_only if references else ()
    return {
        "data": rows.take(process == DATA_PROCESS),
        "evaluation": rows.take(np.isin(process, evaluation) & (label >= 0)),
        "background_only": rows.take(np.isin(process, background_only)),
    }


def windows_of(config: CwolaConfig) -> tuple[list[hunting.MassWindow], np.ndarray]:
    """The hunt's windows and the mass histogram's edges (see the module doc).

    The grid of windows passes through the anchor region: the first window's lower
    sideband starts at anchor_low / (ratio x step^j) with the largest j that keeps it
    at or above the range's low edge.
    """
    low, high = config.mass_range
    anchor_low, anchor_high = config.anchor
    ratio = anchor_high / anchor_low
    step = config.step_ratio or math.sqrt(ratio)
    room = math.log(anchor_low / (ratio * low)) / math.log(step)
    if room < -1e-9:
        raise CwolaError(
            f"the anchor region {anchor_low:g}-{anchor_high:g} GeV has no room for its lower "
            f"sideband above {low:g} GeV (cwola.windows)"
        )
    first = anchor_low / (ratio * step ** math.floor(room + 1e-9))
    try:
        windows = hunting.sliding_windows(first, high, ratio, step)
        edges = hunting.mjj_bins(first, high, ratio ** (1.0 / config.bins_per_window))
    except CwolaError as err:
        raise CwolaError(f"cwola.windows: {err}") from None
    return windows, edges


def _progress(progress: Callable[[str], None] | None, message: str) -> None:
    log.info("cwola: %s", message)
    if progress is not None:
        progress(message)


def _train(
    rows: _Rows,
    labels: np.ndarray,
    settings: CwolaSettings,
    trainer: str,
    seed: int,
    what: str,
) -> list:
    config = None
    if trainer == "trees":
        from liberica.models.trees import TreeEnsembleConfig

        config = TreeEnsembleConfig(members=settings.members)
    else:
        from liberica.models.train import TrainingConfig

        config = TrainingConfig(**MLP_SETTINGS)
    return kfold.train_kfold(
        rows.features,
        labels,
        rows.event_number,
        trainer=trainer,
        folds=settings.folds,
        seed=seed,
        feature_set=f"cwola-{'-'.join(settings.features)}",
        feature_names=settings.features,
        training_sample=what,
        config=config,
        # trees rank by the likelihood ratio whatever the class sizes (and weighted bins
        # cost 3x); the MLP's loss needs the classes balanced
        balance=trainer != "trees",
    )


def window_training(data: _Rows, window: hunting.MassWindow, seed: int) -> tuple[_Rows, np.ndarray]:
    """A window's training events and labels (1: signal region, 0: sidebands), with the
    larger sideband subsampled (seeded) to the smaller one's count.

    The two sidebands weigh the same, as in CWoLa hunting: a feature whose distribution
    shifts smoothly with mjj then tells the signal region from the sidebands no better
    than chance to first order, so the classifier does not learn mjj through it and the
    selection does not sculpt the signal region (on a falling spectrum the lower
    sideband would otherwise dominate, and "signal-region-like" would mean "higher mjj").
    """
    (sr_low, sr_high) = window.signal_region
    (low, _), (_, high) = window.sidebands
    in_sr = (data.mass >= sr_low) & (data.mass < sr_high)
    lower = np.flatnonzero((data.mass >= low) & (data.mass < sr_low))
    upper = np.flatnonzero((data.mass >= sr_high) & (data.mass < high))
    rng = np.random.default_rng([seed, 0x73696465])  # "side"
    keep = min(len(lower), len(upper))
    lower = np.sort(rng.choice(lower, keep, replace=False)) if len(lower) > keep else lower
    upper = np.sort(rng.choice(upper, keep, replace=False)) if len(upper) > keep else upper
    rows = np.sort(np.concatenate([np.flatnonzero(in_sr), lower, upper]))
    return data.take(rows), in_sr[rows].astype(np.float32)


def _mean_score(classifiers: list, features: np.ndarray) -> np.ndarray:
    """Every fold model's score averaged: for events none of them trained on."""
    scores = [
        inference.evaluate([c], features, np.full(len(features), c.spec.evaluates))
        for c in classifiers
    ]
    return np.mean(scores, axis=0)


def _window_index(windows: list[hunting.MassWindow], region: tuple[float, float]) -> int | None:
    for index, window in enumerate(windows):
        if np.allclose(window.signal_region, region, rtol=1e-6):
            return index
    return None


def _prepare(
    table: np.ndarray, definition: AnalysisDefinition, **overrides: Any
) -> tuple[CwolaConfig, CwolaSettings, dict[str, _Rows]]:
    """The definition's cwola block, the settings and the table's rows by role (the
    evaluation events: the references' signal region's)."""
    config = definition.cwola
    if config is None:
        raise CwolaError(f"{definition.source}: the definition has no cwola block")
    settings = _settings(config, **overrides)
    roles = _roles(table, config, settings)
    if config.references is not None:
        low, high = config.references.signal_region
        evaluation = roles["evaluation"]
        roles["evaluation"] = evaluation.take((evaluation.mass >= low) & (evaluation.mass < high))
    return config, settings, roles


def reference_curves(
    table: np.ndarray,
    definition: AnalysisDefinition,
    *,
    methods: tuple[str, ...] = ("supervised", "idealized"),
    trainers: tuple[str, ...] | None = None,
    seed: int = 42,
    noise_features: int = 0,
    members: int | None = None,
    folds: int | None = None,
) -> dict[str, SicCurve]:
    """The references' SIC curves alone (e.g. a robustness study with noise features).

    ``methods`` among :data:`METHODS` (``cwola`` trains the true signal region's window
    again); the keys are ``{method}_{trainer}``.

    Raises:
        CwolaError: a definition without a cwola block or references, an unknown method
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CwolaError(f"unknown reference method {unknown[0]!r} (known: {', '.join(METHODS)})")
    config, settings, roles = _prepare(
        table,
        definition,
        seed=seed,
        noise_features=noise_features,
        members=members,
        folds=folds,
        reference_trainers=trainers,
    )
    if config.references is None:
        raise CwolaError(f"{definition.source}: the cwola block has no references")
    windows, edges = windows_of(config)
    index = _window_index(windows, config.references.signal_region)
    window = windows[index] if index is not None else None
    data = roles["data"]
    data = data.take((data.mass >= edges[0]) & (data.mass < edges[-1]))
    return _references(roles, config, settings, window, data, {}, None, methods, index or 0)


def run_hunt(
    table: np.ndarray,
    definition: AnalysisDefinition,
    *,
    seed: int = 42,
    noise_features: int = 0,
    trainer: str | None = None,
    members: int | None = None,
    folds: int | None = None,
    pseudo_experiments: int | None = None,
    references: bool = True,
    reference_trainers: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CwolaResult:
    """The CWoLa hunt of a run's per-event table (see the module doc).

    Args:
        table: the run's ``features.parquet`` (every sample's selected rows)
        definition: the analysis (its ``cwola`` block)
        seed: the seed of the classifiers, the noise columns and the pseudo-experiments
        noise_features: standard-normal columns added to the classifier inputs
        trainer, members, folds, pseudo_experiments: override the definition's
        references: also the supervised and idealized references and the SIC curves
        reference_trainers: the references' classifiers [default: the definition's]
        progress: called with a line per step (a progress display)

    Raises:
        CwolaError: a definition without a cwola block, a table without its columns or
            without data
    """
    config, settings, roles = _prepare(
        table,
        definition,
        trainer=trainer,
        members=members,
        folds=folds,
        pseudo_experiments=pseudo_experiments,
        noise_features=noise_features,
        seed=seed,
        reference_trainers=reference_trainers,
    )
    _require(settings.trainer)
    data = roles["data"]
    if len(data.mass) == 0:
        raise CwolaError("the per-event table holds no data rows: the hunt runs on data")
    windows, edges = windows_of(config)
    reference_window = (
        _window_index(windows, config.references.signal_region) if config.references else None
    )
    timings: dict[str, float] = {"train_s": 0.0, "score_s": 0.0, "fit_s": 0.0}
    in_range = (data.mass >= edges[0]) & (data.mass < edges[-1])
    data = data.take(in_range)
    fold = data.event_number % settings.folds
    hunts, events, cwola_scores = [], [], {}
    for index, window in enumerate(windows):
        (sr_low, sr_high) = window.signal_region
        (low, _), (_, high) = window.sidebands
        in_sr = (data.mass >= sr_low) & (data.mass < sr_high)
        in_window = (data.mass >= low) & (data.mass < high)
        _progress(
            progress,
            f"window {index + 1}/{len(windows)}: {sr_low:.0f}-{sr_high:.0f} GeV, "
            f"{np.count_nonzero(in_sr)} signal-region and "
            f"{np.count_nonzero(in_window & ~in_sr)} sideband events",
        )
        events.append(
            {
                "signal_region": int(np.count_nonzero(in_sr)),
                "sidebands": int(np.count_nonzero(in_window & ~in_sr)),
            }
        )
        started = time.perf_counter()
        training, labels = window_training(data, window, seed + index)
        classifiers = _train(
            training,
            labels,
            settings,
            settings.trainer,
            seed + index,
            f"signal region {sr_low:.0f}-{sr_high:.0f} GeV against its sidebands",
        )
        middle = time.perf_counter()
        scores = inference.evaluate(classifiers, data.features, data.event_number)
        if index == reference_window and len(roles["evaluation"].mass):
            cwola_scores[settings.trainer] = _mean_score(classifiers, roles["evaluation"].features)
        inference.release(classifiers)
        fitted = time.perf_counter()
        hunts.append(
            hunting.hunt_window(
                data.mass,
                scores,
                fold,
                window,
                settings.efficiencies,
                edges,
                background=settings.background_shape,
            )
        )
        timings["train_s"] += middle - started
        timings["score_s"] += fitted - middle
        timings["fit_s"] += time.perf_counter() - fitted
    started = time.perf_counter()
    _progress(progress, f"look-elsewhere effect: {settings.pseudo_experiments} pseudo-experiments")
    global_result = hunting.global_significance(
        hunts, settings.pseudo_experiments, seed=settings.seed
    )
    timings["global_s"] = time.perf_counter() - started
    sic: dict[str, SicCurve] = {}
    if references and config.references is not None and reference_window is not None:
        started = time.perf_counter()
        sic = _references(
            roles,
            config,
            settings,
            windows[reference_window],
            data,
            cwola_scores,
            progress,
            window_index=reference_window,
        )
        timings["references_s"] = time.perf_counter() - started
    elif references and config.references is not None:
        log.warning(
            "cwola: no window's signal region is the references' %s: no SIC curves",
            config.references.signal_region,
        )
    return CwolaResult(
        hunts,
        events,
        global_result,
        sic,
        edges,
        settings,
        timings,
        reference_window,
    )


def _references(
    roles: dict[str, _Rows],
    config: CwolaConfig,
    settings: CwolaSettings,
    window: hunting.MassWindow | None,
    data: _Rows,
    cwola_scores: dict[str, np.ndarray],
    progress: Callable[[str], None] | None,
    methods: tuple[str, ...] = METHODS,
    window_index: int = 0,
) -> dict[str, SicCurve]:
    """SIC curves of CWoLa, the supervised and the idealized classifiers (module doc);
    ``window`` is the hunt's ``window_index``-th (its CWoLa classifiers are seeded alike)."""
    references = config.references
    low, high = references.signal_region
    evaluation = roles["evaluation"]
    if len(evaluation.mass) == 0 or len(np.unique(evaluation.label)) < 2:
        log.warning("cwola: no labelled signal and background in %g-%g GeV: no SIC", low, high)
        return {}
    floor = references.min_background
    curves: dict[str, SicCurve] = {}
    for trainer in settings.reference_trainers:
        if missing_modules(trainer):
            log.warning(
                "cwola: the %s references need %s (pip install 'liberica[%s]'): skipped",
                trainer,
                ", ".join(missing_modules(trainer)),
                EXTRAS[trainer][1],
            )
            continue
        if "cwola" not in methods or window is None:
            pass
        elif trainer not in cwola_scores:  # the hunt ran another trainer: this window again
            _progress(progress, f"CWoLa reference ({trainer}) in {low:.0f}-{high:.0f} GeV")
            training, labels = window_training(data, window, settings.seed + window_index)
            classifiers = _train(
                training,
                labels,
                settings,
                trainer,
                settings.seed + window_index,  # the hunt's seed for this window
                "CWoLa reference",
            )
            cwola_scores[trainer] = _mean_score(classifiers, evaluation.features)
            inference.release(classifiers)
        if trainer in cwola_scores:
            curves[f"cwola_{trainer}"] = sic_curve(
                cwola_scores[trainer], evaluation.label, min_background=floor
            )
        if "supervised" in methods:
            _progress(progress, f"supervised reference ({trainer})")
            classifiers = _train(
                evaluation,
                evaluation.label.astype(np.float32),
                settings,
                trainer,
                settings.seed,
                "supervised: labelled signal against background",
            )
            scores = inference.evaluate(classifiers, evaluation.features, evaluation.event_number)
            inference.release(classifiers)
            curves[f"supervised_{trainer}"] = sic_curve(
                scores, evaluation.label, min_background=floor
            )
        background_only = roles["background_only"]
        background_only = background_only.take(
            (background_only.mass >= low) & (background_only.mass < high)
        )
        if "idealized" in methods and len(background_only.mass):
            _progress(progress, f"idealized reference ({trainer})")
            curves[f"idealized_{trainer}"] = sic_curve(
                idealized_scores(data, background_only, evaluation, settings, trainer, (low, high)),
                evaluation.label,
                min_background=floor,
            )
    return curves


def idealized_scores(
    data: _Rows,
    background_only: _Rows,
    evaluation: _Rows,
    settings: CwolaSettings,
    trainer: str,
    signal_region: tuple[float, float],
) -> np.ndarray:
    """The idealized anomaly detector's scores of the evaluation events: the data's
    signal-region events against background-only ones, k-folded, fold models averaged."""
    low, high = signal_region
    in_sr = data.take((data.mass >= low) & (data.mass < high))
    both = _Rows(
        np.concatenate([in_sr.features, background_only.features]),
        np.concatenate([in_sr.mass, background_only.mass]),
        np.concatenate([in_sr.event_number, background_only.event_number]),
        np.concatenate([np.ones(len(in_sr.mass)), np.zeros(len(background_only.mass))]),
    )
    classifiers = _train(
        both,
        both.label.astype(np.float32),
        settings,
        trainer,
        settings.seed,
        "idealized: signal-region data against background-only events",
    )
    scores = _mean_score(classifiers, evaluation.features)
    inference.release(classifiers)
    return scores


def write_cwola(result: CwolaResult, folder: pathlib.Path, *, figures: bool = True) -> pathlib.Path:
    """Write ``folder/results.json`` and, with ``figures``, ``folder/figures/``."""
    from liberica.orchestration.outputs import write_json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    write_json(path, result.to_dict())
    if figures:
        from liberica.fits import cwola_plots
        from liberica.models.sic_plots import draw_sic

        out = folder / "figures"
        out.mkdir(exist_ok=True)
        for index, hunt in enumerate(result.windows):
            low, high = hunt.window.signal_region
            cwola_plots.draw_window(hunt, out / f"window_{index:02d}_{low:.0f}_{high:.0f}.png")
        cwola_plots.draw_significance_map(result.windows, out / "local_significance.png")
        if result.sic:
            draw_sic(result.sic, out / "sic.png", "SIC in the benchmark signal region")
    return path
