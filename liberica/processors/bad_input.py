"""Bad input met inside a chunk: what counts as it, and how it is reported.

A chunk is bad input when its file cannot be read (I/O, decompression,
deserialization) or its content breaks the input format (per-object branches
of different lengths in one event). Under the bad-file policy ``fail`` the run
stops with one line naming the file and entries (:class:`ChunkReadError`);
under ``skip`` the chunk is left out and listed with its event count.

Both are deterministic for a local file: reading it again gives the same
bytes. :func:`is_deterministic` tells the executors' retry loop not to repeat
them (``analysis.runner``); a read error of a remote file may be the network,
and is retried.
"""

from __future__ import annotations

from collections.abc import Iterator

from liberica.core.errors import LibericaError


class ChunkReadError(LibericaError, OSError):
    """A chunk that could not be read or decoded: the message names the file and entries."""


class InputFormatError(LibericaError, ValueError):
    """A chunk whose content breaks its format, naming the branch (e.g. inconsistent lengths)."""


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, once each."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def is_read_error(err: BaseException) -> bool:
    """Whether ``err`` came from reading the file (I/O, decompression, deserialization)."""
    if isinstance(err, (OSError, EOFError)):
        return True
    traceback = err.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    filename = traceback.tb_frame.f_code.co_filename if traceback is not None else ""
    return "/uproot/" in filename or type(err).__module__.split(".")[0] in ("uproot", "lz4", "zlib")


def is_bad_input(err: BaseException) -> bool:
    """Whether ``err`` is a read error or a format error of the chunk's file."""
    return isinstance(err, InputFormatError) or is_read_error(err)


def bad_input_cause(err: BaseException) -> BaseException | None:
    """The innermost read or format error in ``err``'s chain (coffea wraps them), or None."""
    causes = [cause for cause in exception_chain(err) if is_bad_input(cause)]
    return causes[-1] if causes else None


def is_deterministic(err: BaseException, filename: str) -> bool:
    """Whether reading ``filename`` again would fail the same way.

    True for a format error anywhere in the chain, and for a read error of a
    local file; a remote file's read error may be transient.
    """
    cause = bad_input_cause(err)
    if cause is None:
        return False
    return isinstance(cause, InputFormatError) or "://" not in str(filename)
