"""Executor and cluster profiles (``dask_config.yaml``), and opening them.

A profile names where chunks run: in this process (``iterative``), a local
process pool (``futures``), a distributed LocalCluster (``dask-local``), an
existing scheduler (``dask-scheduler``) or a dask-gateway cluster
(``dask-gateway``). :func:`open_executor` turns a profile into a coffea
executor and closes whatever it started.

Dask's nanny exports ``MALLOC_TRIM_THRESHOLD_=65536`` to its workers, which
halved awkward's throughput here; liberica clears that dask config key before it
starts local workers, and the processor sets its own allocator thresholds in
every process anyway (``liberica.processors.allocator``). Local workers also get
``MALLOC_ARENA_MAX=1`` (a dask worker runs chunks in a thread, whose own arena
gave back and faulted in its memory chunk after chunk), no statistical
profiler, and an event-loop tick of 200 ms instead of 20 ms; facility workers
should get ``MALLOC_ARENA_MAX=1``, ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``
and ``DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=200ms``, as the README explains.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import pathlib
import time
import warnings
from collections.abc import Iterator
from importlib import resources
from typing import Any, NamedTuple

import loky
import yaml
from coffea import processor

from liberica.core.errors import LibericaError
from liberica.core.schema_errors import first_error, locate
from liberica.processors import collector

log = logging.getLogger(__name__)

# loky restarts a worker that grew by 300 MB and warns of a leak; a worker that
# holds a 200k-event chunk with its variations grows that much by design.
warnings.filterwarnings("ignore", message="A worker was restarted", category=UserWarning)

CONFIG_FILE = "dask_config.yaml"
DASK_EXECUTORS = ("dask-local", "dask-scheduler", "dask-gateway")


class ClusterConfigError(LibericaError, ValueError):
    """A cluster profile file that cannot be used, with the offending key."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: invalid cluster configuration at '{key}': {reason}")


class ClusterStartError(LibericaError, RuntimeError):
    """A cluster that could not be started or prepared for the run, with the reason."""


class Profile(NamedTuple):
    """Where and how chunks run.

    Attributes:
        name: the profile's name
        executor: ``iterative``, ``futures``, ``dask-local``, ``dask-scheduler``
            or ``dask-gateway``
        options: the executor's settings (workers, address, auth, ...)
        chunksize: events per chunk, or None for the file's or liberica's default
        retries: retries of a failed chunk, in the worker that ran it, unless it
            failed on deterministic bad input (``analysis.runner``)
        resources: dask worker resources each chunk asks for
        gpu: ``off``, ``prefer`` or ``require`` (see docs/clusters.md)
        on_bad_file: ``fail`` or ``skip``
    """

    name: str
    executor: str
    options: dict[str, Any]
    chunksize: int | None = None
    retries: int = 3
    resources: dict[str, float] = {}
    gpu: str = "prefer"
    on_bad_file: str = "fail"


_COMMON = ("executor", "description", "chunksize", "retries", "resources", "gpu", "on_bad_file")


def _schema() -> dict:
    text = (
        resources.files("liberica.orchestration").joinpath("schemas/dask_config.json").read_text()
    )
    return json.loads(text)


def parse(config: dict, source: str) -> dict[str, Profile]:
    """Validate a parsed dask_config.yaml and return its profiles by name.

    Raises:
        ClusterConfigError: naming the offending key
    """
    if not isinstance(config, dict):
        raise ClusterConfigError(source, "<top level>", "expected a mapping")
    error = first_error(_schema(), config)
    if error is not None:
        raise ClusterConfigError(source, *locate(error))
    default_chunksize = config.get("chunksize")
    profiles = {}
    for name, entry in config["profiles"].items():
        adaptive = entry.get("adaptive")
        if adaptive and adaptive["minimum"] > adaptive["maximum"]:
            raise ClusterConfigError(
                source, f"profiles.{name}.adaptive", "minimum is above maximum"
            )
        profiles[name] = Profile(
            name=name,
            executor=entry["executor"],
            options={k: v for k, v in entry.items() if k not in _COMMON},
            chunksize=entry.get("chunksize", default_chunksize),
            retries=entry.get("retries", 3),
            resources=dict(entry.get("resources", {})),
            gpu=entry.get("gpu", "prefer"),
            on_bad_file=entry.get("on_bad_file", "fail"),
        )
    default = config.get("default_profile")
    if default is not None and default not in profiles:
        raise ClusterConfigError(source, "default_profile", f"unknown profile '{default}'")
    return profiles


