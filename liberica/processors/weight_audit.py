"""The MC weight audit: what every MC sample's weights are, over all its events.

Each MC chunk gives one :class:`SampleWeights` of all its events, before any
selection (``processors/base.py``); chunks of a sample add up to the sample's
(``weight_checks.py`` then applies the rules). What it holds:

- the events, and those whose nominal weight is zero, negative or not finite;
- the sums of generator weights, of nominal weights and of their squares;
- a histogram of |nominal weight| on fixed logarithmic bins (flow bins kept),
  from which the median |w| is read;
- the :data:`TOP_EVENTS` events of largest |w|: eventNumber, nominal and
  generator weight.

The histogram's bins are eighths of a factor 2, ``[2^e (1 + j/8), 2^e (1 + (j+1)/8))``
(a factor 1.07-1.125 wide) for |w| from 2^-40 (1e-12) to 2^27 (1.3e8): the
bin of a double is its exponent and first three mantissa bits, one integer
shift of its bits. A log10 cost as much as all the rest of the audit
(7 of 20 ms per 500k events here); the shift takes 1.7 ms.

Adding is exact and independent of the order in which chunks arrive, as a
coffea accumulator's must be, and bit for bit, since a run's metrics should
not depend on which worker finished first. Floating-point sums are not
associative in their last bits, so each sum is kept as its chunks' partial sums
(one float each, sorted) and read with ``math.fsum``, which rounds their exact
sum once; counts are integers; the top events are the first
:data:`TOP_EVENTS` in a total order (|w| descending, then eventNumber, then
the weights), so that a tie is broken the same way in every merge order.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

TOP_EVENTS = 64
"""Events of largest |w| kept per sample."""

BINS_PER_OCTAVE_BITS = 3
"""Mantissa bits that pick the bin within a factor 2: 2^3 = 8 bins per octave."""

LOW_EXPONENT, HIGH_EXPONENT = -40, 27
"""The histogram's range: |w| from 2^-40 to 2^27."""

_SHIFT = 52 - BINS_PER_OCTAVE_BITS  # a double's 52 mantissa bits, less those kept
_FIRST_BIN = int(np.float64(2.0**LOW_EXPONENT).view(np.int64) >> _SHIFT)
MAGNITUDE_BINS = (HIGH_EXPONENT - LOW_EXPONENT) << BINS_PER_OCTAVE_BITS

MAGNITUDE_EDGES = np.array(
    [
        2.0**exponent * (1 + j / 2**BINS_PER_OCTAVE_BITS)
        for exponent in range(LOW_EXPONENT, HIGH_EXPONENT)
        for j in range(2**BINS_PER_OCTAVE_BITS)
    ]
    + [2.0**HIGH_EXPONENT]
)
"""The |w| histogram's bin edges (the counts add an underflow and an overflow bin)."""

TOP_DTYPE = np.dtype(
    [("eventNumber", np.int64), ("weight", np.float64), ("generator_weight", np.float64)]
)


def magnitude_histogram(magnitude: np.ndarray) -> np.ndarray:
    """Counts of non-negative doubles per bin of :data:`MAGNITUDE_EDGES`, with an
    underflow bin (0 lands there) and an overflow bin (inf and NaN land there)."""
    index = np.ascontiguousarray(magnitude, dtype=np.float64).view(np.int64) >> _SHIFT
    index -= _FIRST_BIN - 1  # bin 0: the underflow
    np.clip(index, 0, MAGNITUDE_BINS + 1, out=index)
    return np.bincount(index, minlength=MAGNITUDE_BINS + 2).astype(np.int64)


def _merged_partials(one: tuple[float, ...], other: tuple[float, ...]) -> tuple[float, ...]:
    """Both chunks' partial sums, sorted (NaN last, so that the order is total)."""
    return tuple(sorted(one + other, key=lambda x: (math.isnan(x), 0.0 if math.isnan(x) else x)))


