"""coffea's Runner, with liberica's handling of failed chunks.

Two things coffea does with a failed chunk did not fit bad input:

- it retries every failure (three times by default): in the worker for the
  iterative and futures executors, by resubmission for dask. A truncated
  basket or a branch of the wrong length fails the same way every time, so a
  run read its bad chunk four times before it stopped;
- an exception that crosses an executor is printed as a traceback by coffea
  (the futures executor's ``print_exc``, the dask progress bar) and by every
  dask worker's log, before the run's own one-line error.

Here every chunk runs inside :func:`run_chunk`, in the worker. A failure that
is deterministic bad input (``processors.bad_input.is_deterministic``: a
format error, or a read error of a local file) is not retried; a read error of
a remote file is retried like any other failure, and is bad input once the
retries are spent. Bad input does not raise: the chunk's output is a record
of it under ``bad_chunks`` (sample, file, entries, events, reason), merged
like any output. The pipeline then applies the bad-file policy to the merged
records: ``fail`` stops with one line naming the first bad chunk (after the
other chunks ran), ``skip`` lists them and closes the books. dask itself
resubmits no task (``DaskExecutor(retries=0)``); a worker that dies mid-chunk
is still replaced by its nanny and the chunk rescheduled by the scheduler.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any

from coffea import processor

from liberica.processors.bad_input import InputFormatError, bad_input_cause, is_deterministic

log = logging.getLogger(__name__)


def bad_chunk_record(item: Any, err: BaseException) -> dict[str, Any]:
    """The output of a chunk that is bad input, wrapped as coffea wraps a chunk's output.

    The processor's part is ``{"bad_chunks": {where: record}}``; ``metrics`` is
    empty, as nothing of the chunk was processed.
    """
    start, stop = int(item.entrystart), int(item.entrystop)
    cause = bad_input_cause(err) or err
    reason = f"{type(cause).__name__}: {' '.join(str(cause).split())}"[:300]
    record = {
        "sample": item.dataset,
        "file": item.filename,
        "entrystart": start,
        "entrystop": stop,
        "events": stop - start,
        "kind": "format" if isinstance(cause, InputFormatError) else "read",
        "reason": reason,
    }
    where = f"{item.filename} entries {start}-{stop}"
    return {"out": {"bad_chunks": {where: record}}, "metrics": {}, "processed": {item}}


def _work_item(args: tuple[Any, ...]) -> Any:
    """The chunk's WorkItem among coffea's arguments; dask sends ``(item, processor)``."""
    first = args[0] if args else None
    if isinstance(first, tuple) and first:
        first = first[0]
    return first if hasattr(first, "entrystart") else None


def run_chunk(
    retries: int,
    _coffea_retries: int,
    skipbadfiles: Any,
    func: Callable[..., Any],
    *args: Any,
    use_result_type: bool = False,
    **kwargs: Any,
) -> Any:
    """Run ``func(*args, **kwargs)``, one chunk, retrying up to ``retries`` times.

    The signature is coffea's ``Runner.automatic_retries`` with liberica's
    retry count in front; coffea's own count (0 under dask) is ignored. A
    chunk that is bad input returns :func:`bad_chunk_record` instead of raising.
    """
    item = _work_item(args)
    if skipbadfiles or use_result_type or item is None:
        # coffea's own skipping, or a step that is not a chunk: coffea's loop
        return processor.Runner.automatic_retries(
            retries, skipbadfiles, func, *args, use_result_type=use_result_type, **kwargs
        )
    for attempt in range(retries + 1):
        try:
            return func(*args, **kwargs)
        except Exception as err:
            last = attempt == retries
            if is_deterministic(err, item.filename) or (last and bad_input_cause(err)):
                return bad_chunk_record(item, err)
            if last:
                raise
            log.warning(
                "chunk %s entries %s-%s failed (%s: %s); attempt %d of %d",
                item.filename,
                item.entrystart,
                item.entrystop,
                type(err).__name__,
                " ".join(str(err).split())[:200],
                attempt + 2,
                retries + 1,
            )
    raise AssertionError("unreachable")  # pragma: no cover


@dataclasses.dataclass
class Runner(processor.Runner):
    """coffea's Runner with :func:`run_chunk` around every chunk.

    Attributes:
        chunk_retries: retries of a chunk that failed other than on bad input
    """

    chunk_retries: int = 3

    @property
    def automatic_retries(self) -> Callable[..., Any]:
        """The loop coffea wraps around every chunk (and preprocessing step)."""
        return functools.partial(run_chunk, self.chunk_retries)
