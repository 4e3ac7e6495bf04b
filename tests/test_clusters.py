"""Cluster profiles: validation, and equal histograms on dask-local and a real dask-gateway."""

import pathlib

import pytest
import yaml
from conftest import assert_same_histograms

from liberica.orchestration import clusters
from liberica.orchestration.local_gateway import local_gateway
from liberica.orchestration.pipeline import run_processor

ROOT = pathlib.Path(__file__).resolve().parents[1]
PASSWORD = "liberica-test-password"


def _config():
    return yaml.safe_load((ROOT / "dask_config.yaml").read_text())


def test_repository_profiles_are_valid():
    profiles = clusters.parse(_config(), "dask_config.yaml")
    assert {"iterative", "futures", "dask-local", "dask-scheduler", "dask-gateway"} <= set(profiles)
    gateway = profiles["dask-gateway"]
    assert gateway.options["adaptive"] == {"minimum": 2, "maximum": 2}
    assert gateway.chunksize == 500_000 and gateway.retries == 3


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            lambda c: c["profiles"]["dask-scheduler"].pop("address"),
            "profiles.dask-scheduler.address",
        ),
        (lambda c: c["profiles"]["futures"].__setitem__("worker", 2), "profiles.futures.worker"),
        (
            lambda c: c["profiles"]["dask-local"].__setitem__("gpu", "yes"),
            "profiles.dask-local.gpu",
        ),
        (
            lambda c: c["profiles"]["dask-gateway"]["adaptive"].__setitem__("minimum", 5),
            "profiles.dask-gateway.adaptive",
        ),
        (lambda c: c.__setitem__("default_profile", "slurm"), "default_profile"),
    ],
)
def test_bad_profile_names_the_key(change, key):
    config = _config()
    change(config)
    with pytest.raises(clusters.ClusterConfigError, match=f"at '{key}'"):
        clusters.parse(config, "dask_config.yaml")


@pytest.fixture(scope="module")
def reference(small_sample):
    return run_processor("hzz4l", small_sample, executor="iterative", status=False)


def test_dask_local_equals_iterative(small_sample, reference):
    profile = clusters.parse(_config(), "dask_config.yaml")["dask-local"]
    run = run_processor("hzz4l", small_sample, profile=profile, chunksize=20_000, status=False)
    assert run.metrics["executor"] == "dask-local" and run.metrics["cores"] == 2
    assert run.metrics["chunks"] > reference.metrics["chunks"]
    assert_same_histograms(run, reference)


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    """A real dask-gateway server on 127.0.0.1: local backend, basic auth, started and stopped here."""
    with local_gateway(tmp_path_factory.mktemp("gateway"), PASSWORD) as addresses:
        yield addresses._asdict()


def _gateway_profile(server, password_env):
    config = _config()
    entry = config["profiles"]["dask-gateway"]
    entry.update(server)
    entry["auth"]["password_env"] = password_env
    return clusters.parse(config, "dask_config.yaml")["dask-gateway"]


def test_local_workers_run_with_one_malloc_arena_no_profiler_and_a_slower_tick():
    """The dask defaults that slow the processor down are off on the workers liberica starts.

    (The nanny's ``MALLOC_TRIM_THRESHOLD_`` is replaced at run time by the
    processor's allocator settings: tests/test_allocator.py.)
    """
    import os

    import dask

    profile = clusters.Profile("local", "dask-local", {"workers": 1, "threads_per_worker": 1})
    with clusters.open_executor(profile, status=False) as opened:
        seen = opened.executor.client.run(
            lambda: (
                os.environ.get("MALLOC_ARENA_MAX"),
                dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.tick.interval"),
            )
        )
    assert list(seen.values()) == [("1", False, "200ms")]


def _on_workers(opened, function) -> list:
    if opened.client is not None:
        return list(opened.client.run(function).values())
    pool = opened.executor.pool
    return [pool.submit(function).result() for _ in range(opened.workers)]


def _imported_on_workers(opened, module: str) -> list[bool]:
    def imported() -> bool:
        import sys

        return module in sys.modules

    return _on_workers(opened, imported)


def _frozen_objects() -> int:
    import gc

    return gc.get_freeze_count()


