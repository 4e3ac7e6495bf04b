"""Why two workers are not twice one: a chunk processed alone, then by two processes at once.

Each process loads one chunk of the performance benchmark's sample, processes
it once to warm up, then times ``HZZ4lProcessor.process`` ``--repeat`` times;
then the same for reading the chunk's branches as the pipeline reads them.
Run in one process, then in two started together (a barrier), the per-chunk
time tells how much two busy cores slow each other down on this machine;
``2 / (together / alone)`` bounds the speedup of any two-worker executor on
this work. Two numpy kernels, a memory stream and a random gather, do the same
for reference: they need no liberica at all.

    python benchmarks/two_workers.py [--sample ggH125_ZZ4lep_0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import time

import numpy as np

DEFAULT_FILESET = pathlib.Path("liberica-data/hzz4l-20000000-seed42-500000-per-file/fileset.json")


def _find(fileset_path: str, sample: str) -> tuple[str, dict, str, str]:
    """Dataset name, fileset entry, path and tree of the file named ``sample`` (its stem)."""
    fileset_path = pathlib.Path(fileset_path)
    fileset = json.loads(fileset_path.read_text())
    found = [
        (name, entry, str(fileset_path.parent / filename), tree)
        for name, entry in fileset.items()
        for filename, tree in entry["files"].items()
        if pathlib.Path(filename).stem == sample
    ]
    if not found:
        raise SystemExit(f"{fileset_path}: no file named {sample}.root")
    return found[0]


def _chunk_task(fileset_path: str, sample: str):
    """A callable processing one chunk of ``sample`` (file stem) with the full job."""
    from coffea.nanoevents import NanoEventsFactory

    from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES, HZZ4lProcessor
    from liberica.core.definition import load
    from liberica.orchestration.chunks import uproot_options
    from liberica.orchestration.pipeline import classifiers_of
    from liberica.processors.schema import OpenDataSchema

    name, entry, path, tree = _find(fileset_path, sample)
    metadata = dict(entry["metadata"], dataset=name, filename=path)
    events = NanoEventsFactory.from_root(
        {path: tree},
        schemaclass=OpenDataSchema,
        metadata=metadata,
        mode="eager",
        iteritems_options={"filter_name": list(REQUIRED_BRANCHES)},
        uproot_options=uproot_options([path]),
    ).events()
    definition = load("hzz4l")
    processor = HZZ4lProcessor(
        definition,
        10.0,
        True,
        classifiers_of(definition),
    )
    return lambda: processor.process(events)


def _read_task(fileset_path: str, sample: str):
    """A callable reading the processor's branches of ``sample`` as the pipeline reads them."""
    import uproot

    from liberica.analysis.hzz4l.processor import REQUIRED_BRANCHES
    from liberica.orchestration.chunks import uproot_options
    from liberica.processors import allocator

    allocator.keep_freed_memory()  # as in a worker
    _, _, path, tree = _find(fileset_path, sample)
    options = uproot_options([path])

    def read():
        with uproot.open(path, **options) as root_file:
            return root_file[tree].arrays(list(REQUIRED_BRANCHES), library="ak")

    return read


def _stream_task():
    a = np.ones(50_000_000)
    b = np.empty_like(a)
    return lambda: np.add(a, 1.0, out=b)


def _gather_task():
    rng = np.random.default_rng(0)
    a = rng.random(20_000_000)
    index = rng.integers(0, len(a), len(a))
    return lambda: a[index].sum()


def _timed(kind: str, args: tuple, repeat: int, barrier) -> list[float]:
    tasks = {
        "chunk": _chunk_task,
        "read": _read_task,
        "stream": _stream_task,
        "gather": _gather_task,
    }
    task = tasks[kind](*args)
    task()  # warm-up: imports, sessions, the allocator's pages
    if barrier is not None:
        barrier.wait()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return times


_BARRIER = None


def _init(barrier) -> None:
    global _BARRIER
    _BARRIER = barrier


def _run(kind: str, args: tuple, repeat: int) -> list[float]:
    return _timed(kind, args, repeat, _BARRIER)


def alone_and_together(kind: str, args: tuple, repeat: int) -> tuple[float, float]:
    """Median seconds per call in one process, and in two processes running at once."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        alone = float(np.median(pool.apply(_run, (kind, args, repeat))))
    barrier = context.Barrier(2)
    with context.Pool(2, initializer=_init, initargs=(barrier,)) as pool:
        runs = [pool.apply_async(_run, (kind, args, repeat)) for _ in range(2)]
        together = float(np.median([t for run in runs for t in run.get()]))
    return alone, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=pathlib.Path, default=DEFAULT_FILESET)
    parser.add_argument(
        "--sample", action="append", help="file stem(s) [default: ggH125_ZZ4lep_0, ZZllll_0]"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for sample in args.sample or ["ggH125_ZZ4lep_0", "ZZllll_0"]:
        rows += [
            (f"hzz4l full job, one chunk of {sample}", "chunk", (str(args.fileset), sample)),
            (f"uproot read of its branches, {sample}", "read", (str(args.fileset), sample)),
        ]
    rows += [
        ("numpy stream, 400 MB add", "stream", ()),
        ("numpy random gather, 160 MB", "gather", ()),
    ]
    print("| work | alone ms | two at once ms | slowdown | bound on 2-worker speedup |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, kind, task_args in rows:
        alone, together = alone_and_together(kind, task_args, args.repeat)
        slowdown = together / alone
        print(
            f"| {label} | {alone * 1e3:.0f} | {together * 1e3:.0f} | {slowdown:.2f} | "
            f"{2 / slowdown:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
