"""A pyhf likelihood compiled once with JAX, for the fits that come by the hundred.

The ranking needs four fits per nuisance parameter and the CLs scan two per
point. Through pyhf's own minimizer each such fit costs seconds here: with the
numpy backend MIGRAD differentiates numerically in 114 dimensions, and with the
JAX backend pyhf re-traces the objective for every fit. This module builds the
same pyhf model (cabinetry's interpolation codes) on the JAX backend, traces
``-2 ln L(pars, data)``, its gradient and its Hessian once, and hands them to
iminuit's MIGRAD (analytic gradient and Hessian, then the retry ladder of
``fits/minimize.py``). Fixing a parameter is an iminuit flag, so every fit
reuses the compiled functions: a fit from a nearby starting point takes about
0.1 s instead of 3 s.

The headline fit (mu with MINOS errors) runs on pyhf's own numpy model first,
as cabinetry's does, and falls back to this one; the tests check that both
find cabinetry's minimum. Every fit's status is kept in ``statuses``.

Both objectives are :func:`twice_nll_function`: pyhf's -2 ln L, with each
bin's expected yield floored smoothly at ``YIELD_FLOOR``. A histosys template
extrapolates linearly beyond one sigma, and noisy ones (an alternative sample,
a re-selection of few MC events) make a bin negative already at |alpha| of
about 1: pyhf's likelihood is NaN there, and the ranking's refit of
zz_generator at +1 sigma failed on the default sample. The floor changes
nothing where every yield is above it, which is everywhere pyhf's own
likelihood is defined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import cabinetry
import numpy as np
import pyhf

from liberica.fits.minimize import Deadline, FitStatus, Minimum, Objective, minimize

YIELD_FLOOR = 1e-6
"""Expected yields below this are replaced by ``floor**2 / (2 floor - yield)``: positive for
any yield, continuous with its first derivative at the floor, and falling only as
1/|yield| below it, so that -2 ln L and its derivatives stay finite (an exponential
floor underflowed to zero, and its log to -inf, a few units below the floor)."""


def twice_nll_function(model, floor: float = YIELD_FLOOR):
    """``(pars, data) -> -2 ln L`` of a pyhf model, with expected yields floored (see above).

    The pyhf backend active at call time computes it (numpy, or JAX while tracing).
    """
    n_main = model.config.nmaindata
    has_constraints = model.config.nauxdata > 0

    def twice_nll(pars, data):
        tensorlib, _ = pyhf.get_backend()
        expected = model.main_model.expected_data(pars)
        # where() differentiates both branches: the one not taken must stay finite
        capped = tensorlib.where(expected < floor, expected, floor * tensorlib.ones(expected.shape))
        floored = tensorlib.where(expected > floor, expected, floor**2 / (2.0 * floor - capped))
        log_l = tensorlib.sum(tensorlib.poisson_logpdf(data[:n_main], floored))
        if has_constraints:
            log_l = log_l + model.constraint_model.logpdf(data[n_main:], pars)
        return -2.0 * log_l

    return twice_nll


class FitPoint(NamedTuple):
    """The minimum of -2 ln L under some constraint.

    Attributes:
        bestfit: parameter values at the minimum
        twice_nll: -2 ln L at the minimum
        valid: whether MIGRAD reported a valid minimum
        status: how the fit went
    """

    bestfit: np.ndarray
    twice_nll: float
    valid: bool
    status: FitStatus


@contextlib.contextmanager
def _pyhf_backend(name: str) -> Iterator[None]:
    """Switch pyhf's global backend for a block, restoring the previous one."""
    previous_backend, previous_optimizer = pyhf.get_backend()
    pyhf.set_backend(name)
    try:
        yield
    finally:
        pyhf.set_backend(previous_backend, previous_optimizer)


