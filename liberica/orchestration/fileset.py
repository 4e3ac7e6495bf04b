"""Filesets: which files make which sample, and the samples' metadata.

A fileset is coffea-style JSON or YAML::

    {sample: {"files": {path: treename}, "metadata": {...}}}

with metadata keys ``process``, ``is_data`` (a boolean), ``xsec`` (pb), ``sumw``
and, for an alternative sample, ``variation`` (the systematic's name); other
metadata keys are kept as they are. A fileset is validated against
``schemas/fileset.json`` as it is read, before any file is opened, and every
error names the sample and key. Where the input format normalizes MC by
``xsec`` and ``sumw`` and the metadata lacks them, they are read from the
files' branches (open data: XSection and SumWeights) and checked the same way:
``xsec > 0``, ``sumw != 0``, and a negative ``sumw`` only for a process whose
definition allows it. Every file is opened before processing starts, so a
missing, unreadable or duplicated file, tree or branch stops the run with its
name before any chunk runs. A file may appear once in a fileset: by path
(symlinks followed) and by ROOT file UUID. A format that opens its files
itself (``InputFormat.open_file``: a table through its parquet conversion)
is asked instead of uproot, with the file's value (an HDF5 key where ROOT has
the tree name), and identifies a file by its content.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import uuid
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import uproot
import yaml

from liberica.core.definition import AnalysisDefinition
from liberica.core.errors import LibericaError
from liberica.core.schema_errors import first_error, locate
from liberica.processors.formats import FORMATS, FormatFileError, InputFormat
from liberica.processors.histograms import DATA_PROCESS

log = logging.getLogger(__name__)


class FilesetError(LibericaError, ValueError):
    """A fileset that cannot be processed, naming the sample, file, tree or branch."""


def _schema() -> dict:
    text = resources.files("liberica.orchestration").joinpath("schemas/fileset.json").read_text()
    return json.loads(text)


def _identity(filename: str) -> str:
    """What makes two entries the same file: the real path (symlinks followed), or the URL."""
    return filename if "://" in filename else os.path.realpath(filename)


def validate(fileset: Any, source: str = "<fileset>") -> None:
    """Check a parsed fileset against ``schemas/fileset.json``.

    Raises:
        FilesetError: ``SOURCE: invalid fileset at 'SAMPLE.metadata.KEY': reason``
    """
    if not isinstance(fileset, dict) or not fileset:
        raise FilesetError(f"{source}: expected a mapping of sample name to files and metadata")
    error = first_error(_schema(), fileset)
    if error is not None:
        key, reason = locate(error)
        raise FilesetError(f"{source}: invalid fileset at '{key}': {reason}")


def read(path: str | pathlib.Path) -> dict[str, Any]:
    """Read and validate a fileset (JSON or YAML); relative paths resolve against its folder.

    Raises:
        FilesetError: for a missing or unparsable file, a schema violation
            (naming the sample and key), or a file listed twice
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FilesetError(f"fileset {path} does not exist")
    text = path.read_text()
    try:
        fileset = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise FilesetError(f"{path}: not valid JSON/YAML: {err}") from err
    validate(fileset, str(path))
    resolved = {}
    seen: dict[str, tuple[str, str]] = {}
    for sample, entry in fileset.items():
        files = entry["files"]
        if isinstance(files, list):
            if len(set(files)) != len(files):
                twice = next(f for f in files if files.count(f) > 1)
                raise FilesetError(f"{path}: sample '{sample}' lists {twice} twice")
            files = {f: None for f in files}
        kept = {}
        for name, tree in files.items():
            filename = (
                name
                if "://" in name or pathlib.Path(name).is_absolute()
                else str((path.parent / name).resolve())
            )
            identity = _identity(filename)
            if identity in seen:
                other_sample, other = seen[identity]
                raise FilesetError(
                    f"{path}: {filename} of sample '{sample}' is the same file as {other} of "
                    f"sample '{other_sample}' ({identity}); a file may be listed once"
                )
            seen[identity] = (sample, filename)
            kept[filename] = tree
        resolved[sample] = {"files": kept, "metadata": dict(entry.get("metadata") or {})}
    return resolved


