"""liberica: distributed columnar collider-physics analysis.

The workflow runs one way: ``analysis`` (definitions, filesets, executors) ->
``processors`` (coffea processors: chunk of events -> histograms) -> ``models``
(ONNX inference) -> ``fits`` (cabinetry/pyhf).
"""

from liberica._version import __version__

__all__ = ["__version__"]
