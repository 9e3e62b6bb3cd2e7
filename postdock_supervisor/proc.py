"""Run external commands with a deadline; log argv (which never holds a secret), never env."""

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pexpect

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
    """Run a long command showing its output line by line as it comes (its own progress report).

    The deadline holds even while the command prints nothing (a dead SSH link): pexpect waits for
    output with a timeout, where iterating over a pipe would block until the next line. A command
    stopped at the deadline returns -1."""
    logger.info("running: %s", " ".join(argv))
    deadline = time.monotonic() + timeout
    try:
        child = pexpect.spawn(argv[0], list(argv[1:]), encoding="utf-8", codec_errors="replace", echo=False)
    except pexpect.ExceptionPexpect as exc:
        print(f"{prefix}{exc}", flush=True)
        return -1
    try:
        while True:
            left = deadline - time.monotonic()
            index = child.expect(["\r?\n", pexpect.EOF, pexpect.TIMEOUT], timeout=max(0.0, left))
            if index == 0:
                print(f"{prefix}{child.before.rstrip()}", flush=True)
                continue
            if index == 1:
                if child.before:
                    print(f"{prefix}{child.before.rstrip()}", flush=True)
                child.close()
                return child.exitstatus if child.exitstatus is not None else -1
            print(f"{prefix}(stopped: no end after {timeout:.0f}s)", flush=True)
            child.terminate(force=True)
            return -1
    finally:
        if child.isalive():
            child.terminate(force=True)