def _check_normalization(
    sample: str, key: str, value: float, where: str, definition: AnalysisDefinition, process: str
) -> None:
    """``xsec`` finite and > 0; ``sumw`` finite and != 0, negative only where the process allows."""
    if not math.isfinite(value):
        raise FilesetError(f"sample '{sample}': {where} is {value}, not a finite number")
    if key == "xsec" and value <= 0:
        raise FilesetError(f"sample '{sample}': {where} is {value:g}; a cross-section must be > 0")
    if key == "sumw":
        if value == 0:
            raise FilesetError(f"sample '{sample}': {where} is zero")
        if value < 0:
            if not definition.processes[process].allow_negative_sumw:
                raise FilesetError(
                    f"sample '{sample}': {where} is {value:g}, negative: it flips the sign of "
                    f"every {process} yield; set processes.{process}.allow_negative_sumw: true "
                    "in the analysis definition if that is intended"
                )
            log.warning(
                "sample %s: %s is negative (%g), allowed for %s", sample, where, value, process
            )


def _check_sample_metadata(
    sample: str, metadata: dict, definition: AnalysisDefinition, input_format: InputFormat
) -> None:
    if "is_data" not in metadata:
        metadata["is_data"] = metadata.get("process") == DATA_PROCESS
    if metadata["is_data"]:
        if metadata.get("process", DATA_PROCESS) != DATA_PROCESS:
            raise FilesetError(
                f"sample '{sample}': metadata.is_data is true but metadata.process is "
                f"'{metadata['process']}'"
            )
        if "variation" in metadata:
            raise FilesetError(
                f"sample '{sample}': metadata.variation is set on data (only MC samples vary)"
            )
        metadata["process"] = DATA_PROCESS
        return
    process = metadata.get("process")
    if process is None:
        raise FilesetError(f"sample '{sample}': metadata.process is missing")
    if process not in definition.processes:
        raise FilesetError(
            f"sample '{sample}': metadata.process '{process}' is not a process of analysis "
            f"'{definition.name}' (processes: {', '.join(definition.processes)})"
        )
    variation = metadata.get("variation")
    if variation is not None:
        systematic = definition.systematics.get(variation)
        if systematic is None or systematic.category != "sample":
            raise FilesetError(
                f"sample '{sample}': metadata.variation '{variation}' is not a sample "
                f"systematic (alternative_sample) of analysis '{definition.name}'"
            )
        if systematic.options["process"] != process:
            raise FilesetError(
                f"sample '{sample}': metadata.variation '{variation}' is an alternative sample "
                f"of process '{systematic.options['process']}', not of '{process}'"
            )
    # the keys that normalize MC in any format, refused where this format does not use them
    for key in sorted({k for f in FORMATS.values() for k in f.normalization_keys}):
        if key in metadata and key not in input_format.normalization_keys:
            raise FilesetError(
                f"sample '{sample}': metadata.{key} is given, but {input_format.name} MC does "
                f"not use it: its weights are already normalized"
            )
    for key in input_format.normalization_keys:
        if key in metadata:
            value = float(metadata[key])
            _check_normalization(sample, key, value, f"metadata.{key}", definition, process)
        elif key not in input_format.normalization_branches:
            raise FilesetError(
                f"sample '{sample}': metadata.{key} is missing ({input_format.name} MC needs it)"
            )


def _read_first_values(tree: uproot.TTree, branches: dict[str, str]) -> dict[str, float]:
    """The first entry of each branch (``{key: branch}``), which the files repeat on every entry."""
    values = {}
    for key, branch in branches.items():
        array = tree[branch].array(library="np", entry_stop=1)
        if len(array) == 0:
            raise ValueError(f"the tree is empty, it holds no {branch}")
        values[key] = float(array[0])
    return values


