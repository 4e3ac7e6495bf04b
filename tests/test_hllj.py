"""hllj, the second analysis: its physics, executors, systematics, classifier and folds."""

from __future__ import annotations

import pathlib

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from conftest import assert_same_histograms, constant_model

from liberica.analysis.hllj import FEATURE_SET, FIT_OBSERVABLE, MASS_FEATURE_SET, TABLE_VARIABLES
from liberica.core import registry
from liberica.core.definition import load, without_classifier
from liberica.models.loading import shipped_model
from liberica.models.spec import ModelSpecError, read_classifier
from liberica.models.train import TrainingConfig, roc, train
from liberica.orchestration.pipeline import classifiers_of, run_processor

HLLJ = registry.get("hllj")
DEFINITION = (
    pathlib.Path(__file__).parents[1] / "liberica" / "analysis" / "hllj" / "definition.yaml"
)
MC_PROCESSES = ("X1000", "X700", "X1500", "Zjets", "ttbar", "diboson")
QUICK = TrainingConfig(max_epochs=4, patience=2, seed=3)


@pytest.fixture(scope="module")
def iterative_run(hllj_sample):
    """The small sample with every systematic, the shipped classifier, and its features."""
    return run_processor(
        "hllj",
        hllj_sample,
        executor="iterative",
        chunksize=20_000,
        status=False,
        dump_features=True,
    )


@pytest.fixture(scope="module")
def mass_features(hllj_sample):
    """Preselected MC rows with the table variables and the llJ mass (nominal)."""
    definition = load("hllj")
    dump = definition.classifiers["hllj_mlp"]._replace(feature_set=MASS_FEATURE_SET)
    run = run_processor(
        without_classifier(definition),
        hllj_sample,
        executor="iterative",
        systematics=False,
        status=False,
        dump_features=dump,
    )
    return run.features


def _peak_and_resolution(values: np.ndarray, step: float) -> tuple[float, float]:
    """The mode of a fine histogram, and half the central 68% interval around it."""
    edges = np.arange(values.min(), values.max() + step, step)
    counts, edges = np.histogram(values, edges)
    peak = 0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1])
    core = values[np.abs(values - peak) < 0.2 * peak]
    low, high = np.percentile(core, [16, 84])
    return float(peak), float(0.5 * (high - low))


@pytest.mark.parametrize("process, mass", [("X700", 700.0), ("X1000", 1000.0), ("X1500", 1500.0)])
def test_the_llj_mass_of_the_signal_peaks_at_its_mass_within_the_resolution(
    mass_features, process, mass
):
    values = mass_features[FIT_OBSERVABLE][mass_features["process"] == process]
    assert len(values) > 300
    peak, resolution = _peak_and_resolution(values, 0.01 * mass)
    # a narrow scalar: the width is the detector's (a few %), and the peak sits on the mass
    assert 0.01 * mass < resolution < 0.08 * mass, resolution
    assert abs(peak - mass) < resolution, (peak, resolution)
    # the backgrounds have no peak there: their llJ mass falls
    zjets = mass_features[FIT_OBSERVABLE][mass_features["process"] == "Zjets"]
    window = np.abs(zjets - mass) < resolution
    assert np.mean(window) < np.mean(np.abs(values - mass) < resolution) / 5


def test_the_diboson_jet_mass_peaks_at_the_w_and_z_masses_and_the_zjets_one_falls(iterative_run):
    h = iterative_run.counts["presel_fatjet_mass"]
    centres = h.axes[0].centers

    def shape(process: str) -> np.ndarray:
        return h[:, process, "nominal"].values()

    diboson, zjets = shape("diboson"), shape("Zjets")
    assert 70.0 < centres[np.argmax(diboson)] < 100.0
    assert centres[np.argmax(zjets)] < 60.0
    window = (centres > 70.0) & (centres < 100.0)
    fraction = {p: s[window].sum() / s.sum() for p, s in (("diboson", diboson), ("Zjets", zjets))}
    assert fraction["diboson"] > 0.5 > 3 * fraction["Zjets"], fraction
    # and the signal's hadronic Z is a two-prong jet at the Z mass too
    assert 80.0 < centres[np.argmax(shape("X1000"))] < 100.0


