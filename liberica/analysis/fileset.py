"""Filesets: which files make which sample, and the samples' metadata.

A fileset is coffea-style JSON or YAML::

    {sample: {"files": {path: treename}, "metadata": {...}}}

with metadata keys ``process``, ``is_data``, ``xsec`` (pb), ``sumw`` and, for an
alternative sample, ``variation`` (the systematic's name). Where ``xsec`` or
``sumw`` is absent for open-data MC, it is read from the XSection and
SumWeights branches. Every file is opened before processing starts, so a
missing file, tree or branch stops the run with its name, before any chunk runs.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import numpy as np
import uproot
import yaml

from liberica.analysis.definition import AnalysisDefinition
from liberica.processors.histograms import DATA_PROCESS

log = logging.getLogger(__name__)

_BRANCH_METADATA = (("xsec", "XSection"), ("sumw", "SumWeights"))


class FilesetError(ValueError):
    """A fileset that cannot be processed, naming the sample, file, tree or branch."""


def read(path: str | pathlib.Path) -> dict[str, Any]:
    """Read a fileset (JSON or YAML); relative file paths are resolved against its folder."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FilesetError(f"fileset {path} does not exist")
    text = path.read_text()
    try:
        fileset = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise FilesetError(f"{path}: not valid JSON/YAML: {err}") from err
    if not isinstance(fileset, dict) or not fileset:
        raise FilesetError(f"{path}: expected a mapping of sample name to files and metadata")
    resolved = {}
    for sample, entry in fileset.items():
        if not isinstance(entry, dict) or "files" not in entry:
            raise FilesetError(f"{path}: sample '{sample}' needs a 'files' mapping")
        files = entry["files"]
        if isinstance(files, list):
            files = {f: None for f in files}
        if not isinstance(files, dict) or not files:
            raise FilesetError(f"{path}: '{sample}.files' must be a non-empty mapping path -> tree")
        resolved[sample] = {
            "files": {
                str((path.parent / f).resolve() if not pathlib.Path(f).is_absolute() else f): tree
                for f, tree in files.items()
            },
            "metadata": dict(entry.get("metadata") or {}),
        }
    return resolved


def _first_value(tree: uproot.TTree, branch: str, filename: str) -> float:
    if branch not in tree:
        raise FilesetError(
            f"{filename}: branch '{branch}' is missing (needed for the sample's {branch})"
        )
    values = tree[branch].array(library="np", entry_stop=1)
    if len(values) == 0:
        raise FilesetError(f"{filename}: tree is empty, cannot read {branch}")
    return float(values[0])


def _check_sample_metadata(sample: str, metadata: dict, definition: AnalysisDefinition) -> None:
    if "is_data" not in metadata:
        metadata["is_data"] = metadata.get("process") == DATA_PROCESS
    if metadata["is_data"]:
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
        if systematic is None or systematic.kind != "alternative_sample":
            raise FilesetError(
                f"sample '{sample}': metadata.variation '{variation}' is not an "
                f"alternative_sample systematic of analysis '{definition.name}'"
            )


def prepare(
    fileset: dict[str, Any],
    definition: AnalysisDefinition,
    required_branches: tuple[str, ...],
    on_bad_file: str = "fail",
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check every file and complete the metadata; return the fileset for coffea.

    Opens each file, checks its tree and the branches the processor reads, and
    fills ``xsec``/``sumw`` from the XSection/SumWeights branches where absent.
    Each sample also gets ``num_entries`` and ``uuid`` per file, from which
    ``chunks.work_items`` splits it without opening the files again.

    Args:
        fileset: the fileset as read
        definition: the analysis
        required_branches: branches the processor reads
        on_bad_file: ``fail`` raises on a missing, unreadable or incomplete file;
            ``skip`` leaves it out and lists it in ``report["skipped_files"]``
        report: filled with ``events_in_files`` (entries of the files kept) and
            ``skipped_files`` (sample, file, reason, events where known)

    Raises:
        FilesetError: naming the sample and the file, tree or branch at fault
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

    prepared = {}
    for sample, entry in fileset.items():
        metadata = dict(entry["metadata"])
        _check_sample_metadata(sample, metadata, definition)
        files, num_entries, uuids = {}, {}, {}
        from_branches: dict[str, list[float]] = {
            key: []
            for key, _ in _BRANCH_METADATA
            if not metadata["is_data"] and key not in metadata
        }
        for filename, tree_name in entry["files"].items():
            tree_name = tree_name or definition.tree
            if not pathlib.Path(filename).exists() and "://" not in filename:
                bad(sample, filename, f"file {filename} does not exist", None)
                continue
            try:
                root_file = uproot.open(filename)
            except Exception as err:  # uproot raises many types for unreadable files
                bad(sample, filename, f"cannot open {filename}: {err}", None)
                continue
            with root_file:
                if tree_name not in root_file:
                    keys = ", ".join(root_file.keys(cycle=False)) or "none"
                    bad(sample, filename, f"{filename} has no tree '{tree_name}' (keys: {keys})", 0)
                    continue
                tree = root_file[tree_name]
                missing = [b for b in required_branches if b not in tree]
                if missing:
                    bad(
                        sample,
                        filename,
                        f"{filename} tree '{tree_name}' lacks branch(es) {', '.join(missing)}",
                        int(tree.num_entries),
                    )
                    continue
                try:
                    values = {
                        key: _first_value(tree, branch, filename)
                        for key, branch in _BRANCH_METADATA
                        if key in from_branches
                    }
                except FilesetError:
                    raise
                except Exception as err:
                    bad(sample, filename, f"cannot read {filename}: {err}", int(tree.num_entries))
                    continue
                for key, value in values.items():
                    from_branches[key].append(value)
                report["events_in_files"] += int(tree.num_entries)
                num_entries[filename] = int(tree.num_entries)
                uuids[filename] = root_file.file.fUUID
            files[filename] = tree_name
        if not files:
            if on_bad_file == "skip":
                log.warning("sample %s: every file skipped", sample)
                continue
            raise FilesetError(f"sample '{sample}': no files")
        for key, branch in _BRANCH_METADATA:
            per_file = from_branches.get(key)
            if per_file:
                if not np.allclose(per_file, per_file[0], rtol=1e-6):
                    raise FilesetError(
                        f"sample '{sample}': the files disagree on {branch} ({per_file}); "
                        f"set metadata.{key} explicitly"
                    )
                metadata[key] = per_file[0]
                log.info("sample %s: %s = %g read from branch %s", sample, key, per_file[0], branch)
        if not metadata["is_data"] and float(metadata["sumw"]) == 0.0:
            raise FilesetError(f"sample '{sample}': metadata.sumw is zero")
        prepared[sample] = {
            "files": files,
            "metadata": metadata,
            "num_entries": num_entries,
            "uuid": uuids,
        }
    return prepared


def data_metadata(fileset: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the data samples merged (e.g. ``lumi_fb``, ``mu_injected``)."""
    merged: dict[str, Any] = {}
    for entry in fileset.values():
        if entry["metadata"].get("is_data"):
            merged.update(entry["metadata"])
    return merged
