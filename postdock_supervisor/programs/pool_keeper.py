"""The pool keeper (a supervisor program on ROLE=pgpool): every second, observe pgpool and its
backends, decide (decide/pool.py), act through pcp. Its last decision is in a state file that
`postdock health` reads."""

import json
import logging
from typing import Any

import psycopg

from postdock_supervisor import files, paths
from postdock_supervisor.act import pgpool as pool_act
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.pool import PoolDecision, decide_pool
from postdock_supervisor.model.pool import PoolSnapshot
from postdock_supervisor.observe.pool import read_keeper_state, snapshot
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks
from postdock_supervisor.render.pgpool import initial_weight

logger = logging.getLogger(__name__)

INTERVAL = 0.5  # pgpool follows a new primary within this (plus one probe round)


def keeper_state(decision: PoolDecision, applied: bool) -> dict[str, Any]:
    return {
        "reason": decision.reason,
        "weights_applied": applied,
        "weights": {str(k): v for k, v in decision.weights.items()},
    }


class PoolKeeper:
    """Memory: the read weights pgpool has now."""

    def __init__(self, settings: Settings) -> None:
        assert settings.pgpool is not None
        self.settings = settings
        self.pool = settings.pgpool
        self.weights = {b.num: initial_weight(self.pool, b) for b in self.pool.backends}
        self.written: dict[str, Any] = read_keeper_state()  # the state file as this keeper last left it

    def observe(self) -> PoolSnapshot | None:
        try:
            return snapshot(self.pool)
        except psycopg.Error as exc:
            logger.debug("pgpool does not answer yet: %s", exc)
            return None

    def decide(self, snap: PoolSnapshot | None, now: float) -> PoolDecision | None:
        return None if snap is None else decide_pool(snap, self.pool, self.weights)

    def apply(self, decision: PoolDecision | None) -> None:
        if decision is None:
            return
        for line in decision.reasons:
            logger.info("%s", line)
        for num in decision.attach:
            if not pool_act.attach(self.pool, num):
                logger.warning("pcp_attach_node %d failed; trying again next round", num)
        for num in decision.detach:
            if not pool_act.detach(self.pool, num):
                logger.warning("pcp_detach_node %d failed; trying again next round", num)
        if decision.promote is not None and not pool_act.promote(self.pool, decision.promote):
            logger.warning("pcp_promote_node %d failed; trying again next round", decision.promote)
        applied = decision.weights == self.weights
        if not applied and pool_act.apply_weights(self.settings, dict(decision.weights)):
            self.weights, applied = dict(decision.weights), True
        # Written only when it changes: the keeper runs twice a second and the file is fsynced.
        state = keeper_state(decision, applied)
        if state != self.written:
            files.write_atomic(paths.POOL_KEEPER_STATE, json.dumps(state), 0o644)
            self.written = state


def main(settings: Settings) -> None:
    keeper = PoolKeeper(settings)
    run_ticks(lambda began: step(keeper, began), interval=INTERVAL, min_pause=0.1)
