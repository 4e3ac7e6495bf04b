"""Fit-region templates made usable: bins merged from MC only, negative bins floored."""

import copy

import numpy as np
import pytest

from liberica.fits.templates import TemplateRules, apply, bin_groups


def _workspace(background, variance, signal, data, histosys_hi=None) -> dict:
    background_modifiers = [
        {"name": "staterror_sr", "type": "staterror", "data": list(np.sqrt(variance))},
        {"name": "xsec_bkg", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
    ]
    if histosys_hi is not None:
        background_modifiers.append(
            {
                "name": "shape",
                "type": "histosys",
                "data": {"hi_data": list(histosys_hi), "lo_data": list(background)},
            }
        )
    return {
        "channels": [
            {
                "name": "sr",
                "samples": [
                    {
                        "name": "signal",
                        "data": list(signal),
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "bkg", "data": list(background), "modifiers": background_modifiers},
                ],
            }
        ],
        "observations": [{"name": "sr", "data": list(data)}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def test_groups_meet_the_rule_from_the_low_edge_and_a_short_tail_joins_the_last():
    total = np.array([10.0, 0.0, 0.3, 5.0, 8.0, 0.1])
    variance = np.array([1.0, 0.0, 0.04, 1.0, 1.0, 0.01])
    groups = bin_groups(total, variance, TemplateRules(min_mc_yield=0.5, max_mc_stat_error=0.4))
    assert groups == [[0], [1, 2, 3], [4, 5]]
    # a bin of 0.3 +- 0.2 is short of both rules
    assert bin_groups(np.array([0.3]), np.array([0.04]), TemplateRules()) == [[0]]


def test_merging_reads_the_background_only_and_keeps_every_total():
    background = [20.0, 0.0, 0.0, 30.0, 25.0]
    signal = [0.0, 3.0, 4.0, 0.0, 0.0]  # a bin with signal only predicts nothing at mu = 0
    variance = [4.0, 0.0, 0.0, 9.0, 6.0]
    workspace = _workspace(background, variance, signal, [22, 4, 5, 28, 30], [21, 0, 0, 33, 24])
    merged, report = apply(workspace, TemplateRules(), {"sr": np.array([0, 1, 2, 3, 4, 5.0])})
    channel = merged["channels"][0]
    assert channel["samples"][0]["data"] == [0.0, 7.0, 0.0]
    assert channel["samples"][1]["data"] == [20.0, 30.0, 25.0]
    assert merged["observations"][0]["data"] == [22.0, 37.0, 30.0]
    modifiers = {m["name"]: m for m in channel["samples"][1]["modifiers"]}
    assert modifiers["staterror_sr"]["data"] == pytest.approx([2.0, 3.0, np.sqrt(6.0)])
    assert modifiers["shape"]["data"]["hi_data"] == [21.0, 33.0, 24.0]
    assert [g["range"] for g in report["merged"]["sr"]] == ["bins 1-3 [1, 4)"]
    assert report["edges"]["sr"] == [0.0, 1.0, 4.0, 5.0]
    assert workspace["channels"][0]["samples"][1]["data"] == background  # input untouched


def test_the_rule_never_reads_data():
    workspace = _workspace([20.0, 0.1, 30.0], [4.0, 0.01, 9.0], [1, 1, 1], [22, 4, 28])
    other = copy.deepcopy(workspace)
    other["observations"][0]["data"] = [0, 100, 0]
    groups = [apply(w, TemplateRules())[1]["merged"]["sr"][0]["bins"] for w in (workspace, other)]
    assert groups[0] == groups[1] == [1, 2]


def test_negative_bins_are_floored_and_normalizations_get_a_wider_range():
    workspace = _workspace(
        [20.0, 0.5, 30.0], [4.0, 0.01, 9.0], [1, -0.5, 1], [22, 4, 28], [21.0, -0.7, 29.0]
    )
    fixed, report = apply(workspace, TemplateRules(max_mc_stat_error=0.5))
    signal, background = fixed["channels"][0]["samples"]
    assert signal["data"] == [1.0, 1e-6, 1.0]
    shape = next(m for m in background["modifiers"] if m["name"] == "shape")
    assert background["data"] == [20.0, 0.5, 30.0]
    assert shape["data"]["hi_data"] == [21.0, 1e-6, 29.0]
    assert report["floored"] == ["sr/signal/nominal bin 1", "sr/bkg/shapeUp bin 1"]
    parameters = fixed["measurements"][0]["config"]["parameters"]
    assert parameters == [{"name": "xsec_bkg", "bounds": [[-10.0, 10.0]]}]
    assert report["merged"] == {}


def _emptied_workspace() -> dict:
    """A background a scale pushes out of the region on its Down side, and a sample it empties."""
    workspace = _workspace([20.0, 0.5, 30.0], [4.0, 0.01, 9.0], [1, 1, 1], [22, 4, 28])
    background = workspace["channels"][0]["samples"][1]
    background["modifiers"] += [
        {"name": "jes", "type": "normsys", "data": {"hi": 1.2, "lo": 0.0}},
        {"name": "jes", "type": "histosys", "data": {"hi_data": [24, 0.6, 36], "lo_data": [0] * 3}},
    ]
    workspace["channels"][0]["samples"].append(
        {
            "name": "rare",
            "data": [0.2, 0.0, 0.0],
            "modifiers": [
                {"name": "jes", "type": "normsys", "data": {"hi": 0.0, "lo": 0.0}},
                {
                    "name": "jes",
                    "type": "histosys",
                    "data": {"hi_data": [0] * 3, "lo_data": [0] * 3},
                },
                {"name": "xsec_rare", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            ],
        }
    )
    return workspace


def _logpdf_at_init(workspace: dict) -> float:
    pyhf = pytest.importorskip("pyhf")
    model = pyhf.Workspace(workspace).model()
    data = workspace["observations"][0]["data"] + model.config.auxdata
    return float(model.logpdf(model.config.suggested_init(), data)[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # pyhf on the NaN model
def test_an_emptied_variation_side_is_mirrored_and_a_sample_it_empties_loses_the_modifier():
    workspace = _emptied_workspace()
    assert not np.isfinite(_logpdf_at_init(workspace))  # as processed, the model is NaN
    fixed, report = apply(workspace, TemplateRules(max_mc_stat_error=0.5))
    background, rare = fixed["channels"][0]["samples"][1:]
    jes = {m["type"]: m["data"] for m in background["modifiers"] if m["name"] == "jes"}
    assert jes["normsys"] == {"hi": 1.2, "lo": pytest.approx(1 / 1.2)}
    assert jes["histosys"]["lo_data"] == pytest.approx([16.0, 0.4, 24.0])
    assert jes["histosys"]["hi_data"] == [24, 0.6, 36]
    assert [m["name"] for m in rare["modifiers"]] == ["xsec_rare"]
    assert report["emptied"] == [
        "sr/bkg/jesDown: empty, the other side mirrored",
        "sr/rare/jes: both sides empty, dropped",
    ]
    assert np.isfinite(_logpdf_at_init(fixed))
