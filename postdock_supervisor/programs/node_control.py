"""What a node's agent does when a signed control request asks (the steps of `postdock switchover`).

Each step checks that the node is what the step expects, so a stale or misdirected request does
nothing. A node held for a switchover goes back on its own after HOLD_EXPIRY_S, so an operator's
command that dies half way never leaves repmgrd stopped for good."""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from postdock_supervisor import healing
from postdock_supervisor.act import node
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.control import ControlError
from postdock_supervisor.model.node import format_lsn, parse_lsn
from postdock_supervisor.observe.local import read_bootstrap_state, read_data_state, read_postgres_state
from postdock_supervisor.observe.peers import fetch_report
from postdock_supervisor.programs import lease_keeper
from postdock_supervisor.programs import sync_keeper as sync

logger = logging.getLogger(__name__)

HOLD_EXPIRY_S = 120.0
HELD = ("held-for-switchover", "switchover")
CATCH_UP_S = 60.0
REACH_TIMEOUT_S = 1.0  # an agent on the same network answers in milliseconds


class NodeControl:
    def __init__(self, pg: PostgresSettings, status_port: int, supervisor: Supervisor | None = None) -> None:
        self.pg = pg
        self.status_port = status_port
        self.supervisor = supervisor or Supervisor()
        self._lock = threading.Lock()  # one step at a time on a node
        # The switchover that holds this node (its id, why) and the timer that ends that hold alone:
        # a timer left by an earlier switchover must not release a later one's hold.
        self._hold: tuple[str, str] | None = None
        self._timer: threading.Timer | None = None
        self.actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "hold": self.hold,
            "stop": self.stop,
            "promote": self.promote,
            "rejoin": self.rejoin,
        }

    def handle(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        if action == "switchover":  # not under the lock: its steps come back to this very agent
            return self.switchover(args)
        if action == "reach":  # a read, answered beside any step
            return self.reach(args)
        step = self.actions.get(action)
        if step is None:
            raise ControlError(f"unknown action {action!r}")
        with self._lock:
            logger.warning("control request: %s %s", action, args)
            return step(args)

    def reach(self, args: dict[str, Any]) -> dict[str, Any]:
        """Whether this node reaches a partner's agent by its name. A first-level standby asks its
        primary before it registers: once registered it is a lease member, and a member the primary
        cannot reach (swarm publishes a task's name only once the task is healthy) costs the primary
        its majority. Only partners' names are tried: a signed request cannot aim the agent elsewhere."""
        host = str(args.get("host") or "")
        if host not in self.pg.partner_nodes:
            return {"ok": False, "error": f"reach: {host!r} is not in PARTNER_NODES"}
        return {"ok": fetch_report(host, self.status_port, timeout=REACH_TIMEOUT_S) is not None}

    def _expect(self, primary: bool) -> None:
        phase, _ = read_bootstrap_state()
        state = read_postgres_state(self.pg.port)
        if phase != "done" or not state.running or state.is_primary != primary:
            what = "the primary" if primary else "a running standby"
            raise ControlError(f"this node is not {what} (phase {phase}, postgres running: {state.running})")

    def _check_free(self, args: dict[str, Any], refusal: str) -> None:
        """A node held by another switchover still under way refuses this one's steps, so two
        switchovers never interleave on a node."""
        if self._hold is not None and self._hold[0] != str(args.get("id", "")) and read_bootstrap_state()[0] in HELD:
            raise ControlError(f"held by another switchover ({self._hold[1]}){refusal}")

    def _claim(self, args: dict[str, Any], reason: str) -> None:
        """This node is held by the switchover that asks (args["id"]), until its own timer at most."""
        self._end_hold()
        self._hold = (str(args.get("id", "")), reason)
        self._expire_later(self._hold[0], reason)

    def _end_hold(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._hold, self._timer = None, None

    def _expire_later(self, switchover_id: str, reason: str) -> None:
        def release() -> None:
            with self._lock:
                if self._hold is None or self._hold[0] != switchover_id:
                    return  # this hold ended already; another may have begun
                self._hold, self._timer = None, None
                if read_bootstrap_state()[0] in HELD:
                    logger.warning("switchover hold expired after %.0fs: running the start-up decision", HOLD_EXPIRY_S)
                    rerun_bootstrap(self.supervisor, f"switchover hold expired ({reason})")

        self._timer = threading.Timer(HOLD_EXPIRY_S, release)
        self._timer.daemon = True
        self._timer.start()

    def hold(self, args: dict[str, Any]) -> dict[str, Any]:
        """A standby stops repmgrd, so the planned stop of the primary starts no election."""
        self._check_free(args, "; try again once it ends")
        self._expect(primary=False)
        reason = f"held for a switchover to {args.get('target', '?')}"
        self._claim(args, reason)
        set_phase("held-for-switchover", reason)
        self.supervisor.stop("repmgrd")
        return {"ok": True}

    def stop(self, args: dict[str, Any]) -> dict[str, Any]:
        """The primary stops cleanly: a fast shutdown sends every WAL record, the shutdown checkpoint
        last, to the connected standbys before it ends."""
        self._check_free(args, "; try again once it ends")
        self._expect(primary=True)
        reason = f"stopped for a switchover to {args.get('target', '?')}"
        self._claim(args, reason)
        set_phase("switchover", reason)
        self.supervisor.stop("repmgrd")
        if not self.supervisor.stop("postgres"):
            raise ControlError("postgres did not stop")
        data = read_data_state(self.pg.pgdata)
        if not data.clean:
            raise ControlError(f"postgres stopped but its data says '{data.cluster_state}'")
        lease_keeper.release(self.pg, self.status_port)  # it takes no more writes
        return {"ok": True, "lsn": format_lsn(data.checkpoint_lsn), "timeline": data.timeline}

    def promote(self, args: dict[str, Any]) -> dict[str, Any]:
        """The target waits until it has received the old primary's shutdown checkpoint, then promotes."""
        wanted = parse_lsn(str(args.get("lsn", "")))
        deadline = time.monotonic() + CATCH_UP_S
        state = read_postgres_state(self.pg.port)
        while not (state.running and state.in_recovery and state.lsn > wanted):
            if read_bootstrap_state()[0] == "stopping":
                raise ControlError("this node's container is stopping: not promoting it")
            if time.monotonic() > deadline:
                raise ControlError(f"received WAL up to {format_lsn(state.lsn)} only, the old primary ended at "
                                   f"{format_lsn(wanted)}: not promoting")  # fmt: skip
            time.sleep(0.2)
            state = read_postgres_state(self.pg.port)
        done = lease_keeper.promote_held(self.pg, self.status_port, lambda: node.repmgr("standby", "promote"))
        if not done.ok:
            raise ControlError(f"repmgr standby promote failed: {done.output.strip()[-300:]}")
        sync.keep(self.pg)
        healing.record("switchover", "promote", "promoted by a switchover")
        self.supervisor.start("repmgrd")
        set_phase("done", "promoted by a switchover")
        self._end_hold()
        return {"ok": True}

    def switchover(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run a whole switchover from here for a container that holds the key but not the cluster's
        list of partners (pgpool, barman); its output goes back to that caller."""
        from postdock_supervisor.programs import switchover

        if self.pg.is_cascade:
            raise ControlError("a cascaded node holds no list of partners: ask a first-level one")
        lines: list[str] = []
        target = args.get("target")
        code = switchover.run(
            self.pg.partner_nodes,
            self.pg.control,
            self.status_port,
            str(target) if target else None,
            lines.append,
            float(args.get("timeout", 300)),
        )
        return {"ok": True, "code": code, "output": lines}

    def rejoin(self, args: dict[str, Any]) -> dict[str, Any]:
        """The old primary and the other standbys: the start-up decision follows the new primary."""
        reason = f"switchover to {args.get('target', '?')}: following it"
        self._check_free(args, ": not released by this one")
        self._end_hold()
        healing.record("switchover", "rejoin", reason)
        rerun_bootstrap(self.supervisor, reason)
        return {"ok": True}
