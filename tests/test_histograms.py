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


def _with_2d_region(tmp_path, region: dict, fit_regions=None):
    """hzz4l's definition extended by a log-binned observable and a region using it."""
    import yaml

    lines = {
        "extends": "hzz4l",
        "observables": {
            "m4l_wide": {"variable": "m4l", "bins": 10, "range": [80.0, 180.0]},
            "score_log": {"variable": "score", "bins": 8, "range": [1.0e-3, 1.0], "log": True},
        },
        "regions": {"scan": region},
    }
    if fit_regions is not None:
        lines["fit"] = {"regions": fit_regions}
    path = tmp_path / "two_d.yaml"
    path.write_text(yaml.safe_dump(lines))
    return path


def test_2d_region_fills_like_hist_nominal_only(tmp_path):
    """A ``versus`` region: a 2-D histogram equal to Hist.fill, log bins, flow bins, nominal only."""
    classifier = next(iter(load("hzz4l").classifiers.values()))
    region = {
        "selection": classifier.selection,
        "observable": "m4l_wide",
        "versus": "score_log",
        "classifier": classifier.name,
    }
    definition = load(_with_2d_region(tmp_path, region))
    weighted, counts = book(definition)
    h = weighted["scan"]
    assert [a.name for a in h.axes] == ["m4l_wide", "score_log", "process", "variation"]
    assert list(h.axes["variation"]) == ["nominal"]
    np.testing.assert_allclose(h.axes["score_log"].edges, np.geomspace(1e-3, 1.0, 9), rtol=1e-12)
    np.testing.assert_allclose(definition.observables["score_log"].bin_edges(), h.axes[1].edges)
    rng = np.random.default_rng(5)
    mass = np.concatenate([rng.uniform(60, 200, 3000), [np.nan, 100.0]])
    score = np.concatenate([10 ** rng.uniform(-4, 0.3, 3000), [0.5, np.nan]])
    nominal = rng.normal(1.0, 0.3, len(mass))
    # a variation the 2-D region does not hold is skipped, not an error
    ChunkFiller(weighted, counts, "ggH").fill(
        "scan", mass, {"nominal": nominal, "pileupUp": 2 * nominal}, score
    )
    want = book(definition)[0]["scan"]
    want.fill(m4l_wide=mass, score_log=score, process="ggH", variation="nominal", weight=nominal)
    np.testing.assert_allclose(
        h.view(flow=True)["value"], want.view(flow=True)["value"], rtol=1e-13, atol=0
    )
    assert counts["scan"][..., "ggH", "nominal"].sum(flow=True) == len(mass)
    assert counts["scan"][..., "ggH", "nominal"].values(flow=True).shape == (12, 10)


def test_2d_region_errors_name_the_key(tmp_path):
    import pytest

    from liberica.core.definition import AnalysisDefinitionError

    classifier = next(iter(load("hzz4l").classifiers.values()))
    region = {"selection": classifier.selection, "observable": "m4l_wide", "versus": "nope"}
    with pytest.raises(AnalysisDefinitionError, match=r"regions\.scan\.versus.*unknown observable"):
        load(_with_2d_region(tmp_path, region))
    region |= {"versus": "score_log", "classifier": classifier.name}
    with pytest.raises(AnalysisDefinitionError, match=r"fit\.regions\[0\].*2-D"):
        load(_with_2d_region(tmp_path, region, fit_regions=["scan"]))
