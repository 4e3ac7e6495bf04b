"""The chunk loop around coffea's work function: bad input is reported once, not retried."""

import pytest
from coffea.processor import IterativeExecutor
from coffea.processor.executor import WorkItem

from liberica.orchestration.runner import Runner, run_chunk
from liberica.processors.bad_input import InputFormatError


def _item(filename: str) -> WorkItem:
    return WorkItem("ZZllll", filename, "mini", 100, 600, b"", {"process": "ZZ"})


class _Failing:
    """Fails the first ``times`` calls with ``error``, then returns an output."""

    def __init__(self, error: Exception, times: int) -> None:
        self.error, self.times, self.calls = error, times, 0

    def __call__(self, item):
        self.calls += 1
        if self.calls <= self.times:
            raise Exception(f"Failed processing file: {item!r}") from self.error
        return {"out": {"events": 1}}


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (OSError("expected Chunk of length 81950, received 27984 bytes"), "read"),
        (InputFormatError("branch lep_eta has other per-event lengths than lep_pt"), "format"),
    ],
)
def test_bad_input_of_a_local_file_is_read_once_and_reported(error, kind):
    chunk = _Failing(error, times=10)
    out = run_chunk(3, 3, False, chunk, _item("/data/zz.root"))
    assert chunk.calls == 1
    record = out["out"]["bad_chunks"]["/data/zz.root entries 100-600"]
    assert record == {
        "sample": "ZZllll",
        "file": "/data/zz.root",
        "entrystart": 100,
        "entrystop": 600,
        "events": 500,
        "kind": kind,
        "reason": f"{type(error).__name__}: {error}",
    }


def test_a_remote_read_error_is_retried_and_then_reported():
    flaky = _Failing(OSError("XRootD timeout"), times=2)
    assert run_chunk(3, 0, False, flaky, _item("root://eos//zz.root")) == {"out": {"events": 1}}
    assert flaky.calls == 3
    broken = _Failing(OSError("XRootD timeout"), times=10)
    out = run_chunk(2, 0, False, broken, _item("root://eos//zz.root"))
    assert broken.calls == 3 and "bad_chunks" in out["out"]


def test_other_failures_are_retried_then_raised():
    bug = _Failing(KeyError("lep_pt"), times=10)
    with pytest.raises(Exception, match="Failed processing file"):
        run_chunk(2, 0, False, bug, _item("/data/zz.root"))
    assert bug.calls == 3
    once = _Failing(KeyError("lep_pt"), times=1)
    assert run_chunk(2, 0, False, once, (_item("/data/zz.root"), "processor")) == {
        "out": {"events": 1}
    }
    assert once.calls == 2


def test_the_runner_uses_the_loop_with_its_own_retry_count():
    runner = Runner(executor=IterativeExecutor(), chunk_retries=5)
    chunk = _Failing(KeyError("x"), times=5)
    assert runner.automatic_retries(0, False, chunk, _item("/a.root")) == {"out": {"events": 1}}
    assert chunk.calls == 6
