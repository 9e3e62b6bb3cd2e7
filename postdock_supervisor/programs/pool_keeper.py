"""The pool keeper (a supervisor program on ROLE=pgpool): every second, observe pgpool and its
backends, decide (decide/pool.py), act through pcp. Its last decision is in a state file that
`postdock health` reads."""

import json
import logging
import time
from typing import Any

import psycopg

from postdock_supervisor import files, paths
from postdock_supervisor.act import pgpool as pool_act
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.pool import PoolDecision, decide_pool, unthawed
from postdock_supervisor.model.failover import pgpool_lag
from postdock_supervisor.model.pool import PoolSnapshot
from postdock_supervisor.observe.peers import fetch_report
from postdock_supervisor.observe.pool import Prober, read_keeper_state
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks
from postdock_supervisor.render.pgpool import initial_weight

logger = logging.getLogger(__name__)

INTERVAL = 0.5  # pgpool follows a new primary within this (plus one probe round)
SWITCH_RECORD_WAIT_S = 10.0  # no flight record by then: a switchover, or a promotion without the lease


def keeper_state(decision: PoolDecision, applied: bool) -> dict[str, Any]:
    return {
        "reason": decision.reason,
        "weights_applied": applied,
        "weights": {str(k): v for k, v in decision.weights.items()},
    }


class PoolKeeper:
    """Memory: the read weights pgpool has now, and the backends seen frozen that have not answered since."""

    def __init__(self, settings: Settings) -> None:
        assert settings.pgpool is not None
        self.settings = settings
        self.pool = settings.pgpool
        self.prober = Prober(self.pool)
        self.last_reasons: frozenset[str] = frozenset()
        self.frozen: frozenset[int] = frozenset()  # seen frozen, silent since (decide/pool.py unthawed)
        self.weights = {b.num: initial_weight(self.pool, b) for b in self.pool.backends}
        self.written: dict[str, Any] = read_keeper_state()  # the state file as this keeper last left it
        self.switch: tuple[str, float] | None = None  # pgpool made this host its primary at that time
        self.switched: dict[str, Any] = dict(self.written.get("switch") or {})  # the last switch, timed

    def _host(self, num: int) -> str:
        return next((b.host for b in self.pool.backends if b.num == num), str(num))

    def _time_switch(self) -> None:
        """The flight recorder's pgpool phase: how long after the new primary took writes pgpool sent
        writes there. Its record may be written a moment after pgpool switched: asked for a while."""
        if self.switch is None:
            return
        host, at = self.switch
        report = fetch_report(host, self.settings.common.status_port, timeout=0.5)
        lag = pgpool_lag(at, report.writable_at) if report is not None else None
        if lag is not None:
            logger.info("pgpool sends writes to %s %.2fs after it took writes (failover)", host, lag)
            self.switched = {"host": host, "at": at, "after_writable": lag}
        if lag is not None or time.time() - at > SWITCH_RECORD_WAIT_S:
            self.switch = None

    def observe(self) -> PoolSnapshot | None:
        try:
            return self.prober.snapshot()
        except psycopg.Error as exc:
            logger.debug("pgpool does not answer yet: %s", exc)
            return None

    def decide(self, snap: PoolSnapshot | None, now: float) -> PoolDecision | None:
        if snap is None:
            return None
        self.frozen = unthawed(snap, self.frozen)
        return decide_pool(snap, self.pool, self.weights, self.frozen)

    def apply(self, decision: PoolDecision | None) -> None:
        if decision is None:
            return
        for line in decision.reasons:
            if line not in self.last_reasons:  # a standing reason (an attach held back) is said once
                logger.info("%s", line)
        self.last_reasons = frozenset(decision.reasons)
        for num in decision.attach:
            if not pool_act.attach(self.pool, num):
                logger.warning("pcp_attach_node %d failed; trying again next round", num)
        for num in decision.detach:
            if not pool_act.detach(self.pool, num):
                logger.warning("pcp_detach_node %d failed; trying again next round", num)
        if decision.promote is not None:
            if pool_act.promote(self.pool, decision.promote):
                self.switch = (self._host(decision.promote), time.time())
            else:
                logger.warning("pcp_promote_node %d failed; trying again next round", decision.promote)
        self._time_switch()
        applied = decision.weights == self.weights
        if not applied and pool_act.apply_weights(self.settings, dict(decision.weights)):
            self.weights, applied = dict(decision.weights), True
        # Written only when it changes: the keeper runs twice a second and the file is fsynced.
        state = {**keeper_state(decision, applied), **({"switch": self.switched} if self.switched else {})}
        if state != self.written:
            files.write_atomic(paths.POOL_KEEPER_STATE, json.dumps(state), 0o644)
            self.written = state


def main(settings: Settings) -> None:
    keeper = PoolKeeper(settings)
    run_ticks(lambda began: step(keeper, began), interval=INTERVAL, min_pause=0.1)
