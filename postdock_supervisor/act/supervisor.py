"""Control programs only through supervisord's XML-RPC; faults become results, not crashes."""

import logging
import time
import xmlrpc.client
from typing import Any

from postdock_supervisor import paths
from postdock_supervisor.observe.supervisor import proxy, read_states

logger = logging.getLogger(__name__)

_ALREADY_STARTED = 60
_NOT_RUNNING = 70


class Supervisor:
    def __init__(self, socket: str = str(paths.SUPERVISOR_SOCKET)) -> None:
        self._proxy: Any = proxy(socket)

    def _control(self, verb: str, name: str, harmless_fault: int) -> bool | None:
        """Ask without supervisord's own wait (seen hanging when a start ends in FATAL)."""
        try:
            getattr(self._proxy.supervisor, f"{verb}Process")(name, False)
            return None
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == harmless_fault:
                return True
            logger.error("supervisord could not %s %s: %s", verb, name, fault.faultString)
            return False

    def _await(self, name: str, done: frozenset[str], failed: frozenset[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.states().get(name, "")
            if state in done:
                return True
            if state in failed:
                logger.error("%s is %s", name, state)
                return False
            time.sleep(0.2)
        logger.error("%s did not settle within %.0fs", name, timeout)
        return False

    def start(self, name: str, timeout: float = 120) -> bool:
        """Start and wait until RUNNING; True also when it already runs."""
        asked = self._control("start", name, _ALREADY_STARTED)
        if asked is not None:
            return asked
        return self._await(name, frozenset({"RUNNING"}), frozenset({"FATAL", "EXITED", "STOPPED"}), timeout)

    def stop(self, name: str, timeout: float = 120) -> bool:
        """Stop and wait; True also when it was not running."""
        asked = self._control("stop", name, _NOT_RUNNING)
        if asked is not None:
            return asked
        return self._await(name, frozenset({"STOPPED", "EXITED", "FATAL"}), frozenset(), timeout)

    def signal(self, name: str, signal: str) -> bool:
        try:
            self._proxy.supervisor.signalProcess(name, signal)
            return True
        except xmlrpc.client.Fault as fault:
            logger.error("supervisord could not signal %s: %s", name, fault.faultString)
            return False

    def states(self) -> dict[str, str]:
        """program name -> supervisor state name; {} when supervisord does not answer."""
        return read_states(self._proxy)
