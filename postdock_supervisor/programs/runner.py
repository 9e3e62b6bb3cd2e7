"""The two runners that drive every long-running program.

- `run_events`: an event listener. Wait for a supervisor event, hand it to the handler, always
  acknowledge (a FAIL is re-delivered at once and loops), whatever the handler did.
- `run_ticks`: a loop that must act faster than supervisord's finest tick (5 s): run one round,
  then pause until the next is due, never less than `min_pause`. A round that raises ends the
  program, and supervisord starts it again (autorestart): its state starts afresh.

Both take `max_*` so tests can run a bounded number of rounds."""

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from postdock_supervisor.events import protocol
from postdock_supervisor.events.model import Event, parse_event

logger = logging.getLogger(__name__)


def run_events(
    handler: Callable[[Event], object],
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    max_events: int | None = None,
) -> None:
    handled = 0
    while max_events is None or handled < max_events:
        headers, payload = protocol.wait(stdin, stdout)
        try:
            handler(parse_event(headers, payload))
        except Exception:  # noqa: BLE001 - a listener must never die or FAIL an event
            logger.exception("BUG: handling %s failed; acknowledged anyway", headers.get("eventname"))
        protocol.ok(stdout)
        handled += 1


def run_ticks(
    step: Callable[[float], Any],
    interval: float,
    min_pause: float = 0.0,
    max_ticks: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """step(began) once per round; began is the round's start on the monotonic clock."""
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        began = clock()
        step(began)
        ticks += 1
        if max_ticks is not None and ticks >= max_ticks:
            return
        sleep(max(min_pause, interval - (clock() - began)))
