"""The allocator keeps freed chunk memory: the next chunk does not fault its pages in again."""

import os
import subprocess
import sys
import textwrap

import pytest

# ten 8 MiB arrays made, written and freed, five times after a first round;
# prints whether liberica's thresholds apply and the page faults of the five
_CHUNKS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from liberica.processors import allocator
    applied = allocator.keep_freed_memory() if sys.argv[1] == "keep" else False
    def chunk():
        arrays = [np.empty(1 << 20) for _ in range(10)]
        for array in arrays:
            array.fill(1.0)
    chunk()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        chunk()
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _chunks(mode: str, **environ: str) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(environ)
    out = subprocess.run(
        [sys.executable, "-c", _CHUNKS, mode], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_chunk_memory_is_reused_without_page_faults():
    applied, faults = _chunks("keep")
    assert applied
    assert faults < 500
    # glibc's defaults give much of the 80 MiB back each time (about 25k faults here)
    assert _chunks("default")[1] > 10_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_settings_replace_the_dask_nanny_environment():
    assert _chunks("default", MALLOC_TRIM_THRESHOLD_="65536")[1] > 10_000
    applied, faults = _chunks("keep", MALLOC_TRIM_THRESHOLD_="65536")
    assert applied
    assert faults < 500
