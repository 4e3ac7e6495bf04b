"""Pseudo-experiments: is mu-hat unbiased, is its error right, do the intervals cover?

For each true mu, the toys are drawn at (mu, theta-hat-hat(mu)), the
conditional fit to data at that mu, as combine and pyhf's toy calculator do:
the main bins from their Poisson distributions and the auxiliary data (the
constraint terms' measurements) from theirs, with pyhf's own sampler. Each toy
is fitted with the model, bounds and retry ladder of ``liberica fit``, on the
compiled likelihood, with MINOS on mu. The pull of a toy is
``(mu_hat - mu_true) / sigma``, with sigma the MINOS error on the side of the
truth, and it covers when mu_true lies inside its MINOS interval.

A failed toy fit is counted in ``n_failed`` and kept in the per-toy list; it
is left out of the pull statistics, so a rate above a percent is a warning
sign, as dropping fits cuts off one tail.

Toys run in batches on local worker processes, each compiling the likelihood
once; toy ``k`` at the ``j``-th mu draws from the seed ``(seed, j)`` stream, so
the results do not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from liberica.fits.config import POI
from liberica.fits.likelihood import Likelihood
from liberica.fits.measurement import MU_FIT_SECONDS
from liberica.fits.minimize import FitBudgetExceeded, FitStatus, summarize

log = logging.getLogger(__name__)

DEFAULT_MU = (0.0, 1.0, 2.0)
BATCH = 25
"""Toys per task sent to a worker."""

TOY_FIT_SECONDS = 60.0
"""Budget of one toy's fit (with HESSE and MINOS on mu): about 0.1-0.5 s on hzz4l's
samples here. A toy over it counts as failed (``n_failed``), with the reason in its
status; the fits to data the toys are drawn from share ``MU_FIT_SECONDS``."""


#: bumped when a key of toys/results.json changes name, sign or meaning (2: ``down`` signed)
TOYS_SCHEMA_VERSION = 2


class ToyFit(NamedTuple):
    """One toy's fit.

    Attributes:
        mu_hat: fitted mu
        up, down: MINOS errors, signed as mu's everywhere (up > 0, down < 0)
        pull: (mu_hat - mu_true) / the error on the side of the truth
        covered: whether mu_true lies in [mu_hat + down, mu_hat + up]
        valid: whether the fit and MINOS converged
        status: the fit's status
    """

    mu_hat: float
    up: float
    down: float
    pull: float
    covered: bool
    valid: bool
    status: FitStatus


class ToySet(NamedTuple):
    """The toys at one true mu and their summary.

    Attributes:
        mu_true: the mu the toys were drawn at
        n: toys
        n_failed: toys whose fit or MINOS did not converge (not in the statistics)
        pull_mean, pull_width: mean and standard deviation of the pulls
        mu_hat_mean: mean fitted mu
        coverage_68: fraction of toys whose MINOS interval contains mu_true
        generation: theta-hat-hat(mu), the parameters the toys were drawn at
        toys: every toy's fit
    """

    mu_true: float
    n: int
    n_failed: int
    pull_mean: float
    pull_width: float
    mu_hat_mean: float
    coverage_68: float
    generation: list[float]
    toys: list[ToyFit]

    def to_dict(self) -> dict[str, Any]:
        """The summary and the per-toy values, for results.json."""
        summary = {k: v for k, v in self._asdict().items() if k != "toys"}
        summary["fit_status"] = summarize([t.status for t in self.toys])
        summary["per_toy"] = {
            key: [getattr(t, key) for t in self.toys]
            for key in ("mu_hat", "up", "down", "pull", "covered", "valid")
        }
        return summary


@contextlib.contextmanager
def _seeded_numpy(seed: Sequence[int]) -> Iterator[None]:
    """numpy's global random state seeded for the block, then restored.

    pyhf's sampler draws through scipy.stats, which uses that global state.
    """
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence(list(seed)).generate_state(4))
    try:
        yield
    finally:
        np.random.set_state(state)


def sample(
    model, pars: np.ndarray, ntoys: int, seed: Sequence[int], fluctuate_auxiliary: bool = True
) -> np.ndarray:
    """``ntoys`` data sets (main and auxiliary data) drawn from pyhf's model at ``pars``.

    Args:
        model: a pyhf model on the numpy backend
        pars: the parameters the toys are drawn at
        ntoys: how many
        seed: the stream's seed
        fluctuate_auxiliary: draw the auxiliary data too; False keeps them at their
            expected values (``pars``), which understates every systematic
            uncertainty (the check that the pulls then come out too narrow)
    """
    import pyhf

    with _seeded_numpy(seed):
        toys = np.asarray(model.make_pdf(pyhf.tensorlib.astensor(pars)).sample((ntoys,)))
    if not fluctuate_auxiliary:
        expected = np.asarray(model.expected_data(pars))
        toys[:, model.config.nmaindata :] = expected[model.config.nmaindata :]
    return toys.astype(np.float64)


def fit_toy(
    likelihood: Likelihood,
    data: np.ndarray,
    mu_true: float,
    init: np.ndarray,
    step: str,
    seconds: float | None = None,
):
    """Fit one toy (errors and MINOS on mu) and take its pull and coverage.

    A fit longer than ``seconds`` [default: ``TOY_FIT_SECONDS``] stops and counts as failed.
    """
    seconds = TOY_FIT_SECONDS if seconds is None else seconds
    try:
        with likelihood.budget(step, seconds, "liberica.fits.toys.TOY_FIT_SECONDS"):
            minimum = likelihood.minimize(
                data,
                init=init,
                step=step,
                strategy=1,
                errors=True,
                minos=[POI],
                must_converge=False,
            )
    except FitBudgetExceeded as spent:
        log.warning("%s", spent)
        nan = float("nan")
        return ToyFit(nan, nan, nan, nan, False, False, spent.status)
    status = minimum.status
    mu_hat = float(minimum.bestfit[likelihood.poi_index])
    down, up = minimum.minos.get(POI, (float("nan"), float("nan")))
    up, down = float(up), float(down)
    sigma = up if mu_hat < mu_true else -down
    valid = bool(status.valid and status.minos_valid)
    pull = (mu_hat - mu_true) / sigma if valid and sigma > 0 else float("nan")
    covered = bool(valid and mu_hat + down <= mu_true <= mu_hat + up)
    return ToyFit(mu_hat, up, down, float(pull), covered, valid, status)


_LIKELIHOODS: dict[str, Likelihood] = {}
"""Per process: the compiled likelihood of each workspace (by hash) its toys use."""


def _likelihood(workspace_text: str) -> Likelihood:
    key = hashlib.sha256(workspace_text.encode()).hexdigest()
    if key not in _LIKELIHOODS:
        _LIKELIHOODS.clear()
        _LIKELIHOODS[key] = Likelihood(json.loads(workspace_text))
    return _LIKELIHOODS[key]


def fit_batch(
    workspace_text: str,
    toys: np.ndarray,
    mu_true: float,
    init: np.ndarray,
    first: int,
    call_limit: int | None = None,
) -> list[ToyFit]:
    """Fit a batch of toys (a worker's task); ``first`` numbers them in the status."""
    likelihood = _likelihood(workspace_text)
    likelihood.call_limit = call_limit
    fits = []
    for k, data in enumerate(toys):
        fits.append(
            fit_toy(likelihood, data, mu_true, init, f"toy {first + k} at mu = {mu_true:g}")
        )
        likelihood.statuses.clear()  # a worker's fits are returned, not kept
    return fits


def _summary(mu_true: float, generation: np.ndarray, fits: list[ToyFit]) -> ToySet:
    good = [t for t in fits if t.valid]
    pulls = np.array([t.pull for t in good])
    return ToySet(
        mu_true=float(mu_true),
        n=len(fits),
        n_failed=len(fits) - len(good),
        pull_mean=float(pulls.mean()) if good else float("nan"),
        pull_width=float(pulls.std(ddof=1)) if len(good) > 1 else float("nan"),
        mu_hat_mean=float(np.mean([t.mu_hat for t in good])) if good else float("nan"),
        coverage_68=float(np.mean([t.covered for t in good])) if good else float("nan"),
        generation=[float(x) for x in generation],
        toys=fits,
    )


def run_toys(
    workspace: dict[str, Any],
    mus: Sequence[float] = DEFAULT_MU,
    ntoys: int = 200,
    seed: int = 1,
    workers: int = 2,
    fluctuate_auxiliary: bool = True,
    progress: Callable[[int], None] | None = None,
    call_limit: int | None = None,
) -> list[ToySet]:
    """Toys at each true mu, fitted in parallel.

    Args:
        workspace: the pyhf workspace the run's fit uses
        mus: the true values of mu
        ntoys: toys per mu
        seed: seed of every toy stream
        workers: local worker processes (1: in this process)
        fluctuate_auxiliary: see :func:`sample`
        progress: called with the number of toys just finished
        call_limit: MIGRAD's call limit for each attempt of each toy fit (``maxiter``)

    Raises:
        FitFailure: if the conditional fit to data at some mu does not converge
        FitBudgetExceeded: if the fits to data take longer than ``MU_FIT_SECONDS``
    """
    import cabinetry

    model, _ = cabinetry.model_utils.model_and_data(workspace)
    workspace_text = json.dumps(workspace, sort_keys=True)
    likelihood = _likelihood(workspace_text)
    likelihood.call_limit = None  # call_limit is the toy fits' (a worker's likelihood keeps it)
    with likelihood.budget(
        "toys: the fits to data", MU_FIT_SECONDS, "liberica.fits.measurement.MU_FIT_SECONDS"
    ):
        free = likelihood.fit(step="toys: fit to data")
        conditionals = [
            likelihood.fit(
                fixed={likelihood.poi_index: float(mu)},
                init=free.bestfit,
                step=f"toys: conditional fit to data at mu = {mu:g}",
            )
            for mu in mus
        ]
    tasks = []
    generation_of = {}
    for j, conditional in enumerate(conditionals):
        generation = conditional.bestfit
        generation_of[j] = generation
        toys = sample(model, generation, ntoys, (seed, j), fluctuate_auxiliary)
        for first in range(0, ntoys, BATCH):
            tasks.append((j, first, toys[first : first + BATCH]))
    results: dict[int, list[tuple[int, list[ToyFit]]]] = {j: [] for j in range(len(mus))}

    def collect(j: int, first: int, fits: list[ToyFit]) -> None:
        results[j].append((first, fits))
        if progress is not None:
            progress(len(fits))

    if workers <= 1:
        for j, first, toys in tasks:
            collect(
                j,
                first,
                fit_batch(workspace_text, toys, mus[j], generation_of[j], first, call_limit),
            )
    else:
        import loky

        pool = loky.get_reusable_executor(max_workers=workers, env={"OMP_NUM_THREADS": "1"})
        futures = {
            pool.submit(
                fit_batch, workspace_text, toys, mus[j], generation_of[j], first, call_limit
            ): (j, first)
            for j, first, toys in tasks
        }
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            j, first = futures[future]
            collect(j, first, future.result())
    sets = []
    for j, mu in enumerate(mus):
        fits = [fit for _, batch in sorted(results[j], key=lambda item: item[0]) for fit in batch]
        sets.append(_summary(mu, generation_of[j], fits))
        log.info(
            "toys at mu = %g: %d fits, %d failed, pull mean %.3f width %.3f, 68%% coverage %.3f",
            mu,
            sets[-1].n,
            sets[-1].n_failed,
            sets[-1].pull_mean,
            sets[-1].pull_width,
            sets[-1].coverage_68,
        )
    return sets


def default_workers() -> int:
    """One worker per core."""
    return max(os.cpu_count() or 1, 1)


def write_results(
    toy_sets: Sequence[ToySet],
    folder: pathlib.Path,
    settings: dict[str, Any],
    lumi_fb: float | None = None,
) -> dict[str, Any]:
    """``folder/results.json`` and the pull plot (PNG and PDF); returns the JSON content.

    ``lumi_fb``, the run's luminosity, goes in the plot's label only.
    """
    from liberica.fits import plots

    folder.mkdir(parents=True, exist_ok=True)
    content = {
        "schema_version": TOYS_SCHEMA_VERSION,
        **settings,
        "toys": [s.to_dict() for s in toy_sets],
    }
    figures = plots.toy_pulls(toy_sets, folder, lumi_fb=lumi_fb)
    content["figures"] = [str(p.name) for p in figures]
    (folder / "results.json").write_text(json.dumps(content, indent=2) + "\n")
    return content
