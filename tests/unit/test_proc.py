"""Commands run with a deadline: `proc.stream` (recovery's long steps over SSH) keeps it even when
the command goes silent."""

import time

import pytest

from postdock_supervisor import proc


def test_stream_keeps_its_deadline_while_the_command_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    assert proc.stream(["sleep", "30"], 0.5, prefix="x: ") == -1
    assert time.monotonic() - began < 10
    assert capsys.readouterr().out == "x: (stopped: no end after 0s)\n"


def test_stream_passes_lines_and_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert proc.stream(["sh", "-c", "echo one; echo two >&2; printf three; exit 3"], 10, prefix="y: ") == 3
    assert capsys.readouterr().out == "y: one\ny: two\ny: three\n"
    assert proc.stream(["/nonexistent/command"], 10) == -1
