"""The feature specification a classifier carries in its ONNX metadata.

A model is one self-contained ONNX file. Its ``metadata_props`` hold, as
strings: the feature set and the feature names in input order, the
preprocessing (standardization, folded into the graph), the fold rule (the
eventNumber parity the model trained on; it scores only the other parity), the
meaning of the output, the training sample and a version.

The metadata and the graph's inputs are read through onnxruntime, not the
``onnx`` package: onnxruntime is a base dependency and ``onnx`` is not (it is
only needed to export, in the ``train`` extra), and importing ``onnx`` costs
about 1.2 s. Building a CPU session also checks the whole graph, which is a
stronger test of "readable" than parsing the protobuf.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import onnxruntime as ort

from liberica.core.errors import LibericaError

SPEC_VERSION = "1"
"""Two folds by eventNumber parity, one output."""
SPEC_VERSION_MULTI = "2"
"""K folds by eventNumber % K, any number of outputs."""


class ModelSpecError(LibericaError, ValueError):
    """A model's metadata is missing, malformed, or does not match the analysis."""


class FeatureSpec(NamedTuple):
    """What a classifier expects and means.

    The fold rule: with ``folds`` = K, the model of fold m is evaluated on the
    events with ``eventNumber % K == (m + 1) % K`` and trained on the others, so
    no event is scored by a model that trained on it. For K = 2 this is the
    parity rule of spec version 1: fold m trains on parity m and scores 1 - m.

    Attributes:
        feature_set: identifier of the feature function (e.g. ``<analysis>-v1``)
        features: feature names in input column order
        fold: the model's fold m (for two folds, the parity it trained on)
        output: meaning of the output (of its first column)
        preprocessing: how inputs are transformed (inside the graph)
        training_sample: description of the training data
        version: the spec format version (1: two folds and one output; 2: any)
        folds: K, the number of folds of the rule
        outputs: the names of the output columns (a multi-class model has several)
        uses_fit_observable: the model was trained on a region's fit observable
            on purpose; a run must still allow it explicitly
        categorical: categorical feature -> the values seen in training, in the
            order of their embedding indices (1, 2, ...; index 0 is "unknown");
            written as ``liberica.categorical`` only when not empty (a plain dict,
            so that a spec pickles with its processor; treat it as read-only)
    """

    feature_set: str
    features: tuple[str, ...]
    fold: int
    output: str
    preprocessing: str
    training_sample: str
    version: str = SPEC_VERSION
    folds: int = 2
    outputs: tuple[str, ...] = ("score",)
    uses_fit_observable: bool = False
    categorical: dict[str, tuple[float, ...]] = {}

    @property
    def train_parity(self) -> int:
        """For two folds: the eventNumber parity the model trained on."""
        return self.fold

    @property
    def evaluates(self) -> int:
        """The residue ``eventNumber % folds`` of the events this model scores."""
        return (self.fold + 1) % self.folds

    def _is_version_1(self) -> bool:
        return self.folds == 2 and len(self.outputs) == 1 and not self.uses_fit_observable

    def _categorical_metadata(self) -> dict[str, str]:
        if not self.categorical:
            return {}
        values = {name: [float(v) for v in self.categorical[name]] for name in self.categorical}
        return {"liberica.categorical": json.dumps(values)}

    def to_metadata(self) -> dict[str, str]:
        """The spec as ONNX metadata_props (string values); version 1 where it suffices."""
        common = {
            "liberica.feature_set": self.feature_set,
            "liberica.features": json.dumps(list(self.features)),
        }
        tail = {
            "liberica.output": self.output,
            "liberica.preprocessing": self.preprocessing,
            "liberica.training_sample": self.training_sample,
        }
        if self._is_version_1():
            rule = {
                "key": "eventNumber % 2",
                "train_parity": self.fold,
                "evaluates_parity": 1 - self.fold,
            }
            return {
                **common,
                "liberica.fold_rule": json.dumps(rule),
                **tail,
                **self._categorical_metadata(),
                "liberica.spec_version": SPEC_VERSION,
            }
        rule = {
            "key": f"eventNumber % {self.folds}",
            "fold": self.fold,
            "evaluates": self.evaluates,
            "trains_on": [r for r in range(self.folds) if r != self.evaluates],
        }
        return {
            **common,
            "liberica.fold_rule": json.dumps(rule),
            **tail,
            "liberica.outputs": json.dumps(list(self.outputs)),
            "liberica.uses_fit_observable": json.dumps(self.uses_fit_observable),
            **self._categorical_metadata(),
            "liberica.spec_version": SPEC_VERSION_MULTI,
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str) -> FeatureSpec:
        """Read a spec back from ONNX metadata_props (version 1 or 2).

        Raises:
            ModelSpecError: naming the model and the missing or malformed key
        """
        try:
            fold = json.loads(metadata["liberica.fold_rule"])
            version = metadata["liberica.spec_version"]
            features = tuple(json.loads(metadata["liberica.features"]))
            common = {
                "feature_set": metadata["liberica.feature_set"],
                "features": features,
                "output": metadata["liberica.output"],
                "preprocessing": metadata["liberica.preprocessing"],
                "training_sample": metadata["liberica.training_sample"],
                "categorical": _read_categorical(metadata, features),
            }
            if version == SPEC_VERSION:
                return cls(fold=int(fold["train_parity"]), version=version, **common)
            if version != SPEC_VERSION_MULTI:
                raise ValueError(f"unknown spec version {version!r}")
            folds = int(fold["key"].rsplit("%", 1)[1])
            spec = cls(
                fold=int(fold["fold"]),
                version=version,
                folds=folds,
                outputs=tuple(json.loads(metadata["liberica.outputs"])),
                uses_fit_observable=bool(json.loads(metadata["liberica.uses_fit_observable"])),
                **common,
            )
            if folds < 2 or not 0 <= spec.fold < folds or spec.evaluates != int(fold["evaluates"]):
                raise ValueError(f"inconsistent fold rule {fold}")
            return spec
        except KeyError as err:
            raise ModelSpecError(f"{source}: ONNX metadata lacks {err.args[0]!r}") from None
        except (ValueError, TypeError, IndexError) as err:
            raise ModelSpecError(f"{source}: malformed liberica metadata ({err})") from None