def _compiled_loops() -> tuple[int, ...]:
    """Signatures compiled in this process: four-lepton gathering, pairing, features, smearing,
    scale-factor ratios."""
    from liberica.analysis.hzz4l import features, quadruplets
    from liberica.processors import variations, weights

    kernels = (
        quadruplets._four_leptons_kernel,
        quadruplets._pairing_kernel,
        features._features_kernel,
        variations._lepton_uniforms,
        weights._lepton_sf_ratios,
    )
    return tuple(len(kernel.signatures) for kernel in kernels)


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_workers_compile_the_processor_loops_before_the_run(executor):
    """The processor module's warm_up runs on every worker: float32 (file) and float64 (varied) momenta."""
    profile = clusters.Profile("local", executor, {"workers": 2})
    if executor == "futures":
        with clusters.open_executor(profile, status=False) as opened:
            assert _on_workers(opened, _compiled_loops) == [(0, 0, 0, 0, 0)] * 2
    with clusters.open_executor(
        profile, status=False, imports=("liberica.analysis.hzz4l.processor",)
    ) as opened:
        if executor == "iterative":
            assert _compiled_loops() >= (2, 1, 1, 1, 1)
            assert _frozen_objects() > 0  # for the run only (processors.collector)
        else:
            assert _on_workers(opened, _compiled_loops) == [(2, 1, 1, 1, 1)] * 2
            assert all(count > 0 for count in _on_workers(opened, _frozen_objects))
    assert _frozen_objects() == 0


@pytest.mark.parametrize("executor", ["futures", "dask-local"])
def test_workers_import_the_processor_before_the_run(executor):
    """The processor's imports are start time: done on every worker before the executor is handed out."""
    profile = clusters.Profile("local", executor, {"workers": 2, "threads_per_worker": 1})
    module = "wave"  # a module no worker imports by itself
    with clusters.open_executor(profile, status=False) as opened:
        assert not any(_imported_on_workers(opened, module))
    with clusters.open_executor(profile, status=False, imports=(module,)) as opened:
        assert opened.start_s > 0
        assert _imported_on_workers(opened, module) == [True, True]


def test_dask_workers_that_join_during_the_run_are_prepared_too():
    """A worker added later (adaptive scaling, a restart) imports and freezes before its first task."""
    import time

    profile = clusters.Profile("local", "dask-local", {"workers": 1, "threads_per_worker": 1})
    module = "wave"  # a module no worker imports by itself
    with clusters.open_executor(profile, status=False, imports=(module,)) as opened:
        assert _imported_on_workers(opened, module) == [True]
        opened.client.cluster.scale(2)
        opened.client.wait_for_workers(2, timeout=60)
        deadline = time.monotonic() + 30
        while _imported_on_workers(opened, module) != [True, True]:
            assert time.monotonic() < deadline, "the new worker was not prepared"
            time.sleep(0.2)
        assert all(count > 0 for count in _on_workers(opened, _frozen_objects))


_DIES_ONCE = """
import os

try:  # the first worker to import this dies, as a worker killed while being prepared
    os.close(os.open(os.environ["LIBERICA_TEST_DIED"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    os._exit(1)
except FileExistsError:
    pass
"""


def test_a_dask_worker_that_dies_while_being_prepared_is_replaced_and_prepared(
    tmp_path, monkeypatch
):
    from distributed import Client, LocalCluster

    (tmp_path / "liberica_dies_once.py").write_text(_DIES_ONCE)
    died = tmp_path / "died"
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers start with this sys.path
    monkeypatch.setenv("LIBERICA_TEST_DIED", str(died))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        profile = clusters.Profile(
            "scheduler", "dask-scheduler", {"address": cluster.scheduler_address}
        )
        with clusters.open_executor(
            profile, status=False, imports=("liberica_dies_once", "wave")
        ) as opened:
            assert died.exists()  # one worker did die during the preparation
            assert opened.workers == 2
            assert _imported_on_workers(opened, "wave") == [True, True]
        assert len(client.scheduler_info()["workers"]) == 2


