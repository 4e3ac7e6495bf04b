"""liberica bumphunt's stage on hand-filled histograms: anomaly regions, hunts, results.json."""

import json

import hist
import numpy as np
import pytest
import yaml

from liberica.core.definition import AnalysisDefinitionError, load
from liberica.fits.bumphunt import BumpHuntError, run_bumphunt, write_bumphunt

PROCESSES = ["X1000", "X700", "X1500", "Zjets", "ttbar", "diboson", "data"]


@pytest.fixture(scope="module")
def definition(tmp_path_factory):
    path = tmp_path_factory.mktemp("bumphunt") / "hunt.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "extends": "hllj",
                "observables": {
                    "score_log": {
                        "variable": "score",
                        "bins": 80,
                        "range": [1e-4, 1.0],
                        "log": True,
                    }
                },
                "regions": {
                    "scan": {
                        "selection": "preselection",
                        "observable": "reco_zv_mass_fine",
                        "versus": "score_log",
                        "classifier": "hllj_mlp",
                    }
                },
                "bumphunt": {
                    "scan": "scan",
                    "efficiencies": [0.01, 0.1],
                    "hunt_range": [800.0, 2000.0],
                    "pseudo_experiments": 200,
                    "gross_vitells": {"width": 3, "pseudo_experiments": 100},
                },
            }
        )
    )
    return load(path)


def _histograms(definition, signal_events: int, seed: int = 3):
    """Background MC (3x the data's statistics, weight 1/3), data drawn from the same model,
    and a bump at 1.2 TeV with high scores injected into the data."""
    rng = np.random.default_rng(seed)
    h = hist.Hist(
        hist.axis.Regular(75, 500.0, 2000.0, name="reco_zv_mass_fine"),
        hist.axis.Regular(80, 1e-4, 1.0, name="score_log", transform=hist.axis.transform.log),
        hist.axis.StrCategory(PROCESSES, name="process"),
        hist.axis.StrCategory(["nominal"], name="variation"),
        storage=hist.storage.Weight(),
    )

    def background(n):
        return 500.0 + rng.exponential(300.0, n), 10 ** rng.normal(-2.5, 0.5, n)

    mass, score = background(300_000)
    h.fill(mass, score, process="Zjets", variation="nominal", weight=np.full(len(mass), 1 / 3))
    mass, score = background(rng.poisson(100_000))
    h.fill(mass, score, process="data", variation="nominal")
    bump = rng.normal(1200.0, 25.0, signal_events), 10 ** rng.normal(-0.5, 0.2, signal_events)
    h.fill(*bump, process="data", variation="nominal")
    h.fill(*bump, process="X1000", variation="nominal")
    return {"scan": h}


def test_an_injected_bump_is_found_in_the_tight_region(definition, tmp_path):
    state = np.random.get_state()[1].copy()
    result = run_bumphunt(_histograms(definition, 60), definition, seed=7)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert [r.name for r in result.regions] == ["eff_10pc", "eff_1pc"]
    tight = result.hunt.regions["eff_1pc"]
    assert tight.window.low <= 1200.0 <= tight.window.high
    assert tight.local_significance > 4.0
    assert result.hunt.best == "eff_1pc"
    assert (
        result.gross_vitells["eff_1pc"].window.low
        <= 1200.0
        <= result.gross_vitells["eff_1pc"].window.high
    )
    assert result.regions[1].signal_efficiency["X1000"] > 0.95
    # the same seed, the same numbers
    again = run_bumphunt(_histograms(definition, 60), definition, seed=7)
    assert again.to_dict() == result.to_dict()

    path = write_bumphunt(result, tmp_path / "bumphunt", figures=False)
    content = json.loads(path.read_text())
    region = content["regions"]["eff_1pc"]
    for key in ("window", "local_significance", "local_p_value", "global_significance",
                "global_p_value", "n_pseudo_experiments", "trial_factor", "gross_vitells"):  # fmt: skip
        assert key in region
    assert region["n_pseudo_experiments"] == 200
    # the toy's score does not depend on the mass: the cut leaves the background's shape
    assert content["regions"]["eff_10pc"]["sculpting"]["ks_distance"] < 0.05
    assert content["all_regions"]["best"] == "eff_1pc"
    assert region["window"]["low"] == pytest.approx(tight.window.low)


def test_without_a_signal_nothing_is_significant(definition):
    result = run_bumphunt(_histograms(definition, 0, seed=5), definition, seed=1)
    assert result.hunt.global_significance < 3.0
    assert not result.hunt.global_bound


def test_a_definition_without_a_bumphunt_block_is_refused():
    with pytest.raises(BumpHuntError, match="no bumphunt block"):
        run_bumphunt({}, load("hllj"))


def test_the_scan_must_be_a_2d_score_region(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"extends": "hllj", "bumphunt": {"scan": "sr_classifier"}}))
    with pytest.raises(AnalysisDefinitionError, match=r"bumphunt\.scan.*2-D"):
        load(path)
