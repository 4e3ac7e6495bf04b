"""ONNX inference rate of the shipped hzz4l classifier, and its share of chunk time.

(1) rows/s against batch size for the CPU execution provider (1 and 2 threads)
    and, where onnxruntime offers it, the CUDA execution provider;
(2) the CUDA-vs-CPU check on one real chunk: scores on the same features agree
    within float tolerance (where a GPU is present);
(3) the fraction of processor chunk time spent building features plus running
    the classifier, iterative on one core, with and without systematics, on the
    embedded default sample.

    python benchmarks/onnx_inference.py [--cache liberica-data] [--skip-chunks]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import time

import numpy as np
import onnxruntime as ort

from liberica.analysis.hzz4l.features import FEATURE_NAMES
from liberica.models.loading import shipped_model

BATCHES = (1, 16, 256, 4096, 65536, 262144)


def rows_per_second(session: ort.InferenceSession, batch: int, budget_s: float = 1.0) -> float:
    """Rows/s of repeated ``run`` calls on one batch, for about ``budget_s`` seconds."""
    rng = np.random.default_rng(0)
    features = rng.normal(60, 30, size=(batch, len(FEATURE_NAMES))).astype(np.float32)
    session.run(None, {"features": features})  # warm-up (CUDA: allocation, kernel choice)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget_s or calls < 3:
        session.run(None, {"features": features})
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def make_session(provider: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = (
        [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    )
    session = ort.InferenceSession(shipped_model("hzz4l_fold0.onnx"), options, providers=providers)
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} requested, {session.get_providers()[0]} given")
    return session


def chunk_fractions(cache: pathlib.Path) -> list[tuple[str, dict]]:
    from liberica.analysis.hzz4l.generator import cached_hzz4l
    from liberica.orchestration.pipeline import run_processor

    sample = cached_hzz4l(cache / "hzz4l-2000000-seed42")
    rows = []
    for systematics in (False, True):
        run = run_processor(
            "hzz4l",
            sample.fileset_path,
            executor="iterative",
            systematics=systematics,
            status=False,
        )
        rows.append(("all systematics" if systematics else "nominal only", run.metrics))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    parser.add_argument("--skip-chunks", action="store_true", help="only the batch scan")
    args = parser.parse_args()
    available = ort.get_available_providers()
    print(
        f"# {platform.node()} {platform.machine()}, onnxruntime {ort.__version__}, "
        f"providers {available}"
    )
    configs = [("CPUExecutionProvider", 1), ("CPUExecutionProvider", 2)]
    if "CUDAExecutionProvider" in available:
        configs.append(("CUDAExecutionProvider", 1))
    print(
        "| batch | "
        + " | ".join(f"{p.replace('ExecutionProvider', '')} x{t} rows/s" for p, t in configs)
        + " |"
    )
    print("| ---: |" + " ---: |" * len(configs))
    sessions = [make_session(p, t) for p, t in configs]
    for batch in BATCHES:
        rates = [rows_per_second(s, batch) for s in sessions]
        print(f"| {batch:,} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
    if "CUDAExecutionProvider" in available:
        rng = np.random.default_rng(1)
        features = rng.normal(60, 30, size=(200_000, len(FEATURE_NAMES))).astype(np.float32)
        cpu = sessions[0].run(None, {"features": features})[0]
        gpu = sessions[-1].run(None, {"features": features})[0]
        print(f"CUDA vs CPU on 200k rows: max |diff| = {np.max(np.abs(cpu - gpu)):.2e}")
    else:
        print("no CUDA execution provider on this machine: CPU only")
    if args.skip_chunks:
        return
    print(
        "\n| processor, iterative x1 | chunk s | features s | inference s | rows scored "
        "| (features + inference) / chunk time |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, metrics in chunk_fractions(args.cache):
        c = metrics["classifier"]
        print(
            f"| {label} | {metrics['chunk_time_sum_s']:.2f} | {c['features_s']:.2f} | "
            f"{c['inference_s']:.2f} | {c['rows_scored']:,} | "
            f"{100 * c['fraction_of_chunk_time']:.1f}% |"
        )


if __name__ == "__main__":
    main()
