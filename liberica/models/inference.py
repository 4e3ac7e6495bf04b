"""ONNX inference per chunk: one InferenceSession per model and worker process.

Sessions live in a module-level cache keyed by the model's sha256, so a worker
process creates each session once and reuses it for every chunk it runs; the
processor carries the model bytes, so workers need no file. The CUDA execution
provider is used when onnxruntime offers it and a session on it can be made
(onnxruntime-gpu on a worker with a GPU); otherwise the CPU provider, with a log
line naming the provider either way. Threads per session are capped so that
worker processes do not oversubscribe the cores.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np
import onnxruntime as ort

from liberica.models.spec import Classifier

log = logging.getLogger(__name__)

DEFAULT_THREADS = 1
"""intra-op threads per session: a worker process is one core's worth of work."""

_SESSIONS: dict[str, ort.InferenceSession] = {}
_LOCK = threading.Lock()
_STATS: dict[str, Any] = {"sessions_created": 0, "provider": None}


def _providers() -> list[str]:
    available = ort.get_available_providers()
    wanted = os.environ.get("LIBERICA_ONNX_PROVIDER", "").strip()
    if wanted:
        return [wanted, "CPUExecutionProvider"] if wanted != "CPUExecutionProvider" else [wanted]
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session(classifier: Classifier, threads: int = DEFAULT_THREADS) -> ort.InferenceSession:
    """The process's InferenceSession for ``classifier``, created on first use."""
    key = classifier.digest
    cached = _SESSIONS.get(key)
    if cached is not None:
        return cached
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        wanted = _providers()
        created = ort.InferenceSession(classifier.model_bytes, options, providers=wanted)
        provider = created.get_providers()[0]
        if provider != wanted[0]:
            log.warning(
                "onnxruntime: %s unavailable for %s, using %s", wanted[0], classifier.name, provider
            )
        elif provider == "CPUExecutionProvider" and "CUDAExecutionProvider" not in wanted:
            log.info(
                "onnxruntime: no CUDA execution provider here, %s runs on %s",
                classifier.name,
                provider,
            )
        else:
            log.info("onnxruntime: %s runs on %s", classifier.name, provider)
        _SESSIONS[key] = created
        _STATS["sessions_created"] += 1
        _STATS["provider"] = provider
        return created


def release(classifiers: list[Classifier]) -> int:
    """Drop the process's cached sessions of ``classifiers``; returns how many were dropped.

    A search that trains a model per window and fold would otherwise keep every
    session (and its copy of the model) for the life of the process.
    """
    with _LOCK:
        return sum(_SESSIONS.pop(c.digest, None) is not None for c in classifiers)


def stats() -> dict[str, Any]:
    """Sessions created in this process, and the provider of the latest one."""
    return {"pid": os.getpid(), **_STATS}


def evaluate(
    classifiers: list[Classifier], features: np.ndarray, event_number: np.ndarray
) -> np.ndarray:
    """Scores of ``features`` rows, each from the fold model that did not train on its event.

    One batched ``run`` per model. The model of fold m scores the rows with
    ``eventNumber % folds == (m + 1) % folds`` (``spec.evaluates``).

    Args:
        classifiers: one model per fold
        features: ``(n, F)`` float32
        event_number: ``(n,)`` eventNumber of each row

    Returns:
        ``(n,)`` scores for a model with one output, ``(n, outputs)`` otherwise
    """
    n_outputs = len(classifiers[0].spec.outputs) if classifiers else 1
    scores = np.full((len(features), n_outputs), np.nan, dtype=np.float64)
    event_number = np.asarray(event_number)
    for classifier in classifiers:
        spec = classifier.spec
        rows = np.flatnonzero(event_number % spec.folds == spec.evaluates)
        if rows.size == 0:
            continue
        runner = session(classifier)
        name = runner.get_inputs()[0].name
        output = runner.run(None, {name: np.ascontiguousarray(features[rows])})[0]
        scores[rows] = np.asarray(output, dtype=np.float64).reshape(len(rows), n_outputs)
    return scores[:, 0] if n_outputs == 1 else scores