def test_iterative_futures_and_dask_local_give_identical_histograms(hllj_sample, iterative_run):
    for executor, chunksize in (("futures", 7_000), ("dask-local", 11_000)):
        run = run_processor(
            "hllj",
            hllj_sample,
            executor=executor,
            workers=2,
            chunksize=chunksize,
            status=False,
        )
        assert run.metrics["chunks"] != iterative_run.metrics["chunks"]
        assert_same_histograms(run, iterative_run)
        assert run.cutflow.keys() == iterative_run.cutflow.keys()
        for sample, regions in iterative_run.cutflow.items():
            for region, steps in regions.items():
                for step, entry in steps.items():
                    assert run.cutflow[sample][region][step]["raw"] == entry["raw"]


def test_every_systematic_is_present_for_every_mc_process_and_varies_what_it_names(
    iterative_run,
):
    definition = load("hllj")
    expected = {"nominal"}
    for name in definition.systematics:
        expected |= {f"{name}Up", f"{name}Down"}
    h = iterative_run.counts["presel_mass"]
    assert set(h.axes["variation"]) == expected
    for process in MC_PROCESSES:
        for variation in expected:
            assert h[:, process, variation].values(flow=True).sum() > 0, (process, variation)
    assert h[:, "data", "nominal"].values(flow=True).sum() > 0
    assert h[:, "data", "pileupUp"].values(flow=True).sum() == 0

    weighted = iterative_run.histograms["presel_mass"]

    def total(process: str, variation: str, histograms=weighted) -> float:
        return float(histograms[:, process, variation].values(flow=True).sum())

    # the jet energy scale moves events across the jet pT cut: more pass when it goes up
    raw = iterative_run.counts["presel_mass"]
    for process in ("X1000", "Zjets"):
        up, down = (total(process, f"large_r_jet_energy_scale{s}", raw) for s in ("Up", "Down"))
        assert up > total(process, "nominal", raw) > down, process
    # the jet mass scale does not change the llJ mass selection here, but the jet mass
    mass = iterative_run.histograms["presel_fatjet_mass"]
    centre = mass.axes[0].centers

    def mean_mass(variation: str) -> float:
        values = mass[:, "X1000", variation].values()
        return float(np.sum(values * centre) / np.sum(values))

    assert mean_mass("large_r_jet_mass_scaleUp") > mean_mass("nominal") * 1.02
    assert mean_mass("large_r_jet_mass_scaleDown") < mean_mass("nominal") * 0.98
    # lepton scale factors: a weight up and down, small, around nominal
    for name in ("electron_sf", "muon_sf"):
        up, down, nominal = (total("Zjets", v) for v in (f"{name}Up", f"{name}Down", "nominal"))
        assert nominal < up < 1.05 * nominal and 0.95 * nominal < down < nominal, name
    # the alternative Z+jets sample differs from the nominal one, and only for Z+jets
    assert total("Zjets", "zjets_modellingUp") != pytest.approx(total("Zjets", "nominal"))
    assert total("diboson", "zjets_modellingUp") == total("diboson", "nominal")


def test_the_onnx_model_equals_torch_on_hllj_features(iterative_run, tmp_path):
    table = iterative_run.features
    reports = train(
        table,
        ["X1000"],
        ["Zjets", "ttbar", "diboson"],
        tmp_path,
        QUICK._replace(negative_weights="abs"),
        "test",
        feature_set=HLLJ.feature_sets[FEATURE_SET],
        model_names=("fold0.onnx", "fold1.onnx"),
        output="p(X1000)",
    )
    for report in reports:
        # exported models give torch's output on the rows they score (raw GeV in)
        assert report.onnx_max_abs_diff <= 1e-5
        assert report.auc_weighted > 0.8
        spec = read_classifier(report.path.read_bytes(), report.path.name).spec
        assert spec.features == TABLE_VARIABLES and spec.train_parity == report.fold


