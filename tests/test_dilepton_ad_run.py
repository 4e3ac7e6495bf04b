"""dilepton_ad end to end on a small generated sample: the shipped autoencoders score every
chunk the same on every executor, the data/MC check flags what the generator mis-modelled,
the weight checks find the corrupted weights, and the bump hunt runs on the run."""

import json

import numpy as np
import pytest

import liberica


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dilepton_ad_sample")
    return liberica.generate(
        "dilepton_ad", folder, events=60_000, lumi_fb=0.05, events_per_file=30_000, seed=7
    )


@pytest.fixture(scope="module")
def runs(sample):
    """The sample processed nominal-only with the iterative and the futures executor."""
    options = {"systematics": False, "chunksize": 20_000}
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


def test_the_data_mc_check_flags_the_d0_significance_not_the_met_scale(runs):
    check = runs["iterative"].metrics["feature_agreement"]
    flagged = set(check["flagged"])
    assert flagged == {"feature_lep1_d0sig", "feature_lep2_d0sig"}
    assert "feature_met_et" not in flagged  # data's MET is 2% above MC's, below the threshold


@pytest.mark.slow  # about 10 s; the rules themselves are default tests in test_weight_audit.py
def test_the_weight_checks_report_the_corrupted_weights(tmp_path):
    sample = liberica.generate(
        "dilepton_ad", tmp_path, events=40_000, lumi_fb=0.05, corrupt_weights=True, seed=3
    )
    recorded = json.loads((tmp_path / "generation.json").read_text())["corrupted_weights"]
    run = liberica.process(
        "dilepton_ad", sample.fileset_path, executor="iterative", systematics=False
    )
    checks = run.metrics["weight_checks"]
    assert "Graviton1500" in checks["flagged_samples"]
    large = [f for f in checks["findings"] if f["check"] == "large_event_weights"]
    listed = {e["eventNumber"] for f in large for e in f["events"]}
    absurd = next(c for c in recorded if c["sample"] == "ttbar")
    assert set(absurd["eventNumbers"]) <= listed
    clean = [s for s in checks["flagged_samples"] if s not in ("Graviton1500", "ttbar")]
    assert clean == []


@pytest.mark.slow
def test_train_reproduces_the_shipped_autoencoders(tmp_path):
    """`liberica train dilepton_ad` (its search and both scalings, about 12 minutes on 2 cores)
    makes the shipped models byte for byte, on the same machine and threads."""
    from liberica.core import registry
    from liberica.core.definition import load

    definition = load("dilepton_ad")
    shipped = registry.get("dilepton_ad").models_folder()
    for name, config in definition.classifiers.items():
        result = liberica.train(
            "dilepton_ad", classifier=name, out=tmp_path, cache=tmp_path / "cache"
        )
        assert set(result.ignored) == {"lep1_d0sig", "lep2_d0sig"}
        for model in config.models:
            assert (tmp_path / model).read_bytes() == (shipped / model).read_bytes(), model
