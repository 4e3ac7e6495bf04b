"""Find and read an analysis's classifier models, and check them against its feature set."""

from __future__ import annotations

import pathlib

from liberica.core.definition import ClassifierConfig
from liberica.core.registry import FeatureSet
from liberica.models.spec import Classifier, ModelSpecError, check_against, read_classifier


def _read(reference: str, source_dir: str | None, shipped_dir: pathlib.Path | None) -> Classifier:
    path = pathlib.Path(reference)
    candidates = []
    if path.is_absolute():
        candidates.append(path)
    else:
        if source_dir is not None:
            candidates.append(pathlib.Path(source_dir) / path)
        candidates.append(pathlib.Path.cwd() / path)
        if shipped_dir is not None and len(path.parts) == 1:
            candidates.append(shipped_dir / path)
    for candidate in candidates:
        if candidate.is_file():
            shipped = shipped_dir is not None and candidate.parent == shipped_dir
            name = f"{reference} (shipped)" if shipped else str(candidate)
            return read_classifier(candidate.read_bytes(), name)
    raise ModelSpecError(
        f"classifier model {reference!r} not found (looked in "
        f"{', '.join(str(c) for c in candidates)})"
    )


def load_classifiers(
    config: ClassifierConfig,
    feature_set: FeatureSet,
    shipped_dir: pathlib.Path | None = None,
    models: list[str] | None = None,
) -> list[Classifier]:
    """A classifier's fold models, checked against its registered feature set.

    Args:
        config: the definition's classifier
        feature_set: the analysis's feature set the classifier takes
        shipped_dir: the analysis's folder of shipped models, for bare names
        models: model files replacing the definition's (e.g. from ``--model``)

    Raises:
        ModelSpecError: for a missing or unreadable model, or one whose feature
            spec differs from the feature set
    """
    classifiers = [_read(m, config.source_dir, shipped_dir) for m in (models or config.models)]
    check_against(classifiers, feature_set.name, feature_set.features)
    return classifiers


def shipped_model(name: str, analysis: str | None = None) -> bytes:
    """Bytes of a model an analysis ships [default: the registry's default analysis]."""
    from liberica.core import registry

    folder = registry.get(analysis or registry.DEFAULT_ANALYSIS).models_folder()
    return (folder / name).read_bytes()
