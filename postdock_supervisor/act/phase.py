"""The bootstrap phase file (read by the agent and health) and re-running the start-up decision."""

import json

from postdock_supervisor import files, paths
from postdock_supervisor.act.supervisor import Supervisor


def set_phase(phase: str, reason: str, owner: str | None = None) -> None:
    files.write_atomic(paths.BOOTSTRAP_STATE, json.dumps({"phase": phase, "reason": reason}), 0o644, owner, owner)


def rerun_bootstrap(supervisor: Supervisor, reason: str) -> None:
    """Long remediation belongs to the one-shot bootstrap program, never to a listener."""
    set_phase("restarting", reason)
    supervisor.start("bootstrap")
