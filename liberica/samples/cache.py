"""Generate an analysis's embedded sample once and reuse it while its arguments match."""

from __future__ import annotations

import json
import logging
import pathlib

from liberica.core.registry import Analysis, resolve
from liberica.samples.sample import DEFAULT_LUMI_FB, EVENTS_PER_FILE, GeneratedSample

log = logging.getLogger(__name__)


def _generation_format(analysis: Analysis) -> object:
    """The generator module's ``GENERATION_FORMAT`` (bumped when its content changes), or None."""
    module = analysis.generate.partition(":")[0] if analysis.generate else ""
    try:
        return resolve(f"{module}:GENERATION_FORMAT")
    except (ImportError, AttributeError):
        return None


def sample_folder(
    cache_root: pathlib.Path,
    analysis: str,
    events: int,
    seed: int,
    lumi_fb: float,
    default_lumi_fb: float = DEFAULT_LUMI_FB,
) -> pathlib.Path:
    """The cache folder of a sample: ``NAME-EVENTS-seedSEED``, with ``-lumiL`` at any other
    luminosity than the analysis's default, so that a run at another luminosity neither
    regenerates nor overwrites the default sample."""
    folder = f"{analysis}-{events}-seed{seed}"
    if lumi_fb != default_lumi_fb:
        folder += f"-lumi{lumi_fb:g}"
    return pathlib.Path(cache_root) / folder


def cached_sample(
    analysis: Analysis,
    cache_dir: pathlib.Path,
    *,
    events: int | None = None,
    lumi_fb: float = DEFAULT_LUMI_FB,
    mu_inject: float = 1.0,
    seed: int = 42,
    events_per_file: int = EVENTS_PER_FILE,
) -> GeneratedSample:
    """The analysis's embedded sample in ``cache_dir``, generated only if absent or stale.

    The cache is valid when ``generation.json`` records the same arguments and
    generation format, and every file of ``fileset.json`` exists.

    Args:
        analysis: the registered analysis (its generator)
        cache_dir: the sample's folder
        events: total MC events [default: the analysis's ``default_events``]
        lumi_fb, mu_inject, seed, events_per_file: the generator's arguments
    """
    cache_dir = pathlib.Path(cache_dir)
    events = analysis.default_events if events is None else events
    record = cache_dir / "generation.json"
    fileset = cache_dir / "fileset.json"
    wanted = {
        "events": events,
        "lumi_fb": lumi_fb,
        "mu_inject": mu_inject,
        "seed": seed,
        "events_per_file": events_per_file,
        "format": _generation_format(analysis),
    }
    if record.exists() and fileset.exists():
        recorded = json.loads(record.read_text())
        files = [f for entry in json.loads(fileset.read_text()).values() for f in entry["files"]]
        if all(recorded.get(k) == v for k, v in wanted.items()) and all(
            pathlib.Path(f).exists() for f in files
        ):
            log.info("using the cached %s sample in %s", analysis.name, cache_dir)
            return GeneratedSample(
                fileset_path=fileset,
                samples=recorded.get("samples", {}),
                mu_injected=mu_inject,
                lumi_fb=lumi_fb,
                seed=seed,
            )
    log.info("generating the %s sample in %s (cached for later runs)", analysis.name, cache_dir)
    return analysis.generator()(
        cache_dir,
        events=events,
        lumi_fb=lumi_fb,
        mu_inject=mu_inject,
        seed=seed,
        events_per_file=events_per_file,
    )
