"""A worker killed mid-run, and an interrupted run resumed: the histograms do not change."""

import os
import signal
import threading
import time

import pytest
from conftest import assert_same_histograms
from distributed import Client, LocalCluster

from liberica.orchestration.checkpoints import RunCheckpointer
from liberica.orchestration.clusters import Profile
from liberica.orchestration.pipeline import run_processor


@pytest.fixture(scope="module")
def reference(small_sample):
    return run_processor(
        "hzz4l", small_sample, executor="iterative", status=False, systematics=False
    )


def test_a_worker_killed_mid_run_changes_nothing(small_sample, reference):
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        profile = Profile(
            "scheduler", "dask-scheduler", {"address": cluster.scheduler_address}, retries=3
        )
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one_worker() -> None:
            # wait until chunks are running, then kill one worker process outright
            deadline = time.time() + 60
            while time.time() < deadline and not any(client.processing().values()):
                time.sleep(0.05)
            time.sleep(0.3)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(time.time())

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        run = run_processor(
            "hzz4l", small_sample, profile=profile, chunksize=5_000, status=False, systematics=False
        )
        finished = time.time()
        killer.join()
        # the worker died while chunks were still running, not after the run
        assert killed and killed[0] < finished
        # the nanny restarted the worker: two workers again, one of them new
        assert len(client.run(os.getpid)) == 2
        assert pids[0] not in client.run(os.getpid).values()
    assert run.metrics["events_processed"] == reference.metrics["events_processed"]
    assert_same_histograms(run, reference)


class _InterruptAfter(RunCheckpointer):
    """Stops the run (as Ctrl-C would) once a few chunks are saved."""

    def __init__(self, directory, settings, chunks):
        super().__init__(directory, settings)
        self.left = chunks

    def save(self, output, metadata, processor_instance):
        super().save(output, metadata, processor_instance)
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_without_redoing_finished_chunks(
    small_sample, reference, tmp_path
):
    folder = tmp_path / "checkpoints"
    first = run_processor(
        "hzz4l",
        small_sample,
        executor="iterative",
        status=False,
        systematics=False,
        checkpoint=folder,
        chunksize=15_000,
    )
    assert first.metrics["chunks_resumed"] == 0
    # a second layout of the same folder: interrupt a fresh run after 3 chunks
    settings_dir = tmp_path / "interrupted"
    key = next(folder.iterdir()).name
    interrupted = _InterruptAfter(settings_dir, {}, chunks=3)
    interrupted.checkpoint_dir = str(settings_dir / key)
    with pytest.raises(KeyboardInterrupt):
        run_processor(
            "hzz4l",
            small_sample,
            executor="iterative",
            status=False,
            systematics=False,
            checkpoint=interrupted,
            chunksize=15_000,
        )
    resumed = run_processor(
        "hzz4l",
        small_sample,
        executor="futures",
        status=False,
        systematics=False,
        checkpoint=settings_dir,
        chunksize=15_000,
    )
    assert resumed.metrics["chunks_resumed"] == 3
    assert resumed.metrics["chunks"] == first.metrics["chunks"]
    assert_same_histograms(resumed, reference)
    # every event is counted, the rates only those computed in this run
    metrics = resumed.metrics
    assert metrics["events_processed"] == reference.metrics["events_processed"]
    assert 0 < metrics["events_resumed"] < metrics["events_processed"]
    assert metrics["events_computed"] + metrics["events_resumed"] == metrics["events_processed"]
    assert metrics["events_per_second"] == pytest.approx(
        metrics["events_computed"] / metrics["processing_wall_s"]
    )
    # other settings never reuse these chunks
    other = run_processor(
        "hzz4l",
        small_sample,
        executor="iterative",
        status=False,
        systematics=True,
        checkpoint=settings_dir,
        chunksize=15_000,
    )
    assert other.metrics["chunks_resumed"] == 0
