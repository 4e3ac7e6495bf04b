"""Grouped impacts on mu: exact quadrature closure where it must close, the non-closure
reported where the data correlate the groups, the groups' checks, and mu's error against
the spread of mu over toys."""

import copy
import json
import math

import cabinetry
import numpy as np
import pytest
import yaml

from liberica.core import definition
from liberica.fits.impacts import (
    ImpactGroupError,
    assign,
    default_groups,
    grouped_impacts,
    uncertainty_breakdown,
)
from liberica.fits.likelihood import Likelihood
from liberica.fits.measurement import SignalStrength, fit_signal_strength, measure_mu
from liberica.fits.toys import run_toys

MEASUREMENT = [
    {
        "name": "impacts",
        "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[-5, 10]]}]},
    }
]


def _linear(name: str, nominal: list[float], relative: float) -> dict:
    """A symmetric histosys: pyhf's code4p is exactly linear in alpha for it."""
    return {
        "name": name,
        "type": "histosys",
        "data": {
            "hi_data": [x * (1 + relative) for x in nominal],
            "lo_data": [x * (1 - relative) for x in nominal],
        },
    }


def _signal(yields: list[float]) -> dict:
    return {
        "name": "signal",
        "data": yields,
        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
    }


S, B = 2.0e4, 1.0e6
RELATIVE = {"a": 1.0e-3, "b": 7.0e-4, "c": 4.0e-4}
"""One bin of 1.02e6 events: mu s + b, with three linear modifiers of b, one per group."""


def uncorrelated_workspace() -> dict:
    background = {
        "name": "background",
        "data": [B],
        "modifiers": [_linear(name, [B], k) for name, k in RELATIVE.items()],
    }
    return {
        "channels": [{"name": "sr", "samples": [_signal([S]), background]}],
        "observations": [{"name": "sr", "data": [S + B]}],
        "measurements": MEASUREMENT,
        "version": "1.0.0",
    }


def correlated_workspace() -> dict:
    """A signal region and a control region that measures the sum of the parameters ``a``
    and ``b`` (of two groups): post-fit they are anti-correlated (rho about -0.7)."""

    def background(nominal):
        return {
            "name": "background",
            "data": [nominal],
            "modifiers": [_linear("a", [nominal], 0.05), _linear("b", [nominal], 0.05)],
        }

    return {
        "channels": [
            {"name": "sr", "samples": [_signal([200.0]), background(1000.0)]},
            {"name": "cr", "samples": [background(1000.0)]},
        ],
        "observations": [{"name": "sr", "data": [1200.0]}, {"name": "cr", "data": [1000.0]}],
        "measurements": MEASUREMENT,
        "version": "1.0.0",
    }


def _measured(workspace: dict, groups: dict):
    likelihood = Likelihood(workspace)
    model, data = cabinetry.model_utils.model_and_data(workspace)
    mu, fit_results, _ = fit_signal_strength(model, data, fallback=likelihood.objective)
    return mu, grouped_impacts(likelihood, fit_results, mu, groups)


@pytest.fixture(scope="module")
def uncorrelated():
    """The whole fit of the uncorrelated model (no ranking), for a definition that names
    the groups of ``a`` and ``b`` (``c`` is left ``ungrouped``), and the progress heard."""
    from liberica.fits.run import measure

    groups = {"A": ["a"], "B": ["b"]}
    grouped = definition.load("hzz4l")._replace(fit_impact_groups=groups)
    heard = []
    result = measure(
        uncorrelated_workspace(),
        grouped,
        ranking=False,
        progress=lambda step, done, total: heard.append((step, done, total)),
    )
    return result, heard


def test_uncorrelated_groups_close_in_quadrature_exactly(uncorrelated):
    """Why exact: the expected count mu s + b (1 + sum_i k_i alpha_i) is linear in every
    parameter (symmetric histosys) and 1.02e6 events make the Poisson term Gaussian to
    1e-3, so -2 ln L is quadratic and sigma_mu^2 = (n + sum_i (b k_i)^2) / s^2 exactly:
    fixing a group removes its term and nothing else."""
    result, _ = uncorrelated
    mu, impacts = result.mu, result.grouped_impacts
    assert [g.name for g in impacts.groups] == ["A", "B", "ungrouped"]
    assert abs(mu.bestfit - 1.0) < 1e-4
    stat = math.sqrt(S + B) / S
    assert mu.stat_up == pytest.approx(stat, rel=2e-3)
    assert mu.stat_down == pytest.approx(-stat, rel=2e-3)
    for group, name in zip(impacts.groups, RELATIVE, strict=True):
        assert group.members == (name,) and group.valid
        assert group.up == pytest.approx(B * RELATIVE[name] / S, rel=2e-3), group
        assert group.down == pytest.approx(-B * RELATIVE[name] / S, rel=2e-3), group
    assert abs(impacts.non_closure_up) < 1e-3 and abs(impacts.non_closure_down) < 1e-3
    # the systematic part in quadrature is the groups' sum here
    syst = math.sqrt(sum(g.up**2 for g in impacts.groups))
    assert impacts.breakdown.syst_up == pytest.approx(syst, rel=2e-3)
    assert impacts.breakdown.syst_down == pytest.approx(-syst, rel=2e-3)