def _exact_sum(partials: tuple[float, ...]) -> float:
    """The correctly rounded sum of finite partials; NaN or inf as numpy gives it otherwise
    (a non-finite weight, which the checks report; ``math.fsum`` refuses inf - inf)."""
    if all(math.isfinite(x) for x in partials):
        return math.fsum(partials)
    return float(np.sum(partials))


def _sorted_top(top: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` rows in the total order of the module doc (NaN-free rows)."""
    order = np.lexsort(
        (top["generator_weight"], top["weight"], top["eventNumber"], -np.abs(top["weight"]))
    )
    return top[order[:k]]


def _candidates(magnitude: np.ndarray, event_number: np.ndarray, k: int) -> np.ndarray:
    """Indices of a few more than the first ``k`` finite rows in the total order,
    found in linear time (``magnitude``: -1 for a non-finite weight).

    A sample of equal weights has every row tied at the k-th |w|; among those
    ties the order goes on by eventNumber, so the ties kept are those up to the
    needed one's eventNumber.
    """
    if len(magnitude) <= k:
        return np.flatnonzero(magnitude >= 0)
    cut = np.partition(magnitude, len(magnitude) - k)[len(magnitude) - k]
    above = np.flatnonzero(magnitude > cut)
    ties = np.flatnonzero(magnitude == cut)
    numbers = event_number[ties]
    needed = k - len(above)
    last = np.partition(numbers, needed - 1)[needed - 1]
    rows = np.concatenate([above, ties[numbers <= last]])
    return rows[magnitude[rows] >= 0]


@dataclasses.dataclass(frozen=True, eq=False)
class SampleWeights:
    """The weight audit of one MC sample (or of one chunk of it); ``+`` merges two.

    Attributes:
        process: the sample's process
        xsec: its cross-section (pb), or None where the input format does not normalize
        sumw: its sum of generator weights from the fileset (or files), or None
        lumi_fb: the luminosity MC is normalized to
        events: events audited
        zero_weights: events of nominal weight 0
        negative_weights: events of nominal weight < 0
        non_finite_weights: events of NaN or infinite nominal weight
        generator_partials: partial sums of the generator weights (one per chunk, sorted)
        nominal_partials: partial sums of the nominal weights
        square_partials: partial sums of the squared nominal weights
        magnitude_counts: events per bin of |w| (:data:`MAGNITUDE_EDGES`), finite
            and nonzero weights only, with an underflow and an overflow bin
        top: the events of largest finite |w| (:data:`TOP_DTYPE`), in the total order
        k: how many top events are kept
    """

    process: str
    xsec: float | None
    sumw: float | None
    lumi_fb: float
    events: int
    zero_weights: int
    negative_weights: int
    non_finite_weights: int
    generator_partials: tuple[float, ...]
    nominal_partials: tuple[float, ...]
    square_partials: tuple[float, ...]
    magnitude_counts: np.ndarray
    top: np.ndarray
    k: int = TOP_EVENTS

    @classmethod
    def of_chunk(
        cls,
        event_number: np.ndarray,
        generator_weight: np.ndarray,
        weight: np.ndarray,
        *,
        process: str,
        xsec: float | None,
        sumw: float | None,
        lumi_fb: float,
        k: int = TOP_EVENTS,
    ) -> SampleWeights:
        """The audit of one chunk's events (all of them, before any selection).

        Args:
            event_number: each event's number
            generator_weight: each event's generator weight (open data: mcWeight)
            weight: each event's nominal weight (what fills the histograms)
            process: the sample's process
            xsec: its cross-section in pb, or None
            sumw: its sum of generator weights as the fileset gives it, or None
            lumi_fb: the luminosity MC is normalized to
            k: top events kept
        """
        weight = np.asarray(weight, dtype=np.float64)
        generator_weight = np.asarray(generator_weight, dtype=np.float64)
        event_number = np.asarray(event_number, dtype=np.int64)
        magnitude = np.abs(weight)
        non_finite = len(weight) - int(np.count_nonzero(np.isfinite(weight)))
        zero = int(np.count_nonzero(weight == 0))
        counts = magnitude_histogram(magnitude)
        counts[0] -= zero  # the histogram holds the finite nonzero weights
        counts[-1] -= non_finite
        if non_finite:
            magnitude = np.where(np.isfinite(magnitude), magnitude, -1.0)
        rows = _candidates(magnitude, event_number, k)
        top = np.empty(len(rows), dtype=TOP_DTYPE)
        top["eventNumber"] = event_number[rows]
        top["weight"] = weight[rows]
        top["generator_weight"] = generator_weight[rows]
        return cls(
            process=process,
            xsec=None if xsec is None else float(xsec),
            sumw=None if sumw is None else float(sumw),
            lumi_fb=float(lumi_fb),
            events=len(weight),
            zero_weights=zero,
            negative_weights=int(np.count_nonzero(weight < 0)),
            non_finite_weights=non_finite,
            generator_partials=(float(np.sum(generator_weight)),),
            nominal_partials=(float(np.sum(weight)),),
            square_partials=(float(np.sum(weight * weight)),),
            magnitude_counts=counts,
            top=_sorted_top(top, k),
            k=k,
        )

    def __add__(self, other: SampleWeights) -> SampleWeights:
        """The audit of both parts: exact, and the same in any order (module doc).

        Raises:
            ValueError: for parts of different samples (process, normalization,
                luminosity or k differ)
        """
        if not isinstance(other, SampleWeights):
            return NotImplemented
        mine = (self.process, self.xsec, self.sumw, self.lumi_fb, self.k)
        theirs = (other.process, other.xsec, other.sumw, other.lumi_fb, other.k)
        if mine != theirs:
            raise ValueError(
                f"cannot merge the weight audits of different samples: {mine} and {theirs}"
            )
        return dataclasses.replace(
            self,
            events=self.events + other.events,
            zero_weights=self.zero_weights + other.zero_weights,
            negative_weights=self.negative_weights + other.negative_weights,
            non_finite_weights=self.non_finite_weights + other.non_finite_weights,
            generator_partials=_merged_partials(self.generator_partials, other.generator_partials),
            nominal_partials=_merged_partials(self.nominal_partials, other.nominal_partials),
            square_partials=_merged_partials(self.square_partials, other.square_partials),
            magnitude_counts=self.magnitude_counts + other.magnitude_counts,
            top=_sorted_top(np.concatenate([self.top, other.top]), self.k),
        )

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, SampleWeights):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if isinstance(getattr(self, f.name), np.ndarray)
            else getattr(self, f.name) == getattr(other, f.name)
            for f in dataclasses.fields(self)
        )

    @property
    def sum_generator_weights(self) -> float:
        """Sum of the generator weights, correctly rounded."""
        return _exact_sum(self.generator_partials)

    @property
    def sum_weights(self) -> float:
        """Sum of the nominal weights, correctly rounded."""
        return _exact_sum(self.nominal_partials)

    @property
    def sum_weights_squared(self) -> float:
        """Sum of the squared nominal weights, correctly rounded."""
        return _exact_sum(self.square_partials)

    def median_abs_weight(self) -> float:
        """The median |w| of the finite nonzero weights, read from the histogram (linear
        in log |w| within its bin: good to a factor 1.125 at worst); NaN if none."""
        counts = self.magnitude_counts
        total = int(counts.sum())
        if total == 0:
            return float("nan")
        cumulative = np.cumsum(counts)
        index = int(np.searchsorted(cumulative, total / 2.0))
        if index == 0:
            return float(MAGNITUDE_EDGES[0])  # below the histogram's range
        if index == len(counts) - 1:
            return float(MAGNITUDE_EDGES[-1])
        fraction = (total / 2.0 - cumulative[index - 1]) / counts[index]
        low, high = np.log(MAGNITUDE_EDGES[index - 1 : index + 1])
        return float(np.exp(low + fraction * (high - low)))
