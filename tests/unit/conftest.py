"""Unit tests never touch the machine's /run: every runtime path of the package points into a
temporary directory (paths are read at call time)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from postdock_supervisor import paths


@pytest.fixture(autouse=True)
def private_run(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    run = tmp_path_factory.mktemp("run")
    for name, value in list(vars(paths).items()):
        if isinstance(value, Path) and value.is_relative_to(paths.RUN):
            monkeypatch.setattr(paths, name, run / value.relative_to(paths.RUN))
    yield run
