"""Control programs only through supervisord's XML-RPC; faults become results, not crashes."""

import logging
import xmlrpc.client
from typing import Any

from supervisor import xmlrpc as supervisor_xmlrpc

from postdock_supervisor import paths

logger = logging.getLogger(__name__)

_ALREADY_STARTED = 60
_NOT_RUNNING = 70


class Supervisor:
    def __init__(self, socket: str = str(paths.SUPERVISOR_SOCKET)) -> None:
        transport = supervisor_xmlrpc.SupervisorTransport(None, None, f"unix://{socket}")
        self._proxy: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def start(self, name: str) -> bool:
        try:
            self._proxy.supervisor.startProcess(name, True)
            return True
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == _ALREADY_STARTED:
                return True
            logger.error("supervisord could not start %s: %s", name, fault.faultString)
            return False

    def stop(self, name: str) -> bool:
        try:
            self._proxy.supervisor.stopProcess(name, True)
            return True
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == _NOT_RUNNING:
                return True
            logger.error("supervisord could not stop %s: %s", name, fault.faultString)
            return False

    def states(self) -> dict[str, str]:
        """program name -> supervisor state name; {} when supervisord does not answer."""
        try:
            return {info["name"]: info["statename"] for info in self._proxy.supervisor.getAllProcessInfo()}
        except (OSError, xmlrpc.client.Error):
            return {}
