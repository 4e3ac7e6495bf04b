import json

import pytest
import uproot

from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES
from liberica.core.definition import load
from liberica.orchestration import fileset
from liberica.processors.formats.open_data import OPEN_DATA


@pytest.fixture(scope="module")
def definition():
    return load("hzz4l")


def _write(tmp_path, entries):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(entries))
    return fileset.read(path)


def test_missing_file_is_named(tmp_path, definition):
    raw = _write(
        tmp_path,
        {
            "ggH": {
                "files": {"nowhere/ggH_0.root": "mini"},
                "metadata": {"process": "ggH", "xsec": 1.0, "sumw": 1.0},
            }
        },
    )
    with pytest.raises(
        fileset.FilesetError, match=r"sample 'ggH': file .*nowhere/ggH_0.root does not exist"
    ):
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)


def test_missing_branch_is_named(tmp_path, data_a, definition):
    source = uproot.open(data_a)["mini"]
    branches = [b for b in ("lep_pt", "lep_eta", "mcWeight") if b in source]
    arrays = source.arrays(branches)
    broken = tmp_path / "no_isolation.root"
    with uproot.recreate(broken) as out:
        out.mktree(
            "mini",
            {b: arrays[b].type.content if b.startswith("lep") else "float32" for b in branches},
        )
        out["mini"].extend({b: arrays[b] for b in branches})
    raw = _write(
        tmp_path, {"data": {"files": {str(broken): "mini"}, "metadata": {"is_data": True}}}
    )
    with pytest.raises(fileset.FilesetError) as info:
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)
    assert str(broken) in str(info.value)
    assert "lep_ptcone30" in str(info.value) and "lacks branch" in str(info.value)


def test_missing_tree_and_unreadable_file(tmp_path, data_a, definition):
    raw = _write(
        tmp_path, {"data": {"files": {str(data_a): "nominal"}, "metadata": {"is_data": True}}}
    )
    with pytest.raises(fileset.FilesetError, match="has no tree 'nominal'.*keys: mini"):
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)
    garbage = tmp_path / "truncated.root"
    garbage.write_bytes(data_a.read_bytes()[:3000])
    raw = _write(
        tmp_path, {"data": {"files": {str(garbage): "mini"}, "metadata": {"is_data": True}}}
    )
    with pytest.raises(fileset.FilesetError, match="truncated.root"):
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)


def test_unknown_process_and_variation(tmp_path, data_a, definition):
    raw = _write(tmp_path, {"WZ": {"files": {str(data_a): "mini"}, "metadata": {"process": "WZ"}}})
    with pytest.raises(fileset.FilesetError, match="metadata.process 'WZ' is not a process"):
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)
    raw = _write(
        tmp_path,
        {
            "ZZ": {
                "files": {str(data_a): "mini"},
                "metadata": {"process": "ZZ", "variation": "pileup"},
            }
        },
    )
    with pytest.raises(fileset.FilesetError, match="variation 'pileup' is not a sample systematic"):
        fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)


def test_xsec_and_sumw_from_branches(tmp_path, data_a, definition):
    # data_A stores XSection = SumWeights = 1; read as if it were MC without metadata
    raw = _write(tmp_path, {"ZZ": {"files": {str(data_a): "mini"}, "metadata": {"process": "ZZ"}}})
    prepared = fileset.prepare(raw, definition, REQUIRED_BRANCHES, OPEN_DATA)
    assert prepared["ZZ"]["metadata"]["xsec"] == 1.0
    assert prepared["ZZ"]["metadata"]["sumw"] == 1.0
    assert prepared["ZZ"]["metadata"]["is_data"] is False


def test_relative_paths_resolve_against_fileset(tmp_path, data_a):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.root").write_bytes(data_a.read_bytes())
    path = tmp_path / "sub" / "fileset.yaml"
    path.write_text("data:\n  files: {a.root: mini}\n  metadata: {is_data: true}\n")
    assert list(fileset.read(path)["data"]["files"]) == [str(tmp_path / "sub" / "a.root")]


def _data(lumi_fb=None, process="data"):
    metadata = {"process": process} if lumi_fb is None else {"process": process, "lumi_fb": lumi_fb}
    return {"files": {"data.root": "mini"}, "metadata": metadata}


def test_the_luminosity_is_the_data_s_and_a_contradiction_is_refused():
    from liberica.processors.formats.daml_csv import DAML_CSV

    stated = {"data": _data(20.0)}
    assert fileset.luminosity(stated, None, 140.0, OPEN_DATA) == 20.0
    assert fileset.luminosity(stated, 20.0, 140.0, OPEN_DATA) == 20.0
    assert fileset.luminosity({"data": _data()}, None, 140.0, OPEN_DATA) == 140.0
    assert fileset.luminosity({"data": _data()}, 10.0, 140.0, OPEN_DATA) == 10.0
    with pytest.raises(
        fileset.FilesetError,
        match=r"^the luminosity asked for \(--lumi 140\) contradicts sample 'data': its "
        r"metadata.lumi_fb is 20;",
    ):
        fileset.luminosity(stated, 140.0, 140.0, OPEN_DATA)
    periods = {"data_A": _data(10.0), "data_B": _data(20.0)}
    with pytest.raises(
        fileset.FilesetError,
        match=r"data samples 'data_A' and 'data_B' state different luminosities "
        r"\(metadata.lumi_fb 10 and 20\)",
    ):
        fileset.luminosity(periods, None, 140.0, OPEN_DATA)
    # a table's MC weights are normalized: --lumi can only agree with the data's
    assert fileset.luminosity(stated, 20.0, 140.0, DAML_CSV) == 20.0
    with pytest.raises(fileset.FilesetError, match=r"--lumi 20 cannot rescale daml_csv MC"):
        fileset.luminosity({"data": _data()}, 20.0, 140.0, DAML_CSV)
