import copy

import pytest
import yaml

from liberica.core import definition


@pytest.fixture
def config():
    from importlib import resources

    text = resources.files("liberica.analysis.hzz4l").joinpath("definition.yaml").read_text()
    return yaml.safe_load(text)


def test_shipped_definition_loads():
    analysis = definition.load("hzz4l")
    assert analysis.name == "hzz4l"
    assert set(analysis.processes) == {"ggH", "VBFH", "ZZ", "Zjets", "ttbar"}
    assert analysis.regions["baseline"].selection == "agc_baseline"
    baseline_obs = analysis.observables[analysis.regions["baseline"].observable]
    assert (baseline_obs.bins, baseline_obs.low, baseline_obs.high) == (34, 80.0, 250.0)
    assert analysis.variations[0] == "nominal"
    for name in analysis.systematics:
        assert f"{name}Up" in analysis.variations and f"{name}Down" in analysis.variations
    categories = {s.category for s in analysis.systematics.values()}
    assert categories == {"weight", "object", "sample"}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            lambda c: c["regions"]["sr_4l"].__setitem__("observable", "mjj"),
            "regions.sr_4l.observable",
        ),
        (
            lambda c: c["systematics"]["pileup"].__setitem__("kind", "pilup"),
            "systematics.pileup.kind",
        ),
        (
            lambda c: c["systematics"]["pileup"].pop("deviation_scale"),
            "systematics.pileup.deviation_scale",
        ),
        (
            lambda c: c["cuts"]["leptons"]["electron"].__setitem__("min_pt", "seven"),
            "cuts.leptons.electron.min_pt",
        ),
        (lambda c: c["processes"]["ggH"].__setitem__("colour", "red"), "processes.ggH.colour"),
        (lambda c: c.pop("tree"), "tree"),
        (
            lambda c: c["systematics"]["muon_sf"]["relative_uncertainty"].pop(),
            "systematics.muon_sf.relative_uncertainty",
        ),
        (
            lambda c: c["observables"]["m4l"].__setitem__("range", [250, 80]),
            "observables.m4l.range",
        ),
        (
            lambda c: c["systematics"]["zz_generator"].__setitem__("process", "WZ"),
            "systematics.zz_generator.process",
        ),
        (lambda c: c["fit"]["regions"].append("sr_5l"), "fit.regions[2]"),
        (
            lambda c: c["fit"]["region_sets"]["single_m4l"].append("sr_5l"),
            "fit.region_sets.single_m4l[1]",
        ),
        (lambda c: c["fit"]["signal"].append("WZ"), "fit.signal[2]"),
        (lambda c: c.__setitem__("analysis", "hww"), "analysis"),
        (
            lambda c: c["regions"]["sr_4e"]["categories"].__setitem__("channel", ["5e"]),
            "regions.sr_4e.categories.channel[0]",
        ),
        (
            lambda c: c["regions"]["sr_4l"].__setitem__("selection", "hww"),
            "regions.sr_4l.selection",
        ),
        (
            lambda c: c["classifiers"]["hzz4l_mlp"].__setitem__("feature_set", "hzz4l-v9"),
            "classifiers.hzz4l_mlp.feature_set",
        ),
        (
            lambda c: c["regions"]["sr_4l_low"].__setitem__("classifier", "bdt"),
            "regions.sr_4l_low.classifier",
        ),
        (
            lambda c: c["observables"]["m4l"].__setitem__("edges", [80, 100, 90]),
            "observables.m4l.edges",
        ),
        (
            lambda c: c["observables"]["m4l_window"].__setitem__("variable", "mjj"),
            "observables.m4l_window.variable",
        ),
        (lambda c: c["regions"]["sr_4l_score"].pop("classifier"), "regions.sr_4l_score"),
    ],
)
def test_bad_definition_names_the_key(config, change, key):
    broken = copy.deepcopy(config)
    change(broken)
    with pytest.raises(definition.AnalysisDefinitionError) as info:
        definition.validate(broken, "broken.yaml")
    assert info.value.key == key
    assert f"'{key}'" in str(info.value) and "broken.yaml" in str(info.value)


def test_bad_definition_file_names_file_and_key(tmp_path, config):
    config["cuts"]["events"]["z1_mass_window"] = [106.0, 50.0]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(
        definition.AnalysisDefinitionError, match="mine.yaml.*cuts.events.z1_mass_window"
    ):
        definition.load(path)


def test_observables_take_explicit_edges(tmp_path, config):
    config["observables"]["m4l"] = {"edges": [80.0, 100.0, 120.0, 130.0, 250.0]}
    config.pop("sculpting")  # its range, 100-160 GeV, must be bin edges of m4l
    path = tmp_path / "edges.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = definition.load(path)
    observable = loaded.observables["m4l"]
    assert (observable.bins, observable.low, observable.high) == (4, 80.0, 250.0)
    assert observable.bin_edges() == (80.0, 100.0, 120.0, 130.0, 250.0)


def test_unknown_analysis_name():
    with pytest.raises(FileNotFoundError, match="no analysis named 'hww'"):
        definition.load("hww")


def test_merged_merges_mappings_replaces_the_rest_and_null_removes():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": {"z": 3}}
    overlay = {"a": {"y": [3], "w": 4}, "c": None, "d": 5}
    assert definition.merged(base, overlay) == {"a": {"x": 1, "y": [3], "w": 4}, "b": 2, "d": 5}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": {"z": 3}}  # untouched