def prepare(
    fileset: dict[str, Any],
    definition: AnalysisDefinition,
    required_branches: tuple[str, ...],
    input_format: InputFormat,
    on_bad_file: str = "fail",
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check every file and complete the metadata; return the fileset for coffea.

    Checks each sample's metadata against the analysis, then opens each file,
    checks its tree and the branches the processor reads, and fills the
    format's normalization keys (``xsec``/``sumw``) from its branches where the
    metadata lacks them. Each sample also gets ``num_entries`` and ``uuid`` per
    file, from which ``chunks.work_items`` splits it without opening the files
    again.

    Args:
        fileset: the fileset as read (:func:`read`)
        definition: the analysis
        required_branches: branches the processor reads
        input_format: the input format (how MC is normalized)
        on_bad_file: ``fail`` raises on a missing, unreadable or incomplete file;
            ``skip`` leaves it out and lists it in ``report["skipped_files"]``.
            Metadata errors and duplicated files fail under either.
        report: filled with ``events_in_files`` (entries of the files kept) and
            ``skipped_files`` (sample, file, reason, events where known)

    Raises:
        FilesetError: naming the sample and the file, tree, branch or key at fault
    """
    report = report if report is not None else {}
    report.setdefault("events_in_files", 0)
    report.setdefault("skipped_files", [])

    def bad(sample: str, filename: str, reason: str, events: int | None) -> None:
        if on_bad_file != "skip":
            raise FilesetError(f"sample '{sample}': {reason}")
        log.warning("skipping %s of sample %s: %s", filename, sample, reason)
        report["skipped_files"].append(
            {"sample": sample, "file": filename, "reason": reason, "events": events}
        )

    metadata_of = {}
    for sample, entry in fileset.items():
        metadata_of[sample] = dict(entry["metadata"])
        _check_sample_metadata(sample, metadata_of[sample], definition, input_format)

    prepared = {}
    uuid_seen: dict[bytes, tuple[str, str]] = {}
    for sample, entry in fileset.items():
        metadata = metadata_of[sample]
        files, num_entries, uuids = {}, {}, {}
        from_branches = {
            key: branch
            for key, branch in input_format.normalization_branches.items()
            if not metadata["is_data"] and key not in metadata
        }
        branch_values: dict[str, list[float]] = {key: [] for key in from_branches}
        for filename, tree_name in entry["files"].items():
            tree_name = tree_name or definition.tree
            if not pathlib.Path(filename).exists() and "://" not in filename:
                bad(sample, filename, f"file {filename} does not exist", None)
                continue
            if input_format.open_file is not None:
                opened = _open_converted(filename, tree_name, required_branches, input_format)
            else:
                opened = _open_root(filename, tree_name, required_branches, from_branches)
            if opened.reason is not None:
                bad(sample, filename, opened.reason, opened.entries)
                continue
            entries, file_uuid = opened.entries, opened.uuid
            if file_uuid in uuid_seen:
                other_sample, other = uuid_seen[file_uuid]
                same = (
                    f"the same ROOT file (UUID {_uuid_text(file_uuid)})"
                    if input_format.open_file is None
                    else f"the same file (content digest {bytes(file_uuid).hex()})"
                )
                raise FilesetError(
                    f"sample '{sample}': {filename} and {other} of sample '{other_sample}' are "
                    f"{same}; a file may be listed once"
                )
            uuid_seen[file_uuid] = (sample, filename)
            for key, value in opened.values.items():
                branch_values[key].append(value)
            report["events_in_files"] += entries
            num_entries[opened.path] = entries
            uuids[opened.path] = file_uuid
            files[opened.path] = tree_name
        if not files:
            if on_bad_file == "skip":
                log.warning("sample %s: every file skipped", sample)
                continue
            raise FilesetError(f"sample '{sample}': no files")
        for key, per_file in branch_values.items():
            branch = from_branches[key]
            if not np.allclose(per_file, per_file[0], rtol=1e-6, equal_nan=True):
                raise FilesetError(
                    f"sample '{sample}': the files disagree on {branch} ({per_file}); "
                    f"set metadata.{key} explicitly"
                )
            _check_normalization(
                sample, key, per_file[0], f"branch {branch}", definition, metadata["process"]
            )
            metadata[key] = per_file[0]
            log.info("sample %s: %s = %g read from branch %s", sample, key, per_file[0], branch)
        prepared[sample] = {
            "files": files,
            "metadata": metadata,
            "num_entries": num_entries,
            "uuid": uuids,
        }
    return prepared


class _Opened(NamedTuple):
    """One file as the checks found it: ``reason`` is None where it can be processed."""

    path: str
    entries: int | None
    uuid: bytes
    values: dict[str, float]
    reason: str | None = None


def _open_root(
    filename: str, tree_name: str, required: tuple[str, ...], from_branches: dict[str, str]
) -> _Opened:
    """Open a ROOT file: its tree, the branches the processor reads, the normalization values."""
    try:
        root_file = uproot.open(filename)
    except Exception as err:  # uproot raises many types for unreadable files
        return _Opened(filename, None, b"", {}, f"cannot open {filename}: {_reason(err)}")
    with root_file:
        try:
            has_tree = tree_name in root_file
            keys = ", ".join(root_file.keys(cycle=False)) or "none"
            tree = root_file[tree_name] if has_tree else None
            entries = int(tree.num_entries) if has_tree else 0
            file_uuid = root_file.file.fUUID
        except Exception as err:  # a header too short for its directory or tree
            return _Opened(filename, None, b"", {}, f"cannot read {filename}: {_reason(err)}")
        if not has_tree:
            return _Opened(
                filename, 0, b"", {}, f"{filename} has no tree '{tree_name}' (keys: {keys})"
            )
        missing = [b for b in (*required, *from_branches.values()) if b not in tree]
        if missing:
            reason = f"{filename} tree '{tree_name}' lacks branch(es) {', '.join(missing)}"
            return _Opened(filename, entries, b"", {}, reason)
        try:
            values = _read_first_values(tree, from_branches)
        except Exception as err:
            return _Opened(filename, entries, b"", {}, f"cannot read {filename}: {_reason(err)}")
    return _Opened(filename, entries, file_uuid, values)


def _open_converted(
    filename: str, key: str | None, required: tuple[str, ...], input_format: InputFormat
) -> _Opened:
    """A file the format opens itself (a table, through its parquet conversion); ``key``
    is the fileset's value for it (an HDF5 key) or the definition's tree."""
    try:
        info = input_format.open_file(filename, required, key)
    except FormatFileError as err:
        return _Opened(filename, None, b"", {}, str(err))
    except OSError as err:
        return _Opened(filename, None, b"", {}, f"cannot read {filename}: {_reason(err)}")
    missing = [c for c in required if c not in info.columns]
    if missing:
        reason = f"{filename} lacks column(s) {', '.join(missing)}"
        return _Opened(info.path, info.entries, b"", {}, reason)
    return _Opened(info.path, info.entries, info.uuid, {})


def _uuid_text(raw: bytes) -> str:
    """A ROOT file's 16-byte fUUID as the usual text form."""
    return str(uuid.UUID(bytes=bytes(raw))) if len(raw) == 16 else repr(raw)


def _reason(err: BaseException) -> str:
    """An exception as one short line: its type and message."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


def luminosity(
    fileset: dict[str, Any],
    requested: float | None,
    default: float,
    input_format: InputFormat,
) -> float:
    """The luminosity (fb^-1) MC is normalized to, refusing any contradiction first.

    The data samples' ``lumi_fb`` is the luminosity of the data the fit compares MC
    with. A requested luminosity (``--lumi``) that differs from it, or data samples
    that state different ones, would normalize MC to another luminosity than the
    data's and bias every yield, mu first of all; a format whose MC weights are
    already normalized (no ``normalization_keys``) cannot be rescaled at all.

    Args:
        fileset: the fileset as read (:func:`read`)
        requested: the luminosity asked for, or None
        default: the analysis definition's, where neither is given
        input_format: the input format (whether its MC is normalized by luminosity)

    Raises:
        FilesetError: naming the values and the samples that disagree
    """
    stated: dict[str, float] = {}
    for sample, entry in fileset.items():
        metadata = entry["metadata"]
        is_data = metadata.get("is_data", metadata.get("process") == DATA_PROCESS)
        if not is_data or "lumi_fb" not in metadata:
            continue
        value = float(metadata["lumi_fb"])
        if not math.isfinite(value) or value <= 0:
            raise FilesetError(
                f"sample '{sample}': metadata.lumi_fb is {value}, not a finite number > 0"
            )
        stated[sample] = value
    if requested is not None:
        for sample, value in stated.items():
            if not math.isclose(requested, value, rel_tol=1e-9):
                raise FilesetError(
                    f"the luminosity asked for (--lumi {requested:g}) contradicts sample "
                    f"'{sample}': its metadata.lumi_fb is {value:g}; MC would be normalized to "
                    "another luminosity than the data's (drop --lumi, or make the data at "
                    f"{requested:g} fb^-1)"
                )
        if not stated and not input_format.normalization_keys:
            raise FilesetError(
                f"--lumi {requested:g} cannot rescale {input_format.name} MC: its weights are "
                "used as given; state the tables' luminosity as the data sample's "
                "metadata.lumi_fb instead"
            )
        return float(requested)
    ordered = sorted(stated.items(), key=lambda item: item[1])
    if ordered and not math.isclose(ordered[0][1], ordered[-1][1], rel_tol=1e-9):
        (first, low), (second, high) = ordered[0], ordered[-1]
        raise FilesetError(
            f"data samples '{first}' and '{second}' state different luminosities "
            f"(metadata.lumi_fb {low:g} and {high:g}): MC is normalized to one; state the "
            "luminosity of all the data (their sum) in each"
        )
    return next(iter(stated.values()), float(default))


def data_metadata(fileset: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the data samples merged (e.g. ``lumi_fb``, ``mu_injected``)."""
    merged: dict[str, Any] = {}
    for entry in fileset.values():
        if entry["metadata"].get("is_data"):
            merged.update(entry["metadata"])
    return merged
