"""The CWoLa hunt end to end, on small generated samples: it finds an injected W' and finds
nothing in background only.

Small configuration: 20k QCD events (and 600 injected W' events at 3.5 TeV, S/B about 17%
in 3.3-3.7 TeV: a small sample needs a large injection for 2 folds of one tree to learn it), windows from 2.94 to 4.65 TeV (3 signal regions), 2 folds, one tree
per model, 20 pseudo-experiments.
"""

import json

import numpy as np
import pytest
import yaml

import liberica
from liberica.orchestration.cwola import windows_of
from liberica.orchestration.outputs import read_features

SIZES = {
    "events": 20_000,
    "background_only_events": 4_000,
    "evaluation_background_events": 4_000,
    "evaluation_signal_events": 1_500,
    "events_per_file": 20_000,
}
INJECTED = 600
W_MASS = 3500.0


@pytest.fixture(scope="module")
def definition(tmp_path_factory):
    path = tmp_path_factory.mktemp("lhco") / "small.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "extends": "lhco",
                "cwola": {
                    "selection": "dijet",
                    "table": "lhco-events-v1",
                    "features": ["mj_min", "delta_mj", "tau21_j1", "tau21_j2"],
                    "mass": "mjj",
                    "windows": {"range": [2900.0, 4700.0]},
                    "folds": 2,
                    "members": 1,
                    "pseudo_experiments": 20,
                    "references": {
                        "signal_region": [3300.0, 3700.0],
                        "evaluation": ["wprime", "qcd"],
                        "background_only": ["qcdSR"],
                        "trainers": ["trees"],
                    },
                },
            }
        )
    )
    return liberica.load_definition(path)


def _run(folder, definition, signal_events, seed, events=SIZES["events"]):
    sizes = SIZES | {"events": events, "events_per_file": events}
    sample = liberica.generate(
        "lhco", folder / "sample", seed=seed, signal_events=signal_events, **sizes
    )
    return liberica.process(
        definition, sample.fileset_path, out=folder / "run", executor="iterative", progress=False
    )


@pytest.fixture(scope="module")
def injected(tmp_path_factory, definition):
    folder = tmp_path_factory.mktemp("injected")
    run = _run(folder, definition, INJECTED, seed=7)
    return folder / "run", liberica.cwola(run, definition, seed=1)


@pytest.fixture(scope="module")
def background_only(tmp_path_factory, definition):
    folder = tmp_path_factory.mktemp("background")
    run = _run(folder, definition, 0, seed=8, events=100_000)
    return liberica.cwola(run, definition, seed=1, references=False)


def test_the_small_configuration_has_three_windows(definition):
    windows, edges = windows_of(definition.cwola)
    assert len(windows) == 3
    assert any(w.signal_region == pytest.approx((3300.0, 3700.0)) for w in windows)
    for window in windows:  # every window edge is a bin edge
        (a, b), (c, d) = window.sidebands
        for edge in (a, b, c, d):
            assert np.min(np.abs(edges - edge)) < 1e-6 * edge


def test_the_run_table_holds_every_samples_rows(injected):
    folder, _ = injected
    table = read_features(folder / "features.parquet")
    processes = set(np.asarray(table["process"]).astype(str))
    assert processes == {"data", "qcd", "qcdSR", "wprime"}
    data = table[np.asarray(table["process"]).astype(str) == "data"]
    assert np.all(data["label"] == -1)  # the black box carries no label


def test_the_hunt_finds_the_injected_resonance(injected):
    _, result = injected
    best = result.windows[result.global_result.best_window].window
    low, high = best.signal_region
    assert low <= W_MASS <= high
    assert result.global_result.local_significance > 4
    # above every one of the 20 background-only pseudo-hunts
    assert result.global_result.global_bound
    # the references were trained and beat a random classifier (SIC = sqrt(eps_S) < 1)
    assert set(result.sic) == {"cwola_trees", "supervised_trees", "idealized_trees"}
    for curve in result.sic.values():
        assert curve.peak_sic > 3