def test_no_event_is_scored_by_a_model_that_trained_on_it(iterative_run, tmp_path):
    """Rescore the dumped features by hand with the fold rule: the run's score histogram is
    that one, and the opposite assignment (each event scored by its training model) is not."""
    table = iterative_run.features
    parity = table["eventNumber"] % 2
    features = np.stack([table[name] for name in TABLE_VARIABLES], axis=1).astype(np.float32)
    scores = {}
    for fold in (0, 1):
        name = f"hllj_fold{fold}.onnx"
        spec = read_classifier(shipped_model(name, "hllj"), name).spec
        assert spec.train_parity == fold and spec.folds == 2
        session = ort.InferenceSession(shipped_model(name, "hllj"))
        scores[fold] = session.run(None, {"features": features})[0][:, 0]
    rule = np.where(parity == 0, scores[1], scores[0])  # scored by the model of the other parity
    trained_on = np.where(parity == 0, scores[0], scores[1])
    h = iterative_run.counts["sr_score"]
    edges = h.axes[0].edges
    for process in ("X1000", "Zjets"):
        rows = table["process"] == process
        filled = h[:, process, "nominal"].values()
        np.testing.assert_array_equal(np.histogram(rule[rows], edges)[0], filled)
        assert not np.array_equal(np.histogram(trained_on[rows], edges)[0], filled)
    # the shipped models separate the 1 TeV signal from the backgrounds on events they never saw
    signal = np.isin(table["process"], ["X1000"])
    used = signal | np.isin(table["process"], ["Zjets", "ttbar", "diboson"])
    auc = roc(rule[used], signal[used].astype(int), np.abs(table["weight"][used]))[2]
    assert auc > 0.85, auc


def test_the_fold_rule_routes_events_to_the_models_by_parity(hllj_sample, tmp_path):
    """With constant models, the events above 0.5 are exactly the even ones."""
    models = []
    for parity, score in ((0, 0.25), (1, 0.75)):
        path = tmp_path / f"constant{parity}.onnx"
        path.write_bytes(constant_model(score, parity, TABLE_VARIABLES, feature_set=FEATURE_SET))
        models.append(str(path))
    run = run_processor(
        "hllj",
        hllj_sample,
        executor="iterative",
        systematics=False,
        status=False,
        models=models,
        dump_features=True,
    )
    table = run.features
    for process in ("X1000", "diboson"):
        n_even = int(np.sum(table["eventNumber"][table["process"] == process] % 2 == 0))
        high = run.counts["sr_classifier"][:, process, "nominal"].values(flow=True).sum()
        assert high == n_even > 0


def test_a_classifier_taking_the_llj_mass_is_refused_for_the_classifier_region(tmp_path):
    config = yaml.safe_load(DEFINITION.read_text())
    config["classifiers"]["hllj_mlp"]["feature_set"] = MASS_FEATURE_SET
    models = []
    for parity in (0, 1):
        path = tmp_path / f"mass{parity}.onnx"
        path.write_bytes(
            constant_model(
                0.5, parity, (*TABLE_VARIABLES, FIT_OBSERVABLE), feature_set=MASS_FEATURE_SET
            )
        )
        models.append(str(path))
    config["classifiers"]["hllj_mlp"]["models"] = models
    path = tmp_path / "mass_classifier.yaml"
    path.write_text(yaml.safe_dump(config))
    definition = load(path)
    # both classifier regions, the fit's and the search's, histogram the llJ mass
    with pytest.raises(
        ModelSpecError,
        match="takes 'reco_zv_mass', the observable of region '(sr|search)_classifier'",
    ):
        classifiers_of(definition)
    # the shipped models, on the table variables only, pass
    assert len(classifiers_of(load("hllj"))["hllj_mlp"]) == 2
