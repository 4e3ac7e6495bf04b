"""The lhco studies behind issue 26's numbers: the benchmark hunt, background-only hunts,
noise features, and the input format's rate against a pure read.

    python benchmarks/lhco_hunt.py benchmark [--events 1000000] [--signal-events 1000]
                                             [--reference-trainers trees,mlp]
    python benchmarks/lhco_hunt.py background [--seeds 5] [--events 1000000]
    python benchmarks/lhco_hunt.py noise [--seeds 3] [--noise-features 10] [--eps-s 0.5]
    python benchmarks/lhco_hunt.py rate [--events 1000000]

- ``benchmark``: the R&D-like sample (1M QCD dijets, 1000 W' -> X Y at 3.5 TeV injected:
  about 700 in 3.3-3.7 TeV), processed and hunted with the definition's settings; prints
  every window's local significances, the global significance, the SIC peaks of CWoLa,
  the supervised and the idealized classifiers with their eps_B floor, and the timings.
- ``background``: the whole hunt on background-only samples of different seeds: each
  hunt's global p-value, and the windows' local significances against N(0, 1).
- ``noise``: the idealized tree ensemble's SIC at a fixed signal efficiency with and
  without standard-normal noise features, averaged over seeds, on the benchmark sample.
- ``rate``: the processing rate of the format (cached conversion) against reading the
  same HDF5 files with pandas, and the first conversion's cost.

Samples are generated once under ``--cache`` (default ``liberica-data/``). Everything
prints JSON lines at the end for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import time

import numpy as np

import liberica
from liberica.orchestration.outputs import read_features


def _sample(cache: pathlib.Path, events: int, signal_events: int, seed: int) -> pathlib.Path:
    folder = cache / f"lhco-bench-{events}-{signal_events}-seed{seed}"
    fileset = folder / "fileset.json"
    if not fileset.is_file():
        liberica.generate("lhco", folder, events=events, seed=seed, signal_events=signal_events)
    return fileset


def _process(fileset: pathlib.Path, out: pathlib.Path) -> tuple[np.ndarray, dict]:
    run = liberica.process("lhco", fileset, out=out, progress=False)
    return read_features(out / "features.parquet"), run.metrics


def _windows(result) -> list[dict]:
    rows = []
    for hunt in result.windows:
        rows.append(
            {
                "signal_region": [round(x, 1) for x in hunt.window.signal_region],
                "local_z": [round(float(z), 3) for z in hunt.local_significances],
                "pass_fraction_pulls": [
                    round(float(cell.pass_fraction_pull), 3) for cell in hunt.efficiencies
                ],
            }
        )
    return rows


def benchmark(args: argparse.Namespace) -> dict:
    fileset = _sample(args.cache, args.events, args.signal_events, args.seed)
    out = args.cache / "lhco-bench-run"
    started = time.perf_counter()
    table, metrics = _process(fileset, out)
    processed = time.perf_counter() - started
    trainers = tuple(args.reference_trainers.split(","))
    started = time.perf_counter()
    result = liberica.cwola(out, "lhco", seed=args.seed, reference_trainers=trainers)
    hunted = time.perf_counter() - started
    liberica.write_cwola(result, out / "cwola")
    best = result.global_result
    return {
        "study": "benchmark",
        "events": args.events,
        "signal_events": args.signal_events,
        "process_s": round(processed, 1),
        "rate_per_core": metrics.get("events_per_second_per_core"),
        "hunt_s": round(hunted, 1),
        "timings": {k: round(v, 1) for k, v in result.timings.items()},
        "windows": _windows(result),
        "best_window": list(result.windows[best.best_window].window.signal_region),
        "best_efficiency": best.best_efficiency,
        "local_z": round(best.local_significance, 2),
        "global_z": best.global_label,
        "global_p": best.global_p,
        "sic": {
            name: {
                "peak": round(curve.peak_sic, 2),
                "at_eps_s": round(curve.peak_eps_s, 3),
                "eps_b_floor": curve.eps_b_floor,
            }
            for name, curve in result.sic.items()
        },
    }


def background(args: argparse.Namespace) -> dict:
    from scipy import stats

    hunts, all_z = [], []
    for seed in range(100, 100 + args.seeds):
        fileset = _sample(args.cache, args.events, 0, seed)
        out = args.cache / f"lhco-background-run-{seed}"
        _process(fileset, out)
        result = liberica.cwola(out, "lhco", seed=seed, references=False)
        z = np.concatenate([h.local_significances for h in result.windows])
        all_z.append(z[np.isfinite(z)])
        pulls = [c.pass_fraction_pull for h in result.windows for c in h.efficiencies]
        hunts.append(
            {
                "seed": seed,
                "largest_local_z": round(result.global_result.local_significance, 2),
                "global_p": result.global_result.global_p,
                "global_z": result.global_result.global_label,
                "max_abs_pass_fraction_pull": round(float(np.nanmax(np.abs(pulls))), 2),
                "windows": _windows(result),
            }
        )
        shutil.rmtree(out, ignore_errors=True)
    z = np.concatenate(all_z)
    return {
        "study": "background",
        "events": args.events,
        "hunts": hunts,
        "local_z": {
            "cells": len(z),
            "mean": round(float(np.mean(z)), 3),
            "std": round(float(np.std(z, ddof=1)), 3),
            "max": round(float(np.max(z)), 2),
            "min": round(float(np.min(z)), 2),
            "ks_p_value_vs_normal": round(float(stats.kstest(z, "norm").pvalue), 3),
        },
    }


def noise(args: argparse.Namespace) -> dict:
    from liberica.models.sic import sic_at
    from liberica.orchestration.cwola import reference_curves

    fileset = _sample(args.cache, args.events, args.signal_events, args.seed)
    out = args.cache / "lhco-bench-run"
    if not (out / "features.parquet").is_file():
        _process(fileset, out)
    table = read_features(out / "features.parquet")
    definition = liberica.load_definition("lhco")
    values: dict[int, list[float]] = {0: [], args.noise_features: []}
    peaks: dict[int, list[float]] = {0: [], args.noise_features: []}
    for seed in range(args.seeds):
        for n in values:
            curve = reference_curves(
                table,
                definition,
                methods=("idealized",),
                trainers=("trees",),
                seed=seed,
                noise_features=n,
            )["idealized_trees"]
            values[n].append(sic_at(curve, args.eps_s))
            peaks[n].append(curve.peak_sic)
    mean = {n: float(np.mean(v)) for n, v in values.items()}
    return {
        "study": "noise",
        "eps_s": args.eps_s,
        "sic_at_eps_s": {str(n): [round(x, 2) for x in v] for n, v in values.items()},
        "peak_sic": {str(n): [round(x, 2) for x in v] for n, v in peaks.items()},
        "ratio_of_means": round(mean[args.noise_features] / mean[0], 3),
    }


def rate(args: argparse.Namespace) -> dict:
    import pandas as pd

    fileset = _sample(args.cache, args.events, args.signal_events, args.seed)
    entries = json.loads(fileset.read_text())
    files = [pathlib.Path(f) for s in entries.values() for f in s["files"]]
    started = time.perf_counter()
    rows = sum(len(pd.read_hdf(f, "df")) for f in files)
    pure = time.perf_counter() - started
    for cached in {f.parent / ".liberica-parquet" for f in files}:
        shutil.rmtree(cached, ignore_errors=True)
    out = args.cache / "lhco-rate-run"
    started = time.perf_counter()
    liberica.process("lhco", fileset, out=out, executor="iterative", progress=False)
    first = time.perf_counter() - started
    started = time.perf_counter()
    run = liberica.process("lhco", fileset, out=out, executor="iterative", progress=False)
    second = time.perf_counter() - started
    return {
        "study": "rate",
        "rows": rows,
        "pure_read_rows_per_s": round(rows / pure),
        "process_first_s": round(first, 1),
        "process_cached_s": round(second, 1),
        "processing_rate_per_core": run.metrics.get("events_per_second_per_core"),
        "process_cached_rows_per_s_whole_call": round(rows / second),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", choices=("benchmark", "background", "noise", "rate"))
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--signal-events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--reference-trainers", default="trees,mlp")
    parser.add_argument("--noise-features", type=int, default=10)
    parser.add_argument("--eps-s", type=float, default=0.5)
    args = parser.parse_args()
    if args.seeds is None:
        args.seeds = 5 if args.study == "background" else 3
    study = {"benchmark": benchmark, "background": background, "noise": noise, "rate": rate}
    print(json.dumps(study[args.study](args)))


if __name__ == "__main__":
    main()
