"""`postdock health`: the check Docker's HEALTHCHECK and Kubernetes probes run."""

from dataclasses import dataclass

from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.role import decide_role
from postdock_supervisor.observe.local import read_bootstrap_state
from postdock_supervisor.observe.peers import fetch_reports


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str


def postgres_health(programs: dict[str, str], phase: str, phase_reason: str) -> Health:
    """Pure: supervisor program states and the bootstrap phase -> healthy or not, and why."""
    if not programs:
        return Health(False, "supervisord does not answer")
    if phase in ("failing", "gave-up"):
        return Health(False, f"{phase}: {phase_reason}")
    if phase != "done":
        return Health(False, f"starting ({phase}): {phase_reason}")
    down = [name for name in ("postgres", "repmgrd") if programs.get(name) != "RUNNING"]
    if down:
        return Health(False, "not running: " + ", ".join(f"{n} ({programs.get(n, 'absent')})" for n in down))
    return Health(True, "postgres and repmgrd running")


def check(settings: Settings) -> Health:
    phase, reason = read_bootstrap_state()
    health = postgres_health(Supervisor().states(), phase, reason)
    pg = settings.postgres
    if not health.ok or pg is None or pg.is_cascade:
        return health
    # A false primary: it claims the role while the cluster has moved on (is_major_master, fixed:
    # an unreachable partner is no vote against it).
    reports = fetch_reports([pg.network_name, *pg.partner_nodes], settings.common.status_port, timeout=2)
    me = reports.pop(pg.network_name)
    if me is not None:
        verdict = decide_role(me, reports, pg)
        if verdict.demote:
            return Health(False, f"false primary: {verdict.reason}")
    return health
