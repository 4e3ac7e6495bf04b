"""MIGRAD with a stated retry ladder, and the status of every fit liberica runs.

A fit that does not converge must neither pass silently nor end the run in a
traceback. Each fit runs the ladder below and stops at the first attempt that
gives a valid minimum:

1. MIGRAD at the fit's strategy (1), then at strategy 2, each starting from
   the last point. Where the objective gives its exact Hessian, a failed
   attempt is followed at once by MIGRAD with the Hessian it builds from the
   gradient (below);
2. where the last point has parameters on a bound that the gradient pushes
   outwards, the minimum lies on that bound: those parameters are held there
   and MIGRAD (strategy 2) minimizes the others. This is a minimum of the
   bounded model (a gamma cannot make a bin's MC negative), reported as such;
3. SIMPLEX, then MIGRAD at strategy 2: a restart from the point SIMPLEX finds,
   which leaves a region where the gradient misled MIGRAD;
4. the same on the fallback objective where there is one: the likelihood
   compiled with JAX and its analytic gradient (``fits/likelihood.py``), from
   the initial values.

Strategy 0 was tried first for the compiled likelihood's many refits: from
pyhf's suggested initial values it took up to 65,000 calls and failed on small
samples where strategy 1, with the exact Hessian, converged in 32.

The exact Hessian (the compiled likelihood's) fails where the minimum lies on a
bound. Minuit2 carries it into its internal coordinates of a bounded parameter
as J^T H J, with J the derivative of the bound's sine transformation, which is
zero at the bound, and MIGRAD stalls. In a model far from its data (MC at 20
fb^-1 against data at 140: the luminosity and a cross-section on their +-10
bounds) every fit stalled so, at EDM 1e3-1e4 after 5,000-25,000 calls, at
strategy 1 and again at 2, before the bound parameters were held: 500 s for
the CLs scan's 100 fits, 19 minutes with the ranking. MIGRAD with a Hessian of
its own, from the exact gradient, converged in about 1,800 calls. With the exact
Hessian the fits of the default sample converge in at most about 100 calls, so
an attempt with it gets at most ``EXACT_HESSIAN_CALLS``.

Each attempt is one MIGRAD (``iterate=1``): iminuit's default repeats an
invalid MIGRAD up to four times more, each after a SIMPLEX at strategy 2, which
multiplied the rungs above (an attempt with a call limit of 1,000 made 4,300
calls).

Budgets: each attempt is limited to ``call_limit`` calls (``--maxiter``), else
to Minuit2's own limit (200 + 100 n + 5 n^2 for n floating parameters), and
``EXACT_HESSIAN_CALLS`` with the exact Hessian; the ladder has at most five
attempts per objective. Each fit step gives its fits a :class:`Deadline` (the
seconds are the step's own, e.g. ``fits.limit.UPPER_LIMIT_SECONDS``): a fit
still running when it passes stops, and the step fails with
:class:`FitBudgetExceeded`, in one line naming the step and its budget.

Every fit returns a :class:`FitStatus` (valid, EDM, strategy, calls, retries,
each attempt). A fit that must converge raises :class:`FitFailure` when the
ladder ends without a valid minimum; its message is one line naming the step,
the EDM and the parameters at or near a bound.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import iminuit
import numpy as np

from liberica.core.errors import LibericaError

log = logging.getLogger(__name__)

TOLERANCE = 1e-3
"""MIGRAD stops at EDM < 0.002 * TOLERANCE. iminuit's default 0.1 left fixed-parameter
fits up to 1e-4 above the minimum here, moving mu by 1% of its error."""

MAX_STRATEGY = 2

MAX_EDM = 1e-3
"""A minimum MIGRAD calls valid counts as one only below this EDM. Valid fits here end
below 2e-5, yet a ranking refit of a model far from its data (the exact Hessian, one
parameter held) came back "valid" with EDM 1.7e3, -2 ln L 514 above the minimum that
MIGRAD with its own Hessian then found."""

EXACT_HESSIAN_CALLS = 1_000
"""At most this many calls for an attempt with the objective's exact Hessian: the fits of
the default sample converge in at most about 100; one that has not by then stalls (a
minimum on a bound, above) and the next attempt builds its own Hessian."""


class Objective(NamedTuple):
    """-2 ln L as a function of the parameters, with its derivatives where known.

    Attributes:
        twice_nll: parameters -> -2 ln L
        gradient: parameters -> d(-2 ln L)/dp, or None for MIGRAD's numerical one
        name: for the status, e.g. ``pyhf (numerical gradient)``
        hessian: parameters -> second derivatives, or None for HESSE's numerical one
        g2: parameters -> the Hessian's diagonal; needed beside ``hessian``: where
            the Hessian is not positive definite (it was at pyhf's suggested
            initial values here) Minuit2 falls back to ``g2``, and without it
            iminuit calls None
    """

    twice_nll: Callable[[np.ndarray], float]
    gradient: Callable[[np.ndarray], np.ndarray] | None
    name: str
    hessian: Callable[[np.ndarray], np.ndarray] | None = None
    g2: Callable[[np.ndarray], np.ndarray] | None = None


class FitStatus(NamedTuple):
    """How one fit went.

    Attributes:
        step: what the fit was for, e.g. ``observed fit``
        valid: whether the minimum is valid (MIGRAD's ``is_valid``)
        edm: estimated distance to the minimum of the last attempt
        strategy: MIGRAD strategy of the last attempt
        calls: objective evaluations over every attempt
        retries: attempts after the first
        attempts: one line per attempt: method, strategy, objective, EDM, outcome
        at_bound: floating parameters at or near a bound at the minimum
        objective: the objective of the last attempt
        minos_valid: whether MINOS gave valid intervals (None: not run)
    """

    step: str
    valid: bool
    edm: float
    strategy: int
    calls: int
    retries: int
    attempts: tuple[str, ...]
    at_bound: tuple[str, ...]
    objective: str
    minos_valid: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The status for results.json."""
        content = self._asdict()
        content["attempts"] = list(self.attempts)
        content["at_bound"] = list(self.at_bound)
        return content


class Minimum(NamedTuple):
    """The result of :func:`minimize`.

    Attributes:
        bestfit: parameter values
        uncertainty: HESSE errors (zero for fixed parameters; zeros without ``errors``)
        covariance: HESSE covariance (zero rows and columns for fixed parameters), or None
        twice_nll: -2 ln L at the minimum
        minos: ``{name: (down, up)}`` MINOS errors (down negative)
        status: how the fit went
    """

    bestfit: np.ndarray
    uncertainty: np.ndarray
    covariance: np.ndarray | None
    twice_nll: float
    minos: dict[str, tuple[float, float]]
    status: FitStatus


class FitFailure(LibericaError, RuntimeError):
    """No attempt of the ladder converged: one line naming the step, EDM and bounds."""

    def __init__(self, status: FitStatus, objectives: Sequence[str] = ()) -> None:
        self.status = status
        near = ", ".join(status.at_bound) or "none"
        on = f" on {' then '.join(objectives)}" if objectives else ""
        super().__init__(
            f"{status.step} did not converge: EDM {status.edm:.3g} after {status.retries + 1} "
            f"attempts (MIGRAD up to strategy {MAX_STRATEGY}, bound parameters held, SIMPLEX "
            f"restart{on}); parameters at or near a bound: {near}"
        )


class Deadline(NamedTuple):
    """The wall-time budget of a fit step, shared by its fits.

    Attributes:
        step: the step it bounds, e.g. ``upper limit (CLs scan)``
        seconds: the budget
        source: where the budget is set, for the message (e.g. a constant's name)
        ends: ``time.monotonic()`` when it is spent
    """

    step: str
    seconds: float
    source: str
    ends: float

    @classmethod
    def start(cls, step: str, seconds: float, source: str) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(step, float(seconds), source, time.monotonic() + float(seconds))

    def passed(self) -> bool:
        """Whether the budget is spent."""
        return time.monotonic() > self.ends


class FitBudgetExceeded(FitFailure):
    """A fit step spent its budget of seconds: one line naming the step, the budget and
    the fit it stopped in. ``status`` is that fit's status (invalid)."""

    def __init__(self, deadline: Deadline, fit: str, status: FitStatus) -> None:
        self.status = status
        self.deadline = deadline
        RuntimeError.__init__(
            self,
            f"{deadline.step} stopped: its budget of {deadline.seconds:g} s ({deadline.source}) "
            f"ran out in '{fit}' after {status.calls} calls; fits this slow mean a model far "
            "from the data (compare its pre-fit yields with the data)",
        )


class _DeadlinePassed(Exception):
    """Raised inside an objective, through MIGRAD, when the step's deadline passes."""


def _watched(objective: Objective, deadline: Deadline | None) -> Objective:
    """The objective, each of its functions raising :class:`_DeadlinePassed` once the
    deadline has passed (iminuit passes an exception in the function through)."""
    if deadline is None:
        return objective

    def watch(function):
        if function is None:
            return None

        def watched(p):
            if time.monotonic() > deadline.ends:
                raise _DeadlinePassed
            return function(p)

        return watched

    return objective._replace(
        twice_nll=watch(objective.twice_nll),
        gradient=watch(objective.gradient),
        hessian=watch(objective.hessian),
        g2=watch(objective.g2),
    )


def _at_bound(minuit: iminuit.Minuit, labels: Sequence[str]) -> tuple[str, ...]:
    """Floating parameters within 1e-4 of their range (or 1e-6 absolute) of a finite bound."""
    near = []
    for k, label in enumerate(labels):
        if minuit.fixed[k]:
            continue
        low, high = minuit.limits[k]
        value = minuit.values[k]
        span = (high - low) if np.isfinite(low) and np.isfinite(high) else 1.0
        margin = max(1e-4 * span, 1e-6)
        if (np.isfinite(low) and value - low < margin) or (
            np.isfinite(high) and high - value < margin
        ):
            near.append(label)
    return tuple(near)


def _minuit(
    objective: Objective,
    start: np.ndarray,
    labels: Sequence[str],
    bounds: Sequence[tuple[float, float]],
    fixed: Sequence[bool],
) -> iminuit.Minuit:
    with warnings.catch_warnings():
        # iminuit warns that hessian overrides g2, yet uses g2 where the Hessian fails
        warnings.filterwarnings("ignore", message="hessian overrides g2")
        minuit = iminuit.Minuit(
            objective.twice_nll,
            start,
            grad=objective.gradient,
            hessian=objective.hessian,
            g2=objective.g2,
            name=labels,
        )
    minuit.errordef = iminuit.Minuit.LEAST_SQUARES  # -2 ln L: one sigma at +1
    minuit.tol = TOLERANCE
    minuit.print_level = 0
    minuit.limits = list(bounds)
    minuit.fixed = list(fixed)
    return minuit


def minimize(
    objectives: Sequence[Objective | Callable[[], Objective]],
    init: Sequence[float],
    labels: Sequence[str],
    bounds: Sequence[tuple[float, float]],
    fixed: Sequence[bool],
    *,
    step: str,
    strategy: int = 1,
    errors: bool = False,
    minos: Sequence[str] = (),
    must_converge: bool = True,
    call_limit: int | None = None,
    first_call_limit: int | None = None,
    deadline: Deadline | None = None,
) -> Minimum:
    """Minimize the first objective, down the retry ladder, then the fallbacks.

    Args:
        objectives: the objective, then fallbacks (an objective, or a function
            making one, called only if needed: compiling takes seconds)
        init: starting values (also of fixed parameters, which keep them)
        labels: parameter names
        bounds: (low, high) per parameter
        fixed: per parameter, whether it is held at its ``init`` value
        step: what the fit is for, for the status and the error
        strategy: the first attempt's MIGRAD strategy
        errors: run HESSE at the minimum (uncertainty and covariance)
        minos: parameters to run MINOS on
        must_converge: raise :class:`FitFailure` if nothing converges; else return
            the last attempt's point with ``status.valid`` False
        call_limit: MIGRAD's call limit for every attempt (cabinetry's and pyhf's
            ``maxiter``); None for Minuit2's own
        first_call_limit: a call limit for the first attempt only (to test the ladder)
        deadline: the step's budget of seconds, which this fit shares

    Raises:
        FitFailure: if no attempt converged and ``must_converge``
        FitBudgetExceeded: if the deadline passed before the fit ended (whatever
            ``must_converge``: the step cannot finish)
    """
    attempts: list[str] = []
    calls = 0
    minuit = None
    uncounted = None  # the Minuit of an attempt whose calls are not yet counted
    objective = None
    tried: list[str] = []
    try:
        for position, candidate in enumerate(objectives):
            if deadline is not None and deadline.passed():
                raise _DeadlinePassed
            objective = _watched(
                candidate if isinstance(candidate, Objective) else candidate(), deadline
            )
            tried.append(objective.name)
            point = np.array(init, dtype=np.float64)
            first = strategy if position == 0 else 1
            plan = [("migrad", first)]
            if objective.hessian is not None:
                plan.append(("migrad, Hessian from the gradient", first))
            plan += [("migrad", s) for s in range(first + 1, MAX_STRATEGY + 1)]
            plan += [
                ("migrad, bound parameters held", MAX_STRATEGY),
                ("simplex+migrad", MAX_STRATEGY),
            ]
            for method, level in plan:
                hold = list(fixed)
                if method.startswith("migrad, bound"):
                    pushed = _pushed_out(minuit, objective, labels) if minuit is not None else []
                    if not pushed:
                        continue
                    for k in pushed:
                        hold[k] = True
                        point[k] = _nearest_bound(point[k], bounds[k])
                used = objective
                if method.endswith("Hessian from the gradient"):
                    used = objective._replace(hessian=None, g2=None)
                minuit = uncounted = _minuit(used, point, labels, bounds, hold)
                minuit.strategy = level
                ncall = first_call_limit if not attempts and first_call_limit else call_limit
                if used.hessian is not None:
                    ncall = min(ncall or EXACT_HESSIAN_CALLS, EXACT_HESSIAN_CALLS)
                with np.errstate(all="ignore"):
                    if method == "simplex+migrad":
                        minuit.simplex(ncall=ncall)
                    # one MIGRAD per attempt: iminuit's own retries (iterate=5: up to four
                    # more SIMPLEX and strategy-2 MIGRADs) multiplied this ladder's
                    minuit.migrad(ncall=ncall, iterate=1)
                calls += minuit.nfcn
                uncounted = None
                edm = float(minuit.fmin.edm) if minuit.fmin is not None else float("nan")
                valid = bool(minuit.valid) and np.isfinite(minuit.fval) and edm <= MAX_EDM
                held = [labels[k] for k in range(len(labels)) if hold[k] and not fixed[k]]
                attempts.append(
                    f"{method} strategy {level} ({objective.name}): EDM {edm:.3g}, "
                    f"{'valid' if valid else 'invalid'}, {minuit.nfcn} calls"
                    + (f" (limit {ncall})" if ncall else "")
                    + (f"; held at their bound: {', '.join(held)}" if held else "")
                )
                point = np.array(minuit.values, dtype=np.float64)
                if not np.all(np.isfinite(point)):
                    point = np.asarray(init, dtype=np.float64)
                if valid:
                    return _finish(minuit, labels, step, attempts, calls, used, errors, minos)
                log.debug("%s: attempt %d failed: %s", step, len(attempts), attempts[-1])
    except _DeadlinePassed:
        assert deadline is not None
        calls += uncounted.nfcn if uncounted is not None else 0
        attempts.append(f"stopped: the budget of {deadline.step} ({deadline.seconds:g} s) ran out")
        status = (
            _status(minuit, labels, step, attempts, calls, objective, valid=False)
            if minuit is not None and objective is not None
            else FitStatus(step, False, float("nan"), strategy, 0, 0, tuple(attempts), (), "")
        )
        raise FitBudgetExceeded(deadline, step, status) from None
    assert minuit is not None and objective is not None
    status = _status(minuit, labels, step, attempts, calls, objective, valid=False)
    if must_converge:
        raise FitFailure(status, tried)
    log.warning("%s did not converge (EDM %.3g)", step, status.edm)
    return Minimum(
        np.array(minuit.values, dtype=np.float64),
        np.zeros(len(labels)),
        None,
        float(minuit.fval),
        {},
        status,
    )


def _nearest_bound(value: float, bound: tuple[float, float]) -> float:
    low, high = bound
    return float(low if abs(value - low) <= abs(high - value) else high)


def _pushed_out(minuit: iminuit.Minuit, objective: Objective, labels: Sequence[str]) -> list[int]:
    """Floating parameters at a bound whose gradient points out of the allowed range."""
    if objective.gradient is None:
        gradient = _numerical_gradient(objective.twice_nll, np.array(minuit.values, dtype=float))
    else:
        gradient = np.asarray(objective.gradient(np.array(minuit.values, dtype=float)))
    pushed = []
    near = set(_at_bound(minuit, labels))
    for k, label in enumerate(labels):
        if label not in near:
            continue
        low, high = minuit.limits[k]
        at_low = abs(minuit.values[k] - low) <= abs(high - minuit.values[k])
        if (at_low and gradient[k] > 0) or (not at_low and gradient[k] < 0):
            pushed.append(k)
    return pushed


def _numerical_gradient(function: Callable[[np.ndarray], float], point: np.ndarray) -> np.ndarray:
    gradient = np.zeros_like(point)
    for k in range(len(point)):
        step = 1e-5 * max(abs(point[k]), 1.0)
        up, down = point.copy(), point.copy()
        up[k] += step
        down[k] -= step
        gradient[k] = (function(up) - function(down)) / (2 * step)
    return gradient


def _status(minuit, labels, step, attempts, calls, objective, valid, minos_valid=None):
    return FitStatus(
        step=step,
        valid=valid,
        edm=float(minuit.fmin.edm) if minuit.fmin is not None else float("nan"),
        strategy=int(minuit.strategy.strategy),
        calls=int(calls),
        retries=len(attempts) - 1,
        attempts=tuple(attempts),
        at_bound=_at_bound(minuit, labels),
        objective=objective.name,
        minos_valid=minos_valid,
    )


def _finish(minuit, labels, step, attempts, calls, objective, errors, minos) -> Minimum:
    """HESSE and MINOS at a valid minimum, and the status."""
    covariance = None
    uncertainty = np.zeros(len(labels))
    if errors or minos:
        with np.errstate(all="ignore"):
            minuit.hesse()
    intervals: dict[str, tuple[float, float]] = {}
    minos_valid = None
    if minos:
        minos_valid = True
        for name in minos:
            error = _minos(minuit, name, attempts)
            minos_valid = minos_valid and bool(error.is_valid)
            intervals[name] = (float(error.lower), float(error.upper))
    if errors or minos:  # after MINOS: it may have moved the minimum to a lower one
        fixed = np.asarray(minuit.fixed, dtype=bool)
        covariance = np.asarray(minuit.covariance, dtype=np.float64)
        covariance[fixed, :] = 0.0
        covariance[:, fixed] = 0.0
        uncertainty = np.where(fixed, 0.0, np.asarray(minuit.errors, dtype=np.float64))
    status = _status(minuit, labels, step, attempts, calls, objective, True, minos_valid)
    return Minimum(
        np.array(minuit.values, dtype=np.float64),
        uncertainty,
        covariance,
        float(minuit.fval),
        intervals,
        status,
    )


def _minos(minuit: iminuit.Minuit, name: str, attempts: list[str]):
    """MINOS on ``name``, once more at strategy 2 if its interval is not valid."""
    with np.errstate(all="ignore"):
        minuit.minos(name)
    error = minuit.merrors[name]
    if not error.is_valid:
        attempts.append(f"minos on {name} not valid: again at strategy {MAX_STRATEGY}")
        minuit.strategy = MAX_STRATEGY
        with np.errstate(all="ignore"):
            minuit.minos(name)
        error = minuit.merrors[name]
    return error


def summarize(statuses: Sequence[FitStatus]) -> dict[str, Any]:
    """The status of a step of many fits: counts, worst EDM, retries, and every failed fit.

    A fit counts as failed when its minimum is invalid or its MINOS interval is.
    """
    failed = [s for s in statuses if not s.valid or s.minos_valid is False]
    edms = [s.edm for s in statuses if np.isfinite(s.edm)]
    return {
        "n_fits": len(statuses),
        "n_valid": len(statuses) - len(failed),
        "worst_edm": max(edms) if edms else None,
        "retries": sum(s.retries for s in statuses),
        "fits_with_retries": sum(1 for s in statuses if s.retries),
        "failed": [s.to_dict() for s in failed],
    }
