"""The bootstrap phase file (read by the agent and health) and re-running the start-up decision."""

import json

from postdock_supervisor import files, paths
from postdock_supervisor.act.supervisor import Supervisor


def set_phase(phase: str, reason: str, owner: str | None = None, crashed_at: float | None = None) -> None:
    state: dict[str, object] = {"phase": phase, "reason": reason}
    if crashed_at is not None:
        state["crashed_at"] = crashed_at  # the monotonic clock, shared by every process of the container
    files.write_atomic(paths.BOOTSTRAP_STATE, json.dumps(state), 0o644, owner, owner)


def rerun_bootstrap(supervisor: Supervisor, reason: str, crashed_at: float | None = None) -> None:
    """Long remediation belongs to the one-shot bootstrap program, never to a listener. crashed_at:
    when postgres crashed on a primary, so the start-up decision may restart it in place."""
    set_phase("restarting", reason, crashed_at=crashed_at)
    supervisor.start("bootstrap")