class Likelihood:
    """-2 ln L of a pyhf workspace, compiled once, with fits that reuse it.

    Args:
        workspace: the pyhf workspace (JSON dict), as cabinetry builds it
        asimov: take the pre-fit Asimov data set (mu = 1) as the observed data
    """

    def __init__(self, workspace: dict[str, Any], asimov: bool = False) -> None:
        import jax

        with _pyhf_backend("jax"):
            model, data = cabinetry.model_utils.model_and_data(workspace, asimov=asimov)

            twice_nll = twice_nll_function(model)
            self._nll = jax.jit(twice_nll)
            self._grad = jax.jit(jax.grad(twice_nll))
            self._hessian = jax.jit(jax.hessian(twice_nll))
            self._expected = jax.jit(model.expected_data)
            init = np.asarray(model.config.suggested_init(), dtype=np.float64)
            observed = np.asarray(data, dtype=np.float64)
            # trace and compile now, under the JAX backend
            self._nll(init, observed)
            self._grad(init, observed)
            self._hessian(init, observed)
            self._expected(init)
        self.model = model
        self.data = observed
        self.init = init
        self.labels: list[str] = list(model.config.par_names)
        self.bounds: list[tuple[float, float]] = [tuple(b) for b in model.config.suggested_bounds()]
        self.fixed: list[bool] = list(model.config.suggested_fixed())
        self.poi_index: int = model.config.poi_index
        self.statuses: list[FitStatus] = []
        """The status of every fit made on this likelihood, in order."""
        self.call_limit: int | None = None
        """MIGRAD's call limit for every attempt of every fit (``maxiter``), or None."""
        self.deadline: Deadline | None = None
        """The budget of seconds of the step whose fits run now (:meth:`budget`), or None."""
        self.progress: Callable[[str, int, int | None], None] | None = None
        """Told ``(step, done, total or None)`` as a step of many fits advances (the ranking
        per parameter, the CLs scan per point): the command line draws it as a bar."""

    def report(self, step: str, done: int, total: int | None = None) -> None:
        """Tell :attr:`progress`, if set, how far a step of many fits is."""
        if self.progress is not None:
            self.progress(step, done, total)

    @contextlib.contextmanager
    def budget(self, step: str, seconds: float, source: str) -> Iterator[None]:
        """Give the fits made within the block ``seconds`` in all, as the step ``step``.

        A fit still running when they are spent stops, and raises ``FitBudgetExceeded``
        naming the step and ``source`` (where the budget is set).
        """
        previous = self.deadline
        self.deadline = Deadline.start(step, seconds, source)
        try:
            yield
        finally:
            self.deadline = previous

    def twice_nll(self, pars: Sequence[float], data: np.ndarray | None = None) -> float:
        """-2 ln L at ``pars``."""
        return float(self._nll(np.asarray(pars, np.float64), self._data(data)))

    def expected_data(self, pars: Sequence[float]) -> np.ndarray:
        """Main and auxiliary data expected at ``pars`` (an Asimov data set)."""
        return np.asarray(self._expected(np.asarray(pars, np.float64)))

    def objective(self, data: np.ndarray | None = None) -> Objective:
        """-2 ln L of ``data`` (default: the observed data), its analytic gradient and Hessian."""
        observed = self._data(data)
        return Objective(
            lambda p: float(self._nll(p, observed)),
            lambda p: np.asarray(self._grad(p, observed)),
            "compiled likelihood (analytic gradient)",
            lambda p: np.asarray(self._hessian(p, observed)),
            lambda p: np.diag(np.asarray(self._hessian(p, observed))),
        )

    def minimize(
        self,
        data: np.ndarray | None = None,
        *,
        fixed: Mapping[int, float] | None = None,
        init: Sequence[float] | None = None,
        bounds: Mapping[int, tuple[float, float]] | None = None,
        step: str = "fit",
        strategy: int = 1,
        must_converge: bool = True,
        errors: bool = False,
        minos: Sequence[str] = (),
    ) -> Minimum:
        """Minimize -2 ln L down the retry ladder (``fits/minimize.py``).

        Args:
            data: main plus auxiliary data, default the workspace's observed data
            fixed: parameter index -> value to hold it at
            init: starting point, default the model's suggested initial values
            bounds: parameter index -> (low, high) replacing the suggested bounds
            step: what the fit is for (status and error message)
            strategy: the first attempt's MIGRAD strategy
            must_converge: raise ``FitFailure`` if no attempt converges
            errors: run HESSE; minos: parameters to run MINOS on
        """
        start = np.array(self.init if init is None else init, dtype=np.float64)
        limits = list(self.bounds)
        for index, bound in (bounds or {}).items():
            limits[index] = bound
        hold = list(self.fixed)
        for index, value in (fixed or {}).items():
            start[index] = value
            hold[index] = True
        minimum = minimize(
            [self.objective(data)],
            start,
            self.labels,
            limits,
            hold,
            step=step,
            strategy=strategy,
            errors=errors,
            minos=minos,
            must_converge=must_converge,
            call_limit=self.call_limit,
            deadline=self.deadline,
        )
        self.statuses.append(minimum.status)
        return minimum

    def fit(
        self,
        data: np.ndarray | None = None,
        *,
        fixed: Mapping[int, float] | None = None,
        init: Sequence[float] | None = None,
        bounds: Mapping[int, tuple[float, float]] | None = None,
        step: str = "fit",
        must_converge: bool = True,
    ) -> FitPoint:
        """Minimize -2 ln L, with the parameters in ``fixed`` held at their values.

        A fit without errors, for the ranking, the CLs scan and the significance;
        see :meth:`minimize` for the arguments.
        """
        minimum = self.minimize(
            data, fixed=fixed, init=init, bounds=bounds, step=step, must_converge=must_converge
        )
        return FitPoint(minimum.bestfit, minimum.twice_nll, minimum.status.valid, minimum.status)

    def covariance(self, pars: Sequence[float], data: np.ndarray | None = None) -> np.ndarray:
        """Covariance of the floating parameters from the exact Hessian at ``pars``.

        Rows and columns of fixed parameters are zero.
        """
        hessian = np.asarray(self._hessian(np.asarray(pars, np.float64), self._data(data)))
        floating = ~np.asarray(self.fixed)
        covariance = np.zeros_like(hessian)
        block = np.ix_(floating, floating)
        covariance[block] = 2.0 * np.linalg.inv(hessian[block])
        return covariance

    def _data(self, data: np.ndarray | None) -> np.ndarray:
        return self.data if data is None else np.asarray(data, dtype=np.float64)
