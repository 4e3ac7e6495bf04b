"""Cluster profiles: validation, and equal histograms on dask-local and a real dask-gateway."""

import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from liberica.analysis import clusters
from liberica.analysis.pipeline import run_processor

ROOT = pathlib.Path(__file__).resolve().parents[1]
PASSWORD = "liberica-test-password"


def _config():
    return yaml.safe_load((ROOT / "dask_config.yaml").read_text())


def test_repository_profiles_are_valid():
    profiles = clusters.parse(_config(), "dask_config.yaml")
    assert {"iterative", "futures", "dask-local", "dask-scheduler", "dask-gateway"} <= set(profiles)
    gateway = profiles["dask-gateway"]
    assert gateway.options["adaptive"] == {"minimum": 2, "maximum": 2}
    assert gateway.chunksize == 200_000 and gateway.retries == 3


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


def _assert_same(run, reference):
    assert run.metrics["events_processed"] == reference.metrics["events_processed"]
    for region, h in reference.histograms.items():
        np.testing.assert_array_equal(
            run.counts[region].values(flow=True), reference.counts[region].values(flow=True)
        )
        for field in ("value", "variance"):
            np.testing.assert_allclose(
                run.histograms[region].view(flow=True)[field],
                h.view(flow=True)[field],
                rtol=1e-12,
                atol=0,
            )


def test_dask_local_equals_iterative(small_sample, reference):
    profile = clusters.parse(_config(), "dask_config.yaml")["dask-local"]
    run = run_processor("hzz4l", small_sample, profile=profile, chunksize=20_000, status=False)
    assert run.metrics["executor"] == "dask-local" and run.metrics["cores"] == 2
    assert run.metrics["chunks"] > reference.metrics["chunks"]
    _assert_same(run, reference)


GATEWAY_CONFIG = """
from dask_gateway_server.options import Options, Integer, Float
c.DaskGateway.address = "127.0.0.1:@API@"
c.Proxy.address = "127.0.0.1:@PROXY@"
c.Proxy.tcp_address = "127.0.0.1:@TCP@"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = "@PASSWORD@"
c.LocalClusterConfig.scheduler_cmd = ["dask", "scheduler"]
c.LocalClusterConfig.worker_cmd = ["dask", "worker"]
c.LocalClusterConfig.clusters_directory = "@CLUSTERS@"
c.ClusterConfig.environment = {"MALLOC_MMAP_THRESHOLD_": "33554432"}

def _options(options):
    return {"worker_cores": options.worker_cores, "worker_memory": "%s G" % options.worker_memory}

c.Backend.cluster_options = Options(
    Integer("worker_cores", 1, min=1, max=2),
    Float("worker_memory", 2, min=0.5, max=4),
    handler=_options,
)
"""
"""The gateway server's configuration: local backend (processes as this user), basic auth."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    """A real dask-gateway server on 127.0.0.1: local backend, basic auth, started and stopped here."""
    folder = tmp_path_factory.mktemp("gateway")
    api, proxy, tcp = _free_port(), _free_port(), _free_port()
    settings = {
        "API": api,
        "PROXY": proxy,
        "TCP": tcp,
        "PASSWORD": PASSWORD,
        "CLUSTERS": folder / "clusters",
    }
    text = GATEWAY_CONFIG
    for key, value in settings.items():
        text = text.replace(f"@{key}@", str(value))
    (folder / "config.py").write_text(text)
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    server = subprocess.Popen(
        [sys.executable, "-m", "dask_gateway_server", "-f", str(folder / "config.py")],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "w"),
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", api)) == 0:
                break
        time.sleep(0.2)
    else:
        server.kill()
        pytest.fail(f"dask-gateway-server did not start: {(folder / 'server.log').read_text()}")
    yield {"address": f"http://127.0.0.1:{api}", "proxy_address": f"tcp://127.0.0.1:{tcp}"}
    server.terminate()
    server.wait(timeout=30)


def _gateway_profile(server, password_env):
    config = _config()
    entry = config["profiles"]["dask-gateway"]
    entry.update(server)
    entry["auth"]["password_env"] = password_env
    return clusters.parse(config, "dask_config.yaml")["dask-gateway"]


def test_dask_gateway_equals_iterative(small_sample, reference, gateway_server, monkeypatch):
    monkeypatch.setenv("LIBERICA_TEST_GATEWAY_PASSWORD", PASSWORD)
    profile = _gateway_profile(gateway_server, "LIBERICA_TEST_GATEWAY_PASSWORD")
    run = run_processor("hzz4l", small_sample, profile=profile, chunksize=25_000, status=False)
    assert run.metrics["executor"] == "dask-gateway" and run.metrics["workers"] == 2
    assert run.metrics["cluster_start_s"] < 60
    _assert_same(run, reference)


def test_dask_gateway_refuses_a_wrong_password(small_sample, gateway_server, monkeypatch):
    monkeypatch.setenv("LIBERICA_TEST_GATEWAY_PASSWORD", "not-the-password")
    profile = _gateway_profile(gateway_server, "LIBERICA_TEST_GATEWAY_PASSWORD")
    with pytest.raises(Exception, match="401|Unauthorized"):
        run_processor("hzz4l", small_sample, profile=profile, status=False)
