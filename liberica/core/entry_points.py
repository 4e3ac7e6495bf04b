"""Plug-ins found through entry points: what installed packages register by group."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)


def load_group(group: str, what: str) -> Iterator[tuple[str, Any]]:
    """``(name, loaded object)`` of every entry point of ``group``.

    One that cannot be loaded is logged, naming ``what`` it should have been, and
    skipped: a broken plug-in must not hide the others.
    """
    for entry in metadata.entry_points(group=group):
        try:
            loaded = entry.load()
        except Exception as err:
            log.warning(
                "%s entry point %s (%s) cannot be loaded: %s", what, entry.name, entry.value, err
            )
            continue
        yield entry.name, loaded
