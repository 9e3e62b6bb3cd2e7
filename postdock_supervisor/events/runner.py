"""Drive one listener: wait for an event, hand it to the handler, always acknowledge."""

import logging
import sys
from collections.abc import Callable
from typing import TextIO

from postdock_supervisor.events import protocol
from postdock_supervisor.events.model import Event, parse_event

logger = logging.getLogger(__name__)


def run_listener(
    handler: Callable[[Event], None],
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
