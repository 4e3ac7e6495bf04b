"""Resumable runs: each finished chunk's output is saved, and a rerun loads it instead.

Built on coffea's SimpleCheckpointer, with the path of every checkpoint keyed
also by a fingerprint of what the processor computes (analysis, luminosity,
systematics, classifier models, bad-file policy, liberica version), so a run
with other settings never picks up stale chunks.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any

from coffea.processor import SimpleCheckpointer

CHUNK_OUTPUT_FORMAT = 2
"""Bumped whenever a chunk's output changes shape (2: ``computed_in`` counts events)."""


def fingerprint(settings: dict[str, Any]) -> str:
    """A short stable hash of the processor's settings and the chunk output format."""
    text = json.dumps(
        {**settings, "chunk_output": CHUNK_OUTPUT_FORMAT}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunCheckpointer(SimpleCheckpointer):
    """Chunk outputs under ``directory/<fingerprint>/<dataset>/<file uuid>/...``.

    Args:
        directory: where checkpoints live (created on demand)
        settings: what the processor computes; part of every path
    """

    def __init__(self, directory: str | pathlib.Path, settings: dict[str, Any]) -> None:
        self.key = fingerprint(settings)
        super().__init__(str(pathlib.Path(directory) / self.key), verbose=False)
