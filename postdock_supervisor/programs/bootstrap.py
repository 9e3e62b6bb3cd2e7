"""The one-shot `bootstrap` program of a postgres node: observe, decide, act until the node runs.

It loops: every round reads the local data and the partners' reports, asks decide_startup what to
do, and does it. Anything that fails is logged and the round starts again with fresh observations."""

import logging
import time
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo

from postdock_supervisor import healing
from postdock_supervisor.act import node
from postdock_supervisor.act.phase import set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.startup import Start, StartDecision, decide_startup
from postdock_supervisor.errors import ActionError, PostdockError
from postdock_supervisor.observe.local import read_postgres_state
from postdock_supervisor.observe.node import observe
from postdock_supervisor.programs import sync_keeper as sync

logger = logging.getLogger(__name__)


def _start_repmgrd(supervisor: Supervisor) -> None:
    if not supervisor.start("repmgrd"):
        raise ActionError("supervisord could not start repmgrd")


def _register_standby(pg: PostgresSettings, upstream_id: int) -> None:
    if not node.repmgr("standby", "register", "--force", f"--upstream-node-id={upstream_id}").ok:
        raise ActionError("repmgr standby register failed")
    node.wait_registered(pg)


def init_primary(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    node.initdb(pg)
    start_primary(pg, d, sv)


def start_primary(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    node.start_postgres(sv, pg)
    # Idempotent: also finishes a set-up that an earlier start left half done, and applies
    # changed passwords.
    node.create_cluster_roles(pg)
    if not node.repmgr("primary", "register", "--force").ok:
        raise ActionError("repmgr primary register failed")


def promote(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    node.start_postgres(sv, pg)
    if not node.repmgr("standby", "promote").ok:
        raise ActionError("repmgr standby promote failed")


def clone(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    node.clone(pg, d.upstream, d.upstream_id)
    node.start_postgres(sv, pg)
    _register_standby(pg, d.upstream_id)


def reclone(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    sv.stop("postgres")
    node.wipe(pg, d.reason)
    clone(pg, d, sv)


def rejoin(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    """Old primary -> standby of d.upstream: crash recovery, pg_rewind, follow; re-clone on failure."""
    sv.stop("postgres")
    try:
        node.crash_recovery(pg)
        node.checkpoint_on(pg, d.upstream)
        conninfo = make_conninfo(host=d.upstream, port=pg.port, user=pg.replication_user, dbname=pg.replication_db)
        if not node.repmgr("node", "rejoin", "-d", conninfo, "--force-rewind", "--verbose").ok:
            raise ActionError("repmgr node rejoin failed")
        node.wait_ready(pg)
    except (ActionError, OSError) as exc:
        logger.warning("rejoin failed (%s): re-cloning from %s instead", exc, d.upstream)
        reclone(pg, StartDecision(Start.RECLONE, f"rewind onto {d.upstream} failed", d.upstream, d.upstream_id), sv)
        return
    _register_standby(pg, d.upstream_id)


def start_standby(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    """Existing standby data: start it; follow the wanted upstream only when it changed."""
    node.start_postgres(sv, pg)
    current = read_postgres_state(pg.port)
    if current.upstream != d.upstream:
        logger.info("standby points at %r, wanted %s: following", current.upstream, d.upstream)
        if not node.repmgr("standby", "follow", f"--upstream-node-id={d.upstream_id}").ok:
            logger.warning("follow failed: re-cloning from %s", d.upstream)
            reclone(pg, d, sv)
            return
    _register_standby(pg, d.upstream_id)


ACTIONS: dict[Start, Callable[[PostgresSettings, StartDecision, Supervisor], None]] = {
    Start.INIT_PRIMARY: init_primary,
    Start.START_PRIMARY: start_primary,
    Start.PROMOTE: promote,
    Start.CLONE: clone,
    Start.RECLONE: reclone,
    Start.REJOIN: rejoin,
    Start.START_STANDBY: start_standby,
}


def run(settings: Settings, poll: float = 1.0) -> None:
    pg = settings.postgres
    assert pg is not None
    supervisor = Supervisor()
    started = time.monotonic()
    last_reason = ""
    failures = 0
    while True:
        me, peers = observe(settings)
        decision = decide_startup(me, peers, pg, time.monotonic() - started)
        if decision.reason != last_reason:
            logger.info("start-up decision: %s: %s", decision.action.value, decision.reason)
            last_reason = decision.reason
        if decision.action is Start.WAIT:
            set_phase("waiting", decision.reason)
            time.sleep(poll)
            continue
        set_phase(decision.action.value, decision.reason)
        healing.record("bootstrap", decision.action.value, decision.reason)
        try:
            ACTIONS[decision.action](pg, decision, supervisor)
            if decision.action in (Start.INIT_PRIMARY, Start.START_PRIMARY, Start.PROMOTE):
                sync.keep(pg)
            _start_repmgrd(supervisor)
        except (PostdockError, OSError, psycopg.Error) as exc:
            failures += 1
            backoff = min(60.0, 3.0 * 2 ** (failures - 1))
            logger.error("%s failed: %s; observing again in %.0fs", decision.action.value, exc, backoff)
            set_phase("failing", f"{decision.action.value} failed ({exc}); retry {failures} in {backoff:.0f}s")
            last_reason = ""
            time.sleep(backoff)
            continue
        set_phase("done", decision.reason)
        logger.info("node is up: %s", decision.reason)
        return
