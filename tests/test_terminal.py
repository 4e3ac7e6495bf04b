"""The command line's console: plain unwrapped lines off a terminal, repeated warnings
counted once, -v/-q anywhere on the line, and the total time at the end."""

import io
import logging

import pytest
from click.testing import CliRunner

from liberica.cli import main
from liberica.cli.terminal import QUIET, Session, make_console


def test_off_a_terminal_lines_are_not_wrapped(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    line = "sr_4l_low: merged " + ", ".join(
        f"bins {i}-{i + 1} [{80 + 5 * i}, {90 + 5 * i})" for i in range(12)
    )
    assert len(line) > 200
    make_console().print(line)
    assert stream.getvalue() == line + "\n"  # one line, no escape codes


def test_a_repeated_warning_is_shown_once_and_counted(capsys):
    session = Session()
    log = logging.getLogger("liberica.fits.templates")
    for histogram in range(15):
        log.warning("negative per-sample bin(s) set to %g: %s", 1e-6, f"h{histogram}")
    log.warning("another kind")
    shown = capsys.readouterr().err
    assert shown.count("negative per-sample bin(s)") == 1 and "h0" in shown and "h1" not in shown
    assert "another kind" in shown
    lines = session.closing_lines()
    assert any("repeated 14 more time(s)" in line for line in lines)
    assert lines[-1].startswith("total time ")


def test_quiet_hides_info_and_progress_on_a_terminal_too(monkeypatch):
    monkeypatch.setattr("liberica.cli.terminal.is_terminal", lambda stream=None: True)
    session = Session()
    assert session.progress and logging.getLogger("liberica").isEnabledFor(logging.INFO)
    session.configure(QUIET)
    assert not logging.getLogger("liberica").isEnabledFor(logging.INFO)
    assert not session.progress


@pytest.mark.parametrize(
    ("args", "level"),
    [
        (["-q", "process", "hzz4l", "--fileset", "missing.json", "--out", "o"], logging.WARNING),
        (["process", "hzz4l", "--fileset", "missing.json", "--out", "o", "-q"], logging.WARNING),
        (["process", "-v", "hzz4l", "--fileset", "missing.json", "--out", "o"], logging.DEBUG),
        (["process", "hzz4l", "--fileset", "missing.json", "--out", "o"], logging.INFO),
    ],
)
def test_verbosity_is_taken_anywhere_and_the_total_time_closes(args, level, tmp_path):
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        done = CliRunner().invoke(main, args)
    assert done.exit_code == 2, done.output
    assert logging.getLogger().level == level
    assert "missing.json" in done.output
    assert done.output.rstrip().splitlines()[-1].startswith("total time ")


def test_the_ranking_and_the_cls_scan_report_their_progress(tiny_workspace):
    """Likelihood.progress hears the ranking per parameter (with its total) and the CLs scan
    per point, what the command line draws as bars."""
    from liberica.fits.run import measure

    heard: dict[str, list[tuple[int, int | None]]] = {}
    result = measure(
        tiny_workspace,
        progress=lambda step, done, total: heard.setdefault(step, []).append((done, total)),
    )
    ranked = len(result.ranking)
    assert heard["ranking"][0] == (0, ranked) and heard["ranking"][-1] == (ranked, ranked)
    scan = [done for done, _ in heard["CLs scan"]]
    assert scan == list(range(1, len(scan) + 1)) and len(scan) == len(result.upper_limit.scan_mu)
