"""The `liberica run` path imports nothing from an extra (the base install runs the main job)."""

import json
import subprocess
import sys

import pytest

from liberica.models.loading import shipped_model
from liberica.models.spec import read_classifier

EXTRA_ONLY = ("onnx", "onnxscript", "torch", "dask_gateway", "dask_gateway_server", "pytest")
"""Top-level packages that only the train, gateway and dev extras install."""

RUN_PATH = (
    "liberica.cli",
    "liberica.samples",
    "liberica.samples.cache",
    "liberica.orchestration.pipeline",
    "liberica.orchestration.summary",
    "liberica.models.loading",
    "liberica.models.inference",
    "liberica.fits.config",
    "liberica.fits.run",
)


def test_run_path_imports_no_extra():
    code = (
        "import importlib, json, sys\n"
        f"for name in {RUN_PATH!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    assert [m for m in EXTRA_ONLY if m in loaded] == []


@pytest.mark.parametrize("fold", [0, 1])
def test_shipped_models_read_without_onnx(fold):
    """The spec comes from onnxruntime's metadata map, as the onnx package reads it."""
    onnx = pytest.importorskip("onnx")
    model_bytes = shipped_model(f"hzz4l_fold{fold}.onnx")
    classifier = read_classifier(model_bytes, "shipped")
    props = {p.key: p.value for p in onnx.load_from_string(model_bytes).metadata_props}
    liberica_props = {k: v for k, v in props.items() if k.startswith("liberica.")}
    assert classifier.spec.to_metadata() == liberica_props
    assert classifier.spec.train_parity == fold
