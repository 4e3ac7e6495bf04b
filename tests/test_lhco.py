"""lhco's definition and processor on hand-built rows: the jets, mjj, the hunt's features."""

import math
import re

import numpy as np
import pytest
import yaml

from liberica.analysis.lhco.processor import dijet_observables
from liberica.core.definition import AnalysisDefinitionError, load


def _jet(pt, eta, phi, mass):
    return pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), mass


def _columns(rows):
    """rows: (jet1, jet2, taus1, taus2, label) with jet = (pt, eta, phi, m)."""
    columns = {}
    for k in (1, 2):
        jets = [_jet(*row[k - 1]) for row in rows]
        taus = [row[k + 1] for row in rows]
        for index, field in enumerate(("px", "py", "pz", "m")):
            columns[f"{field}j{k}"] = np.array([j[index] for j in jets])
        for index, field in enumerate(("tau1", "tau2", "tau3")):
            columns[f"{field}j{k}"] = np.array([t[index] for t in taus])
    columns["label"] = np.array([row[4] for row in rows], dtype=float)
    return columns


def test_observables_order_the_jets_by_mass_and_give_mjj():
    rows = [
        # the first jet is the heavier: j1 (the lighter) is the file's second jet
        (
            (1500.0, 0.3, 0.1, 480.0),
            (1400.0, -0.5, 3.0, 95.0),
            (0.5, 0.1, 0.05),
            (0.4, 0.3, 0.2),
            1,
        ),
        ((1300.0, 0.0, 0.0, 60.0), (1250.0, 1.0, 3.1, 150.0), (0.2, 0.0, 0.0), (0.5, 0.4, 0.3), -1),
    ]
    observables = dijet_observables(_columns(rows))
    for index, (j1, j2, taus1, taus2, label) in enumerate(rows):
        four = []
        for pt, eta, phi, m in (j1, j2):
            px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
            four.append((math.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz))
        e, px, py, pz = (a + b for a, b in zip(*four, strict=True))
        assert observables["mjj"][index] == pytest.approx(math.sqrt(e**2 - px**2 - py**2 - pz**2))
        lighter, heavier = sorted([(j1[3], taus1), (j2[3], taus2)], key=lambda x: x[0])
        assert observables["mj_min"][index] == pytest.approx(lighter[0])
        assert observables["delta_mj"][index] == pytest.approx(heavier[0] - lighter[0])
        # a jet with tau1 = 0 gets tau21 = 0, not a division by zero
        expected_lighter = lighter[1][1] / lighter[1][0] if lighter[1][0] else 0.0
        assert observables["tau21_j1"][index] == pytest.approx(expected_lighter)
        assert observables["tau21_j2"][index] == pytest.approx(heavier[1][1] / heavier[1][0])
        assert observables["label"][index] == label
    assert observables["pt_j2"][0] == pytest.approx(1500.0)  # the heavier jet's pT


def _definition(tmp_path, cwola):
    path = tmp_path / "lhco.yaml"
    path.write_text(yaml.safe_dump({"extends": "lhco", "cwola": cwola}))
    return path


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"features": ["mj_min", "nope"]}, "cwola.features[1]"),
        ({"features": ["mj_min", "mjj"]}, "cwola.mass"),
        ({"selection": "nope"}, "cwola.selection"),
        ({"table": "lhco-v1"}, "cwola.mass"),  # the inputs' set has no mjj column
        ({"background_shape": "nope"}, "cwola.background_shape"),
        ({"windows": {"signal_region": [3700.0, 3300.0]}}, "cwola.windows.signal_region"),
        ({"references": {"signal_region": [3300.0, 3700.0], "evaluation": ["nope"]}},
         "cwola.references.evaluation[0]"),
    ],
)  # fmt: skip
def test_a_bad_cwola_block_names_its_key(tmp_path, change, key):
    block = {
        "selection": "dijet",
        "table": "lhco-events-v1",
        "features": ["mj_min", "delta_mj", "tau21_j1", "tau21_j2"],
        "mass": "mjj",
    } | change
    with pytest.raises(AnalysisDefinitionError, match=re.escape(f"'{key}'")):
        load(_definition(tmp_path, block))


def test_the_shipped_definition_hunts_with_the_benchmark_window():
    definition = load("lhco")
    config = definition.cwola
    assert definition.stages == ("cwola",)
    assert config.features == ("mj_min", "delta_mj", "tau21_j1", "tau21_j2")
    assert config.anchor == (3300.0, 3700.0)
    assert config.efficiencies == (0.1, 0.01, 0.002)


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    """Without PyTables, `liberica generate lhco` says which extra installs it, brackets and
    all (rich must not read `[lhco]` as markup)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['tables'] = None\n"
        "from liberica.cli import main\n"
        f"main(['generate', 'lhco', '--out', {str(tmp_path / 'sample')!r}, '--events', '1000'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'liberica[lhco]'" in done.stdout + done.stderr
    assert not (tmp_path / "sample" / "fileset.json").exists()
