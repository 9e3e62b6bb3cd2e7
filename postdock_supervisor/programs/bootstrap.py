"""The one-shot `bootstrap` program of a postgres node: observe, decide, act until the node runs.

It loops: every round reads the local data and the partners' reports, asks decide_startup what to
do, and does it. Anything that fails is logged and the round starts again with fresh observations."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from postdock_supervisor import control, healing
from postdock_supervisor.act import lease, node
from postdock_supervisor.act.phase import set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.startup import Start, StartDecision, decide_startup
from postdock_supervisor.errors import ActionError, PostdockError
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.observe.local import read_crashed_at, read_postgres_state
from postdock_supervisor.observe.node import observe
from postdock_supervisor.observe.peers import unreachable_nodes
from postdock_supervisor.programs import approve, lease_keeper
from postdock_supervisor.programs import sync_keeper as sync

logger = logging.getLogger(__name__)


def _start_repmgrd(supervisor: Supervisor) -> None:
    if not supervisor.start("repmgrd"):
        raise ActionError("supervisord could not start repmgrd")


REACH_WAIT_S = 60.0  # then registered all the same: the primary's fence keeper still protects the cluster
REACH_POLL_S = 1.0


def await_reached(
    pg: PostgresSettings,
    upstream: str,
    status_port: int,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """A first-level standby registers (and so becomes a lease member) only once its upstream, the
    primary, reaches its agent by its name: on swarm a task's name is published only once the task is
    healthy, and a registered member the primary cannot reach costs it its majority (a fence and a
    failover nobody needed on a fresh stack). Waits REACH_WAIT_S at most; says how it ended."""
    if not pg.uses_lease or pg.network_name not in pg.partner_nodes:
        return "not a lease member"
    deadline, said = clock() + REACH_WAIT_S, False
    while True:
        try:
            answer = control.post(upstream, status_port, pg.control, "reach", {"host": pg.network_name}, 3.0)
        except control.ControlError as exc:
            answer = {"error": str(exc)}
        # Only a plain "no" is waited on: an agent that refuses or does not know the question (an older
        # release) cannot tell, and the registration goes ahead as before.
        if not isinstance(answer, dict) or answer.get("error") or "ok" not in answer:
            why = answer.get("error") if isinstance(answer, dict) else answer
            logger.info("%s cannot tell whether it reaches this node (%s): registering", upstream, why)
            return f"{upstream} cannot tell whether it reaches {pg.network_name}: registering"
        if answer["ok"]:
            return f"{upstream} reaches {pg.network_name}"
        if clock() >= deadline:
            logger.warning("%s still does not reach this node as %s after %.0fs: registering all the same",
                           upstream, pg.network_name, REACH_WAIT_S)  # fmt: skip
            return f"{upstream} does not reach {pg.network_name}: registered all the same"
        if not said:
            logger.info("waiting until %s reaches this node as %s before registering (its name may not be "
                        "published yet)", upstream, pg.network_name)  # fmt: skip
            said = True
        sleep(REACH_POLL_S)


def _register_standby(pg: PostgresSettings, upstream: str, upstream_id: int, status_port: int) -> None:
    logger.info("before registering: %s", await_reached(pg, upstream, status_port))
    if not node.repmgr("standby", "register", "--force", f"--upstream-node-id={upstream_id}").ok:
        raise ActionError("repmgr standby register failed")
    node.wait_registered(pg)


def init_primary(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    node.initdb(pg)
    start_primary(pg, d, sv)


def start_primary(pg: PostgresSettings, d: StartDecision, sv: Supervisor) -> None:
    if pg.uses_lease:
        lease.hold_in_file(pg.pgdata)  # no commit acknowledged before the lease keeper has a lease
    node.start_postgres(sv, pg)
    # Idempotent: also finishes a set-up that an earlier start left half done, and applies
    # changed passwords.
    node.create_cluster_roles(pg)
    if not node.repmgr("primary", "register", "--force").ok:
        raise ActionError("repmgr primary register failed")


def promote(pg: PostgresSettings, d: StartDecision, sv: Supervisor, status_port: int = 8008) -> None:
    node.start_postgres(sv, pg)
    if not pg.uses_lease:
        if not node.repmgr("standby", "promote").ok:
            raise ActionError("repmgr standby promote failed")
        return
    # The same proof as repmgrd's candidate: no other node may still hold a lease.
    approved, verdict = approve.await_approval(pg, status_port, lambda line: logger.info("promotion: %s", line))
    if not approved:
        raise ActionError(f"the promotion was not approved: {verdict}")
    gone = unreachable_nodes(pg)
    if not lease_keeper.promote_held(pg, status_port, lambda: node.promote_standby(gone), approved=True).ok:
        raise ActionError("repmgr standby promote failed")


def clone(pg: PostgresSettings, d: StartDecision, sv: Supervisor, status_port: int = 8008) -> None:
    node.clone(pg, d.upstream, d.upstream_id)
    node.start_postgres(sv, pg)
    _register_standby(pg, d.upstream, d.upstream_id, status_port)


def reclone(pg: PostgresSettings, d: StartDecision, sv: Supervisor, status_port: int = 8008) -> None:
    sv.stop("postgres")
    node.wipe(pg, d.reason)
    clone(pg, d, sv, status_port)


def rejoin(pg: PostgresSettings, d: StartDecision, sv: Supervisor, status_port: int = 8008) -> None:
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
        again = StartDecision(Start.RECLONE, f"rewind onto {d.upstream} failed", d.upstream, d.upstream_id)
        reclone(pg, again, sv, status_port)
        return
    _register_standby(pg, d.upstream, d.upstream_id, status_port)


STREAM_WAIT_S = 10.0  # a standby configured for its upstream streams within a second or two


def streams_from(pg: PostgresSettings, upstream: str) -> bool:
    deadline = time.monotonic() + STREAM_WAIT_S
    while True:
        state = read_postgres_state(pg.port)
        if state.streaming and state.upstream == upstream:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def start_standby(pg: PostgresSettings, d: StartDecision, sv: Supervisor, status_port: int = 8008) -> None:
    """Existing standby data: start it; follow the wanted upstream when it points elsewhere, or when
    it points there but does not stream (an approval moved it there before that node was promoted,
    and the upstream has no replication slot for it yet: repmgr's follow makes one)."""
    node.start_postgres(sv, pg)
    current = read_postgres_state(pg.port)
    if current.upstream != d.upstream or not streams_from(pg, d.upstream):
        logger.info("standby points at %r (streaming: %s), wanted %s: following", current.upstream,
                    current.streaming, d.upstream)  # fmt: skip
        if not node.repmgr("standby", "follow", f"--upstream-node-id={d.upstream_id}").ok:
            logger.warning("follow failed: re-cloning from %s", d.upstream)
            reclone(pg, d, sv, status_port)
            return
    _register_standby(pg, d.upstream, d.upstream_id, status_port)


Action = Callable[[PostgresSettings, StartDecision, Supervisor], None]
PortAction = Callable[[PostgresSettings, StartDecision, Supervisor, int], None]

ACTIONS: dict[Start, Action] = {Start.INIT_PRIMARY: init_primary, Start.START_PRIMARY: start_primary}
# The actions that talk to other agents: the cluster's status port is bound in when Bootstrap starts.
PORT_ACTIONS: dict[Start, PortAction] = {
    Start.PROMOTE: promote,
    Start.CLONE: clone,
    Start.RECLONE: reclone,
    Start.REJOIN: rejoin,
    Start.START_STANDBY: start_standby,
}


def _with_port(action: PortAction, port: int) -> Action:
    return lambda pg, d, sv: action(pg, d, sv, port)


@dataclass(frozen=True)
class StartRound:
    decision: StartDecision
    failures: int  # memory: how many actions failed in a row (the backoff grows with it)


class Bootstrap:
    """Observe, decide, apply until the node runs. Memory: when this start began (the decision
    waits for partners up to a limit), the last reason logged, and the failures in a row."""

    def __init__(self, settings: Settings, supervisor: Supervisor, clock: Callable[[], float] = time.monotonic) -> None:
        assert settings.postgres is not None
        self.settings = settings
        self.pg = settings.postgres
        self.supervisor = supervisor
        self.clock = clock
        self.started = clock()
        # Read before the first phase is written over it: this start may follow a crash of postgres.
        self.crashed_at = read_crashed_at()
        self.last_reason = ""
        port = settings.common.status_port
        self.actions: dict[Start, Action] = {
            **ACTIONS,
            **{start: _with_port(action, port) for start, action in PORT_ACTIONS.items()},
        }
        self.failures = 0
        self.pause = 0.0  # how long to wait before the next round (0: the node is up)
        self.done = False

    def observe(self) -> tuple[NodeReport, dict[str, NodeReport | None]]:
        me, peers = observe(self.settings)
        return me, dict(peers)

    def decide(self, snapshot: tuple[NodeReport, dict[str, NodeReport | None]], now: float) -> StartRound:
        me, peers = snapshot
        crashed_ago = None if self.crashed_at is None else max(0.0, now - self.crashed_at)
        return StartRound(decide_startup(me, peers, self.pg, now - self.started, crashed_ago), self.failures)

    def apply(self, decision: StartRound, poll: float = 1.0) -> None:
        d = decision.decision
        if d.reason != self.last_reason:
            logger.info("start-up decision: %s: %s", d.action.value, d.reason)
            self.last_reason = d.reason
        if d.action is Start.WAIT:
            set_phase("waiting", d.reason)
            self.pause = poll
            return
        set_phase(d.action.value, d.reason)
        healing.record("bootstrap", d.action.value, d.reason)
        try:
            self.actions[d.action](self.pg, d, self.supervisor)
            if d.action in (Start.INIT_PRIMARY, Start.START_PRIMARY, Start.PROMOTE):
                sync.keep(self.pg)
            _start_repmgrd(self.supervisor)
        except (PostdockError, OSError, psycopg.Error) as exc:
            self.failures = decision.failures + 1
            self.pause = min(60.0, 3.0 * 2 ** (self.failures - 1))
            logger.error("%s failed: %s; observing again in %.0fs", d.action.value, exc, self.pause)
            set_phase("failing", f"{d.action.value} failed ({exc}); retry {self.failures} in {self.pause:.0f}s")
            self.last_reason = ""
            return
        set_phase("done", d.reason)
        logger.info("node is up: %s", d.reason)
        self.done, self.pause = True, 0.0


def run(settings: Settings, poll: float = 1.0) -> None:
    program = Bootstrap(settings, Supervisor())
    while True:
        program.apply(program.decide(program.observe(), program.clock()), poll)
        if program.done:
            return
        time.sleep(program.pause)
