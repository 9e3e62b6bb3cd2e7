"""The agent's side of the quorum lease: grants, approvals and releases asked for over the signed
control channel, decided by decide/lease.py on this process's monotonic clock. Its memory lives in
the agent process only: a restarted agent begins quiet (decide/lease.py `started`)."""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from postdock_supervisor.decide.lease import (
    Answer,
    decide_approval,
    decide_catch_up,
    decide_grant,
    decide_release,
    started,
)

logger = logging.getLogger(__name__)

ACTIONS = ("lease-grant", "lease-approve", "lease-release", "lease-catch-up")


def _stays(host: str, catch_up: bool) -> str:
    return ""


class LeaseDesk:
    def __init__(
        self,
        lease_s: float,
        me: str = "",
        stream_from: Callable[[str, bool], str] = _stays,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease_s = lease_s
        self.me = me
        self.stream_from = stream_from  # moves the WAL receiver; '' when done, else why not
        self.clock = clock
        self._lock = threading.Lock()
        self.state = started(clock(), lease_s)

    def handle(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        node, epoch = str(args.get("node") or ""), str(args.get("epoch") or "")
        if not node or action not in ACTIONS:
            return {"ok": False, "error": f"malformed lease request {action!r}"}
        with self._lock:
            # The clock is read under the lock: decisions are taken in the order of their times.
            now = self.clock()
            answer: Answer
            if action == "lease-grant":
                answer = decide_grant(self.state, node, now, self.lease_s, epoch, self.me)
            elif action == "lease-approve":
                answer = decide_approval(self.state, node, now, self.lease_s, self.me)
            elif action == "lease-catch-up":
                answer = decide_catch_up(self.state, node, now, self.me)
            else:
                answer = decide_release(self.state, node, epoch)
            if answer.stream_from and (failed := self.stream_from(answer.stream_from, answer.catch_up)):
                answer = self._unmoved(answer, action, failed)
            changed = answer.state.granted_to != self.state.granted_to or answer.state.approved != self.state.approved
            self.state = answer.state
        if changed or action == "lease-catch-up" or (not answer.ok and action != "lease-grant"):
            logger.info("%s", answer.reason)
        return {"ok": answer.ok, "reason": answer.reason}

    def _unmoved(self, answer: Answer, action: str, failed: str) -> Answer:
        """The WAL receiver did not move: an approval is refused (it could still acknowledge the old
        primary); a grant stands, and the move is tried again at the next one."""
        if action == "lease-approve":
            return Answer(False, f"{failed}: not approving {answer.state.approved}", self.state)
        if action == "lease-catch-up":
            return Answer(False, f"{failed}: not catching up", self.state)
        logger.warning("%s", failed)
        return Answer(answer.ok, answer.reason, replace(answer.state, moved_for=self.state.moved_for))