def test_background_only_gives_no_excess(background_only):
    result = background_only
    z = np.concatenate([hunt.local_significances for hunt in result.windows])
    z = z[np.isfinite(z)]
    assert len(z) >= 7  # the cells with at least 10 selected events in each sideband
    # consistent with N(0, 1): no single cell beyond 3.5, the mean near 0
    assert np.max(np.abs(z)) < 3.5
    assert abs(np.mean(z)) < 3 / np.sqrt(len(z)) + 0.5
    assert result.global_result.global_significance < 2.5
    for hunt in result.windows:  # the signal region passes as often as the sidebands
        for cell in hunt.efficiencies:
            if np.isfinite(cell.pass_fraction_pull):
                assert abs(cell.pass_fraction_pull) < 3.5, (hunt.window.label, cell.efficiency)


def test_results_and_figures_are_written(injected, tmp_path):
    _, result = injected
    path = liberica.write_cwola(result, tmp_path / "cwola")
    content = json.loads(path.read_text())
    assert len(content["windows"]) == 3
    window = content["windows"][0]
    assert {"signal_region", "sidebands", "efficiencies", "events"} <= set(window)
    for cell in window["efficiencies"]:
        assert {"selected", "background_fit", "local_significance"} <= set(cell)
    assert content["best_window"]["signal_region"][0] <= W_MASS
    assert content["global_significance"]["pseudo_experiments"] == 20
    assert content["sic"]["supervised_trees"]["eps_b_floor"] > 0
    figures = sorted(p.name for p in (tmp_path / "cwola" / "figures").iterdir())
    assert "local_significance.png" in figures and "sic.png" in figures
    assert sum(name.startswith("window_") for name in figures) == 3


def test_the_hunt_is_deterministic(injected, definition):
    folder, result = injected
    again = liberica.cwola(folder, definition, seed=1, references=False)
    assert np.array_equal(
        [h.local_significances for h in again.windows],
        [h.local_significances for h in result.windows],
        equal_nan=True,
    )


def test_a_run_without_a_table_is_refused_in_one_line(injected, tmp_path):
    folder, _ = injected
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("histograms.pkl", "cutflow.json", "metrics.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(liberica.LibericaError, match="features.parquet"):
        liberica.cwola(copy)


def test_the_command_line_hunts_a_run(injected, tmp_path):
    from click.testing import CliRunner

    from liberica.cli import main

    folder, _ = injected
    out = tmp_path / "cli"
    outcome = CliRunner().invoke(
        main,
        ["cwola", str(folder), "--no-references", "--pseudo-experiments", "10",
         "--no-figures", "--out", str(out)],
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    assert "largest excess" in outcome.output
    content = json.loads((out / "results.json").read_text())
    assert content["global_significance"]["pseudo_experiments"] == 10
    assert content["sic"] == {}


@pytest.mark.slow
def test_noise_features_barely_move_the_idealized_trees(tmp_path):
    """'Back to the roots': tree ensembles ignore pure-noise inputs. The idealized
    detector.s SIC at eps_S = 0.5, averaged over 3 seeds, with 10 noise features stays
    within 30% of its value without them (200k QCD, 1500 W' injected)."""
    from liberica.models.sic import sic_at
    from liberica.orchestration.cwola import reference_curves

    sample = liberica.generate(
        "lhco",
        tmp_path / "sample",
        events=200_000,
        signal_events=1500,
        background_only_events=60_000,
        evaluation_background_events=40_000,
        evaluation_signal_events=6_000,
        seed=11,
    )
    run = liberica.process("lhco", sample.fileset_path, executor="iterative", progress=False)
    definition = liberica.load_definition("lhco")
    values = {0: [], 10: []}
    for seed in range(3):
        for noise in values:
            curve = reference_curves(
                run.features,
                definition,
                methods=("idealized",),
                trainers=("trees",),
                seed=seed,
                noise_features=noise,
            )["idealized_trees"]
            values[noise].append(sic_at(curve, 0.5))
    without, with_noise = np.mean(values[0]), np.mean(values[10])
    assert without > 2  # the detector learned the signal at all
    assert abs(with_noise / without - 1) < 0.3, values
