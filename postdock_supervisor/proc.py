"""Run external commands with a deadline; log argv (which never holds a secret), never env."""

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from postdock_supervisor.errors import ActionError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    argv: Sequence[str],
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    quiet: bool = False,
) -> Completed:
    if not quiet:
        logger.info("running: %s", " ".join(argv))
    try:
        done = subprocess.run(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
        )
        result = Completed(tuple(argv), done.returncode, done.stdout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        result = Completed(tuple(argv), -1, out + f"\n(timed out after {timeout}s)")
    except OSError as exc:
        result = Completed(tuple(argv), -1, str(exc))
    if not quiet and result.output.strip():
        for line in result.output.rstrip().splitlines():
            logger.info("  | %s", line)
    if check and not result.ok:
        raise ActionError(f"{argv[0]} failed with code {result.returncode}")
    return result


def stream(argv: Sequence[str], timeout: float, prefix: str = "") -> int:
    """Run a long command showing its output line by line as it comes (its own progress report)."""
    logger.info("running: %s", " ".join(argv))
    deadline = time.monotonic() + timeout
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            print(f"{prefix}{line.rstrip()}", flush=True)
            if time.monotonic() > deadline:
                child.kill()
                print(f"{prefix}(stopped: no end after {timeout:.0f}s)", flush=True)
        return child.wait()
