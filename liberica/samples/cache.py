"""Generate an embedded sample once and reuse it while its arguments match."""

from __future__ import annotations

import json
import logging
import pathlib

from liberica.samples.hzz4l import (
    EVENTS_PER_FILE,
    GENERATION_FORMAT,
    GeneratedSample,
    generate_hzz4l,
)

log = logging.getLogger(__name__)


def cached_hzz4l(
    cache_dir: pathlib.Path,
    *,
    events: int = 2_000_000,
    lumi_fb: float = 140.0,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
) -> GeneratedSample:
    """The hzz4l embedded sample in ``cache_dir``, generated only if absent or stale.

    The cache is valid when ``generation.json`` records the same arguments and
    generation format, and every file of ``fileset.json`` exists.
    """
    cache_dir = pathlib.Path(cache_dir)
    record = cache_dir / "generation.json"
    fileset = cache_dir / "fileset.json"
    wanted = {
        "events": events,
        "lumi_fb": lumi_fb,
        "mu_inject": mu_inject,
        "seed": seed,
        "events_per_file": events_per_file,
        "format": GENERATION_FORMAT,
    }
    if record.exists() and fileset.exists():
        recorded = json.loads(record.read_text())
        files = [f for entry in json.loads(fileset.read_text()).values() for f in entry["files"]]
        if all(recorded.get(k) == v for k, v in wanted.items()) and all(
            pathlib.Path(f).exists() for f in files
        ):
            log.info("using the cached hzz4l sample in %s", cache_dir)
            return GeneratedSample(
                fileset_path=fileset,
                samples=recorded.get("samples", {}),
                mu_injected=mu_inject,
                lumi_fb=lumi_fb,
                seed=seed,
            )
    log.info("generating the hzz4l sample in %s (cached for later runs)", cache_dir)
    return generate_hzz4l(
        cache_dir,
        events=events,
        lumi_fb=lumi_fb,
        mu_inject=mu_inject,
        seed=seed,
        events_per_file=events_per_file,
    )