def test_dask_workers_that_always_die_while_being_prepared_fail_the_run_in_one_line(
    tmp_path, monkeypatch
):
    from distributed import Client, LocalCluster

    (tmp_path / "liberica_always_dies.py").write_text("import os\nos._exit(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(clusters, "PREPARATION_ATTEMPTS", 2)
    monkeypatch.setattr(clusters, "PREPARATION_TIMEOUT_S", 5.0)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        profile = clusters.Profile(
            "scheduler", "dask-scheduler", {"address": cluster.scheduler_address}
        )
        with pytest.raises(clusters.ClusterStartError, match="dask workers died"):
            with clusters.open_executor(profile, status=False, imports=("liberica_always_dies",)):
                pass


def test_dask_workers_that_cannot_import_the_processor_fail_the_run_in_one_line():
    profile = clusters.Profile("local", "dask-local", {"workers": 1, "threads_per_worker": 1})
    with pytest.raises(clusters.ClusterStartError, match="No module named 'not_installed'"):
        with clusters.open_executor(profile, status=False, imports=("not_installed",)):
            pass


def test_dask_executors_import_what_coffeas_executor_imports_before_the_run():
    """dask.dataframe, which coffea's DaskExecutor imports as it starts, is start time, not run time."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from liberica.orchestration import clusters\n"
        "profile = clusters.Profile('local', 'dask-local', {'workers': 1})\n"
        "assert 'dask.dataframe' not in sys.modules\n"
        "with clusters.open_executor(profile, status=False):\n"
        "    print('dask.dataframe' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_dask_gateway_equals_iterative(small_sample, reference, gateway_server, monkeypatch):
    monkeypatch.setenv("LIBERICA_TEST_GATEWAY_PASSWORD", PASSWORD)
    profile = _gateway_profile(gateway_server, "LIBERICA_TEST_GATEWAY_PASSWORD")
    run = run_processor("hzz4l", small_sample, profile=profile, chunksize=25_000, status=False)
    assert run.metrics["executor"] == "dask-gateway" and run.metrics["workers"] == 2
    assert run.metrics["cluster_start_s"] < 60
    assert_same_histograms(run, reference)


def test_dask_gateway_refuses_a_wrong_password(small_sample, gateway_server, monkeypatch):
    monkeypatch.setenv("LIBERICA_TEST_GATEWAY_PASSWORD", "not-the-password")
    profile = _gateway_profile(gateway_server, "LIBERICA_TEST_GATEWAY_PASSWORD")
    with pytest.raises(Exception, match="401|Unauthorized"):
        run_processor("hzz4l", small_sample, profile=profile, status=False)


@pytest.fixture
def mixed_pool(tmp_path):
    """A scheduler with one CPU worker and one worker declaring a GPU resource (real processes)."""
    import subprocess
    import sys
    import time

    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    processes = [
        subprocess.Popen(
            [*dask_cli, "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    worker = [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        address,
        "--nthreads",
        "1",
        "--no-dashboard",
    ]
    processes.append(subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    processes.append(
        subprocess.Popen(
            [*worker, "--resources", "GPU=1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    )
    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            info = client.scheduler_info()["workers"]
            gpu = [a for a, w in info.items() if w.get("resources", {}).get("GPU")]
            pids = client.run(lambda: __import__("os").getpid())
            yield address, str(pids[gpu[0]])
        time.sleep(0.1)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gpu_require_routes_inference_chunks_to_gpu_workers(small_sample, mixed_pool):
    address, gpu_pid = mixed_pool
    profile = clusters.Profile("mixed", "dask-scheduler", {"address": address}, gpu="require")
    run = run_processor(
        "hzz4l", small_sample, profile=profile, chunksize=15_000, systematics=False, status=False
    )
    # every chunk ran its classifier in the one process that declares a GPU
    assert run.metrics["classifier"]["chunks_per_process"] == {gpu_pid: run.metrics["chunks"]}
    # without the requirement both workers take chunks
    spread = run_processor(
        "hzz4l",
        small_sample,
        profile=profile._replace(gpu="prefer"),
        chunksize=15_000,
        systematics=False,
        status=False,
    )
    assert len(spread.metrics["classifier"]["chunks_per_process"]) == 2


def test_gpu_require_without_gpu_workers_is_refused(small_sample):
    profile = clusters.Profile("cpu-only", "dask-local", {"workers": 1}, gpu="require")
    with pytest.raises(RuntimeError, match="none of the 1 workers declares a GPU resource"):
        run_processor("hzz4l", small_sample, profile=profile, status=False)
