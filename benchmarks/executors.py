"""The default hzz4l job on every executor, in one run on the same files.

iterative on 1 core against futures, dask-local and dask-gateway on 2 workers
(a local dask-gateway server is started for the purpose). Reports wall time,
events/s, events/s per core, the speed-up over iterative and the cluster
start-up time; then checks that every executor's histograms equal iterative's.
Also runs dask-local with the nanny's MALLOC_TRIM_THRESHOLD_=65536 put back
(liberica clears it), to show what clearing it buys.

    python benchmarks/executors.py [--cache liberica-data]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import tempfile

import numpy as np

from liberica.analysis.hzz4l.generator import cached_hzz4l
from liberica.orchestration.clusters import Profile
from liberica.orchestration.local_gateway import local_gateway
from liberica.orchestration.pipeline import run_processor


def _same(run, reference) -> bool:
    for region, h in reference.histograms.items():
        if not np.array_equal(
            run.counts[region].values(flow=True), reference.counts[region].values(flow=True)
        ):
            return False
        if not np.allclose(
            run.histograms[region].values(flow=True), h.values(flow=True), rtol=1e-12, atol=0
        ):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("liberica-data"))
    args = parser.parse_args()
    sample = cached_hzz4l(args.cache / "hzz4l-2000000-seed42")
    fileset = sample.fileset_path
    password = "benchmark"
    os.environ["LIBERICA_BENCH_GATEWAY_PASSWORD"] = password
    runs = []
    runs.append(
        ("iterative x1", run_processor("hzz4l", fileset, executor="iterative", status=False))
    )
    runs.append(
        ("futures x2", run_processor("hzz4l", fileset, executor="futures", workers=2, status=False))
    )
    local = Profile("dask-local", "dask-local", {"workers": 2, "threads_per_worker": 1}, retries=3)
    runs.append(("dask-local x2", run_processor("hzz4l", fileset, profile=local, status=False)))
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # inherited by the workers; wins over config
    runs.append(
        (
            "dask-local x2, nanny trim threshold 65536",
            run_processor("hzz4l", fileset, profile=local, status=False),
        )
    )
    del os.environ["MALLOC_TRIM_THRESHOLD_"]
    with tempfile.TemporaryDirectory() as folder:
        with local_gateway(pathlib.Path(folder), password) as gateway:
            profile = Profile(
                "dask-gateway",
                "dask-gateway",
                {
                    "address": gateway.address,
                    "proxy_address": gateway.proxy_address,
                    "auth": {
                        "type": "basic",
                        "username": "bench",
                        "password_env": "LIBERICA_BENCH_GATEWAY_PASSWORD",
                    },
                    "worker_cores": 1,
                    "worker_memory": 3,
                    "adaptive": {"minimum": 2, "maximum": 2},
                },
                retries=3,
            )
            runs.append(
                ("dask-gateway x2", run_processor("hzz4l", fileset, profile=profile, status=False))
            )
    reference = runs[0][1]
    base = reference.metrics["events_per_second"]
    print(
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores; "
        f"{reference.metrics['events_processed']:,} events, {reference.metrics['chunks']} chunks"
    )
    print(
        "| executor | cores | wall s | events/s | events/s per core | vs iterative "
        "| cluster start s | histograms equal |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, run in runs:
        m = run.metrics
        print(
            f"| {label} | {m['cores']} | {m['processing_wall_s']:.2f} | {m['events_per_second']:,.0f} "
            f"| {m['events_per_second_per_core']:,.0f} | {m['events_per_second'] / base:.2f}x "
            f"| {m['cluster_start_s']:.2f} | {_same(run, reference)} |"
        )


if __name__ == "__main__":
    main()
