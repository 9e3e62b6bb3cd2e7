"""The pool keeper (a supervisor program on ROLE=pgpool): every second, observe pgpool and its
backends, decide (decide/pool.py), act through pcp. Its last decision is in a state file that
`postdock health` reads."""

import json
import logging

import psycopg

from postdock_supervisor import files, paths
from postdock_supervisor.act import pgpool as pool_act
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.pool import PoolDecision, decide_pool
from postdock_supervisor.observe.pool import read_keeper_state, snapshot
from postdock_supervisor.programs.runner import run_ticks
from postdock_supervisor.render.pgpool import initial_weight

logger = logging.getLogger(__name__)

INTERVAL = 1.0


def write_state(decision: PoolDecision, applied: bool) -> None:
    """Written only when it changes: the keeper runs every second and the file is fsynced."""
    state = {
        "reason": decision.reason,
        "weights_applied": applied,
        "weights": {str(k): v for k, v in decision.weights.items()},
    }
    if state != read_keeper_state():
        files.write_atomic(paths.POOL_KEEPER_STATE, json.dumps(state), 0o644)


def step(settings: Settings, weights: dict[int, float]) -> dict[int, float]:
    """One observe-decide-act round; returns the weights pgpool now has."""
    pool = settings.pgpool
    assert pool is not None
    try:
        snap = snapshot(pool)
    except psycopg.Error as exc:
        logger.debug("pgpool does not answer yet: %s", exc)
        return weights
    decision = decide_pool(snap, pool, weights)
    for line in decision.reasons:
        logger.info("%s", line)
    for num in decision.attach:
        if not pool_act.attach(pool, num):
            logger.warning("pcp_attach_node %d failed; trying again next round", num)
    applied = decision.weights == weights
    if not applied and pool_act.apply_weights(settings, dict(decision.weights)):
        weights, applied = dict(decision.weights), True
    write_state(decision, applied)
    return weights


def main(settings: Settings) -> None:
    pool = settings.pgpool
    assert pool is not None
    weights = {b.num: initial_weight(pool, b) for b in pool.backends}

    def round(began: float) -> None:
        nonlocal weights
        weights = step(settings, weights)

    run_ticks(round, interval=INTERVAL, min_pause=0.1)
