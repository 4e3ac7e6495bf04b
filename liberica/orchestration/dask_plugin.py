"""The dask worker plugin that prepares every worker of a run, those that join later too.

Adaptive clusters add workers during a run, and nannies restart killed ones.
Prepared only at the start (``client.run``), such a worker compiled the
processor's loops at its first chunk and, never frozen, piled up each chunk's
garbage (``processors.collector``): up to 2.2 GB resident instead of 1.3 GB.
A registered plugin runs on every worker as it starts.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from liberica.orchestration import clusters


class WorkerPreparation(WorkerPlugin):
    """``clusters.prepare_worker(imports)`` on every worker, now and as it joins."""

    name = "liberica-worker-preparation"

    def __init__(self, imports: tuple[str, ...]) -> None:
        self.imports = tuple(imports)

    def setup(self, worker: Any) -> None:
        """Import and warm up ``imports``, then freeze what the worker holds."""
        clusters.prepare_worker(self.imports)
