import numpy as np

from liberica.core.definition import load
from liberica.processors.histograms import ChunkFiller, book


def test_chunk_filler_equals_hist_fill_bin_for_bin():
    """Bins from the axis' own index: edges, NaN, under- and overflow land where fill puts them."""
    definition = load("hzz4l")
    observable = definition.observables[definition.regions["sr_4l"].observable]
    rng = np.random.default_rng(3)
    edges = np.linspace(observable.low, observable.high, observable.bins + 1)
    values = np.concatenate(
        [
            rng.uniform(observable.low - 20, observable.high + 20, 5000),
            edges,  # every edge, the top one included (overflow)
            [np.nan, np.inf, -np.inf],
        ]
    )
    nominal = rng.normal(1.0, 0.5, len(values))
    up = nominal * rng.uniform(0.9, 1.1, len(values))

    weighted, counts = book(definition)
    ChunkFiller(weighted, counts, "ggH").fill("sr_4l", values, {"nominal": nominal, "pileupUp": up})

    expected_weighted, expected_counts = book(definition)
    for variation, weight in (("nominal", nominal), ("pileupUp", up)):
        fields = {observable.name: values, "process": "ggH", "variation": variation}
        expected_weighted["sr_4l"].fill(**fields, weight=weight)
        expected_counts["sr_4l"].fill(**fields)
    got, want = weighted["sr_4l"].view(flow=True), expected_weighted["sr_4l"].view(flow=True)
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(got["variance"], want["variance"], rtol=1e-13, atol=0)
    np.testing.assert_array_equal(
        counts["sr_4l"].view(flow=True), expected_counts["sr_4l"].view(flow=True)
    )
    assert counts["sr_4l"][:, "ggH", "nominal"].sum(flow=True) == len(values)
    # nothing else was touched
    assert weighted["sr_4e"].sum(flow=True).value == 0
    assert counts["sr_4l"][:, "ZZ", "nominal"].sum(flow=True) == 0
