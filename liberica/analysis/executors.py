"""coffea executors by name: where chunks run, never what they compute."""

from __future__ import annotations

import warnings

from coffea import processor

# loky restarts a worker that grew by 300 MB and warns of a leak; a worker that
# holds a 200k-event chunk with its variations grows that much by design.
warnings.filterwarnings("ignore", message="A worker was restarted", category=UserWarning)

EXECUTORS = ("iterative", "futures")


def build_executor(name: str, workers: int, status: bool = True) -> processor.ExecutorBase:
    """A coffea executor.

    Args:
        name: ``iterative`` (one process, in order) or ``futures`` (local process pool)
        workers: worker processes for ``futures``
        status: show a progress bar

    Returns:
        processor.ExecutorBase: the executor
    """
    if name == "iterative":
        return processor.IterativeExecutor(status=status, desc="Processing", unit="chunk")
    if name == "futures":
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        return processor.FuturesExecutor(
            workers=workers, status=status, desc="Processing", unit="chunk", merging=False
        )
    raise ValueError(f"unknown executor '{name}' (choose from: {', '.join(EXECUTORS)})")
