"""The public Python API: each stage of an analysis is a function returning a typed result.

    import liberica

    definition = liberica.load_definition("hzz4l")
    sample = liberica.generate("hzz4l", "sample/", events=200_000)
    run = liberica.process(definition, sample.fileset_path)      # histograms in memory
    result = liberica.fit(run)                                     # FitResult, in memory
    result.mu, result.significance, result.ranking[:5], result.postfit_yields
    liberica.write_fit(result, "fit/")                             # files only on request

The command line (``liberica.cli``) is a thin layer over these functions. Errors
that mean bad input (a definition, fileset, model, cluster profile or fit that
cannot be used) derive from :class:`LibericaError`, and their message
is one line naming the file, key or step.
"""

from liberica.api.anomaly import bumphunt, cwola, write_bumphunt, write_cwola
from liberica.api.fitting import (
    SearchResult,
    ToysResult,
    fit,
    search,
    toys,
    write_fit,
    write_toys,
)
from liberica.api.processing import (
    DEFAULT_CACHE,
    RunResult,
    generate,
    load_definition,
    load_fileset,
    load_run,
    process,
    run,
)
from liberica.api.training import TrainResult, train
from liberica.core.errors import LibericaError

__all__ = [
    "DEFAULT_CACHE",
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
]