def load(path: str | pathlib.Path | None = None) -> dict[str, Profile]:
    """Profiles from ``path``, else ``./dask_config.yaml``, else the built-in local ones."""
    if path is None:
        candidate = pathlib.Path(os.environ.get("LIBERICA_DASK_CONFIG", CONFIG_FILE))
        if not candidate.exists():
            return builtin_profiles()
        path = candidate
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cluster configuration {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClusterConfigError(str(path), "<top level>", f"not valid YAML: {err}") from err
    return parse(config, str(path))


def builtin_profiles(workers: int = 2) -> dict[str, Profile]:
    """The local profiles, for when no dask_config.yaml is around."""
    return {
        "iterative": Profile("iterative", "iterative", {}),
        "futures": Profile("futures", "futures", {"workers": workers}),
        "dask-local": Profile(
            "dask-local", "dask-local", {"workers": workers, "threads_per_worker": 1}
        ),
    }


class OpenExecutor(NamedTuple):
    """A coffea executor ready to run, and what it runs on.

    Attributes:
        executor: the coffea executor
        cores: worker threads available (1 for iterative)
        workers: worker processes
        start_s: seconds spent starting or connecting to the cluster
        client: the dask client, for dask executors
    """

    executor: processor.ExecutorBase
    cores: int
    workers: int
    start_s: float
    client: Any = None


def _dask_executor(client, profile: Profile, status: bool) -> processor.DaskExecutor:
    return processor.DaskExecutor(
        client=client,
        status=status,
        desc="Processing",
        unit="chunk",
        # chunks are retried in the worker (analysis.runner), not resubmitted
        retries=0,
        treereduction=8,
    )


def _worker_threads(client) -> tuple[int, int]:
    threads = client.nthreads()
    return max(1, sum(threads.values())), len(threads)


_NO_LEAK_RESTARTS = {"LOKY_MAX_MEMORY_LEAK_SIZE": str(1 << 50)}


def _import_modules(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in this process, and run the ``warm_up()`` of those that have one."""
    for name in modules:
        warm_up = getattr(importlib.import_module(name), "warm_up", None)
        if callable(warm_up):
            warm_up()


def prepare_worker(modules: tuple[str, ...]) -> None:
    """Import ``modules`` on a worker, then freeze what it holds (``processors.collector``)."""
    _import_modules(modules)
    collector.freeze_long_lived()


def _process_pool(max_workers: int, imports: tuple[str, ...] = ()) -> loky.ProcessPoolExecutor:
    """The futures executor's pool (coffea's default kind, loky), workers living for the whole run.

    loky replaces a worker whose resident memory grew by 300 MB since its start,
    taking it for a leak. A chunk's arrays grow it that much (the allocator keeps
    the pages for the next chunk), so workers were restarted every few chunks,
    each paying the imports and the classifier sessions again. Each worker
    imports ``imports`` as it starts; the pool's workers are started here.
    """
    pool = loky.ProcessPoolExecutor(
        max_workers=max_workers,
        env=_NO_LEAK_RESTARTS,
        initializer=prepare_worker,
        initargs=(imports,),
    )
    # loky starts every worker at the first submission; each runs the
    # initializer before it takes a task
    try:
        for future in [pool.submit(os.getpid) for _ in range(max_workers)]:
            future.result()
    except BaseException:
        pool.shutdown(wait=False, kill_workers=True)
        raise
    return pool


@contextlib.contextmanager
def _progress_bars(shown: bool) -> Iterator[None]:
    """Show coffea's progress bars or not, for the duration.

    coffea's executors pass ``disable=not status`` to rich, which takes it for a
    task field and draws the bar anyway; its console is made quiet instead.
    """
    from coffea.util import coffea_console

    quiet = coffea_console.quiet
    coffea_console.quiet = quiet or not shown
    try:
        yield
    finally:
        coffea_console.quiet = quiet


@contextlib.contextmanager
def open_executor(
    profile: Profile, status: bool = True, imports: tuple[str, ...] = ()
) -> Iterator[OpenExecutor]:
    """Start (or connect to) what ``profile`` names, yield its executor, then clean up.

    Args:
        profile: where chunks run
        status: show coffea's progress bars
        imports: modules every worker imports before the executor is yielded
            (the processor's), calling a module's ``warm_up()`` where it has
            one, so that imports and compilation count as start time,
            ``start_s``, rather than as the first chunks' time (the iterative
            executor does the same in this process)
    """
    with _progress_bars(status), _start(profile, status, imports) as opened:
        yield opened


@contextlib.contextmanager
def _start(profile: Profile, status: bool, imports: tuple[str, ...]) -> Iterator[OpenExecutor]:
    start = time.perf_counter()
    if profile.executor == "iterative":
        _import_modules(imports)
        with collector.long_lived_frozen():  # this process's objects thaw after the run
            yield OpenExecutor(
                processor.IterativeExecutor(status=status, desc="Processing", unit="chunk"),
                1,
                1,
                time.perf_counter() - start,
            )
        return
    if profile.executor == "futures":
        workers = int(profile.options.get("workers", 2))
        # one pool for the whole run, its workers started (and importing) here
        with _process_pool(workers, imports) as pool:
            start_s = time.perf_counter() - start
            executor = processor.FuturesExecutor(
                pool=pool,
                workers=workers,
                status=status,
                desc="Processing",
                unit="chunk",
                merging=False,
            )
            yield OpenExecutor(executor, min(workers, os.cpu_count() or 1), workers, start_s)
        return
    if profile.executor in DASK_EXECUTORS:
        # coffea's DaskExecutor imports dask.dataframe (and pandas) as it is called:
        # 0.9 s of the run here, during which no chunk was submitted
        importlib.import_module("dask.dataframe")
        with _dask_client(profile) as client:
            if imports:  # on the workers up now, and on each that joins or restarts later
                _prepare_dask_workers(client, imports)
            cores, workers = _worker_threads(client)
            yield OpenExecutor(
                _dask_executor(client, profile, status),
                cores,
                workers,
                time.perf_counter() - start,
                client,
            )
        return
    raise ValueError(f"unknown executor '{profile.executor}'")


PREPARATION_ATTEMPTS = 3
"""Registrations of the worker preparation tried while workers die during it."""
PREPARATION_TIMEOUT_S = 120.0
"""How long to wait for dead workers to be replaced before trying again."""


def _prepare_dask_workers(client, imports: tuple[str, ...]) -> None:
    """Register the plugin that prepares every worker, now and as workers join or restart.

    A worker that dies while the plugin is being set up on it fails the
    registration (``CommClosedError``), though the scheduler keeps the plugin
    and its nanny starts a new worker, which is prepared as it joins. The
    registration is then tried again once the workers are back, up to
    :data:`PREPARATION_ATTEMPTS` times.

    Raises:
        ClusterStartError: if workers kept dying or did not come back, or if the
            preparation failed on a worker (an import error)
    """
    from liberica.orchestration.dask_plugin import WorkerPreparation

    wanted = max(len(client.scheduler_info()["workers"]), 1)
    plugin = WorkerPreparation(imports)
    for attempt in range(1, PREPARATION_ATTEMPTS + 1):
        try:
            client.register_plugin(plugin)
            return
        except OSError as err:  # distributed's CommClosedError is an OSError
            log.warning(
                "a dask worker died while being prepared (%s: %s); attempt %d of %d",
                type(err).__name__,
                " ".join(str(err).split())[:200],
                attempt,
                PREPARATION_ATTEMPTS,
            )
            reason = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        except Exception as err:  # the preparation itself failed, e.g. liberica not installed
            raise ClusterStartError(
                f"preparing the dask workers failed (importing {', '.join(imports)}): "
                f"{type(err).__name__}: {' '.join(str(err).split())[:300]}; the workers need "
                "liberica installed in their environment"
            ) from None
        try:
            client.wait_for_workers(wanted, timeout=PREPARATION_TIMEOUT_S)
        except (TimeoutError, OSError):
            raise ClusterStartError(
                f"dask workers died while being prepared (importing {', '.join(imports)}) and "
                f"{wanted} did not come back within {PREPARATION_TIMEOUT_S:.0f} s"
            ) from None
    raise ClusterStartError(
        f"dask workers died each of the {PREPARATION_ATTEMPTS} times they were prepared "
        f"(importing {', '.join(imports)}); last: {reason}"
    )


def _dask_client(profile: Profile) -> contextlib.AbstractContextManager:
    """A context manager giving a distributed Client for a dask profile."""
    if profile.executor == "dask-local":
        return _local_cluster(profile)
    if profile.executor == "dask-gateway":
        return _gateway_cluster(profile)
    from distributed import Client

    return Client(profile.options["address"], timeout="30s")


@contextlib.contextmanager
def _local_cluster(profile: Profile) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    options = profile.options
    with dask.config.set(
        {
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            # chunks run in the worker's task thread: with its own malloc arena,
            # made of 64 MiB heaps that are given back and faulted in again, it
            # took twice the page faults of a process pool's worker
            "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": "1",
            "distributed.worker.daemon": False,
            # the statistical profiler samples the task thread's stack every 10 ms,
            # taking the GIL from the processor's numpy calls each time
            "distributed.worker.profile.enabled": False,
            # every server's event loop wakes each tick to watch for blocking:
            # every 20 ms, that cost the scheduler and nannies 0.4 s of CPU on the
            # workers' cores in a 7 s run, and the workers the GIL as often
            "distributed.admin.tick.interval": "200ms",
        }
    ):
        cluster = LocalCluster(
            n_workers=int(options.get("workers", 2)),
            threads_per_worker=int(options.get("threads_per_worker", 1)),
            memory_limit=options.get("memory_limit", "auto"),
            processes=True,
            dashboard_address=None,
            resources=profile.resources or None,
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _gateway_auth(auth: dict[str, Any] | None):
    from dask_gateway.auth import BasicAuth, get_auth

    if auth is None:
        return None
    if auth["type"] == "basic":
        variable = auth.get("password_env")
        password = os.environ.get(variable) if variable else None
        if variable and password is None:
            raise ClusterConfigError(
                "dask_config.yaml",
                "auth.password_env",
                f"environment variable {variable} is not set",
            )
        return BasicAuth(username=auth.get("username"), password=password)
    return get_auth(auth["type"])


@contextlib.contextmanager
def _gateway_cluster(profile: Profile) -> Iterator[Any]:
    from dask_gateway import Gateway

    options = profile.options
    gateway = Gateway(
        address=options["address"],
        proxy_address=options.get("proxy_address"),
        auth=_gateway_auth(options.get("auth")),
    )
    try:
        cluster_options = gateway.cluster_options()
        wanted = dict(options.get("cluster_options", {}))
        for key in ("worker_cores", "worker_memory"):
            if key in options:
                wanted[key] = options[key]
        for key, value in wanted.items():
            if key in cluster_options:
                cluster_options[key] = value
            else:
                log.warning(
                    "dask-gateway at %s offers no cluster option %r; ignored",
                    options["address"],
                    key,
                )
        cluster = gateway.new_cluster(cluster_options)
        try:
            adaptive = options.get("adaptive")
            if adaptive:
                cluster.adapt(minimum=adaptive["minimum"], maximum=adaptive["maximum"])
                wait_for = max(adaptive["minimum"], 1)
            else:
                wait_for = int(options.get("workers", 2))
                cluster.scale(wait_for)
            client = cluster.get_client(set_as_default=False)
            try:
                client.wait_for_workers(wait_for, timeout=120)
                log.info("dask-gateway cluster %s: %d workers", cluster.name, wait_for)
                yield client
            finally:
                client.close()
        finally:
            cluster.shutdown()
            cluster.close()
    finally:
        try:
            gateway.close()
        finally:
            # Gateway.__del__ would close again on a stopped loop and raise at garbage
            # collection; after an explicit close there is nothing left to clean
            gateway.__dict__.pop("_loop_runner", None)