def test_correlated_groups_report_their_non_closure():
    mu, impacts = _measured(correlated_workspace(), {"A": ["a"], "B": ["b"]})
    assert impacts.valid
    # fixing a alone leaves b free to absorb what the control region measures: each
    # group's impact is small and their quadrature sum falls short of the total
    assert impacts.non_closure_up < -0.05 and impacts.non_closure_down < -0.05
    assert impacts.quadrature_up < mu.up and impacts.quadrature_down > mu.down
    content = impacts.to_dict()
    assert content["non_closure"]["up"] == impacts.non_closure_up
    assert content["groups"]["A"]["members"] == ["a"]
    json.dumps(content)


def test_breakdown_is_quadrature_of_total_and_stat():
    breakdown = uncertainty_breakdown(SignalStrength(1.0, 0.5, -0.4, 0.3, -0.32))
    assert breakdown.syst_up == pytest.approx(0.4)
    assert breakdown.syst_down == pytest.approx(-0.24)
    # a stat-only error above the total (MINOS noise) gives no systematic part, not NaN
    assert uncertainty_breakdown(SignalStrength(1.0, 0.3, -0.3, 0.31, -0.3)).syst_up == 0.0


LABELS = ["jes", "muon_sf", "luminosity", "xsec_ttbar", "staterror_sr[0]", "staterror_sr[1]"]


def test_a_parameter_in_two_groups_is_an_error_naming_both():
    with pytest.raises(ImpactGroupError) as info:
        assign(LABELS, {"experimental": ["*_sf", "jes"], "leptons": ["muon_*"]})
    message = str(info.value)
    assert "'muon_sf'" in message and "'experimental'" in message and "'leptons'" in message


def test_patterns_match_labels_and_parameter_sets_and_the_rest_is_ungrouped():
    members, unmatched = assign(
        LABELS, {"first_bin": ["staterror_sr[0]"], "lumi": ["lumi*"], "none": ["tau_*"]}
    )
    # a label is matched as it is, although its brackets are a character class to fnmatch
    assert members["first_bin"] == ("staterror_sr[0]",)
    assert members["lumi"] == ("luminosity",)
    assert members["none"] == () and unmatched == {"none": ["tau_*"]}
    assert members["ungrouped"] == ("jes", "muon_sf", "xsec_ttbar", "staterror_sr[1]")
    # a parameter set's name matches each of its parameters
    members, _ = assign(LABELS, {"mc_statistics": ["staterror_sr"], "rest": ["jes"]})
    assert members["mc_statistics"] == ("staterror_sr[0]", "staterror_sr[1]")
    with pytest.raises(ImpactGroupError, match="reserved"):
        assign(LABELS, {"ungrouped": ["jes"]})


def test_default_groups_by_modifier_kind(tiny_workspace):
    model, _ = cabinetry.model_utils.model_and_data(tiny_workspace)
    assert default_groups(model) == {
        "mc_statistics": ("staterror_sr",),
        "luminosity": ("luminosity",),
        "normalizations": ("xsec_background",),
        "systematics": ("shape",),
    }


