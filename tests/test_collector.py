"""Each chunk's cyclic garbage is freed at the next chunk, when the long-lived objects are frozen."""

import gc
import weakref

import numpy as np

from liberica.processors import collector


class _Node:
    """An object in a reference cycle, holding an array like coffea's events object does."""

    def __init__(self) -> None:
        self.array = np.ones(1000)
        self.me = self


def _cyclic_garbage() -> weakref.ref:
    node = _Node()
    return weakref.ref(node)


def test_a_chunks_cycles_are_collected_at_the_next_chunk_while_frozen():
    with collector.long_lived_frozen():
        assert gc.get_freeze_count() > 0
        gc.disable()  # no automatic collection between the two steps
        try:
            garbage = _cyclic_garbage()
            assert garbage() is not None  # a cycle: reference counting alone cannot free it
            assert collector.collect_previous_chunks() >= 1
            assert garbage() is None
        finally:
            gc.enable()
    assert gc.get_freeze_count() == 0  # thawed after the run


def test_nothing_is_collected_without_a_freeze():
    """A full collection would scan every object of the process: Python's own schedule decides."""
    gc.disable()
    try:
        garbage = _cyclic_garbage()
        assert collector.collect_previous_chunks() == 0
        assert garbage() is not None
    finally:
        gc.enable()
        gc.collect()
