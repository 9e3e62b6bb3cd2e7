"""`postdock health`: the check Docker's HEALTHCHECK and Kubernetes probes run."""

from dataclasses import dataclass

from postdock_supervisor import roles
from postdock_supervisor.config import Settings
from postdock_supervisor.config.modes import Mode
from postdock_supervisor.decide.role import decide_role
from postdock_supervisor.model.pool import PoolNode
from postdock_supervisor.observe.local import read_bootstrap_state
from postdock_supervisor.observe.peers import verified_reports
from postdock_supervisor.observe.pool import pool_nodes_or_none, read_keeper_state
from postdock_supervisor.observe.supervisor import read_states


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str


UP = ("RUNNING", "STARTING")  # a listener restarted a moment ago is STARTING for a second


def _safety_down(programs: dict[str, str], safety: tuple[str, ...]) -> Health | None:
    down = [name for name in safety if programs.get(name) not in UP]
    if not down:
        return None
    states = ", ".join(f"{name} ({programs.get(name, 'absent')})" for name in down)
    return Health(False, f"safety programs not running: {states}")


def postgres_health(programs: dict[str, str], phase: str, phase_reason: str, safety: tuple[str, ...] = ()) -> Health:
    """Pure: supervisor program states and the bootstrap phase -> healthy or not, and why. safety: the
    role's programs that fence, lease, hand over or heal; without one of them the node is not ready,
    whatever postgres says (fencing could be off unnoticed)."""
    if not programs:
        return Health(False, "supervisord does not answer")
    if phase in ("failing", "gave-up", "fenced"):
        return Health(False, f"{phase}: {phase_reason}")
    if phase != "done":
        return Health(False, f"starting ({phase}): {phase_reason}")
    down = [name for name in ("postgres", "repmgrd") if programs.get(name) != "RUNNING"]
    if down:
        return Health(False, "not running: " + ", ".join(f"{n} ({programs.get(n, 'absent')})" for n in down))
    return _safety_down(programs, safety) or Health(True, "postgres and repmgrd running")


def pool_health(
    programs: dict[str, str],
    nodes: tuple[PoolNode, ...] | None,
    min_backends: int,
    strict: bool,
    keeper: dict[str, object],
    safety: tuple[str, ...] = (),
) -> Health:
    """Pure: pgpool is healthy when it answers, enough backends are up and one takes writes, and the
    pool keeper (safety) runs to move it to a new primary."""
    if programs.get("pgpool") != "RUNNING":
        return Health(False, f"pgpool not running ({programs.get('pgpool', 'supervisord does not answer')})")
    if (down := _safety_down(programs, safety)) is not None:
        return down
    if nodes is None:
        return Health(False, "pgpool does not answer SQL (no primary found yet?)")
    up = [n for n in nodes if n.status == "up"]
    if len(up) < max(1, min_backends):
        return Health(False, f"{len(up)} backends up, REQUIRE_MIN_BACKENDS is {min_backends}")
    if not any(n.role == "primary" for n in up):
        return Health(False, "no backend accepts writes")
    if strict and not keeper.get("weights_applied"):
        return Health(False, "strict mode: read weights not yet set by the pool keeper")
    primary = next(n for n in up if n.role == "primary")
    configured = [n for n in nodes if n.status != "unused"]  # gaps in BACKENDS numbering
    return Health(True, f"{len(up)} of {len(configured)} backends up, primary {primary.host}")


def _check_pool(settings: Settings) -> Health:
    pool = settings.pgpool
    assert pool is not None
    return pool_health(
        read_states(),
        pool_nodes_or_none(pool),
        pool.require_min_backends,
        pool.consistency_mode is Mode.STRICT,
        read_keeper_state(),
        roles.safety_programs(settings),
    )


def liveness(programs: dict[str, str], phase: str, phase_reason: str) -> Health:
    """Pure: only what a restart of the container can cure. A node that clones, rejoins or waits
    for its partners is alive (readiness says it is not ready); one that gave up after a crash loop,
    or whose supervisord or main program is dead for good, is not."""
    if not programs:
        return Health(False, "supervisord does not answer")
    if phase == "gave-up":
        return Health(False, f"gave up: {phase_reason}")
    fatal = sorted(name for name, state in programs.items() if state == "FATAL")
    if fatal:
        return Health(False, "programs in FATAL state: " + ", ".join(fatal))
    return Health(True, "alive")


def check_liveness(settings: Settings) -> Health:
    phase, reason = read_bootstrap_state() if settings.postgres is not None else ("done", "")
    return liveness(read_states(), phase, reason)


def barman_health(programs: dict[str, str], check_ok: bool, check_output: str) -> Health:
    """Pure: the keeper runs and `barman check` passes; else the first failing check."""
    if programs.get("backup_keeper") != "RUNNING":
        return Health(False, f"backup_keeper is {programs.get('backup_keeper', 'missing')}")
    if not check_ok:
        failed = [line.strip() for line in check_output.splitlines() if "FAILED" in line]
        return Health(False, "barman check failed: " + ("; ".join(failed) or check_output.strip()[-200:]))
    return Health(True, "barman check passes")


def _check_barman(settings: Settings) -> Health:

    from postdock_supervisor.observe.backup import check as check_barman

    bm = settings.barman
    assert bm is not None
    done = check_barman(bm, timeout=7)
    return barman_health(read_states(), done.ok, done.output)


def check(settings: Settings) -> Health:
    if settings.pgpool is not None:
        return _check_pool(settings)
    if settings.barman is not None:
        return _check_barman(settings)
    phase, reason = read_bootstrap_state()
    health = postgres_health(read_states(), phase, reason, roles.safety_programs(settings))
    pg = settings.postgres
    if not health.ok or pg is None or pg.is_cascade:
        return health
    # A false primary: it claims the role while the cluster has moved on (is_major_master, fixed:
    # an unreachable partner is no vote against it).
    reports = verified_reports(pg, [pg.network_name, *pg.partner_nodes], settings.common.status_port, timeout=2)
    me = reports.pop(pg.network_name)
    if me is not None:
        verdict = decide_role(me, reports, pg)
        if verdict.demote:
            return Health(False, f"false primary: {verdict.reason}")
    return health