@pytest.fixture
def config():
    from importlib import resources

    text = resources.files("liberica.analysis.hzz4l").joinpath("definition.yaml").read_text()
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    ("groups", "key", "reason"),
    [
        ({"experimental": "jes"}, "fit.impact_groups.experimental", "array"),
        ({"experimental": ["jes", 3]}, "fit.impact_groups.experimental[1]", "string"),
        ({"experimental": []}, "fit.impact_groups.experimental", "non-empty"),
        ({"2experimental": ["jes"]}, "fit.impact_groups", "does not match"),
        ({"ungrouped": ["jes"]}, "fit.impact_groups.ungrouped", "reserved"),
        ({"a": ["jes"], "b": ["muon_sf", "jes"]}, "fit.impact_groups.b[1]", "groups 'a' and 'b'"),
        ({"a": [" "]}, "fit.impact_groups.a[0]", "empty pattern"),
        ({}, "fit.impact_groups", "empty"),
    ],
)
def test_bad_impact_groups_name_the_key(config, groups, key, reason):
    broken = copy.deepcopy(config)
    broken["fit"]["impact_groups"] = groups
    with pytest.raises(definition.AnalysisDefinitionError) as info:
        definition.validate(broken, "broken.yaml")
    assert info.value.key == key, info.value
    assert reason in info.value.reason


def test_impact_groups_reach_the_definition(tmp_path, config):
    config["fit"]["impact_groups"] = {"mc_statistics": ["staterror_*"], "luminosity": ["lum*"]}
    path = tmp_path / "grouped.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = definition.load(path)
    assert loaded.fit_impact_groups == {
        "mc_statistics": ("staterror_*",),
        "luminosity": ("lum*",),
    }
    assert definition.load("hzz4l").fit_impact_groups == {}


def test_asimov_error_agrees_with_the_spread_of_mu_over_toys():
    """200 toys at the Asimov point (the observations are the nominal prediction at
    mu = 1) measure the standard deviation of mu-hat to 1/sqrt(2 * 199) = 5%; the Asimov
    MINOS error must lie within three of those, and the stat-only error (22% lower
    here) must not."""
    workspace = correlated_workspace()
    asimov = measure_mu(workspace, asimov=True)
    (toys,) = run_toys(workspace, (1.0,), ntoys=200, seed=3, workers=1)
    assert toys.n_failed == 0
    spread = float(np.std([t.mu_hat for t in toys.toys], ddof=1))
    precision = 1.0 / math.sqrt(2 * (toys.n - 1))
    total = (asimov.up - asimov.down) / 2
    stat = (asimov.stat_up - asimov.stat_down) / 2
    assert abs(spread / total - 1) < 3 * precision, (spread, total)
    assert abs(spread / stat - 1) > 3 * precision, (spread, stat)


def test_the_fit_writes_and_prints_the_grouped_impacts(uncorrelated, tmp_path):
    """A definition naming impact groups gets them in results.json, the table and the
    console, with the fits' status and progress."""
    import dataclasses

    from rich.console import Console

    from liberica.cli import report
    from liberica.fits.run import GROUPED_IMPACTS_TABLE, write

    result, heard = uncorrelated
    assert ("grouped impacts", 3, 3) in heard
    result = write(result, tmp_path / "fit", figures=False)
    content = json.loads((tmp_path / "fit" / "results.json").read_text())
    written = content["grouped_impacts"]
    assert list(written["groups"]) == ["A", "B", "ungrouped"]
    assert written["groups"]["ungrouped"]["members"] == ["c"]
    assert all(g["up"] > 0 and g["down"] < 0 and g["valid"] for g in written["groups"].values())
    assert written["quadrature_sum"]["up"] == pytest.approx(content["mu"]["up"], rel=1e-3)
    assert content["fit_status"]["grouped_impacts"]["n_fits"] == 3
    assert "grouped_impacts" in content["timing_s"]
    breakdown = content["mu"]["uncertainty_breakdown"]
    mu = content["mu"]
    assert breakdown["total"] == {"up": mu["up"], "down": mu["down"]}
    assert breakdown["stat"] == {"up": mu["stat_up"], "down": mu["stat_down"]}
    assert breakdown["syst"]["up"] == pytest.approx(math.sqrt(mu["up"] ** 2 - mu["stat_up"] ** 2))
    assert "uncertainty_breakdown" in content["expected"]
    table = (tmp_path / "fit" / GROUPED_IMPACTS_TABLE).read_text()
    assert "| ungrouped | 1 |" in table and "Non-closure" in table
    console = Console(record=True, width=120)
    report.fit(console, tmp_path / "fit", result)
    printed = console.export_text()
    assert "grouped impacts" in printed and "quadrature sum against the total" in printed
    # without groups: no grouped impacts in results.json, and no table
    plain = dataclasses.replace(result, grouped_impacts=None)
    assert "grouped_impacts" not in plain.to_dict()
    write(plain, tmp_path / "plain", figures=False)
    assert not (tmp_path / "plain" / GROUPED_IMPACTS_TABLE).exists()
