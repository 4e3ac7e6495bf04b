import logging

import numpy as np
from numba.core import caching

from liberica.processors import compiled


def _sum_of_squares(values):
    total = 0.0
    for value in values:
        total += value * value
    return total


def test_loops_are_cached_on_disk_where_numba_can():
    function = compiled.loop(_sum_of_squares)
    assert function(np.arange(4.0)) == 14.0
    assert function._cache._impl.locator.get_cache_path()  # a disk location was found


def test_loops_compile_per_process_where_nothing_is_writable(monkeypatch, caplog):
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # no writable place
    monkeypatch.delenv("NUMBA_CACHE_LOCATOR_CLASSES", raising=False)
    with caplog.at_level(logging.WARNING, logger="liberica.processors.compiled"):
        function = compiled.loop(_sum_of_squares)
    assert function(np.arange(4.0)) == 14.0
    assert "NUMBA_CACHE_DIR" in caplog.text and "_sum_of_squares" in caplog.text