def _read_categorical(
    metadata: dict[str, str], features: tuple[str, ...]
) -> dict[str, tuple[float, ...]]:
    """``liberica.categorical`` if present: each named feature must be in ``features``."""
    text = metadata.get("liberica.categorical")
    if text is None:
        return {}
    values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError("liberica.categorical is not an object")
    unknown = [name for name in values if name not in features]
    if unknown:
        raise ValueError(f"categorical features {unknown} are not among the features")
    return {name: tuple(float(v) for v in values[name]) for name in values}


class Classifier(NamedTuple):
    """One fold's model: its ONNX bytes and its spec.

    Attributes:
        name: a label for messages (file name)
        model_bytes: the serialized ONNX model
        spec: its feature specification
    """

    name: str
    model_bytes: bytes
    spec: FeatureSpec

    @property
    def digest(self) -> str:
        """sha256 of the model bytes: the key of the per-process session cache."""
        return hashlib.sha256(self.model_bytes).hexdigest()


def read_classifier(model_bytes: bytes, name: str) -> Classifier:
    """Parse an ONNX model's metadata and check its graph has one input and one output.

    Raises:
        ModelSpecError: naming the model, if onnxruntime cannot load it, its
            liberica metadata is missing or malformed, or its input width
            differs from the number of features in its spec
    """
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the error is re-raised with the model's name
    options.intra_op_num_threads = 1
    try:
        loaded = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
        reason = " ".join(str(err).split())[:300]
        raise ModelSpecError(f"{name}: not a readable ONNX model ({reason})") from None
    spec = FeatureSpec.from_metadata(dict(loaded.get_modelmeta().custom_metadata_map), name)
    inputs, outputs = loaded.get_inputs(), loaded.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelSpecError(f"{name}: expected one input and one output tensor")
    out_shape = outputs[0].shape
    out_width = out_shape[1] if len(out_shape) == 2 and isinstance(out_shape[1], int) else 1
    if out_width != len(spec.outputs):
        raise ModelSpecError(
            f"{name}: output has {out_width} columns but the spec names {len(spec.outputs)}"
        )
    shape = inputs[0].shape
    width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    if width != len(spec.features):
        raise ModelSpecError(
            f"{name}: input has {width} columns but the spec lists {len(spec.features)} features"
        )
    return Classifier(name, model_bytes, spec)


def check_against(
    classifiers: list[Classifier], feature_set: str, features: tuple[str, ...]
) -> None:
    """Refuse models whose spec does not match the analysis's feature function.

    Also requires one model per fold of one fold rule (for two folds, one per
    eventNumber parity), so that every event is scored by a model that did not
    train on it, and the same outputs from each.

    Raises:
        ModelSpecError: naming the model and the first difference
    """
    for classifier in classifiers:
        spec = classifier.spec
        if spec.feature_set != feature_set:
            raise ModelSpecError(
                f"{classifier.name}: trained on feature set {spec.feature_set!r}, "
                f"the analysis computes {feature_set!r}"
            )
        if spec.features != features:
            missing = [f for f in features if f not in spec.features]
            extra = [f for f in spec.features if f not in features]
            detail = (
                f"missing {missing}, unexpected {extra}" if missing or extra else "order differs"
            )
            raise ModelSpecError(f"{classifier.name}: feature list does not match: {detail}")
    folds = {c.spec.folds for c in classifiers}
    if len(folds) != 1:
        raise ModelSpecError(
            f"the models follow different fold rules ({sorted(folds)} folds): "
            f"{[c.name for c in classifiers]}"
        )
    (k,) = folds
    indices = sorted(c.spec.fold for c in classifiers)
    if indices != list(range(k)):
        what = "eventNumber parity (0 and 1)" if k == 2 else f"fold of eventNumber % {k}"
        raise ModelSpecError(
            f"need exactly one model trained on each {what}, got {indices} from "
            f"{[c.name for c in classifiers]}"
        )
    outputs = {c.spec.outputs for c in classifiers}
    if len(outputs) != 1:
        raise ModelSpecError(f"the fold models disagree on their outputs: {sorted(outputs)}")