def test_a_definition_extends_a_shipped_one(tmp_path):
    path = tmp_path / "tighter.yaml"
    path.write_text(
        "extends: hzz4l\nname: hzz4l_tighter\n"
        "cuts: {leptons: {min_pt: 7.0}}\n"
        "fit: {regions: [sr_4l]}\n"
        "sculpting: ~\n"
    )
    shipped, loaded = definition.load("hzz4l"), definition.load(path)
    assert loaded.name == "hzz4l_tighter" and loaded.source == str(path)
    assert loaded.fit_regions == ("sr_4l",) and loaded.sculpting is None
    assert loaded.cuts.leptons.min_pt == 7.0
    # everything it does not name is the shipped definition's
    assert loaded.cuts.leptons.max_abs_eta == shipped.cuts.leptons.max_abs_eta
    assert loaded.regions == shipped.regions and loaded.systematics == shipped.systematics
    # the source loads it again (a run's metrics.json keeps it)
    assert definition.load(loaded.source) == loaded


def test_a_shipped_variant_loads_by_analysis_and_name():
    sculpting = definition.load("hllj:sculpting")
    assert sculpting.name == "hllj_sculpting" and sculpting.source == "hllj:sculpting"
    assert set(sculpting.classifiers) == {"hllj_mlp", "hllj_mass_mlp"}
    assert set(sculpting.search.selections) == {"cut_based", "classifier", "mass_classifier"}
    assert sculpting.fit_regions == definition.load("hllj").fit_regions
    with pytest.raises(FileNotFoundError, match="ships no definition 'nope'.*hllj:sculpting"):
        definition.load("hllj:nope")


def test_a_bad_extends_names_the_key(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\nname: loop\n")
    with pytest.raises(definition.AnalysisDefinitionError, match="'extends'.*a loop"):
        definition.load(loop)
    missing = tmp_path / "missing.yaml"
    missing.write_text("extends: nowhere.yaml\n")
    with pytest.raises(definition.AnalysisDefinitionError, match="'extends'.*nowhere.yaml"):
        definition.load(missing)
    inherited = tmp_path / "inherited.yaml"
    inherited.write_text("extends: hzz4l\nregions: {sr_4l: {observable: nope}}\n")
    with pytest.raises(definition.AnalysisDefinitionError, match="extends hzz4l.*sr_4l"):
        definition.load(inherited)


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda s: s.update(reference="nope"), "sculpting.reference"),
        (lambda s: s["selections"].update(high_score="nope"), "sculpting.selections.high_score"),
        (lambda s: s.update(processes=["ggH"]), "sculpting.processes[0]"),
        (lambda s: s.update(range=[160.0, 100.0]), "sculpting.range"),
        (lambda s: s["selections"].update(score="sr_4l_score"), "sculpting"),
    ],
)
def test_bad_sculpting_block_names_the_key(config, change, key):
    change(config["sculpting"])
    with pytest.raises(definition.AnalysisDefinitionError) as info:
        definition.validate(config, "broken.yaml")
    assert info.value.key == key


def _copy_models(folder, names):
    from liberica.models.loading import shipped_model

    folder.mkdir(parents=True, exist_ok=True)
    for name, shipped in names.items():
        (folder / name).write_bytes(shipped_model(shipped, "hzz4l"))


def test_models_are_found_beside_the_definition_that_names_them(tmp_path, monkeypatch):
    from liberica.core.registry import get
    from liberica.models.loading import load_classifiers

    monkeypatch.chdir(tmp_path)
    base, over = tmp_path / "a" / "base.yaml", tmp_path / "b" / "over.yaml"
    _copy_models(
        base.parent / "models", {"f0.onnx": "hzz4l_fold0.onnx", "f1.onnx": "hzz4l_fold1.onnx"}
    )
    # a decoy of the same name beside the extending file, with the folds swapped
    _copy_models(
        over.parent / "models", {"f0.onnx": "hzz4l_fold1.onnx", "f1.onnx": "hzz4l_fold0.onnx"}
    )
    base.write_text(
        "extends: hzz4l\nclassifiers: {hzz4l_mlp: {models: [models/f0.onnx, models/f1.onnx]}}\n"
    )
    over.write_text("extends: ../a/base.yaml\nname: over\n")
    loaded = definition.load(over)
    config = loaded.classifiers["hzz4l_mlp"]
    assert config.source_dir == str(base.parent.resolve())
    feature_set = get("hzz4l").feature_sets[config.feature_set]
    models = load_classifiers(config, feature_set, get("hzz4l").models_folder())
    assert [m.name for m in models] == [
        str(base.parent.resolve() / "models" / f"f{k}.onnx") for k in (0, 1)
    ]
    # extending the shipped definition keeps its models shipped, whatever lies beside the YAML
    (tmp_path / "hzz4l").mkdir()  # a folder named like the analysis (runs/hzz4l) is no definition
    _copy_models(tmp_path / "c", {"hzz4l_fold0.onnx": "hzz4l_fold1.onnx"})
    mine = tmp_path / "c" / "mine.yaml"
    mine.write_text("extends: hzz4l\nname: mine\n")
    shipped = definition.load(mine).classifiers["hzz4l_mlp"]
    assert shipped.source_dir == str(get("hzz4l").folder().resolve())


@pytest.mark.parametrize(
    "change, key, message",
    [
        (lambda s: s.update(range=[100.0, 162.0]), "sculpting.range", "bin edges of region"),
        (lambda s: s.pop("range"), "sculpting", r"other bins than 'sr_4l' \(set a common range\)"),
    ],
)
def test_sculpting_bins_are_checked_when_the_definition_loads(config, change, key, message):
    change(config["sculpting"])
    with pytest.raises(definition.AnalysisDefinitionError, match=message) as info:
        definition.validate(config, "broken.yaml")
    assert info.value.key == key
