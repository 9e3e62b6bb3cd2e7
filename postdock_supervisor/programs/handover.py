"""[program:handover] on first-level nodes: when the container stops (docker stop, a rolling update,
a pod deleted), a primary first hands its role to the most advanced healthy first-level standby,
then lets supervisord stop the rest. Without a healthy standby (a partner silent, lagging, or none)
the stop is a plain one, and repmgrd elects as after any loss of the primary.

supervisord stops programs in reverse priority order and waits for each, so this program (the
highest priority number) runs its hand-over while postgres, repmgrd and the agent still run; but
supervisord refuses every request once it is shutting down, so the clean stop of postgres is
pg_ctl's, run here. The steps are the switchover's (programs/switchover.py): standbys held,
postgres stopped cleanly (every WAL record sent), the target promoted once it holds the shutdown
checkpoint, the other standbys told to follow it."""

import logging
import signal
from typing import Any

from postdock_supervisor import paths, proc
from postdock_supervisor.act.phase import set_phase
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.control import ControlError
from postdock_supervisor.model.node import format_lsn
from postdock_supervisor.observe.local import read_bootstrap_state, read_data_state, read_postgres_state
from postdock_supervisor.observe.supervisor import shutting_down
from postdock_supervisor.programs import lease_keeper, switchover

logger = logging.getLogger(__name__)


def stop_postgres(pg: PostgresSettings, target: str, status_port: int) -> dict[str, Any]:
    """The primary's clean stop, without supervisord: a fast shutdown sends every WAL record, the
    shutdown checkpoint last, to the connected standbys before it ends."""
    set_phase("handing-over", f"stopping for a hand-over to {target}")
    done = proc.run([str(paths.PG_BIN / "pg_ctl"), "stop", "-D", pg.pgdata, "-m", "fast", "-w", "-t", "60"], timeout=90)
    data = read_data_state(pg.pgdata)
    if not done.ok or not data.clean:
        raise ControlError(
            f"postgres did not stop cleanly (pg_ctl {done.returncode}, data says '{data.cluster_state}')"
        )
    lease_keeper.release(pg, status_port)
    return {"ok": True, "lsn": format_lsn(data.checkpoint_lsn), "timeline": data.timeline}


def hand_over(settings: Settings) -> int:
    """0 once another node is primary; 1 when there was nothing to hand over or it could not be done
    (the stop goes on as a plain one)."""
    pg = settings.postgres
    assert pg is not None
    phase, _ = read_bootstrap_state()
    if phase != "done" or not read_postgres_state(pg.port).is_primary:
        logger.info("stopping: not a running primary, nothing to hand over")
        return 1
    logger.warning("stopping: handing the primary role over before postgres stops")
    return switchover.run(
        pg.partner_nodes,
        pg.control,
        settings.common.status_port,
        None,
        lambda line: logger.warning("hand-over: %s", line),
        stop_primary=lambda target: stop_postgres(pg, target, settings.common.status_port),
    )


def on_stop(settings: Settings, container_stopping: bool) -> int:
    """What SIGTERM means: the container stops (hand over, or tell the partners this standby is
    leaving, so that no hand-over picks it), or someone stopped this program by hand (nothing)."""
    if not container_stopping:
        logger.info("handover stopped on its own, not the container: nothing to do")
        return 1
    pg = settings.postgres
    assert pg is not None
    if not read_postgres_state(pg.port).is_primary:
        set_phase("stopping", "the container is stopping")
        return 1
    return hand_over(settings)


def main(settings: Settings) -> None:
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    while not stopping:
        signal.pause()
    on_stop(settings, shutting_down())
