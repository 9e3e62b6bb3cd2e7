"""What supervisord says about its programs, over its XML-RPC socket (reads only; act/supervisor
starts and stops)."""

import xmlrpc.client
from typing import Any

from supervisor import xmlrpc as supervisor_xmlrpc

from postdock_supervisor import paths


def proxy(socket: str = str(paths.SUPERVISOR_SOCKET)) -> Any:
    transport = supervisor_xmlrpc.SupervisorTransport(None, None, f"unix://{socket}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def read_states(server: Any = None) -> dict[str, str]:
    """program name -> supervisor state name; {} when supervisord does not answer."""
    try:
        infos = (server if server is not None else proxy()).supervisor.getAllProcessInfo()
        return {info["name"]: info["statename"] for info in infos}
    except (OSError, xmlrpc.client.Error):
        return {}


SHUTDOWN_STATE = 6  # supervisor's fault code for any request made while it shuts down


def shutting_down(server: Any = None) -> bool:
    """Whether supervisord is stopping everything (the container stops), as opposed to one program
    being stopped by hand: during its shutdown it answers every request with SHUTDOWN_STATE."""
    try:
        state = (server if server is not None else proxy()).supervisor.getState()
    except xmlrpc.client.Fault as fault:
        return bool(fault.faultCode == SHUTDOWN_STATE)
    except OSError:
        return True  # its socket is gone: it is on its way out
    return str(state.get("statename")) == "SHUTDOWN"
