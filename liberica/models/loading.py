"""Find and read an analysis's classifier models, and check them against its features."""

from __future__ import annotations

import pathlib
from importlib import resources

from liberica.analysis.definition import ClassifierConfig
from liberica.models.spec import Classifier, ModelSpecError, check_against, read_classifier
from liberica.processors.features import FEATURE_NAMES, FEATURE_SET

SHIPPED = "liberica.models"


def shipped_model(name: str) -> bytes:
    """Bytes of a model shipped in ``liberica/models/data/``."""
    return resources.files(SHIPPED).joinpath(f"data/{name}").read_bytes()


def _read(reference: str, source_dir: str | None) -> Classifier:
    path = pathlib.Path(reference)
    candidates = []
    if path.is_absolute():
        candidates.append(path)
    else:
        if source_dir is not None:
            candidates.append(pathlib.Path(source_dir) / path)
        candidates.append(pathlib.Path.cwd() / path)
    for candidate in candidates:
        if candidate.is_file():
            return read_classifier(candidate.read_bytes(), str(candidate))
    if len(path.parts) == 1:
        try:
            return read_classifier(shipped_model(reference), f"{reference} (shipped)")
        except FileNotFoundError:
            pass
    raise ModelSpecError(
        f"classifier model {reference!r} not found (looked in "
        f"{', '.join(str(c) for c in candidates)} and among liberica's shipped models)"
    )


def load_classifiers(config: ClassifierConfig, models: list[str] | None = None) -> list[Classifier]:
    """The analysis's fold models, checked against the hzz4l feature function.

    Args:
        config: the definition's classifier block
        models: model files replacing the definition's (e.g. from ``--model``)

    Raises:
        ModelSpecError: for a missing or unreadable model, or one whose feature
            spec differs from the analysis's features
    """
    classifiers = [_read(m, config.source_dir) for m in (models or config.models)]
    check_against(classifiers, FEATURE_SET, FEATURE_NAMES)
    return classifiers
