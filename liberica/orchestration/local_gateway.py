"""A dask-gateway server on this machine, for development, tests and benchmarks.

It runs ``dask-gateway-server`` with the local backend (scheduler and workers
are processes of the current user) and basic authentication with one shared
password, on free ports of 127.0.0.1. Facilities run their own server; this
one exists so that the gateway path is exercised for real without one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

_CONFIG = """
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
# the worker's profiler takes the GIL from the task thread every 10 ms, and the
# task thread's own malloc arena faults its memory in again chunk after chunk
# (the nanny's MALLOC_TRIM_THRESHOLD_ is replaced by the processor's settings)
c.ClusterConfig.environment = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "MALLOC_ARENA_MAX": "1",
}

def _options(options):
    return {"worker_cores": options.worker_cores, "worker_memory": "%s G" % options.worker_memory}

c.Backend.cluster_options = Options(
    Integer("worker_cores", 1, min=1, max=4),
    Float("worker_memory", 2, min=0.5, max=8),
    handler=_options,
)
"""


class GatewayAddresses(NamedTuple):
    """Where a running local gateway answers.

    Attributes:
        address: the HTTP API, e.g. ``http://127.0.0.1:8000``
        proxy_address: the scheduler proxy, e.g. ``tcp://127.0.0.1:8002``
    """

    address: str
    proxy_address: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_gateway(folder: pathlib.Path, password: str) -> Iterator[GatewayAddresses]:
    """Run a local dask-gateway server while the block runs, then stop it.

    Args:
        folder: for its configuration, log and cluster directories
        password: the basic-auth password every user must give
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    api, proxy, tcp = _free_port(), _free_port(), _free_port()
    text = _CONFIG
    for key, value in {
        "API": api,
        "PROXY": proxy,
        "TCP": tcp,
        "PASSWORD": password,
        "CLUSTERS": folder / "clusters",
    }.items():
        text = text.replace(f"@{key}@", str(value))
    (folder / "config.py").write_text(text)
    # `dask scheduler` and `dask worker` must come from this Python's environment
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    with open(folder / "server.log", "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "dask_gateway_server", "-f", str(folder / "config.py")],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        deadline = time.time() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", api)) == 0:
                    break
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError(
                    f"dask-gateway-server did not start: {(folder / 'server.log').read_text()}"
                )
            time.sleep(0.2)
        yield GatewayAddresses(f"http://127.0.0.1:{api}", f"tcp://127.0.0.1:{tcp}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
