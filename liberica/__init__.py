"""liberica: distributed columnar collider-physics analysis.

The workflow runs one way: ``analysis`` (definitions, filesets, executors) ->
``processors`` (coffea processors: chunk of events -> histograms) -> ``models``
(ONNX inference) -> ``fits`` (cabinetry/pyhf). The public Python API
(:mod:`liberica.api`) is reachable from the top, loaded on first use::

    import liberica

    run = liberica.process("hzz4l", "sample/fileset.json")
    result = liberica.fit(run)
"""

from __future__ import annotations

from typing import Any

from liberica._version import __version__

_API = (
    "LibericaError",
    "RunResult",
    "SearchResult",
    "ToysResult",
    "TrainResult",
    "bumphunt",
    "cwola",
    "fit",
    "generate",
    "load_definition",
    "load_fileset",
    "load_run",
    "process",
    "run",
    "search",
    "toys",
    "train",
    "write_bumphunt",
    "write_cwola",
    "write_fit",
    "write_toys",
)

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    # the API imports coffea, cabinetry and more: only when a name of it is used
    if name in _API:
        from liberica import api

        return getattr(api, name)
    raise AttributeError(f"module 'liberica' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
