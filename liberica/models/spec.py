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

SPEC_VERSION = "1"


class ModelSpecError(ValueError):
    """A model's metadata is missing, malformed, or does not match the analysis."""


class FeatureSpec(NamedTuple):
    """What a classifier expects and means.

    Attributes:
        feature_set: identifier of the feature function (e.g. ``<analysis>-v1``)
        features: feature names in input column order
        train_parity: eventNumber % 2 of the events the model trained on
        output: meaning of the single output column
        preprocessing: how inputs are transformed (inside the graph)
        training_sample: description of the training data
        version: the spec format version
    """

    feature_set: str
    features: tuple[str, ...]
    train_parity: int
    output: str
    preprocessing: str
    training_sample: str
    version: str = SPEC_VERSION

    def to_metadata(self) -> dict[str, str]:
        """The spec as ONNX metadata_props (string values)."""
        return {
            "liberica.feature_set": self.feature_set,
            "liberica.features": json.dumps(list(self.features)),
            "liberica.fold_rule": json.dumps(
                {
                    "key": "eventNumber % 2",
                    "train_parity": self.train_parity,
                    "evaluates_parity": 1 - self.train_parity,
                }
            ),
            "liberica.output": self.output,
            "liberica.preprocessing": self.preprocessing,
            "liberica.training_sample": self.training_sample,
            "liberica.spec_version": self.version,
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str) -> FeatureSpec:
        """Read a spec back from ONNX metadata_props.

        Raises:
            ModelSpecError: naming the model and the missing or malformed key
        """
        try:
            fold = json.loads(metadata["liberica.fold_rule"])
            return cls(
                feature_set=metadata["liberica.feature_set"],
                features=tuple(json.loads(metadata["liberica.features"])),
                train_parity=int(fold["train_parity"]),
                output=metadata["liberica.output"],
                preprocessing=metadata["liberica.preprocessing"],
                training_sample=metadata["liberica.training_sample"],
                version=metadata["liberica.spec_version"],
            )
        except KeyError as err:
            raise ModelSpecError(f"{source}: ONNX metadata lacks {err.args[0]!r}") from None
        except (ValueError, TypeError) as err:
            raise ModelSpecError(f"{source}: malformed liberica metadata ({err})") from None


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
    inputs = loaded.get_inputs()
    if len(inputs) != 1 or len(loaded.get_outputs()) != 1:
        raise ModelSpecError(f"{name}: expected one input and one output tensor")
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

    Also requires one model per eventNumber parity, so that every event is
    scored by a model that did not train on it.

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
    parities = sorted(c.spec.train_parity for c in classifiers)
    if parities != [0, 1]:
        raise ModelSpecError(
            "need exactly one model trained on each eventNumber parity (0 and 1), got "
            f"{parities} from {[c.name for c in classifiers]}"
        )
